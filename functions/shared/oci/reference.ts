/** An image reference split into where it lives and which manifest it names. */
export interface ImageReference {
  /** `host[:port]`, e.g. `public.ecr.aws` or `127.0.0.1:5000`. */
  registry: string;
  /** Repository path inside the registry, e.g. `docker/library/node`. */
  repository: string;
  tag?: string;
  digest?: string;
  /** What to ask the registry for: the digest when there is one, else the tag. */
  reference: string;
}

const repositoryPattern =
  /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const tagPattern = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const digestPattern = /^sha256:[0-9a-f]{64}$/;

/**
 * Parses `[registry/]repository[:tag][@digest]`. A reference whose first path component is not a
 * host (no `.` or `:` and not `localhost`) is a short name and is placed under `shortNamePrefix`
 * (`host[:port][/path]`): `node:22-slim` with `public.ecr.aws/docker/library` gives
 * `public.ecr.aws/docker/library/node:22-slim`. No tag and no digest means `latest`.
 * Throws with the bad value on anything else.
 */
export function parseImageReference(text: string, shortNamePrefix?: string): ImageReference {
  const bad = (why: string) => new Error(`invalid image reference "${text}": ${why}`);
  let rest = text.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!digestPattern.test(digest))
      throw bad(`expected a digest "sha256:<64 hex>" after "@", got "${digest}"`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!tagPattern.test(tag)) throw bad(`"${tag}" is not a valid tag`);
  }
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  const hasHost = first !== '' && (first.includes('.') || first.includes(':') || first === 'localhost');
  let registry: string;
  let repository: string;
  if (hasHost) {
    registry = first;
    repository = rest.slice(slash + 1);
  } else {
    if (!shortNamePrefix) throw bad('it names no registry and no default registry is configured');
    const prefix = shortNamePrefix.replace(/\/+$/, '');
    const prefixSlash = prefix.indexOf('/');
    registry = prefixSlash >= 0 ? prefix.slice(0, prefixSlash) : prefix;
    repository = prefixSlash >= 0 ? `${prefix.slice(prefixSlash + 1)}/${rest}` : rest;
  }
  if (!repositoryPattern.test(repository)) {
    throw bad(`"${repository}" is not a valid repository name (lowercase letters, digits, . _ - and /)`);
  }
  if (!tag && !digest) tag = 'latest';
  return {
    registry,
    repository,
    ...(tag ? { tag } : {}),
    ...(digest ? { digest } : {}),
    reference: digest ?? (tag as string),
  };
}

/** `registry/repository[:tag][@digest]`. */
export function formatImageReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}
