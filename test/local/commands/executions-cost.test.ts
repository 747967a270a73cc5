import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { showExecution } from '#local/commands/executions.ts';
import { priceTable } from '#shared/cost/prices.ts';

const fixtureDir = join(import.meta.dirname, '../../fixtures/hello-service-run');
const fixtureName = 'github-bdbd6b01-3bc0-4fac-8a01-9be10cc033ee';

describe('stepline executions show: cost', () => {
  it('prints the estimated cost of the recorded run under its start and stop', () => {
    const lines: string[] = [];

    showExecution(fixtureDir, fixtureName, (line) => lines.push(line));

    expect(lines[3]).toBe(
      `  cost:    $0.0034 (estimate at us-east-1 list prices of ${priceTable.asOf}): 23 state transitions, Lambda 9 requests 0.12 GB-s, Fargate 240 vCPU-s 480 GB-s, S3 9 PUT 13 GET`,
    );
  });

  it('gives the itemised estimate in --json', () => {
    const lines: string[] = [];

    showExecution(fixtureDir, fixtureName, (line) => lines.push(line), { json: true });

    const { cost } = JSON.parse(lines.join('\n'));
    expect(cost).toMatchObject({ estimate: true, region: 'us-east-1', stateTransitions: { count: 23 } });
    expect(cost.totalUsd).toBeCloseTo(0.0033544, 6);
  });
});
