/**
 * Step Functions caps a state's input and output, a task's parameters and a task's result at
 * 256 KiB of UTF-8 JSON, and `States.DataLimitExceeded` cannot be caught by `States.ALL`: a run that
 * passes it ends without ReportFailure, and its commit stays pending. So every part of the
 * execution state has a budget, large things (the source, stepline.yml, logs, artifacts) live in S3
 * and travel as keys, and whatever a step adds is cut to its budget where it is made.
 * docs/runner.md ("What the execution state holds") lists the budgets and why they add up.
 */

/** Step Functions' limit, in bytes of UTF-8 JSON text. */
export const maxPayloadBytes = 256 * 1024;

/** Budgets, in bytes of JSON text, of what each step keeps in the execution state. */
export const payloadBudget = {
  /** `$.push`, the execution input (the webhook trims commits to fit). */
  push: 160 * 1024,
  /** `$.run`. */
  run: 1024,
  /** `$.source`: keys and the deployment settings, never the pipeline config itself. */
  source: 3 * 1024,
  /** `$.build`. */
  build: 8 * 1024,
  /** `$.test`, with the first failing tests. */
  test: 16 * 1024,
  /** `$.publish`, with the image. */
  publish: 8 * 1024,
  /** `$.staging` and `$.production`, each. */
  deployment: 6 * 1024,
  /** `$.approval`. */
  approval: 8 * 1024,
  /** `$.lane`: the execution mode and whether a newer push superseded the run (functions/lane/lane.ts). */
  lane: 1024,
  /** Each caught error (`$.failure`, `$.reportPending`, `$.notifyFailure`, `$.reportFailure`, `$.reportError`). */
  caughtError: 8 * 1024,
} as const;

/** A failure's `Cause` as a runner sends it: at most this many bytes as a JSON string. */
export const maxCauseJsonBytes = 7 * 1024;

/**
 * A typed error's message: at most this many bytes as a JSON string. A Lambda's error reaches the
 * state as `Cause` = the JSON of `{errorType, errorMessage, trace}`, which holds the message twice
 * (the trace's first line repeats it) and is escaped once more inside the state: 1.5 KiB here stays
 * under {@link maxCauseJsonBytes} there with a 10-frame trace.
 */
export const maxErrorMessageJsonBytes = 1536;

const cutMark = '… (cut)';

/** Bytes `text` takes as a JSON string, quotes included. */
export function jsonStringBytes(text: string): number {
  return Buffer.byteLength(JSON.stringify(text));
}

/** Bytes `value` takes as JSON text. */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? 'null');
}

/**
 * The longest start (or end) of `text` that takes at most `maxJsonBytes` as a JSON string, with a
 * mark where it was cut. Cuts between code points; never returns more than asked.
 */
export function fitJsonString(text: string, maxJsonBytes: number, keep: 'start' | 'end' = 'start'): string {
  if (jsonStringBytes(text) <= maxJsonBytes) return text;
  const mark = keep === 'start' ? cutMark : `(cut) …`;
  let room = maxJsonBytes - jsonStringBytes(mark);
  if (room <= 2) return '';
  room -= 2; // the quotes
  const chars = [...text];
  if (keep === 'end') chars.reverse();
  const kept: string[] = [];
  for (const char of chars) {
    const cost = jsonStringBytes(char) - 2;
    if (cost > room) break;
    room -= cost;
    kept.push(char);
  }
  if (keep === 'end') return mark + kept.reverse().join('');
  return kept.join('') + mark;
}

/** A failure cause cut to {@link maxCauseJsonBytes}, keeping its start. */
export function fitCause(text: string): string {
  return fitJsonString(text, maxCauseJsonBytes);
}
