import { useEffect, useRef, useState } from 'preact/hooks';
import type {
  ActionResult,
  ApprovalView,
  DetailStreamMessage,
  ExecutionDetail,
  GraphLayout,
  LogStreamMessage,
  StateVisitView,
  TestResultsView,
} from '../../local/console/api-types.ts';
import { type ApiError, getJson, postJson, stream } from './api.ts';
import {
  formatCost,
  formatDuration,
  formatTime,
  prettyJson,
  safeHref,
  shortSha,
  stripAnsi,
} from './format.ts';
import { Graph } from './graph.ts';
import { html } from './html.ts';
import { StatusBadge, TextBlock, useNow } from './widgets.ts';

/** One execution: graph, timeline, states, log, results and actions; live while it runs. */
export function ExecutionPage({ name }: { name: string }) {
  const [detail, setDetail] = useState<ExecutionDetail | null>(null);
  const [layout, setLayout] = useState<GraphLayout | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [notice, setNotice] = useState<{ ok: boolean; message: string } | null>(null);
  const now = useNow(detail?.summary.status === 'RUNNING');

  useEffect(() => {
    const controller = new AbortController();
    const path = `/api/executions/${encodeURIComponent(name)}`;
    getJson<GraphLayout>('/api/graph', controller.signal).then(setLayout, () => {});
    const load = () =>
      getJson<ExecutionDetail>(path, controller.signal).then(
        (body) => {
          setDetail(body);
          setError(null);
        },
        (thrown: Error) => {
          if (!controller.signal.aborted) setError(thrown.message);
        },
      );
    void stream<DetailStreamMessage>(
      `${path}/events`,
      (message) => {
        if (message.kind === 'detail') setDetail(message.detail);
        return undefined;
      },
      controller.signal,
      () => void load(),
    );
    return () => controller.abort();
  }, [name]);

  if (error && !detail)
    return html`<section class="page"><p class="error-box" role="alert">${error}</p></section>`;
  if (!detail) return html`<section class="page"><p class="muted">Loading…</p></section>`;

  const { summary } = detail;
  const current = summary.currentState;
  // What to look at first: the running state, else the state that failed first (the reason), else the end.
  const focus =
    selected ??
    current ??
    detail.visits.find((v) => (v.outcome === 'caught' || v.outcome === 'failed') && v.type !== 'Fail')
      ?.name ??
    detail.visits.at(-1)?.name ??
    null;
  const act = async (what: string, path: string, body: unknown = {}) => {
    setNotice(null);
    try {
      const result = await postJson<ActionResult>(path, body);
      setNotice({ ok: result.ok, message: result.message });
    } catch (thrown) {
      setNotice({ ok: false, message: `${what}: ${(thrown as ApiError).message}` });
    }
  };
  const base = `/api/executions/${encodeURIComponent(name)}`;
  const duration =
    summary.status === 'RUNNING'
      ? Math.max(summary.durationMs, now - Date.parse(summary.startDate))
      : summary.durationMs;

  return html`
    <section class="page execution">
      <p class="crumbs"><a href="/">Executions</a> / <span>${name}</span></p>
      <header class="page-head">
        <div>
          <h1>
            <span class="repo">${summary.repository ?? name}</span>
            <span class="ref">${summary.branch ?? ''}</span>
            <${StatusBadge} status=${summary.status} />
          </h1>
          <p class="commit-line">
            <code>${shortSha(summary.commit)}</code> <span class="message">${summary.message ?? ''}</span>
          </p>
          <dl class="facts">
            <div><dt>Pushed by</dt><dd>${summary.pusher ?? '—'}</dd></div>
            <div><dt>Started</dt><dd>${formatTime(summary.startDate)}</dd></div>
            <div><dt>Duration</dt><dd data-testid="duration">${formatDuration(duration)}</dd></div>
            <div>
              <dt>Cost</dt>
              <dd title=${summary.cost?.label ?? 'no cost model yet'}>
                ${formatCost(summary.cost)}${summary.cost ? html` <span class="muted small">estimate</span>` : null}
              </dd>
            </div>
            <div><dt>Execution</dt><dd><code>${name}</code></dd></div>
          </dl>
        </div>
        <div class="actions">
          ${
            detail.actions.stop
              ? html`<button class="danger" onClick=${() => act('Stop', `${base}/stop`)}>Stop</button>`
              : null
          }
          ${
            detail.actions.redrive
              ? html`<button onClick=${() => act('Redrive', `${base}/redrive`)}>Redrive</button>`
              : null
          }
        </div>
      </header>
      ${
        notice
          ? html`<p class=${notice.ok ? 'ok-box' : 'error-box'} role="status">${notice.message}</p>`
          : null
      }
      ${
        detail.error
          ? html`<div class="error-box" role="alert">
            <strong>${detail.error}</strong>
            ${detail.cause ? html`<pre class="cause">${detail.cause}</pre>` : null}
          </div>`
          : null
      }
      ${
        detail.approval
          ? html`<${Approval}
            approval=${detail.approval}
            canDecide=${detail.actions.approve}
            onDecide=${(decision: string, approver: string, comment: string) =>
              act('Approval', `${base}/approval`, { decision, approver, comment })}
          />`
          : null
      }
      <div class="columns">
        <div class="card graph-card">
          <h2>Graph</h2>
          ${
            layout
              ? html`<${Graph} layout=${layout} states=${detail.states} selected=${focus} onSelect=${setSelected} />`
              : html`<p class="muted">Drawing…</p>`
          }
        </div>
        <div class="card state-card">
          <${StatePanel} detail=${detail} state=${focus} />
        </div>
      </div>
      <div class="card">
        <h2>Timeline</h2>
        <${Timeline} visits=${detail.visits} now=${now} onSelect=${setSelected} selected=${focus} />
      </div>
      <${Results} detail=${detail} />
      <${Logs} name=${name} detail=${detail} preferred=${focus} />
    </section>
  `;
}

