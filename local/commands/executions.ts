import {
  DescribeExecutionCommand,
  ExecutionNotRedrivable,
  RedriveExecutionCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { UsageError } from '#local/config.ts';
import { readLocalCredentials } from '#local/credentials.ts';
import { localRegion } from '#local/s3.ts';
import {
  type LocalHistoryEvent,
  listStoredExecutions,
  readHistory,
  readStoredExecution,
  type StoredExecution,
  type UnreadableExecution,
} from '#local/sfn/store.ts';
import { estimateExecutionCost } from '#shared/cost/estimate.ts';
import { describeCost } from '#shared/cost/format.ts';
import { findRunningRuntime } from './running-runtime.ts';
import {
  formatDuration,
  indentCause,
  type RunResults,
  resultsOf,
  type StateVisit,
  StoryBuilder,
  type StoryRedrive,
} from './story.ts';
import { printable } from './terminal.ts';

type Write = (line: string) => void;

function pushSummary(record: StoredExecution): string {
  try {
    const push = JSON.parse(record.input) as {
      repository?: { fullName?: string };
      refName?: string;
      after?: string;
    };
    return `${push.repository?.fullName ?? '?'} ${push.refName ?? '?'} @ ${push.after?.slice(0, 12) ?? '?'}`;
  } catch {
    return '';
  }
}

function elapsed(record: StoredExecution): string {
  const end = record.stopDate ? Date.parse(record.stopDate) : Date.now();
  return formatDuration(end - Date.parse(record.startDate));
}

/**
 * `stepline executions list`: newest first, one line each. A record that cannot be read (e.g. empty
 * after a power loss) gets an UNREADABLE line (in --json, a warning on stderr) instead of failing the list.
 */
export function listExecutions(dataDir: string, write: Write, options: { json?: boolean } = {}): number {
  const unreadable: UnreadableExecution[] = [];
  const records = listStoredExecutions(
    dataDir,
    options.json ? undefined : (skipped) => unreadable.push(skipped),
  );
  if (options.json) {
    write(
      JSON.stringify(
        records.map(({ input: _input, output: _output, ...rest }) => rest),
        null,
        2,
      ),
    );
    return 0;
  }
  if (records.length === 0 && unreadable.length === 0) {
    write(`no executions in ${dataDir}`);
    return 0;
  }
  for (const skipped of unreadable) write(`${'UNREADABLE'.padEnd(9)} ${skipped.name}  ${skipped.reason}`);
  for (const record of records) {
    write(
      printable(
        `${record.status.padEnd(9)} ${record.startDate.replace('T', ' ').slice(0, 19)}  ${elapsed(record).padStart(9)}  ${record.name}  ${pushSummary(record)}`,
      ),
    );
  }
  return 0;
}

export function storyOf(
  dataDir: string,
  name: string,
  history: readonly LocalHistoryEvent[] = readHistory(dataDir, name),
): StateVisit[] {
  return storyOfHistory(history).visits;
}

/** The history folded into state visits and the redrives between them. */
function storyOfHistory(history: readonly LocalHistoryEvent[]): StoryBuilder {
  const story = new StoryBuilder();
  for (const event of history) story.add(event);
  return story;
}

/** A redrive's line between the visits: the run went on from where it had stopped. */
export function formatRedrive(redrive: StoryRedrive): string {
  return `  ↻ redriven (${redrive.redriveCount}) at ${redrive.at.toISOString()}`;
}

/** Wide enough for the pipeline's longest state name (`SupersededBeforeProduction`), so durations line up. */
export const stateNameWidth = 26;

/** One line per state visit, as `stepline run` prints them when they end. */
export function formatVisit(visit: StateVisit): string {
  const mark = visit.outcome === 'succeeded' ? '✓' : visit.outcome === 'failed' ? '✗' : '…';
  const retries =
    visit.retries > 0 ? ` (after ${visit.retries} ${visit.retries === 1 ? 'retry' : 'retries'})` : '';
  const error =
    visit.outcome === 'failed' && visit.error
      ? `  ${visit.interrupted ? `interrupted (${visit.error})` : visit.error}`
      : visit.interrupted
        ? '  interrupted'
        : '';
  const summary = visit.summary ? `  ${visit.summary}` : '';
  return printable(
    `  ${mark} ${visit.name.padEnd(stateNameWidth)} ${formatDuration(visit.durationMs).padStart(9)}${retries}${error}${summary}`,
  );
}

/** `stepline executions show NAME`: the execution as a story, then its failure in full. */
export function showExecution(
  dataDir: string,
  name: string,
  write: Write,
  options: { json?: boolean } = {},
): number {
  const record = readStoredExecution(dataDir, name);
  if (!record) {
    write(printable(`no execution named "${name}" in ${dataDir} (see \`stepline executions list\`)`));
    return 2;
  }
  const history = readHistory(dataDir, name);
  const story = storyOfHistory(history);
  const visits = story.visits;
  const results = resultsOf(history);
  if (options.json) {
    write(
      JSON.stringify(
        {
          ...record,
          input: JSON.parse(record.input),
          output: record.output ? JSON.parse(record.output) : undefined,
          results,
          states: visits,
          cost: estimateExecutionCost(history),
        },
        null,
        2,
      ),
    );
    return 0;
  }
  write(printable(`${record.name}  ${record.status}  ${elapsed(record)}`));
  write(printable(`  push:    ${pushSummary(record)}`));
  write(printable(`  started: ${record.startDate}${record.stopDate ? `  stopped: ${record.stopDate}` : ''}`));
  if (record.redriveCount)
    write(
      `  redriven: ${record.redriveCount} time${record.redriveCount === 1 ? '' : 's'}, last at ${record.redriveDate ?? '?'}`,
    );
  write(`  cost:    ${describeCost(estimateExecutionCost(history))}`);
  write('');
  visits.forEach((visit, index) => {
    for (const redrive of story.redrives) if (redrive.afterVisits === index) write(formatRedrive(redrive));
    write(formatVisit(visit));
  });
  for (const redrive of story.redrives)
    if (redrive.afterVisits === visits.length) write(formatRedrive(redrive));
  const highlights = formatResults(results);
  if (highlights.length > 0) write('');
  for (const line of highlights) write(line);
  if (record.error) {
    write('');
    write(printable(`  ${record.error}`));
    const cause = indentCause(record.cause);
    if (cause) write(cause);
  }
  return 0;
}

/** The lines a person looks for after a run: the image by digest, where it runs, who approved. */
export function formatResults(results: RunResults): string[] {
  const lines: string[] = [];
  if (results.image) lines.push(`  image:      ${results.image.uri}`);
  for (const env of ['staging', 'production'] as const) {
    const deployed = results[env];
    if (!deployed) continue;
    const label = `${env}:`.padEnd(11);
    if (deployed.outcome === 'Superseded')
      lines.push(
        `  ${label} superseded (already runs newer commit ${deployed.supersededBy?.slice(0, 12) ?? '?'})`,
      );
    else if (deployed.rolloutState === 'COMPLETED')
      lines.push(
        `  ${label} ${deployed.url ?? 'deployed'} (${deployed.taskDefinitionArn?.split('/').at(-1) ?? ''})`,
      );
    else lines.push(`  ${label} ${(deployed.rolloutState ?? 'rolling out').toLowerCase()}`);
  }
  if (results.approval)
    lines.push(
      `  approval:   ${results.approval.decision === 'approve' ? 'approved' : results.approval.decision} by ${results.approval.approver ?? '?'}${results.approval.comment ? ` ("${results.approval.comment}")` : ''}`,
    );
  return lines.map((line) => printable(line));
}

export interface RedriveCommandOptions {
  dataDir: string;
  name: string;
  json?: boolean;
  write: Write;
}

/**
 * `stepline executions redrive NAME`: asks the `stepline serve` running on the data directory to
 * redrive the execution (`RedriveExecution`: it restarts at the state where it stopped, with that
 * state's input). Exit 0 when it was redriven, 1 when Step Functions refuses (ExecutionNotRedrivable,
 * with the reason), 2 when there is no such execution or no runtime to run it.
 */
export async function redriveCommand(
  options: RedriveCommandOptions,
  deps: { findRuntime?: typeof findRunningRuntime } = {},
): Promise<number> {
  const { dataDir, name, write } = options;
  const record = readStoredExecution(dataDir, name);
  if (!record)
    throw new UsageError(`no execution named "${name}" in ${dataDir} (see \`stepline executions list\`)`);
  const runtime = await (deps.findRuntime ?? findRunningRuntime)(dataDir);
  if (!runtime)
    throw new UsageError(
      `no stepline serve is running on ${dataDir}: a redriven execution runs in that process; start it with "npx stepline serve --data ${dataDir}"`,
    );
  const sfn = new SFNClient({
    endpoint: runtime.sfnEndpoint,
    region: localRegion,
    credentials: await readLocalCredentials(dataDir),
    maxAttempts: 1,
  });
  try {
    const { redriveDate } = await sfn.send(
      new RedriveExecutionCommand({ executionArn: record.executionArn }),
    );
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn: record.executionArn }));
    if (options.json)
      write(
        JSON.stringify(
          {
            name,
            executionArn: record.executionArn,
            status: described.status,
            redriveCount: described.redriveCount,
            redriveDate: redriveDate?.toISOString(),
          },
          null,
          2,
        ),
      );
    else
      write(
        printable(
          `redriven ${name} (redrive ${described.redriveCount ?? '?'}, ${redriveDate?.toISOString() ?? ''}): it goes on from where it stopped; follow it with \`stepline executions show ${name}\``,
        ),
      );
    return 0;
  } catch (error) {
    if (!(error instanceof ExecutionNotRedrivable)) throw error;
    write(printable(`cannot redrive ${name}: ${error.message}`));
    return 1;
  } finally {
    sfn.destroy();
  }
}
