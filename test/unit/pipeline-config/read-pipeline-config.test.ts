import { describe, expect, it } from 'vitest';
import { checkPipelineConfig, parsePipelineConfig } from '#functions/fetch-source/read-pipeline-config.ts';
import { PipelineConfigError } from '#shared/errors.ts';
import { minimalPipelineExample } from '#shared/pipeline-config.ts';

function problemsOf(yamlText: string): string[] {
  const check = checkPipelineConfig(yamlText);
  if (check.ok) throw new Error('expected the config to be refused');
  return check.problems;
}

describe('parsePipelineConfig', () => {
  it('parses a complete stepline.yml and fills defaults', () => {
    const config = parsePipelineConfig(`
build:
  commands: [npm ci, npm run build]
  timeout: 1h30m
  env: { NODE_ENV: production }
  cache: { key: [package-lock.json], paths: [node_modules] }
  artifacts: [dist/**]
test:
  commands: [npm test]
  reports: [reports/junit.xml]
image:
  dockerfile:
    path: docker/Dockerfile
`);

    expect(config).toEqual({
      version: 1,
      build: {
        commands: ['npm ci', 'npm run build'],
        timeout: 5400,
        env: { NODE_ENV: 'production' },
        cache: { key: ['package-lock.json'], paths: ['node_modules'] },
        artifacts: ['dist/**'],
      },
      test: { commands: ['npm test'], env: {}, timeout: 900, reports: ['reports/junit.xml'] },
      image: { dockerfile: { path: 'docker/Dockerfile', context: '.', buildArgs: {} } },
    });
  });

  it('accepts the minimal example it shows to repositories without a stepline.yml', () => {
    expect(parsePipelineConfig(minimalPipelineExample).build.commands).toEqual(['npm ci', 'npm run build']);
  });

  it('names a wrong type by its path, with the expected and received types', () => {
    const problems = problemsOf(
      'build:\n  commands:\n    - npm ci\n    - npm run build\n    - 3\ntest:\n  commands: [t]\n',
    );

    expect(problems).toEqual(['build.commands[2]: expected string, received number (line 5)']);
  });

  it('names a missing required field by its path', () => {
    expect(problemsOf('build:\n  commands: [b]\n')).toEqual(['test: required, expected object']);
  });

  it('names an unknown key by its path and suggests the close one', () => {
    const problems = problemsOf('build:\n  comands: [b]\n  commands: [b]\ntest:\n  commands: [t]\n');

    expect(problems).toEqual(['build.comands: unknown key (did you mean "commands"?) (line 2)']);
  });

  it('lists the allowed keys when an unknown key is not close to any', () => {
    const [problem] = problemsOf('build:\n  commands: [b]\ntest:\n  commands: [t]\nnotifications: []\n');

    expect(problem).toMatch(/^notifications: unknown key \(allowed: version, build, test, image\)/);
  });

  it('shows the bad value of a duration it cannot read', () => {
    const problems = problemsOf('build:\n  commands: [b]\n  timeout: soon\ntest:\n  commands: [t]\n');

    expect(problems).toEqual([
      'build.timeout: expected a duration like "90s", "15m" or "1h30m", got "soon" (line 3)',
    ]);
  });

  it('refuses a path that leaves the repository', () => {
    const problems = problemsOf(
      'build:\n  commands: [b]\ntest:\n  commands: [t]\nimage:\n  dockerfile:\n    path: ../Dockerfile\n',
    );

    expect(problems).toEqual([
      'image.dockerfile.path: expected a path inside the repository (no leading "/", no "..") (line 7)',
    ]);
  });

  it('refuses an environment variable name that a shell cannot use', () => {
    const problems = problemsOf('build:\n  commands: [b]\n  env:\n    bad-name: x\ntest:\n  commands: [t]\n');

    expect(problems).toEqual([
      'build.env.bad-name: invalid name "bad-name": expected an environment variable name (line 4)',
    ]);
  });

  it('refuses a deploy key, because a push must not choose where it deploys', () => {
    const problems = problemsOf(
      'build:\n  commands: [b]\ntest:\n  commands: [t]\ndeploy:\n  cluster: prod\n',
    );

    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^deploy: deploy is not allowed in stepline\.yml: .*deployment configuration/,
    );
  });

  it('reports a YAML syntax error with its line and column', () => {
    const problems = problemsOf('build:\n  commands: [npm ci\ntest: x\n');

    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^stepline\.yml:3:1: /);
  });

  it('reports a duplicated key as a YAML error with its line', () => {
    expect(problemsOf('build:\n  commands: [a]\nbuild:\n  commands: [b]\n')).toEqual([
      'stepline.yml:3:1: Map keys must be unique',
    ]);
  });

  it('shows the minimal example when the file is empty', () => {
    expect(problemsOf('# nothing yet\n')[0]).toContain(minimalPipelineExample);
  });

  it('throws a PipelineConfigError that lists every problem, one per line', () => {
    const text = 'build:\n  commands: [1]\ntest:\n  commands: []\n';

    const thrown = (() => {
      try {
        parsePipelineConfig(text, 'stepline.yaml');
      } catch (error) {
        return error;
      }
      return undefined;
    })();

    expect(thrown).toBeInstanceOf(PipelineConfigError);
    expect((thrown as Error).message.split('\n')).toEqual([
      'stepline.yaml has 2 problems:',
      'build.commands[0]: expected string, received number (line 2)',
      'test.commands: a stage needs at least one command (line 4)',
    ]);
  });
});
