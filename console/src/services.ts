import { useEffect, useState } from 'preact/hooks';
import type { ActionResult, ServicesPayload } from '../../local/console/api-types.ts';
import { type ApiError, getJson, postJson, stream } from './api.ts';
import { formatTime, safeHref, shortSha } from './format.ts';
import { html } from './html.ts';

/** What runs in each environment, its health and URL; Rollback. Refreshed every few seconds. */
export function ServicesPage() {
  const [payload, setPayload] = useState<(ServicesPayload & { error?: string }) | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [notice, setNotice] = useState<{ ok: boolean; message: string } | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    const load = () =>
      getJson<ServicesPayload & { error?: string }>('/api/services', controller.signal).then(
        (body) => {
          setPayload(body);
          setError(null);
        },
        (thrown: Error) => {
          if (!controller.signal.aborted) setError(thrown.message);
        },
      );
    void load();
    const timer = setInterval(load, 3000);
    void stream<{ kind: string }>(
      '/api/services/events',
      () => {
        void load();
        return undefined;
      },
      controller.signal,
    );
    return () => {
      clearInterval(timer);
      controller.abort();
    };
  }, []);
  const rollback = async (environment: string) => {
    setConfirming(null);
    try {
      const result = await postJson<ActionResult>(
        `/api/services/${encodeURIComponent(environment)}/rollback`,
        {},
      );
      setNotice(result);
    } catch (thrown) {
      setNotice({ ok: false, message: (thrown as ApiError).message });
    }
  };
  return html`
    <section class="page">
      <header class="page-head"><h1>Services</h1></header>
      ${error || payload?.error ? html`<p class="error-box" role="alert">${error ?? payload?.error}</p>` : null}
      ${notice ? html`<p class=${notice.ok ? 'ok-box' : 'error-box'} role="status">${notice.message}</p>` : null}
      ${
        !payload
          ? html`<p class="muted">Loading…</p>`
          : payload.services.length === 0
            ? html`<p class="empty">No services yet: they appear once a run deploys.</p>`
            : html`<div class="table-wrap">
              <table class="services" aria-label="Services">
                <thead>
                  <tr>
                    <th>Environment</th><th>Service</th><th class="num">Revision</th><th>Commit</th><th>Image</th>
                    <th>Health</th><th>URL</th><th></th>
                  </tr>
                </thead>
                <tbody>
                  ${payload.services.map((s) => {
                    const healthy = s.desired > 0 && s.healthy >= s.desired;
                    const href = safeHref(s.url);
                    return html`<tr key=${`${s.cluster}/${s.service}`} data-environment=${s.environment}>
                      <td><strong>${s.environment}</strong></td>
                      <td>${s.service}<div class="muted small">${s.cluster}</div></td>
                      <td class="num">${s.revision ?? '—'}</td>
                      <td><code>${shortSha(s.commit) || '—'}</code></td>
                      <td><code class="digest" title=${s.imageDigest ?? ''}>${s.imageDigest ? `${s.imageDigest.slice(0, 19)}…` : '—'}</code></td>
                      <td>
                        <span class=${`badge ${healthy ? 'badge-succeeded' : s.desired === 0 ? 'badge-aborted' : 'badge-running'}`}
                          >${s.healthy}/${s.desired} healthy</span
                        >
                        <div class="muted small">${s.running} running${s.rolloutState ? `, ${s.rolloutState.toLowerCase().replace('_', ' ')}` : ''}</div>
                      </td>
                      <td>${href ? html`<a href=${href} target="_blank" rel="noopener noreferrer">${s.url}</a>` : (s.url ?? '—')}</td>
                      <td class="nowrap">
                        ${
                          payload.canRollback &&
                          (s.environment === 'staging' || s.environment === 'production')
                            ? confirming === s.environment
                              ? html`<span class="confirm">Roll ${s.environment} back to its previous revision?
                                <button class="danger" onClick=${() => rollback(s.environment)}>Roll back</button>
                                <button onClick=${() => setConfirming(null)}>Cancel</button></span>`
                              : html`<button onClick=${() => setConfirming(s.environment)}>Rollback…</button>`
                            : null
                        }
                      </td>
                    </tr>`;
                  })}
                </tbody>
              </table>
            </div>`
      }
      ${
        payload && payload.rollbacks.length > 0
          ? html`<div class="card">
            <h2>Rollbacks</h2>
            ${payload.rollbacks.map(
              (job) => html`<div class="rollback" key=${job.id}>
                <p><strong>${job.environment}</strong> ${job.status} <span class="muted small">${formatTime(job.startedAt)}</span></p>
                <pre class="block">${job.lines.join('\n')}</pre>
              </div>`,
            )}
          </div>`
          : null
      }
    </section>
  `;
}