function Approval({
  approval,
  canDecide,
  onDecide,
}: {
  approval: ApprovalView;
  canDecide: boolean;
  onDecide: (decision: string, approver: string, comment: string) => Promise<void>;
}) {
  const [approver, setApprover] = useState(approval.approvers[0] ?? '');
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState(false);
  const decide = async (decision: string) => {
    setBusy(true);
    try {
      await onDecide(decision, approver, comment);
    } finally {
      setBusy(false);
    }
  };
  const decided = approval.decision;
  return html`
    <div class=${`card approval approval-${approval.status}`} aria-label="Approval">
      <h2>Production approval</h2>
      ${
        decided
          ? html`<p>
            <strong>${decided.decision === 'approve' ? 'Approved' : 'Rejected'}</strong>${' by '}<span
              class="who"
              >${decided.approver}</span
            >${decided.decidedAt ? ` at ${formatTime(decided.decidedAt)}` : ''}
          </p>
          ${decided.comment ? html`<blockquote class="comment">${decided.comment}</blockquote>` : null}`
          : approval.status === 'pending'
            ? html`<p>
              Waiting for a decision from ${approval.approvers.join(', ')}${
                approval.expiresAt ? html` until ${formatTime(approval.expiresAt)}` : null
              }.
            </p>`
            : html`<p class="muted">No decision was made; the request has closed.</p>`
      }
      ${
        approval.status === 'pending' && canDecide
          ? html`<div class="decide">
            ${
              approval.approvers.length > 1
                ? html`<label
                  >Decide as
                  <select value=${approver} onChange=${(e: Event) => setApprover((e.target as HTMLSelectElement).value)}>
                    ${approval.approvers.map((a) => html`<option value=${a}>${a}</option>`)}
                  </select></label
                >`
                : html`<p class="muted small">Deciding as ${approver}, through the same checks as the emailed link.</p>`
            }
            <label for="approval-comment">Comment</label>
            <textarea
              id="approval-comment"
              maxlength="2000"
              value=${comment}
              onInput=${(e: Event) => setComment((e.target as HTMLTextAreaElement).value)}
            ></textarea>
            <div class="buttons">
              <button class="approve" disabled=${busy} onClick=${() => decide('approve')}>Approve</button>
              <button class="reject" disabled=${busy} onClick=${() => decide('reject')}>Reject</button>
            </div>
          </div>`
          : null
      }
    </div>
  `;
}

const outcomeText: Record<string, string> = {
  running: 'in progress',
  succeeded: 'succeeded',
  failed: 'failed',
  caught: 'caught error',
  cancelled: 'cancelled (the execution was stopped)',
};

