/**
 * The console's token and its requests. The token comes once in the URL (`?token=`), is kept in
 * this origin's localStorage (which no other port of the host can read, unlike a cookie) and is
 * sent as `Authorization: Bearer` with every API request. Event streams are read with fetch so
 * they can carry it too.
 */
const tokenKey = 'stepline-console-token';

/** Takes the token out of the address bar into storage; returns the token to use, if any. */
export function takeToken(): string | null {
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    window.localStorage.setItem(tokenKey, fromUrl);
    url.searchParams.delete('token');
    window.history.replaceState(null, '', `${url.pathname}${url.search}${url.hash}`);
  }
  return window.localStorage.getItem(tokenKey);
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function headers(): Record<string, string> {
  return { authorization: `Bearer ${window.localStorage.getItem(tokenKey) ?? ''}` };
}

async function answer<T>(response: Response): Promise<T> {
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = { message: text };
  }
  if (!response.ok)
    throw new ApiError(response.status, (body as { message?: string }).message ?? `HTTP ${response.status}`);
  return body as T;
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  return answer<T>(await fetch(path, { headers: headers(), ...(signal ? { signal } : {}) }));
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  return answer<T>(
    await fetch(path, {
      method: 'POST',
      headers: { ...headers(), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
  );
}

/**
 * Reads a server-sent event stream and calls `onMessage` with each `data:` JSON. Reconnects after
 * a dropped connection (calling `onOpen` again, so the caller can reload what it missed) until
 * `signal` aborts or `onMessage` returns `'stop'`.
 */
export async function stream<T>(
  path: string,
  onMessage: (message: T) => 'stop' | undefined,
  signal: AbortSignal,
  onOpen: () => void = () => {},
): Promise<void> {
  while (!signal.aborted) {
    try {
      const response = await fetch(path, { headers: headers(), signal, cache: 'no-store' });
      if (!response.ok || !response.body) throw new ApiError(response.status, `stream ${path}`);
      onOpen();
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const chunk = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf('\n\n');
          const data = chunk
            .split('\n')
            .filter((line) => line.startsWith('data: '))
            .map((line) => line.slice(6))
            .join('\n');
          if (!data) continue;
          if (onMessage(JSON.parse(data) as T) === 'stop') {
            await reader.cancel();
            return;
          }
        }
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status === 401) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}
