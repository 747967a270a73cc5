import { describe, expect, it } from 'vitest';
import { appendLayerToConfig, imageTags, mergeEnv, sanitizeTag } from '#shared/oci/image.ts';
import { formatImageReference, parseImageReference } from '#shared/oci/reference.ts';
import type { ImageConfig } from '#shared/oci/types.ts';
import { Index, selectPlatform } from '#shared/oci/types.ts';

const diff = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;

const base: ImageConfig = {
  architecture: 'arm64',
  os: 'linux',
  created: '2024-01-01T00:00:00Z',
  config: {
    Env: ['PATH=/usr/bin', 'NODE_VERSION=22.1.0'],
    Entrypoint: ['docker-entrypoint.sh'],
    Cmd: ['node'],
    ExposedPorts: { '9229/tcp': {} },
    Labels: { maintainer: 'x' },
  },
  rootfs: { type: 'layers', diff_ids: [diff(1)] },
  history: [{ created_by: 'base' }],
  'moby.buildkit.buildinfo.v1': 'kept',
};

describe('appendLayerToConfig', () => {
  const layer = { diffId: diff(2), created: new Date('2024-05-01T12:00:00Z'), createdBy: 'stepline: COPY' };

  it('appends the layer and applies the changes as a Dockerfile would, keeping unknown fields', () => {
    const config = appendLayerToConfig(base, layer, {
      workdir: '/app',
      cmd: ['node', 'server.js'],
      env: { NODE_VERSION: '22.2.0', PORT: '8080' },
      user: 'node',
      ports: [8080],
      labels: { team: 'a' },
    });

    expect(config).toEqual({
      ...base,
      created: '2024-05-01T12:00:00.000Z',
      config: {
        Env: ['PATH=/usr/bin', 'NODE_VERSION=22.2.0', 'PORT=8080'],
        Entrypoint: ['docker-entrypoint.sh'],
        Cmd: ['node', 'server.js'],
        WorkingDir: '/app',
        User: 'node',
        ExposedPorts: { '9229/tcp': {}, '8080/tcp': {} },
        Labels: { maintainer: 'x', team: 'a' },
      },
      rootfs: { type: 'layers', diff_ids: [diff(1), diff(2)] },
      history: [
        { created_by: 'base' },
        { created: '2024-05-01T12:00:00.000Z', created_by: 'stepline: COPY' },
      ],
    });
  });

  it("clears the base's Cmd when only the entrypoint is set", () => {
    const config = appendLayerToConfig(base, layer, { workdir: '/app', entrypoint: ['/app/run'] });

    expect(config.config?.Entrypoint).toEqual(['/app/run']);
    expect(config.config?.Cmd).toBeUndefined();
  });
});

describe('tags', () => {
  it('tags the commit and the branch as branch-<name>, or a git tag as itself', () => {
    expect(imageTags('abc123', 'branch', 'feature/login')).toEqual(['abc123', 'branch-feature-login']);
    expect(imageTags('abc123', 'tag', 'v1.2.0')).toEqual(['abc123', 'v1.2.0']);
  });

  it('makes any name a valid tag', () => {
    expect(sanitizeTag('.hidden/ünïcode name')).toBe('hidden-n-code-name');
    expect(sanitizeTag('///')).toBe('unnamed');
    expect(sanitizeTag('x'.repeat(300))).toHaveLength(128);
  });

  it('merges environment entries in place', () => {
    expect(mergeEnv(['A=1', 'B=2'], { B: '3', C: '4' })).toEqual(['A=1', 'B=3', 'C=4']);
  });
});

describe('parseImageReference', () => {
  it('places a short name under the base registry prefix', () => {
    expect(parseImageReference('node:22-slim', 'public.ecr.aws/docker/library')).toEqual({
      registry: 'public.ecr.aws',
      repository: 'docker/library/node',
      tag: '22-slim',
      reference: '22-slim',
    });
  });

  it('keeps a fully qualified reference with a port and a digest, and asks by digest', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const ref = parseImageReference(`127.0.0.1:5000/library/node:22@${digest}`, 'ignored.example');

    expect(ref).toEqual({
      registry: '127.0.0.1:5000',
      repository: 'library/node',
      tag: '22',
      digest,
      reference: digest,
    });
    expect(formatImageReference(ref)).toBe(`127.0.0.1:5000/library/node:22@${digest}`);
  });

  it('defaults to latest and refuses uppercase repositories', () => {
    expect(parseImageReference('localhost/app').reference).toBe('latest');
    expect(() => parseImageReference('Node:22', 'r.example')).toThrow('invalid image reference "Node:22"');
  });
});

describe('selectPlatform', () => {
  const index = Index.parse({
    schemaVersion: 2,
    manifests: [
      { mediaType: 'm', digest: diff(1), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
      {
        mediaType: 'm',
        digest: diff(2),
        size: 1,
        platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
      },
      { mediaType: 'm', digest: diff(3), size: 1, platform: { os: 'unknown', architecture: 'unknown' } },
    ],
  });

  it('picks arm64 whatever its variant and amd64 by name', () => {
    expect(selectPlatform(index, { os: 'linux', architecture: 'arm64' })?.digest).toBe(diff(2));
    expect(selectPlatform(index, { os: 'linux', architecture: 'amd64' })?.digest).toBe(diff(1));
    expect(selectPlatform(index, { os: 'linux', architecture: 's390x' })).toBeUndefined();
  });
});