function StatePanel({ detail, state }: { detail: ExecutionDetail; state: string | null }) {
  if (!state) return html`<h2>States</h2><p class="muted">Select a state in the graph.</p>`;
  const visits = detail.visits.filter((visit) => visit.name === state);
  return html`
    <h2>State <span class="state-name">${state}</span></h2>
    ${
      visits.length === 0
        ? html`<p class="muted">Not reached in this execution.</p>`
        : visits
            .slice()
            .reverse()
            .map((visit: StateVisitView) => {
              const output = visit.output ?? null;
              return html`
              <details class="visit" open=${visit === visits.at(-1)} key=${visit.index}>
                <summary>
                  <span class=${`dot node-${visit.outcome}`}></span>
                  ${visits.length > 1 ? `Visit ${visits.indexOf(visit) + 1}: ` : ''}${outcomeText[visit.outcome]}
                  ${visit.durationMs !== null ? ` in ${formatDuration(visit.durationMs)}` : ''}
                  ${visit.retries > 0 ? ` after ${visit.retries} ${visit.retries === 1 ? 'retry' : 'retries'}` : ''}
                </summary>
                ${visit.summary ? html`<p class="summary">${visit.summary}</p>` : null}
                ${
                  visit.error
                    ? html`<div class="error-box"><strong>${visit.error}</strong>${
                        visit.cause ? html`<pre class="cause">${visit.cause}</pre>` : null
                      }</div>`
                    : null
                }
                <h3>Input</h3>
                <${TextBlock} label=${`${state} input`} text=${prettyJson(visit.input)} />
                ${
                  visit.parameters !== null && visit.parameters !== visit.input
                    ? html`<h3>Parameters</h3><${TextBlock} label=${`${state} parameters`} text=${prettyJson(visit.parameters)} />`
                    : null
                }
                ${
                  output !== null
                    ? html`<h3>Output</h3><${TextBlock} label=${`${state} output`} text=${prettyJson(output)} />`
                    : null
                }
              </details>
            `;
            })
    }
  `;
}

/** One row per state, in the order they were first entered; a state visited in a loop has a bar per visit. */
function Timeline({
  visits,
  now,
  selected,
  onSelect,
}: {
  visits: StateVisitView[];
  now: number;
  selected: string | null;
  onSelect: (state: string) => void;
}) {
  if (visits.length === 0) return html`<p class="muted">No state has started yet.</p>`;
  const start = Date.parse(visits[0]!.enteredAt);
  const endOf = (visit: StateVisitView) => (visit.exitedAt ? Date.parse(visit.exitedAt) : now);
  const end = Math.max(...visits.map(endOf), start + 1);
  const span = end - start;
  const rows = new Map<string, StateVisitView[]>();
  for (const visit of visits) rows.set(visit.name, [...(rows.get(visit.name) ?? []), visit]);
  return html`
    <ol class="timeline" aria-label="Timeline">
      ${[...rows].map(([name, stateVisits]) => {
        const total = stateVisits.reduce((sum, v) => sum + (endOf(v) - Date.parse(v.enteredAt)), 0);
        return html`
          <li key=${name} class=${selected === name ? 'selected' : ''} onClick=${() => onSelect(name)}>
            <span class="t-name" title=${name}>${name}</span>
            <span class="t-track">
              ${stateVisits.map((visit) => {
                const left = ((Date.parse(visit.enteredAt) - start) / span) * 100;
                const width = Math.max(0.3, ((endOf(visit) - Date.parse(visit.enteredAt)) / span) * 100);
                return html`<span
                  key=${visit.index}
                  class=${`t-bar node-${visit.outcome}`}
                  style=${`left:${left}%;width:${width}%`}
                ></span>`;
              })}
            </span>
            <span class="t-time">${formatDuration(total)}${stateVisits.length > 1 ? ` ×${stateVisits.length}` : ''}</span>
          </li>
        `;
      })}
    </ol>
  `;
}

function Tests({ tests }: { tests: TestResultsView }) {
  return html`
    <div class="card tests" aria-label="Test results">
      <h2>Tests</h2>
      ${
        tests.failures.length > 0
          ? html`<ol class="failures">
            ${tests.failures.map(
              (failure) => html`<li>
                <strong>${failure.name}</strong> <span class="muted">${failure.suite}</span>
                <span class="badge badge-failed">${failure.kind}</span>
                ${failure.message ? html`<pre class="cause">${failure.message}</pre>` : null}
              </li>`,
            )}
          </ol>`
          : null
      }
      ${
        tests.total > 0 || !tests.failureCause
          ? html`<p class="counts">
            <span class="count failed">${tests.failed + tests.errors} failed</span>
            <span class="count passed">${tests.passed} passed</span>
            <span class="count skipped">${tests.skipped} skipped</span>
            <span class="muted">(${tests.total} in all)</span>
          </p>`
          : null
      }
      ${tests.note ? html`<p class="muted small">${tests.note}</p>` : null}
      ${
        tests.failureCause
          ? html`<details class="full-cause" open=${tests.failures.length === 0}>
              <summary>The whole cause</summary>
              <pre class="cause">${tests.failureCause}</pre>
            </details>`
          : null
      }
    </div>
  `;
}

