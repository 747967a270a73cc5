import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startLocalRegistry } from '#local/registry/server.ts';
import { MediaType } from '#shared/oci/types.ts';
import {
  errorCodes,
  makeImage,
  pushBlob,
  pushImage,
  putManifest,
  registryTestCredentials,
  sha256,
  startTestRegistry,
  type TestRegistry,
} from './helpers.ts';

let registry: TestRegistry;

beforeEach(async () => {
  registry = await startTestRegistry();
});

afterEach(async () => {
  await registry.remove();
});

async function startSession(repo: string): Promise<string> {
  const response = await fetch(registry.url(`/v2/${repo}/blobs/uploads/`), {
    method: 'POST',
    headers: { ...registry.auth, 'content-length': '0' },
  });
  expect(response.status).toBe(202);
  const location = response.headers.get('location');
  if (!location) throw new Error('no Location');
  return location;
}

function patch(location: string, bytes: Buffer, range?: string) {
  return fetch(registry.url(location), {
    method: 'PATCH',
    headers: {
      ...registry.auth,
      'content-type': 'application/octet-stream',
      ...(range ? { 'content-range': range } : {}),
    },
    body: bytes,
  });
}

function withDigest(location: string, digest: string) {
  return registry.url(`${location}${location.includes('?') ? '&' : '?'}digest=${digest}`);
}

