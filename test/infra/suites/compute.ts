import { describe, expect, it } from 'vitest';
import { fargateCompute, lambdaCompute } from '#shared/compute.ts';
import { logicalId, synth } from '../fixture.ts';

// Issue 11, "the same code": one catalog of compute settings, read by the stack and by the local
// runtime (local/lambdas.ts), so a timeout or memory size cannot differ between the two.

describe('compute settings (issue 11)', () => {
  it('give every Lambda of the stack the memory, timeout and handler of the catalog', () => {
    const { stack, template } = synth();
    const functions = { ...stack.pipeline.functions, taskStopped: stack.pipeline.taskStopped.handler };
    const resources = template.toJSON().Resources as Record<string, { Properties: Record<string, unknown> }>;
    for (const [key, fn] of Object.entries(functions)) {
      const compute = lambdaCompute[key as keyof typeof lambdaCompute];
      expect(compute, key).toBeDefined();
      const properties = resources[logicalId(fn.function)]!.Properties;
      expect({
        key,
        memory: properties.MemorySize,
        timeout: properties.Timeout,
        handler: properties.Handler,
      }).toEqual({
        key,
        memory: compute.memorySize,
        timeout: compute.timeoutSeconds,
        handler: `index.${compute.handler}`,
      });
    }
  });

  it('size the runner and publisher tasks from the catalog unless the props say otherwise', () => {
    const { stack, template } = synth();
    const resources = template.toJSON().Resources as Record<string, { Properties: Record<string, unknown> }>;
    for (const [kind, td] of [
      ['runner', stack.pipeline.runnerTaskDefinition],
      ['publisher', stack.pipeline.publisherTaskDefinition],
    ] as const) {
      const properties = resources[logicalId(td)]!.Properties;
      expect({ kind, cpu: properties.Cpu, memory: properties.Memory }).toEqual({
        kind,
        cpu: String(fargateCompute[kind].cpu),
        memory: String(fargateCompute[kind].memoryMiB),
      });
    }
  });
});
