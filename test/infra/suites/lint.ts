import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { placeholdersIn, readDefinition } from '#state-machines/pipeline.ts';
import { synth } from '../fixture.ts';

function cfnLintVersion(): string | undefined {
  try {
    return execFileSync('cfn-lint', ['--version'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return undefined;
  }
}

const cfnLint = cfnLintVersion();
if (cfnLint === undefined)
  console.warn(
    'skipped: cfn-lint is not on the PATH (pip install cfn-lint), so the CloudFormation lint test does not run',
  );

interface LintFinding {
  Level: string;
  Message: string;
  Rule: { Id: string };
  Filename: string;
  Location: { Path: unknown[] };
}

describe('synthesized templates', () => {
  it.skipIf(cfnLint === undefined)(
    'pass cfn-lint without errors or warnings (AWS’s CloudFormation linter)',
    () => {
      const { directory } = synth();
      const templates = readdirSync(directory)
        .filter((f) => f.endsWith('.template.json'))
        .map((f) => join(directory, f));
      expect(templates.length).toBeGreaterThanOrEqual(3);
      const run = spawnSync('cfn-lint', ['--format', 'json', ...templates], { encoding: 'utf8' });
      const findings = JSON.parse(run.stdout || '[]') as LintFinding[];
      const summary = (f: LintFinding) => `${f.Level} ${f.Rule.Id} ${f.Filename}: ${f.Message}`;
      const byLevel = (level: string) => findings.filter((f) => f.Level === level).map(summary);
      console.log(
        `${cfnLint}: ${templates.length} templates, ${byLevel('Error').length} errors, ${byLevel('Warning').length} warnings, ${byLevel('Informational').length} informational`,
      );
      for (const warning of byLevel('Warning')) console.log(`  ${warning}`);
      expect(byLevel('Error')).toEqual([]);
      // Fixed, not ignored: W3005 (a DependsOn a Ref already implies) is dropped by infra/dependencies.ts.
      expect(byLevel('Warning')).toEqual([]);
    },
  );

  it('fill every placeholder of the ASL, and PublishImage runs in the publisher task definition', () => {
    const { stack, template } = synth();
    const definition = readDefinition();
    const [sm] = Object.values(template.findResources('AWS::StepFunctions::StateMachine')) as {
      Properties: { DefinitionSubstitutions: Record<string, unknown> };
    }[];
    const given = sm!.Properties.DefinitionSubstitutions;
    for (const name of placeholdersIn(definition)) expect(given, name).toHaveProperty(name);
    const asl = JSON.parse(definition) as {
      States: Record<string, { Parameters?: { TaskDefinition?: string } }>;
    };
    expect(asl.States.PublishImage!.Parameters!.TaskDefinition).toBe(`\${PublisherTaskDefinitionArn}`);
    expect(asl.States.Build!.Parameters!.TaskDefinition).toBe(`\${RunnerTaskDefinitionArn}`);
    expect(given.PublisherTaskDefinitionArn).toEqual(stack.pipeline.publisherTaskDefinition.family);
    expect(given.PublisherTaskDefinitionArn).not.toEqual(given.RunnerTaskDefinitionArn);
  });
});
