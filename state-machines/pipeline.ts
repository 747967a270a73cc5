import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Path of the one definition both worlds run. */
export const definitionPath = fileURLToPath(new URL('./pipeline.asl.json', import.meta.url));

/** Every `${Placeholder}` in pipeline.asl.json. The CDK stack and the local runtime fill exactly these. */
export const placeholders = [
  'ReportStatusFunctionArn',
  'FetchSourceFunctionArn',
  'DeployFunctionArn',
  'CheckDeploymentFunctionArn',
  'RequestApprovalFunctionArn',
  'LaneFunctionArn',
  'RunnerClusterArn',
  'RunnerTaskDefinitionArn',
  'PublisherTaskDefinitionArn',
  'RunnerContainerName',
  'RunnerSubnets',
  'RunnerSecurityGroups',
  'RunnerAssignPublicIp',
] as const;
export type Placeholder = (typeof placeholders)[number];
export type Substitutions = Record<Placeholder, string>;

/** The definition's exact bytes, as the CDK passes them to `DefinitionBody.fromString`. */
export function readDefinition(): string {
  return readFileSync(definitionPath, 'utf8');
}

/** Names of the placeholders a definition text uses. */
export function placeholdersIn(definition: string): string[] {
  return [...new Set([...definition.matchAll(/\$\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1]!))];
}

/**
 * Fills the placeholders as Step Functions' `definitionSubstitutions` does. Rejects a missing or
 * unknown key, and a value that would break the JSON string it lands in.
 */
export function render(substitutions: Substitutions, definition: string = readDefinition()): string {
  const given = Object.keys(substitutions);
  const unknown = given.filter((key) => !(placeholders as readonly string[]).includes(key));
  if (unknown.length > 0) throw new Error(`unknown substitution ${unknown.map((k) => `"${k}"`).join(', ')}`);
  const missing = placeholders.filter((key) => typeof substitutions[key] !== 'string');
  if (missing.length > 0) throw new Error(`missing substitution ${missing.map((k) => `"${k}"`).join(', ')}`);
  for (const [key, value] of Object.entries(substitutions)) {
    if (JSON.stringify(value) !== `"${value}"`)
      throw new Error(
        `substitution "${key}" has a character JSON would need escaped: ${JSON.stringify(value)}`,
      );
  }
  return definition.replace(/\$\{([A-Za-z0-9_]+)\}/g, (whole, key: string) =>
    key in substitutions ? substitutions[key as Placeholder] : whole,
  );
}
