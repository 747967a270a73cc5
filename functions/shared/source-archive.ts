import { spawn } from 'node:child_process';
import { isAbsolute, normalize } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { fileURLToPath } from 'node:url';
import { Pack, Parser, ReadEntry } from 'tar';
import { PipelineError, SourceFetchError } from './errors.ts';
import {
  apiBase,
  authHeaders,
  bitbucketWebUrl,
  describeResponse,
  type Fetch,
  gitlabProjectId,
  ownerAndName,
} from './provider-api.ts';
import type { Provider, PushEvent } from './push-event.ts';

/**
 * Fetches the source of a pushed commit as a `.tar.gz` stream. Like the providers' archive
 * endpoints, every entry sits under ONE top-level directory (`owner-repo-sha/…`);
 * {@link repackSource} strips it.
 */
export interface SourceArchiver {
  fetch(push: PushEvent): Promise<Readable>;
}

export interface ProviderArchiverOptions {
  provider: Provider;
  /** `owner/name` (GitLab: full project path) of the repository the deployment configuration allowed. */
  repository: string;
  /** Token for private repositories; public ones are fetched anonymously without it. */
  token?: string | undefined;
  /**
   * Server base URL (self-hosted GitLab/Gitea/Forgejo, GitHub Enterprise `https://host/api/v3`).
   * For Bitbucket it replaces `https://bitbucket.org`, which serves the archives.
   */
  apiUrl?: string | undefined;
  fetch?: Fetch;
}

/** The archive URL of `sha` in `repository` on `provider`. Never carries a token. */
export function archiveUrl(
  provider: Provider,
  repository: string,
  sha: string,
  apiUrl?: string | undefined,
): string {
  const ref = encodeURIComponent(sha);
  switch (provider) {
    case 'github': {
      const { owner, name } = ownerAndName(repository);
      return `${apiBase(provider, apiUrl)}/repos/${owner}/${name}/tarball/${ref}`;
    }
    case 'gitlab':
      return `${apiBase(provider, apiUrl)}/api/v4/projects/${gitlabProjectId(repository)}/repository/archive.tar.gz?sha=${ref}`;
    case 'gitea': {
      const { owner, name } = ownerAndName(repository);
      return `${apiBase(provider, apiUrl)}/api/v1/repos/${owner}/${name}/archive/${ref}.tar.gz`;
    }
    case 'bitbucket': {
      const { owner, name } = ownerAndName(repository);
      const base = (apiUrl ?? bitbucketWebUrl).replace(/\/+$/, '');
      return `${base}/${owner}/${name}/get/${ref}.tar.gz`;
    }
  }
}

/**
 * Downloads the commit's archive from the provider's API (the AWS path). The repository comes
 * from the deployment configuration's verified entry, never from a clone URL in the payload.
 */
export function providerArchiver(options: ProviderArchiverOptions): SourceArchiver {
  const doFetch = options.fetch ?? globalThis.fetch;
  return {
    async fetch(push) {
      if (push.repository.fullName.toLowerCase() !== options.repository.toLowerCase()) {
        throw new SourceFetchError(
          `push is for repository "${push.repository.fullName}", but this archiver serves "${options.repository}"`,
        );
      }
      let url: string;
      try {
        url = archiveUrl(options.provider, options.repository, push.after, options.apiUrl);
      } catch (error) {
        throw new SourceFetchError((error as Error).message, { cause: error });
      }
      let response: Response;
      try {
        response = await doFetch(url, {
          headers: authHeaders(options.provider, options.token),
          redirect: 'follow',
        });
      } catch (error) {
        throw new SourceFetchError(`GET ${url} failed: ${(error as Error).message}`, { cause: error });
      }
      if (!response.ok || !response.body) {
        throw new SourceFetchError(`GET ${url} ${await describeResponse(response)}`);
      }
      return Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
    },
  };
}

/**
 * `git archive` of the pushed commit from a repository on this machine (the local runtime). The
 * repository is `push.repository.cloneUrl` when it is a `file://` URL or an absolute path.
 */
