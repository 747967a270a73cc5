import { useEffect, useState } from 'preact/hooks';
import type { ExecutionSummary, ListStreamMessage } from '../../local/console/api-types.ts';
import { getJson, stream } from './api.ts';
import { formatCost, formatDuration, formatTime, shortSha } from './format.ts';
import { html } from './html.ts';
import { navigate } from './router.ts';
import { StatusBadge, useNow } from './widgets.ts';

const statuses = ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'];

function upsert(rows: ExecutionSummary[], row: ExecutionSummary): ExecutionSummary[] {
  const others = rows.filter((r) => r.name !== row.name);
  return [row, ...others].sort(
    (a, b) => b.startDate.localeCompare(a.startDate) || (a.name < b.name ? 1 : -1),
  );
}

/** The executions, newest first, filtered by the query's repository, branch and status; live. */
export function ExecutionList({ query }: { query: URLSearchParams }) {
  const [rows, setRows] = useState<ExecutionSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const now = useNow(rows?.some((row) => row.status === 'RUNNING') ?? false);

  useEffect(() => {
    const controller = new AbortController();
    const load = () =>
      getJson<{ executions: ExecutionSummary[] }>('/api/executions', controller.signal).then(
        (body) => {
          setRows(body.executions);
          setError(null);
        },
        (thrown: Error) => {
          if (!controller.signal.aborted) setError(thrown.message);
        },
      );
    void stream<ListStreamMessage>(
      '/api/events',
      (message) => {
        if (message.kind === 'execution') setRows((current) => upsert(current ?? [], message.execution));
        return undefined;
      },
      controller.signal,
      // Each (re)connection reloads the list, so nothing that happened while away is missed.
      () => void load(),
    );
    return () => controller.abort();
  }, []);

  const repository = query.get('repository') ?? '';
  const branch = query.get('branch') ?? '';
  const status = query.get('status') ?? '';
  const all = rows ?? [];
  const repositories = [...new Set(all.map((r) => r.repository).filter((r): r is string => !!r))].sort();
  const branches = [...new Set(all.map((r) => r.branch).filter((b): b is string => !!b))].sort();
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
                all.length === 0
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
            `
      }
    </section>
  `;
}
