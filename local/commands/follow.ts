import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  GetExecutionHistoryCommand,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import type { ExecutionDescription, LocalStepFunctions } from '#local/sfn/engine.ts';
import type { LocalHistoryEvent } from '#local/sfn/store.ts';
import { formatVisit } from './executions.ts';
import { indentCause, type StateVisit, StoryBuilder } from './story.ts';
import { printable } from './terminal.ts';

type Write = (line: string) => void;

/**
 * Subscribes to every execution's events before anything is started, so none is missed, and
 * prints one execution's states as they start and end once its ARN is known.
 */
export class ExecutionFollower {
  private readonly buffered = new Map<string, LocalHistoryEvent[]>();
  private readonly stories = new Map<string, StoryBuilder>();
  private followed: string | undefined;
  private firstStarted: ((arn: string) => void) | undefined;
  private readonly listener = (arn: string, event: LocalHistoryEvent) => this.onEvent(arn, event);

  constructor(
    private readonly engine: LocalStepFunctions,
    private readonly write: Write,
    /** Told when a Task state of the followed execution starts (e.g. to print an approval link). */
    private readonly onTaskStarted?: (visit: StateVisit, executionArn: string) => void,
  ) {
    engine.on('event', this.listener);
  }

  /** Resolves with the ARN of the next execution that starts. */
  nextStarted(): Promise<string> {
    return new Promise((resolve) => {
      this.firstStarted = resolve;
    });
  }

  /** Prints the execution's progress live and resolves with its final description. */
  async follow(executionArn: string): Promise<{ description: ExecutionDescription; visits: StateVisit[] }> {
    this.followed = executionArn;
    for (const event of this.buffered.get(executionArn) ?? []) this.print(executionArn, event);
    this.buffered.clear();
    const description = await this.engine.waitForExecution(executionArn);
    return { description, visits: this.story(executionArn).visits };
  }

  close(): void {
    this.engine.off('event', this.listener);
  }

  private story(arn: string): StoryBuilder {
    let story = this.stories.get(arn);
    if (!story) {
      story = new StoryBuilder();
      this.stories.set(arn, story);
    }
    return story;
  }

  private onEvent(arn: string, event: LocalHistoryEvent): void {
    if (event.type === 'ExecutionStarted' && this.firstStarted) {
      this.firstStarted(arn);
      this.firstStarted = undefined;
    }
    if (this.followed === arn) this.print(arn, event);
    else if (this.followed === undefined) this.buffered.set(arn, [...(this.buffered.get(arn) ?? []), event]);
  }

  private print(arn: string, event: LocalHistoryEvent): void {
    printEvent(this.story(arn), event, this.write, (visit) => this.onTaskStarted?.(visit, arn));
  }
}

function printEvent(
  story: StoryBuilder,
  event: LocalHistoryEvent,
  write: Write,
  onTaskStarted: (visit: StateVisit) => void,
): void {
  const { started, finished } = story.add(event);
  if (started && started.type === 'Task' && !finished) {
    write(printable(`  ▶ ${started.name}`));
    onTaskStarted(started);
  }
  if (finished) {
    write(formatVisit(finished));
    if (finished.outcome === 'failed' && finished.cause && finished.type !== 'Fail')
      write(indentCause(finished.cause, 30));
  }
}

/**
 * Follows an execution of another process's runtime (`stepline serve`) through its Step Functions
 * endpoint, with the real SDK: polls the history and prints states as they start and end.
 */
export async function followRemote(
  sfn: Pick<SFNClient, 'send'>,
  executionArn: string,
  write: Write,
  onTaskStarted?: (visit: StateVisit, executionArn: string) => void,
  pollMs = 250,
): Promise<{
  description: DescribeExecutionCommandOutput;
  visits: StateVisit[];
  events: LocalHistoryEvent[];
}> {
  const story = new StoryBuilder();
  const events: LocalHistoryEvent[] = [];
  for (;;) {
    const description = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    let nextToken: string | undefined;
    const fresh: LocalHistoryEvent[] = [];
    let index = 0;
    do {
      const page = await sfn.send(
        new GetExecutionHistoryCommand({
          executionArn,
          maxResults: 1000,
          ...(nextToken ? { nextToken } : {}),
        }),
      );
      for (const event of page.events ?? []) {
        if (index++ >= events.length) fresh.push(event as unknown as LocalHistoryEvent);
      }
      nextToken = page.nextToken;
    } while (nextToken);
    for (const event of fresh) {
      events.push(event);
      printEvent(story, event, write, (visit) => onTaskStarted?.(visit, executionArn));
    }
    if (description.status !== 'RUNNING' && fresh.length === 0)
      return { description, visits: story.visits, events };
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