export function gitArchiver(options: { gitBinary?: string } = {}): SourceArchiver {
  const git = options.gitBinary ?? 'git';
  return {
    async fetch(push) {
      const dir = localRepositoryPath(push.repository.cloneUrl);
      const sha = push.after;
      const check = await runGit(git, dir, ['cat-file', '-e', `${sha}^{commit}`]);
      if (check.code !== 0) {
        throw new SourceFetchError(
          `commit ${sha} is not in the repository at ${dir}: ${check.stderr.trim() || `git exited with ${check.code}`}`,
        );
      }
      const prefix = `${push.repository.fullName.replace(/[^A-Za-z0-9._-]+/g, '-')}-${sha.slice(0, 12)}/`;
      return streamGit(git, dir, ['archive', '--format=tar.gz', `--prefix=${prefix}`, sha]);
    },
  };
}

function localRepositoryPath(cloneUrl: string): string {
  let path: string | undefined;
  if (cloneUrl.startsWith('file://')) {
    try {
      path = fileURLToPath(cloneUrl);
    } catch (error) {
      throw new SourceFetchError(`clone URL ${JSON.stringify(cloneUrl)} is not a valid file:// URL`, {
        cause: error,
      });
    }
  } else if (isAbsolute(cloneUrl)) {
    path = cloneUrl;
  }
  if (path === undefined) {
    throw new SourceFetchError(
      `the local runtime reads sources from repositories on this machine; clone URL ${JSON.stringify(cloneUrl)} is neither a file:// URL nor an absolute path`,
    );
  }
  return normalize(path);
}

function runGit(git: string, cwd: string, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(git, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', (error) =>
      reject(new SourceFetchError(`could not run git in ${cwd}: ${error.message}`, { cause: error })),
    );
    child.on('close', (code) => resolve({ code: code ?? 1, stderr }));
  });
}

