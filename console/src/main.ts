import { render } from 'preact';
import './app.css';
import { takeToken } from './api.ts';
import { ExecutionPage } from './execution.ts';
import { html } from './html.ts';
import { ExecutionList } from './list.ts';
import { onLinkClick, useLocation } from './router.ts';
import { ServicesPage } from './services.ts';

function App({ token }: { token: string | null }) {
  const location = useLocation();
  const path = location.pathname;
  const execution = /^\/executions\/([^/]+)$/.exec(path);
  let page: unknown;
  if (!token)
    page = html`<section class="page"><div class="error-box" role="alert">
      <strong>This console needs its token.</strong>
      <p>Open the console URL that <code>stepline serve</code> printed (it ends with <code>?token=…</code>),
      or read the token from <code>console-token</code> in the data directory.</p>
    </div></section>`;
  else if (execution) page = html`<${ExecutionPage} name=${decodeURIComponent(execution[1]!)} />`;
  else if (path === '/services') page = html`<${ServicesPage} />`;
  else page = html`<${ExecutionList} query=${location.searchParams} />`;
  const tab = (href: string, label: string, active: boolean) =>
    html`<a href=${href} class=${active ? 'active' : ''} aria-current=${active ? 'page' : undefined}>${label}</a>`;
  return html`
    <div class="shell" onClick=${onLinkClick}>
      <nav class="top">
        <a href="/" class="brand">Stepline <span>local console</span></a>
        ${tab('/', 'Executions', path === '/' || !!execution)} ${tab('/services', 'Services', path === '/services')}
      </nav>
      <main>${page}</main>
    </div>
  `;
}

const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(html`<${App} token=${takeToken()} />`, root);
}
