import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** One acknowledged cdk-nag finding: the rule, why it does not apply, and optionally the exact findings. */
export interface NagSuppression {
  /** Rule id, e.g. `AwsSolutions-IAM5`. */
  readonly id: string;
  /** Why the finding is acceptable here. Required: a suppression without a reason is a bug. */
  readonly reason: string;
  /**
   * The findings of the rule this covers, e.g. `Resource::*`. cdk-nag 3 acknowledges each finding
   * separately (`AwsSolutions-IAM5[Resource::*]`).
   * @default - the rule itself (rules that report no per-finding detail)
   */
  readonly appliesTo?: readonly string[];
}

/**
 * Acknowledges cdk-nag findings on a construct and everything below it (cdk-nag 3 walks up the
 * tree when it checks acknowledgements). The v2 `NagSuppressions` API is gone in cdk-nag 3; this
 * keeps its shape on top of `Validations.of(construct).acknowledge()`.
 */
export function suppress(construct: IConstruct, suppressions: readonly NagSuppression[]): void {
  for (const { id, reason, appliesTo } of suppressions) {
    if (reason.trim().length < 10) throw new Error(`cdk-nag suppression ${id} needs a real reason`);
    const ids = appliesTo === undefined ? [id] : appliesTo.map((finding) => `${id}[${finding}]`);
    Validations.of(construct).acknowledge(...ids.map((ruleId) => ({ id: ruleId, reason })));
  }
}

/**
 * The `Resource::…` finding cdk-nag's IAM5 reports for a policy resource, so a suppression can name
 * exactly that resource (references are flattened the way cdk-nag does: `<LogicalId.Arn>/runs/*`).
 */
export function resourceFinding(scope: IConstruct, resource: string): string {
  return `Resource::${flatten(Stack.of(scope).resolve(resource))}`;
}

function flatten(node: unknown): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/}/g, '>');
  if (typeof node === 'object' && node !== null) {
    const object = node as Record<string, unknown>;
    if (Array.isArray(object['Fn::Join'])) {
      const [delimiter, items] = object['Fn::Join'] as [string, unknown[]];
      return items.map(flatten).join(delimiter);
    }
    if ('Fn::Sub' in object) return flatten(object['Fn::Sub']);
    if (Array.isArray(object['Fn::GetAtt'])) {
      const [resource, attribute] = object['Fn::GetAtt'] as [unknown, unknown];
      return `<${flatten(resource)}.${flatten(attribute)}>`;
    }
    if ('Fn::ImportValue' in object) return flatten(object['Fn::ImportValue']);
    if ('Ref' in object) return `<${flatten(object.Ref)}>`;
  }
  return JSON.stringify(node);
}