describe('the distribution API of the local registry', () => {
  it('answers /v2/ without credentials with 401, the API version header and a Basic challenge, as ECR does', async () => {
    const response = await fetch(registry.url('/v2/'));

    expect(response.status).toBe(401);
    expect(response.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expect(response.headers.get('www-authenticate')).toBe('Basic realm="stepline-local"');
  });

  it('answers /v2/ with 401 to wrong credentials and 200 to the right ones', async () => {
    const wrong = await fetch(registry.url('/v2/'), {
      headers: { authorization: `Basic ${Buffer.from('AWS:nope').toString('base64')}` },
    });
    const right = await fetch(registry.url('/v2/'), { headers: registry.auth });

    expect(wrong.status).toBe(401);
    expect(right.status).toBe(200);
  });

  it('pushes a blob in a single POST and serves it with its digest and length', async () => {
    const bytes = randomBytes(4096);

    const digest = await pushBlob(registry, 'acme/hello-service', bytes);
    const head = await fetch(registry.url(`/v2/acme/hello-service/blobs/${digest}`), {
      method: 'HEAD',
      headers: registry.auth,
    });
    const get = await fetch(registry.url(`/v2/acme/hello-service/blobs/${digest}`), {
      headers: registry.auth,
    });

    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('4096');
    expect(head.headers.get('docker-content-digest')).toBe(digest);
    expect(Buffer.from(await get.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('pushes a blob by POST then PUT, answering 201 with a pullable Location', async () => {
    const bytes = randomBytes(2000);
    const location = await startSession('acme/app');

    const put = await fetch(withDigest(location, sha256(bytes)), {
      method: 'PUT',
      headers: { ...registry.auth, 'content-type': 'application/octet-stream' },
      body: bytes,
    });

    expect(put.status).toBe(201);
    const pulled = await fetch(registry.url(put.headers.get('location') ?? ''), { headers: registry.auth });
    expect(Buffer.from(await pulled.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('pushes a blob in ordered chunks and reports the range received after each', async () => {
    const bytes = randomBytes(3000);
    let location = await startSession('acme/app');

    const first = await patch(location, bytes.subarray(0, 1000), '0-999');
    expect(first.status).toBe(202);
    expect(first.headers.get('range')).toBe('0-999');
    location = first.headers.get('location') ?? location;
    const second = await patch(location, bytes.subarray(1000, 2500), '1000-2499');
    expect(second.headers.get('range')).toBe('0-2499');
    const status = await fetch(registry.url(location), { headers: registry.auth });
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-2499');
    const put = await fetch(withDigest(location, sha256(bytes)), {
      method: 'PUT',
      headers: { ...registry.auth, 'content-range': '2500-2999', 'content-type': 'application/octet-stream' },
      body: bytes.subarray(2500),
    });

    expect(put.status).toBe(201);
    const pulled = await fetch(registry.url(`/v2/acme/app/blobs/${sha256(bytes)}`), {
      headers: registry.auth,
    });
    expect(Buffer.from(await pulled.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('accepts a chunk without Content-Range (a streamed upload) and a closing PUT without body', async () => {
    const bytes = randomBytes(1500);
    const location = await startSession('acme/app');

    const chunk = await patch(location, bytes);
    const put = await fetch(withDigest(location, sha256(bytes)), { method: 'PUT', headers: registry.auth });

    expect(chunk.status).toBe(202);
    expect(put.status).toBe(201);
  });

  it('refuses an out-of-order chunk with 416 and keeps the upload where it was', async () => {
    const bytes = randomBytes(2000);
    const location = await startSession('acme/app');
    await patch(location, bytes.subarray(0, 1000), '0-999');

    const skipped = await patch(location, bytes.subarray(1500), '1500-1999');

    expect(skipped.status).toBe(416);
    expect(skipped.headers.get('range')).toBe('0-999');
    const resumed = await patch(location, bytes.subarray(1000), '1000-1999');
    expect(resumed.status).toBe(202);
    const put = await fetch(withDigest(location, sha256(bytes)), { method: 'PUT', headers: registry.auth });
    expect(put.status).toBe(201);
  });

  it('refuses to close an upload whose bytes have another digest with DIGEST_INVALID', async () => {
    const location = await startSession('acme/app');
    await patch(location, Buffer.from('actual bytes'));

    const put = await fetch(withDigest(location, sha256('other bytes')), {
      method: 'PUT',
      headers: registry.auth,
    });

    expect(put.status).toBe(400);
    expect(await errorCodes(put)).toEqual(['DIGEST_INVALID']);
    const blob = await fetch(registry.url(`/v2/acme/app/blobs/${sha256('other bytes')}`), {
      method: 'HEAD',
      headers: registry.auth,
    });
    expect(blob.status).toBe(404);
  });

  it('refuses a single-POST blob whose digest does not match its bytes', async () => {
    const response = await fetch(registry.url(`/v2/acme/app/blobs/uploads/?digest=${sha256('x')}`), {
      method: 'POST',
      headers: registry.auth,
      body: Buffer.from('y'),
    });

    expect(response.status).toBe(400);
    expect(await errorCodes(response)).toEqual(['DIGEST_INVALID']);
  });

  it('cancels an upload with DELETE, after which the session is unknown', async () => {
    const location = await startSession('acme/app');

    const cancelled = await fetch(registry.url(location), { method: 'DELETE', headers: registry.auth });
    const status = await fetch(registry.url(location), { headers: registry.auth });

    expect(cancelled.status).toBe(204);
    expect(status.status).toBe(404);
    expect(await errorCodes(status)).toEqual(['BLOB_UPLOAD_UNKNOWN']);
  });

  it('mounts a blob from another repository with 201, and starts a session (202) when it is not there', async () => {
    const digest = await pushBlob(registry, 'acme/base', randomBytes(512));

    const mounted = await fetch(registry.url(`/v2/acme/app/blobs/uploads/?mount=${digest}&from=acme/base`), {
      method: 'POST',
      headers: registry.auth,
    });
    const missing = await fetch(
      registry.url(`/v2/acme/app/blobs/uploads/?mount=${sha256('absent')}&from=acme/base`),
      { method: 'POST', headers: registry.auth },
    );

    expect(mounted.status).toBe(201);
    expect(mounted.headers.get('docker-content-digest')).toBe(digest);
    expect(
      (await fetch(registry.url(`/v2/acme/app/blobs/${digest}`), { method: 'HEAD', headers: registry.auth }))
        .status,
    ).toBe(200);
    expect(missing.status).toBe(202);
    expect(missing.headers.get('location')).toMatch(/^\/v2\/acme\/app\/blobs\/uploads\/[0-9a-f-]+$/);
  });

  it('serves a byte range of a blob with 206', async () => {
    const bytes = randomBytes(1000);
    const digest = await pushBlob(registry, 'acme/app', bytes);

    const response = await fetch(registry.url(`/v2/acme/app/blobs/${digest}`), {
      headers: { ...registry.auth, range: 'bytes=100-199' },
    });

    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe('bytes 100-199/1000');
    expect(Buffer.from(await response.arrayBuffer()).equals(bytes.subarray(100, 200))).toBe(true);
  });

  it('answers 404 BLOB_UNKNOWN for a blob the repository does not hold, even when another does', async () => {
    const digest = await pushBlob(registry, 'acme/one', randomBytes(100));
    await pushBlob(registry, 'acme/two', randomBytes(100));

    const response = await fetch(registry.url(`/v2/acme/two/blobs/${digest}`), { headers: registry.auth });

    expect(response.status).toBe(404);
    expect(await errorCodes(response)).toEqual(['BLOB_UNKNOWN']);
  });

  it('stores a manifest by tag and serves the exact bytes by tag and by digest, with its media type', async () => {
    const image = makeImage(2);
    // Not the canonical JSON serialisation: the registry must keep the bytes as sent.
    const spaced = Buffer.from(JSON.stringify(JSON.parse(image.manifest.toString()), null, 3));
    await pushImage(registry, 'acme/hello-service', 'v1', { ...image, manifest: spaced });

    const byTag = await fetch(registry.url('/v2/acme/hello-service/manifests/v1'), {
      headers: { ...registry.auth, accept: MediaType.ociManifest },
    });
    const byDigest = await fetch(registry.url(`/v2/acme/hello-service/manifests/${sha256(spaced)}`), {
      headers: registry.auth,
    });
    const head = await fetch(registry.url('/v2/acme/hello-service/manifests/v1'), {
      method: 'HEAD',
      headers: registry.auth,
    });

    expect(byTag.status).toBe(200);
    expect(byTag.headers.get('content-type')).toBe(MediaType.ociManifest);
    expect(byTag.headers.get('docker-content-digest')).toBe(sha256(spaced));
    expect(Buffer.from(await byTag.arrayBuffer()).equals(spaced)).toBe(true);
    expect(Buffer.from(await byDigest.arrayBuffer()).equals(spaced)).toBe(true);
    expect(head.headers.get('content-length')).toBe(String(spaced.length));
  });

  it('answers a manifest PUT with 201, its digest and a Location by digest', async () => {
    const image = makeImage();
    for (const blob of [image.config, ...image.layers]) await pushBlob(registry, 'acme/app', blob);

    const response = await putManifest(registry, 'acme/app', 'main', image.manifest, MediaType.ociManifest);

    expect(response.status).toBe(201);
    expect(response.headers.get('docker-content-digest')).toBe(image.digest);
    expect(response.headers.get('location')).toBe(`/v2/acme/app/manifests/${image.digest}`);
  });

  it('accepts a manifest pushed by digest with extra ?tag= parameters and echoes them in OCI-Tag', async () => {
    const image = makeImage();
    for (const blob of [image.config, ...image.layers]) await pushBlob(registry, 'acme/app', blob);

    const response = await fetch(registry.url(`/v2/acme/app/manifests/${image.digest}?tag=abc123&tag=main`), {
      method: 'PUT',
      headers: { ...registry.auth, 'content-type': MediaType.ociManifest },
      body: image.manifest,
    });

    expect(response.status).toBe(201);
    expect(response.headers.get('oci-tag')).toBe('abc123, main');
    const tags = await (
      await fetch(registry.url('/v2/acme/app/tags/list'), { headers: registry.auth })
    ).json();
    expect(tags).toEqual({ name: 'acme/app', tags: ['abc123', 'main'] });
  });

  it('refuses a manifest pushed under a digest that is not its own with DIGEST_INVALID', async () => {
    const image = makeImage();
    for (const blob of [image.config, ...image.layers]) await pushBlob(registry, 'acme/app', blob);

    const response = await putManifest(
      registry,
      'acme/app',
      sha256('other'),
      image.manifest,
      MediaType.ociManifest,
    );

    expect(response.status).toBe(400);
    expect(await errorCodes(response)).toEqual(['DIGEST_INVALID']);
  });

  it('refuses a manifest whose layers were not pushed with MANIFEST_BLOB_UNKNOWN naming them', async () => {
    const image = makeImage();
    await pushBlob(registry, 'acme/app', image.config);

    const response = await putManifest(registry, 'acme/app', 'v1', image.manifest, MediaType.ociManifest);

    expect(response.status).toBe(400);
    const body = (await response.json()) as { errors: { code: string; message: string }[] };
    expect(body.errors[0]?.code).toBe('MANIFEST_BLOB_UNKNOWN');
    expect(body.errors[0]?.message).toContain(sha256(image.layers[0] ?? Buffer.alloc(0)));
  });

  it('refuses an index whose manifests are not in the repository with MANIFEST_BLOB_UNKNOWN', async () => {
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: [{ mediaType: MediaType.ociManifest, digest: sha256('nothing'), size: 7 }],
      }),
    );

    const response = await putManifest(registry, 'acme/app', 'v1', index, MediaType.ociIndex);

    expect(response.status).toBe(400);
    expect(await errorCodes(response)).toEqual(['MANIFEST_BLOB_UNKNOWN']);
  });

  it('stores an OCI index and a Docker manifest list over manifests pushed by digest', async () => {
    const amd = await pushImage(registry, 'acme/multi', 'amd-placeholder');
    const arm = makeImage();
    await pushImage(registry, 'acme/multi', arm.digest, arm);
    const entries = [
      { digest: amd.digest, size: amd.manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
      { digest: arm.digest, size: arm.manifest.length, platform: { os: 'linux', architecture: 'arm64' } },
    ];
    const oci = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: entries.map((e) => ({ mediaType: MediaType.ociManifest, ...e })),
      }),
    );
    const docker = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.dockerManifestList,
        manifests: entries.map((e) => ({ mediaType: MediaType.ociManifest, ...e })),
      }),
    );

    const ociPut = await putManifest(registry, 'acme/multi', 'latest', oci, MediaType.ociIndex);
    const dockerPut = await putManifest(
      registry,
      'acme/multi',
      'docker',
      docker,
      MediaType.dockerManifestList,
    );

    expect(ociPut.status).toBe(201);
    expect(dockerPut.status).toBe(201);
    const got = await fetch(registry.url('/v2/acme/multi/manifests/docker'), { headers: registry.auth });
    expect(got.headers.get('content-type')).toBe(MediaType.dockerManifestList);
  });

  it('stores a Docker schema 2 manifest with its media type', async () => {
    const image = makeImage();
    for (const blob of [image.config, ...image.layers]) await pushBlob(registry, 'acme/docker', blob);
    const manifest = JSON.parse(image.manifest.toString());
    manifest.mediaType = MediaType.dockerManifest;
    manifest.config.mediaType = MediaType.dockerConfig;
    const bytes = Buffer.from(JSON.stringify(manifest));

    const put = await putManifest(registry, 'acme/docker', 'v1', bytes, MediaType.dockerManifest);
    const got = await fetch(registry.url('/v2/acme/docker/manifests/v1'), { headers: registry.auth });

    expect(put.status).toBe(201);
    expect(got.headers.get('content-type')).toBe(MediaType.dockerManifest);
  });

  it('refuses a manifest whose Content-Type and mediaType disagree, or that is not JSON, with MANIFEST_INVALID', async () => {
    const image = makeImage();
    for (const blob of [image.config, ...image.layers]) await pushBlob(registry, 'acme/app', blob);

    const mismatch = await putManifest(registry, 'acme/app', 'v1', image.manifest, MediaType.dockerManifest);
    const garbage = await putManifest(
      registry,
      'acme/app',
      'v1',
      Buffer.from('{not json'),
      MediaType.ociManifest,
    );

    expect(mismatch.status).toBe(400);
    expect(await errorCodes(mismatch)).toEqual(['MANIFEST_INVALID']);
    expect(await errorCodes(garbage)).toEqual(['MANIFEST_INVALID']);
  });

  it('moves a tag to the manifest pushed last and keeps the earlier one by digest', async () => {
    const first = await pushImage(registry, 'acme/app', 'main');
    const second = await pushImage(registry, 'acme/app', 'main');

    const tagged = await fetch(registry.url('/v2/acme/app/manifests/main'), {
      method: 'HEAD',
      headers: registry.auth,
    });
    const old = await fetch(registry.url(`/v2/acme/app/manifests/${first.digest}`), {
      method: 'HEAD',
      headers: registry.auth,
    });

    expect(tagged.headers.get('docker-content-digest')).toBe(second.digest);
    expect(old.status).toBe(200);
  });

  it('answers MANIFEST_UNKNOWN for a missing tag and NAME_UNKNOWN-style 404 for a missing repository', async () => {
    await pushImage(registry, 'acme/app', 'v1');

    const tag = await fetch(registry.url('/v2/acme/app/manifests/v2'), { headers: registry.auth });
    const repo = await fetch(registry.url('/v2/acme/nothing/tags/list'), { headers: registry.auth });

    expect(tag.status).toBe(404);
    expect(await errorCodes(tag)).toEqual(['MANIFEST_UNKNOWN']);
    expect(repo.status).toBe(404);
    expect(await errorCodes(repo)).toEqual(['NAME_UNKNOWN']);
  });

  it('refuses an invalid repository name with NAME_INVALID and an invalid digest with DIGEST_INVALID', async () => {
    const name = await fetch(registry.url('/v2/Acme/App/tags/list'), { headers: registry.auth });
    const digest = await fetch(registry.url('/v2/acme/app/blobs/sha256:xyz'), { headers: registry.auth });

    expect(name.status).toBe(400);
    expect(await errorCodes(name)).toEqual(['NAME_INVALID']);
    expect(digest.status).toBe(400);
    expect(await errorCodes(digest)).toEqual(['DIGEST_INVALID']);
  });

  it('lists tags in order, in pages of n with a Link to the next page', async () => {
    const image = await pushImage(registry, 'acme/app', 'b');
    for (const tag of ['a', 'c', 'B'])
      await putManifest(registry, 'acme/app', tag, image.manifest, MediaType.ociManifest, 201);

    const all = await (
      await fetch(registry.url('/v2/acme/app/tags/list'), { headers: registry.auth })
    ).json();
    const page = await fetch(registry.url('/v2/acme/app/tags/list?n=2'), { headers: registry.auth });
    const next = await fetch(registry.url('/v2/acme/app/tags/list?n=2&last=a'), { headers: registry.auth });

    expect(all).toEqual({ name: 'acme/app', tags: ['B', 'a', 'b', 'c'] });
    expect(await page.json()).toEqual({ name: 'acme/app', tags: ['B', 'a'] });
    expect(page.headers.get('link')).toBe('</v2/acme/app/tags/list?n=2&last=a>; rel="next"');
    expect(await next.json()).toEqual({ name: 'acme/app', tags: ['b', 'c'] });
  });

  it('lists repositories in the catalog', async () => {
    await pushImage(registry, 'acme/hello-service', 'v1');
    await pushImage(registry, 'zeta', 'v1');

    const catalog = await (await fetch(registry.url('/v2/_catalog'), { headers: registry.auth })).json();

    expect(catalog).toEqual({ repositories: ['acme/hello-service', 'zeta'] });
  });

  it('answers a pull, a listing or a push without credentials with 401 and a Basic challenge, as ECR does', async () => {
    const image = await pushImage(registry, 'acme/app', 'v1');

    const read = await fetch(registry.url('/v2/acme/app/manifests/v1'));
    const blob = await fetch(registry.url(`/v2/acme/app/blobs/${sha256(image.config)}`));
    const tags = await fetch(registry.url('/v2/acme/app/tags/list'));
    const catalog = await fetch(registry.url('/v2/_catalog'));
    const authorized = await fetch(registry.url('/v2/acme/app/manifests/v1'), { headers: registry.auth });
    const write = await fetch(registry.url('/v2/acme/app/blobs/uploads/'), { method: 'POST' });
    const wrong = await fetch(registry.url('/v2/acme/app/manifests/v2'), {
      method: 'PUT',
      headers: {
        authorization: `Basic ${Buffer.from(`AWS:${registry.password}x`).toString('base64')}`,
        'content-type': MediaType.ociManifest,
      },
      body: image.manifest,
    });

    expect([read.status, blob.status, tags.status, catalog.status]).toEqual([401, 401, 401, 401]);
    expect(read.headers.get('www-authenticate')).toBe('Basic realm="stepline-local"');
    expect(authorized.status).toBe(200);
    expect(write.status).toBe(401);
    expect(write.headers.get('www-authenticate')).toBe('Basic realm="stepline-local"');
    expect(await errorCodes(write)).toEqual(['UNAUTHORIZED']);
    expect(wrong.status).toBe(401);
  });

  it('keeps the push password owner-only in the registry directory', async () => {
    const info = await stat(join(registry.dir, '.password'));

    expect(info.mode & 0o777).toBe(0o600);
    expect((await readFile(join(registry.dir, '.password'), 'utf8')).trim()).toBe(registry.password);
  });

  it('stores the same blob once when it is pushed concurrently to several repositories', async () => {
    const bytes = randomBytes(256 * 1024);
    const digest = sha256(bytes);

    const results = await Promise.all(
      ['acme/a', 'acme/b', 'acme/a', 'acme/c', 'acme/b'].map((repo) => pushBlob(registry, repo, bytes)),
    );

    expect(results).toEqual(Array(5).fill(digest));
    const hex = digest.slice('sha256:'.length);
    const inodes = await Promise.all(
      ['acme/a', 'acme/b', 'acme/c'].map(
        async (repo) => (await stat(join(registry.dir, repo, 'blobs', 'sha256', hex))).ino,
      ),
    );
    const stored = await stat(join(registry.dir, '.blobs', 'sha256', hex));
    expect(new Set([...inodes, stored.ino]).size).toBe(1);
  });
});

describe('the on-disk OCI image layout', () => {
  it('writes oci-layout and an index.json listing every manifest, tagged ones with their ref name', async () => {
    const untagged = makeImage();
    await pushImage(registry, 'acme/app', untagged.digest, untagged);
    const tagged = await pushImage(registry, 'acme/app', 'v1');
    await putManifest(registry, 'acme/app', 'main', tagged.manifest, MediaType.ociManifest, 201);

    const layout = JSON.parse(await readFile(join(registry.dir, 'acme/app/oci-layout'), 'utf8'));
    const index = JSON.parse(await readFile(join(registry.dir, 'acme/app/index.json'), 'utf8'));

    expect(layout).toEqual({ imageLayoutVersion: '1.0.0' });
    const refs = index.manifests.map((m: { digest: string; annotations: Record<string, string> }) => [
      m.digest,
      m.annotations['org.opencontainers.image.ref.name'],
    ]);
    expect(refs).toEqual(
      expect.arrayContaining([
        [untagged.digest, undefined],
        [tagged.digest, 'main'],
        [tagged.digest, 'v1'],
      ]),
    );
    const manifestFile = await readFile(join(registry.dir, 'acme/app/blobs/sha256', tagged.digest.slice(7)));
    expect(manifestFile.equals(tagged.manifest)).toBe(true);
  });

  it('keeps images, tags and push times across a restart', async () => {
    const image = await pushImage(registry, 'acme/app', 'v1');
    const before = await fetch(registry.url('/v2/acme/app/manifests/v1'), {
      method: 'HEAD',
      headers: registry.auth,
    });

    registry = await registry.restart();

    const after = await fetch(registry.url('/v2/acme/app/manifests/v1'), { headers: registry.auth });
    expect(after.status).toBe(200);
    expect(after.headers.get('docker-content-digest')).toBe(before.headers.get('docker-content-digest'));
    expect(Buffer.from(await after.arrayBuffer()).equals(image.manifest)).toBe(true);
    expect(
      await (await fetch(registry.url('/v2/acme/app/tags/list'), { headers: registry.auth })).json(),
    ).toEqual({
      name: 'acme/app',
      tags: ['v1'],
    });
  });
});

describe('the port of the local registry', () => {
  it('listens again on the port it used last time when asked to', async () => {
    const first = await startLocalRegistry({
      dir: registry.dir,
      baseImages: false,
      reusePort: true,
      credentials: registryTestCredentials,
    });
    const port = first.host.split(':')[1];
    await first.close();

    const second = await startLocalRegistry({
      dir: registry.dir,
      baseImages: false,
      reusePort: true,
      credentials: registryTestCredentials,
    });
    await second.close();

    expect(second.host).toBe(`127.0.0.1:${port}`);
    expect((await readFile(join(registry.dir, '.port'), 'utf8')).trim()).toBe(port);
  });

  it('takes another port when the one it used last time is taken', async () => {
    const first = await startLocalRegistry({
      dir: registry.dir,
      baseImages: false,
      reusePort: true,
      credentials: registryTestCredentials,
    });
    await first.close();
    const squatter = createServer();
    await new Promise<void>((resolve) =>
      squatter.listen(Number(first.host.split(':')[1]), '127.0.0.1', resolve),
    );

    const second = await startLocalRegistry({
      dir: registry.dir,
      baseImages: false,
      reusePort: true,
      credentials: registryTestCredentials,
    });
    await second.close();
    await new Promise((resolve) => squatter.close(resolve));

    expect(second.host).not.toBe(first.host);
    expect((await readFile(join(registry.dir, '.port'), 'utf8')).trim()).toBe(second.host.split(':')[1]);
  });
});
