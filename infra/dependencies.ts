import { CfnResource, type IAspect, Lazy, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** What CfnResource keeps protected but a DependsOn that matches CDK's own needs to read. */
interface CfnResourceInternals {
  readonly cfnProperties: Record<string, unknown>;
  shouldSynthesize(): boolean;
}

/**
 * Drops from each resource's `DependsOn` the resources its properties already reference (`Ref`,
 * `Fn::GetAtt`, `Fn::Sub`), which CloudFormation orders by anyway: cfn-lint's W3005. CDK writes them
 * when a construct depends on a whole construct whose resource it also references: a Lambda function
 * or state machine on its role (for the role's DefaultPolicy, which stays in DependsOn), an ECS service
 * on its target group (for the listener, which stays). Every other dependency is kept, in CDK's order.
 */
export class DropRedundantDependsOn implements IAspect {
  visit(node: IConstruct): void {
    if (!(node instanceof CfnResource)) return;
    const stack = Stack.of(node);
    // A list token: overrides are deep-merged, and only an array replaces CDK's DependsOn whole.
    node.addOverride(
      'DependsOn',
      Lazy.list(
        {
          produce: () => {
            const internals = node as unknown as CfnResourceInternals;
            const referenced = referencedLogicalIds(stack.resolve(internals.cfnProperties));
            const kept = node
              .obtainDependencies()
              .filter((d): d is CfnResource => d instanceof CfnResource && Stack.of(d) === stack)
              .filter((d) => (d as unknown as CfnResourceInternals).shouldSynthesize())
              .sort((a, b) => a.node.path.localeCompare(b.node.path))
              .map((d) => stack.resolve(d.logicalId) as string)
              .filter((id) => !referenced.has(id));
            return kept;
          },
        },
        { omitEmpty: true },
      ),
    );
  }
}

/** Logical ids a resolved CloudFormation value refers to (pseudo parameters left out). */
export function referencedLogicalIds(value: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(value)) {
    for (const item of value) referencedLogicalIds(item, found);
    return found;
  }
  if (value === null || typeof value !== 'object') return found;
  for (const [key, inner] of Object.entries(value)) {
    if (key === 'Ref' && typeof inner === 'string') {
      if (!inner.startsWith('AWS::')) found.add(inner);
    } else if (key === 'Fn::GetAtt') {
      const target = Array.isArray(inner)
        ? inner[0]
        : typeof inner === 'string'
          ? inner.split('.')[0]
          : undefined;
      if (typeof target === 'string') found.add(target);
      else referencedLogicalIds(inner, found);
    } else if (key === 'Fn::Sub') {
      const [text, variables] = Array.isArray(inner) ? inner : [inner, {}];
      const local = new Set(Object.keys((variables as object | undefined) ?? {}));
      if (typeof text === 'string')
        for (const [, name] of text.matchAll(/\$\{([^}!][^}]*)\}/g)) {
          const id = name!.split('.')[0]!;
          if (!id.startsWith('AWS::') && !local.has(id)) found.add(id);
        }
      referencedLogicalIds(variables, found);
    } else {
      referencedLogicalIds(inner, found);
    }
  }
  return found;
}
