import { computeArchitecture, fargateCompute, lambdaCompute } from '#shared/compute.ts';
import type { Architecture } from './prices.ts';

/** The sizes a cost estimate needs: configured Lambda memory and Fargate task sizes. */
export interface ComputeSizes {
  /** Every Lambda and Fargate task runs on this architecture (the catalog's `computeArchitecture`). */
  architecture: Architecture;
  /** Memory in MB by function folder (`fetch-source`, `check-deployment`, …). */
  lambdaMemoryMb: Readonly<Record<string, number>>;
  /** Memory of a function not in `lambdaMemoryMb`. */
  defaultLambdaMemoryMb: number;
  /** Task sizes by task-definition role; a RunTask response's own `cpu`/`memory` win over these. */
  tasks: Readonly<
    Record<'runner' | 'publisher', { cpu: number; memoryMiB: number; ephemeralStorageGiB: number }>
  >;
}

/**
 * The sizes and architecture of the stack as deployed by default, read from the compute catalog
 * (functions/shared/compute.ts) that infra/ and the local runtime share.
 */
export const defaultComputeSizes: ComputeSizes = {
  architecture: computeArchitecture,
  lambdaMemoryMb: Object.fromEntries(
    Object.values(lambdaCompute).map((fn) => [fn.folder, fn.memorySize] as const),
  ),
  defaultLambdaMemoryMb: 256,
  tasks: fargateCompute,
};

/**
 * The function folder a Lambda ARN or name belongs to: `stepline-fetch-source` locally,
 * `SteplineStack-PipelineFetchSource1A2B-xyz` as CDK names it on AWS. The longest matching folder
 * wins (`check-deployment` before `deploy`).
 */
export function lambdaFolderOf(
  resource: string,
  folders: readonly string[] = Object.keys(defaultComputeSizes.lambdaMemoryMb),
): string | undefined {
  const name = (resource.split(':function:')[1] ?? resource).split(':')[0] ?? resource;
  const flat = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  return [...folders]
    .sort((a, b) => b.length - a.length)
    .find((folder) => flat.includes(folder.replace(/-/g, '')));
}
