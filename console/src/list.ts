import { useEffect, useRef, useState } from 'preact/hooks';
import type {
  ExecutionListPage,
  ExecutionSummary,
  ListStreamMessage,
} from '../../local/console/api-types.ts';
import { getJson, stream } from './api.ts';
import { formatCost, formatDuration, formatTime, shortSha } from './format.ts';
import { html } from './html.ts';
import { navigate } from './router.ts';
import { StatusBadge, useNow } from './widgets.ts';

const statuses = ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'];

/** The list's order: newest first, then by name (as the server pages it). */
const newerFirst = (a: ExecutionSummary, b: ExecutionSummary) =>
  b.startDate.localeCompare(a.startDate) || (a.name < b.name ? 1 : a.name > b.name ? -1 : 0);

interface Loaded {
  rows: ExecutionSummary[];
  /** Where the older executions start; null once the last page is shown. */
  nextToken: string | null;
  repositories: string[];
  branches: string[];
}

const union = (list: string[], value: string | null) =>
  value === null || list.includes(value) ? list : [...list, value].sort();

/** Puts the row in (replacing its older self), unless it belongs to a page not loaded yet. */
function upsert(loaded: Loaded, row: ExecutionSummary): Loaded {
  const present = loaded.rows.some((r) => r.name === row.name);
  const last = loaded.rows.at(-1);
  if (!present && loaded.nextToken !== null && last && newerFirst(row, last) > 0) return loaded;
  return {
    ...loaded,
    rows: [row, ...loaded.rows.filter((r) => r.name !== row.name)].sort(newerFirst),
    repositories: union(loaded.repositories, row.repository),
    branches: union(loaded.branches, row.branch),
  };
}

/**
 * The executions, newest first, a page at a time ("Older executions" loads the next), filtered
 * by the query's repository, branch and status on the server; live.
 */