function rolloutText(rolloutState: string | null, taskDefinitionArn: string | null): string {
  const state = (rolloutState ?? 'rolling out').toLowerCase().replace('_', ' ');
  return taskDefinitionArn ? `${state}, ${taskDefinitionArn.split('/').at(-1)}` : state;
}

function Results({ detail }: { detail: ExecutionDetail }) {
  const link = (url: string | null) => {
    const href = safeHref(url);
    return href ? html`<a href=${href} target="_blank" rel="noopener noreferrer">${url}</a>` : (url ?? '—');
  };
  return html`
    <div class="columns">
      <div class="card results" aria-label="Results">
        <h2>What it produced</h2>
        <dl class="facts stacked">
          <div>
            <dt>Image</dt>
            <dd>${detail.image ? html`<code class="digest">${detail.image.digest}</code><div class="muted small">${detail.image.uri}</div>` : '—'}</dd>
          </div>
          ${(['staging', 'production'] as const).map((environment) => {
            const deployed = detail.deployments.find((d) => d.environment === environment);
            return html`<div>
              <dt>${environment === 'staging' ? 'Staging' : 'Production'}</dt>
              <dd data-environment=${environment}>
                ${
                  !deployed
                    ? '—'
                    : deployed.outcome === 'Superseded'
                      ? `superseded by ${shortSha(deployed.supersededBy)}`
                      : html`${link(deployed.url)}${' '}<span class="muted small"
                            >${rolloutText(deployed.rolloutState, deployed.taskDefinitionArn)}</span
                          >`
                }
              </dd>
            </div>`;
          })}
        </dl>
        ${
          detail.summary.cost
            ? html`<h3>Cost <span class="muted small">(${detail.summary.cost.label})</span></h3>
              <table class="cost" aria-label="Cost">
                <tbody>
                  ${detail.summary.cost.parts.map(
                    (part) => html`<tr><td>${part.name}</td><td class="num">${part.formatted}</td></tr>`,
                  )}
                  <tr class="total"><td>Total</td><td class="num">${detail.summary.cost.formatted}</td></tr>
                </tbody>
              </table>`
            : null
        }
      </div>
      ${detail.tests ? html`<${Tests} tests=${detail.tests} />` : null}
    </div>
  `;
}

function Logs({
  name,
  detail,
  preferred,
}: {
  name: string;
  detail: ExecutionDetail;
  preferred: string | null;
}) {
  const withLogs = [...new Set(detail.visits.filter((v) => v.hasLog).map((v) => v.name))];
  const [chosen, setChosen] = useState<string | null>(null);
  const state = chosen ?? (preferred && withLogs.includes(preferred) ? preferred : (withLogs.at(-1) ?? null));
  // A state run again (a loop, a retry, a redrive) writes its log again: read it anew.
  const visitsOfState = detail.visits.filter((v) => v.name === state).length;
  const [text, setText] = useState('');
  const [live, setLive] = useState(false);
  const pre = useRef<HTMLPreElement>(null);
  const stick = useRef(true);
  useEffect(() => {
    if (!state) return undefined;
    const controller = new AbortController();
    setText('');
    setLive(true);
    let received = '';
    void stream<LogStreamMessage>(
      `/api/executions/${encodeURIComponent(name)}/logs/${encodeURIComponent(state)}`,
      (message) => {
        if (message.kind === 'end') {
          setLive(false);
          return 'stop';
        }
        received += stripAnsi(message.text);
        setText(received);
        return undefined;
      },
      controller.signal,
      () => {
        received = '';
        setText('');
      },
    );
    return () => controller.abort();
  }, [name, state, visitsOfState]);
  useEffect(() => {
    const element = pre.current;
    if (element && stick.current) element.scrollTop = element.scrollHeight;
  }, [text]);
  if (withLogs.length === 0) return null;
  return html`
    <div class="card logs">
      <h2>
        Runner log ${live ? html`<span class="live" aria-label="streaming">● live</span>` : null}
      </h2>
      <div class="tabs" role="tablist">
        ${withLogs.map(
          (s) =>
            html`<button
              role="tab"
              aria-selected=${s === state}
              class=${s === state ? 'tab active' : 'tab'}
              onClick=${() => setChosen(s)}
            >
              ${s}
            </button>`,
        )}
      </div>
      <pre
        class="log"
        aria-label=${`${state} log`}
        ref=${pre}
        onScroll=${(e: Event) => {
          const el = e.target as HTMLPreElement;
          stick.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
        }}
      >${text || (live ? 'Waiting for output…' : '(no output)')}</pre>
    </div>
  `;
}