/** git's stdout as a stream that ends only when git exits 0, and fails with git's stderr otherwise. */
function streamGit(git: string, cwd: string, args: string[]): Readable {
  const out = new PassThrough();
  const child = spawn(git, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  child.stdout.pipe(out, { end: false });
  child.on('error', (error) =>
    out.destroy(new SourceFetchError(`could not run git in ${cwd}: ${error.message}`, { cause: error })),
  );
  child.on('close', (code) => {
    if (code === 0) out.end();
    else
      out.destroy(
        new SourceFetchError(`git ${args[0]} failed in ${cwd}: ${stderr.trim() || `exit ${code}`}`),
      );
  });
  out.on('close', () => {
    if (child.exitCode === null) child.kill();
  });
  return out;
}

export interface RepackOptions {
  /** Repository-root paths whose content is kept in memory while the archive streams through. */
  capture?: readonly string[];
  /** Bytes kept of each captured file; the file's `size` still tells its real length. */
  maxCaptureBytes?: number;
  /** Refuse an archive whose files add up to more than this, uncompressed. @default 4 GiB */
  maxUnpackedBytes?: number;
}

export interface CapturedFile {
  content: Buffer;
  /** The file's length in the archive; larger than `content` when capture stopped at the limit. */
  size: number;
}

export interface RepackSummary {
  /** Regular files in the repacked archive. */
  files: number;
  /** Entries left out: the top-level directory itself and types git never produces (devices, FIFOs). */
  skipped: number;
  captured: Map<string, CapturedFile>;
}

export interface Repacked {
  /** The normalized `.tar.gz`, rooted at the repository root. Iterate it to drive the repack. */
  archive: AsyncIterable<Buffer>;
  /** Settles once the whole source archive was read. */
  summary: Promise<RepackSummary>;
}

const keptTypes = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link']);

/**
 * Streams a provider-style source archive into a `.tar.gz` whose root is the repository root:
 * the single top-level directory is stripped, unsafe paths are refused, and files named in
 * `capture` are kept in memory on the way. Nothing is written to disk.
 */
export function repackSource(source: Readable, options: RepackOptions = {}): Repacked {
  const capture = new Set(options.capture ?? []);
  const maxCapture = options.maxCaptureBytes ?? 1024 * 1024;
  const maxUnpacked = options.maxUnpackedBytes ?? 4 * 1024 ** 3;
  const pack = new Pack({ gzip: true, portable: true, strict: true });
  const parser = new Parser({ strict: true });
  const captured = new Map<string, CapturedFile>();
  let files = 0;
  let skipped = 0;
  let unpacked = 0;
  let root: string | undefined;
  let failed = false;

  let settle!: { resolve(summary: RepackSummary): void; reject(error: Error): void };
  const summary = new Promise<RepackSummary>((resolve, reject) => {
    settle = { resolve, reject };
  });
  // The same error reaches the consumer through `archive`; this only keeps it from being unhandled.
  summary.catch(() => undefined);

  const fail = (error: unknown) => {
    if (failed) return;
    failed = true;
    const typed =
      error instanceof PipelineError
        ? error
        : new SourceFetchError(`the source archive could not be read: ${(error as Error).message}`, {
            cause: error,
          });
    settle.reject(typed);
    source.destroy();
    parser.abort(typed);
    pack.emit('error', typed);
  };

  const repositoryPath = (archivePath: string): string | undefined => {
    const path = archivePath.replace(/\/+$/, '');
    const [top, ...rest] = path.split('/');
    root ??= top;
    if (top !== root || top === '' || top === undefined) {
      throw new SourceFetchError(
        `the source archive has "${archivePath}" outside its top-level directory "${root}/"; expected one top-level directory, as provider archives have`,
      );
    }
    if (rest.length === 0) return undefined;
    if (rest.some((part) => part === '..' || part === '.' || part === '')) {
      throw new SourceFetchError(`the source archive has an unsafe path ${JSON.stringify(archivePath)}`);
    }
    return rest.join('/');
  };

  parser.on('entry', (entry: ReadEntry) => {
    if (failed) {
      entry.resume();
      return;
    }
    try {
      const path = repositoryPath(entry.path);
      if (path === undefined || !keptTypes.has(entry.type)) {
        skipped += 1;
        entry.resume();
        return;
      }
      unpacked += entry.size;
      if (unpacked > maxUnpacked) {
        throw new SourceFetchError(
          `the source is larger than ${Math.round(maxUnpacked / 1024 ** 2)} MiB unpacked; Stepline refuses it`,
        );
      }
      // A fresh entry carries the new path: the parsed one may already hold buffered data,
      // which would reach only the first of two consumers attached to it.
      const relay = new ReadEntry(entry.header, entry.extended, entry.globalExtended);
      relay.path = entry.type === 'Directory' ? `${path}/` : path;
      if (entry.type === 'Link' && entry.linkpath !== undefined) {
        const target = repositoryPath(entry.linkpath);
        if (target === undefined) {
          throw new SourceFetchError(
            `the source archive has a hard link to its top-level directory: ${entry.path}`,
          );
        }
        relay.linkpath = target;
      }
      if (entry.type !== 'Directory' && entry.type !== 'SymbolicLink' && entry.type !== 'Link') files += 1;
      pack.add(relay);
      if (capture.has(path) && entry.type !== 'Directory' && entry.type !== 'SymbolicLink') {
        const chunks: Buffer[] = [];
        let kept = 0;
        relay.on('data', (chunk: Buffer) => {
          if (kept >= maxCapture) return;
          const part = chunk.subarray(0, maxCapture - kept);
          chunks.push(part);
          kept += part.length;
        });
        relay.on('end', () => captured.set(path, { content: Buffer.concat(chunks), size: entry.size }));
      }
      entry.pipe(relay);
    } catch (error) {
      entry.resume();
      fail(error);
    }
  });
  parser.on('error', fail);
  parser.on('abort', fail);
  pack.on('error', (error: unknown) => {
    if (!failed) fail(error);
  });
  parser.on('end', () => {
    if (failed) return;
    if (root === undefined) {
      fail(new SourceFetchError('the source archive is empty'));
      return;
    }
    pack.end();
  });
  // Captured files are complete once the last entry went through the packer.
  pack.on('end', () => {
    if (!failed) settle.resolve({ files, skipped, captured });
  });
  source.on('error', fail);
  source.pipe(parser);

  return { archive: pack as unknown as AsyncIterable<Buffer>, summary };
}