export function ExecutionList({ query }: { query: URLSearchParams }) {
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const rows = loaded?.rows ?? null;
  const now = useNow(rows?.some((row) => row.status === 'RUNNING') ?? false);

  const repository = query.get('repository') ?? '';
  const branch = query.get('branch') ?? '';
  const status = query.get('status') ?? '';
  const filters = new URLSearchParams(
    Object.entries({ repository, branch, status }).filter(([, value]) => value !== ''),
  ).toString();
  // The filters the shown rows were loaded with: an older page of other filters is not added.
  const current = useRef(filters);
  current.current = filters;

  useEffect(() => {
    const controller = new AbortController();
    const load = () =>
      getJson<ExecutionListPage>(`/api/executions${filters ? `?${filters}` : ''}`, controller.signal).then(
        (page) => {
          setLoaded({
            rows: page.executions,
            nextToken: page.nextToken,
            repositories: page.repositories,
            branches: page.branches,
          });
          setError(null);
        },
        (thrown: Error) => {
          if (!controller.signal.aborted) setError(thrown.message);
        },
      );
    void stream<ListStreamMessage>(
      '/api/events',
      (message) => {
        if (message.kind === 'execution')
          setLoaded((loaded) => (loaded ? upsert(loaded, message.execution) : loaded));
        return undefined;
      },
      controller.signal,
      // Each (re)connection reloads the list, so nothing that happened while away is missed.
      () => void load(),
    );
    return () => controller.abort();
  }, [filters]);

  const loadOlder = () => {
    const token = loaded?.nextToken;
    if (!token) return;
    const asked = filters;
    const params = new URLSearchParams(filters);
    params.set('nextToken', token);
    setLoadingOlder(true);
    getJson<ExecutionListPage>(`/api/executions?${params.toString()}`)
      .then(
        (page) => {
          if (current.current !== asked) return;
          setLoaded((loaded) => {
            if (!loaded) return loaded;
            const known = new Set(loaded.rows.map((row) => row.name));
            return {
              ...loaded,
              rows: [...loaded.rows, ...page.executions.filter((row) => !known.has(row.name))],
              nextToken: page.nextToken,
            };
          });
        },
        (thrown: Error) => setError(thrown.message),
      )
      .finally(() => setLoadingOlder(false));
  };

  const all = rows ?? [];
  const repositories = loaded?.repositories ?? [];
  const branches = loaded?.branches ?? [];
  // The server filtered the pages; a row the stream changed may no longer match.
  const shown = all.filter(
    (row) =>
      (!repository || row.repository === repository) &&
      (!branch || row.branch === branch) &&
      (!status || row.status === status),
  );
  const setFilter = (key: string, value: string) => {
    const next = new URLSearchParams(query);
    if (value) next.set(key, value);
    else next.delete(key);
    const search = next.toString();
    navigate(search ? `/?${search}` : '/');
  };
  const select = (key: string, label: string, value: string, options: string[]) => html`
    <label class="filter">
      <span>${label}</span>
      <select
        aria-label=${label}
        value=${value}
        onChange=${(e: Event) => setFilter(key, (e.target as HTMLSelectElement).value)}
      >
        <option value="">all</option>
        ${options.map((option) => html`<option value=${option}>${option}</option>`)}
      </select>
    </label>
  `;

  return html`
    <section class="page">
      <header class="page-head">
        <h1>Executions</h1>
        <div class="filters">
          ${select('repository', 'Repository', repository, repositories)}
          ${select('branch', 'Branch', branch, branches)} ${select('status', 'Status', status, statuses)}
        </div>
      </header>
      ${error ? html`<p class="error-box" role="alert">${error}</p>` : null}
      ${
        rows === null
          ? html`<p class="muted">Loading…</p>`
          : shown.length === 0
            ? html`<p class="empty">
              ${
                all.length === 0 && !filters
                  ? 'No executions yet. Push to a repository whose webhook points at this runtime, or run npx stepline run.'
                  : 'No execution matches these filters.'
              }
            </p>`
            : html`
              <div class="table-wrap">
                <table class="executions" aria-label="Executions">
                  <thead>
                    <tr>
                      <th>Status</th>
                      <th>Repository</th>
                      <th>Branch</th>
                      <th>Commit</th>
                      <th>Pushed by</th>
                      <th>Started</th>
                      <th class="num">Duration</th>
                      <th class="num">Cost</th>
                    </tr>
                  </thead>
                  <tbody>
                    ${shown.map(
                      (row) => html`
                        <tr
                          key=${row.name}
                          data-execution=${row.name}
                          data-status=${row.status}
                          class="clickable"
                          onClick=${(e: MouseEvent) => {
                            if ((e.target as Element).closest('a')) return;
                            navigate(`/executions/${encodeURIComponent(row.name)}`);
                          }}
                        >
                          <td>
                            <${StatusBadge} status=${row.status} />
                            ${row.currentState ? html`<div class="muted small">${row.currentState}</div>` : null}
                          </td>
                          <td>
                            <a href=${`/executions/${encodeURIComponent(row.name)}`} class="repo"
                              >${row.repository ?? row.name}</a
                            >
                          </td>
                          <td><span class="ref">${row.branch ?? ''}</span></td>
                          <td class="commit">
                            <code>${shortSha(row.commit)}</code>
                            <span class="message" title=${row.message ?? ''}>${row.message ?? ''}</span>
                          </td>
                          <td>${row.pusher ?? ''}</td>
                          <td class="nowrap">${formatTime(row.startDate)}</td>
                          <td class="num nowrap">
                            ${formatDuration(
                              row.status === 'RUNNING'
                                ? Math.max(row.durationMs, now - Date.parse(row.startDate))
                                : row.durationMs,
                            )}
                          </td>
                          <td class="num" title=${row.cost?.label ?? 'no cost model yet'}>${formatCost(row.cost)}</td>
                        </tr>
                      `,
                    )}
                  </tbody>
                </table>
              </div>
              ${
                loaded?.nextToken
                  ? html`<p class="older">
                    <button type="button" onClick=${loadOlder} disabled=${loadingOlder}>
                      ${loadingOlder ? 'Loading…' : 'Older executions'}
                    </button>
                  </p>`
                  : null
              }
            `
      }
    </section>
  `;
}
