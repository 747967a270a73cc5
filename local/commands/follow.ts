import type { ExecutionDescription, LocalStepFunctions } from '#local/sfn/engine.ts';
import type { LocalHistoryEvent } from '#local/sfn/store.ts';
import { formatVisit } from './executions.ts';
import { indentCause, type StateVisit, StoryBuilder } from './story.ts';

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
    const { started, finished } = this.story(arn).add(event);
    if (started && started.type === 'Task' && !finished) this.write(`  ▶ ${started.name}`);
    if (finished) {
      this.write(formatVisit(finished));
      if (finished.outcome === 'failed' && finished.cause && finished.type !== 'Fail')
        this.write(indentCause(finished.cause, 30));
    }
  }
}
