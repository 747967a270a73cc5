import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { checkPipelineConfig, parsePipelineConfig } from '#functions/fetch-source/read-pipeline-config.ts';
import { minimalImageExample } from '#shared/pipeline-config.ts';

const stages = 'build:\n  commands: [b]\n  artifacts: [dist/**]\ntest:\n  commands: [t]\n';

function problemsOf(image: string): string[] {
  const check = checkPipelineConfig(stages + image);
  if (check.ok) throw new Error('expected the config to be refused');
  return check.problems;
}

describe('stepline.yml image section', () => {
  it('reads the layers mode with every field', () => {
    const config = parsePipelineConfig(`${stages}image:
  base: node:22-slim
  files: [dist/**, package.json]
  workdir: /srv
  entrypoint: [/usr/bin/tini, --]
  cmd: [node, dist/server.js]
  env: { NODE_ENV: production, PORT: "8080" }
  user: node
  ports: [8080]
  labels: { team: payments }
`);

    expect(config.image).toEqual({
      base: 'node:22-slim',
      files: ['dist/**', 'package.json'],
      workdir: '/srv',
      entrypoint: ['/usr/bin/tini', '--'],
      cmd: ['node', 'dist/server.js'],
      env: { NODE_ENV: 'production', PORT: '8080' },
      user: 'node',
      ports: [8080],
      labels: { team: 'payments' },
    });
  });

  it('reads the dockerfile mode and fills its defaults', () => {
    const config = parsePipelineConfig(
      `${stages}image:\n  dockerfile: { target: runtime, buildArgs: { NODE_MAJOR: "22" } }\n`,
    );

    expect(config.image).toEqual({
      dockerfile: { path: 'Dockerfile', context: '.', target: 'runtime', buildArgs: { NODE_MAJOR: '22' } },
    });
  });

  it('leaves the image section out when stepline.yml has none', () => {
    expect(parsePipelineConfig(stages).image).toBeUndefined();
  });

  it('asks for base or dockerfile when the section has neither', () => {
    expect(problemsOf('image:\n  workdir: /app\n')).toEqual([
      'image: set either "base" (the build artifacts become a layer on that image) or "dockerfile" (built with buildah) (line 7)',
    ]);
  });

  it('refuses base and dockerfile together', () => {
    expect(problemsOf('image:\n  base: node:22-slim\n  dockerfile: {}\n')).toEqual([
      'image.dockerfile: "base" and "dockerfile" cannot both be set: choose layers on a base image or a Dockerfile (line 8)',
    ]);
  });

  it('refuses a layers-mode field next to a dockerfile', () => {
    expect(problemsOf('image:\n  dockerfile: {}\n  cmd: [node]\n')).toEqual([
      'image.cmd: only with "base": with "dockerfile" the Dockerfile decides cmd (line 8)',
    ]);
  });

  it('names a bad base reference and shows it', () => {
    expect(problemsOf('image:\n  base: Node:22\n')).toEqual([
      'image.base: invalid image reference "Node:22": "Node" is not a valid repository name (lowercase letters, digits, . _ - and /) (line 7)',
    ]);
  });

  it('names a bad port, a relative workdir and a label Stepline sets itself', () => {
    expect(
      problemsOf(
        'image:\n  base: node:22-slim\n  ports: [80800]\n  workdir: app\n  labels: { org.opencontainers.image.revision: x }\n',
      ),
    ).toEqual([
      'image.ports[0]: expected a TCP port from 1 to 65535, got 80800 (line 8)',
      'image.workdir: expected an absolute path in the image, such as "/app" (line 9)',
      'image.labels.org.opencontainers.image.revision: invalid name "org.opencontainers.image.revision": set by Stepline from the commit (line 10)',
    ]);
  });

  it('suggests the close key for a misspelt one', () => {
    expect(problemsOf('image:\n  base: node:22-slim\n  comd: [node]\n')).toEqual([
      'image.comd: unknown key (did you mean "cmd"?) (line 8)',
    ]);
  });

  it('accepts the example it shows when a stepline.yml has no image section', () => {
    expect(parsePipelineConfig(stages + minimalImageExample).image?.base).toBe('node:22-slim');
  });

  it('accepts the stepline.yml of examples/hello-service', async () => {
    const text = await readFile(
      new URL('../../../examples/hello-service/stepline.yml', import.meta.url),
      'utf8',
    );

    expect(parsePipelineConfig(text).image).toMatchObject({
      base: 'node:22-slim',
      ports: [8080],
      user: 'node',
    });
  });
});
