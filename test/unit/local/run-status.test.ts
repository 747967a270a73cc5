import { describe, expect, it } from 'vitest';
import { runStatus } from '#local/commands/run.ts';

describe('runStatus', () => {
  it('reports SUPERSEDED for a run a newer push overtook at a lane checkpoint', () => {
    const visits = [
      { name: 'CheckLaneBeforeStaging' },
      { name: 'Superseded' },
      { name: 'PipelineSuperseded' },
    ];
    expect(runStatus('SUCCEEDED', {}, visits)).toBe('SUPERSEDED');
  });

  it('reports SUPERSEDED for a run whose deployment found a newer commit already there', () => {
    const staging = { outcome: 'Superseded' } as NonNullable<Parameters<typeof runStatus>[1]['staging']>;
    expect(runStatus('SUCCEEDED', { staging }, [{ name: 'PipelineSuperseded' }])).toBe('SUPERSEDED');
  });

  it('keeps the execution status otherwise', () => {
    expect(runStatus('SUCCEEDED', {}, [{ name: 'PipelineSucceeded' }])).toBe('SUCCEEDED');
    expect(runStatus('FAILED', {}, [{ name: 'PipelineSuperseded' }])).toBe('FAILED');
  });
});
