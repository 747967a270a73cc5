import { useEffect, useState } from 'preact/hooks';
import { html } from './html.ts';

const labels: Record<string, string> = {
  RUNNING: 'Running',
  SUCCEEDED: 'Succeeded',
  FAILED: 'Failed',
  TIMED_OUT: 'Timed out',
  ABORTED: 'Stopped',
};

export function StatusBadge({ status }: { status: string }) {
  return html`<span class=${`badge badge-${status.toLowerCase()}`}>${labels[status] ?? status}</span>`;
}

/** The time now, ticking every second while `ticking`. */
export function useNow(ticking: boolean): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!ticking) return undefined;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [ticking]);
  return now;
}

/** Text that may be long (JSON, causes, logs): shown as text in a scrolling block. */
export function TextBlock({ text, label }: { text: string; label: string }) {
  return html`<pre class="block" aria-label=${label}>${text}</pre>`;
}
