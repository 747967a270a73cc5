import type { ExecutionMode } from '#shared/deployment-config.ts';

/** The execution that superseded another: named in the older one's output and commit status. */
export interface NewerExecution {
  execution: string;
  executionArn: string;
  commit: string;
}

/** One execution in a lane (a provider, repository and branch), in the order it entered. */
export interface LaneEntry {
  execution: string;
  executionArn: string;
  commit: string;
  /** `$$.Execution.StartTime`: which of two pushes is the newer. */
  startedAt: string;
  mode: Exclude<ExecutionMode, 'parallel'>;
  /** `queued`: the token of its `WaitInLane` state while it waits for the executions ahead. */
  taskToken?: string;
  /** `queued`: its `WaitInLane` token has been answered (or no longer needs it). */
  woken?: boolean;
  /** It passed the checkpoint before its last deployment: nothing supersedes it any more. */
  committed?: boolean;
  /** `superseded`: the newest later execution of the lane, once one entered before this one committed. */
  supersededBy?: NewerExecution;
  /**
   * Seconds since the epoch when a redriven run joined the lane again (it had left it when it failed
   * or was stopped): a release of an end before that is a late one of the earlier attempt, ignored.
   */
  rejoinedAt?: number;
  /** Seconds since the epoch after which the entry is dropped (no execution lives that long). */
  expiresAt: number;
}

/** A lane as stored: its entries and a version that each write increments. */
export interface StoredLane {
  entries: LaneEntry[];
  /** 0 for a lane that does not exist. */
  version: number;
}

/**
 * Where lanes live: a DynamoDB table on AWS (`functions/lane/dynamodb-store.ts`), files under the data
 * directory locally (`local/lane-store.ts`). Writes are conditional on the version read, so two
 * executions changing one lane at once cannot both win: the loser reads again and retries.
 */
export interface LaneStore {
  /** The lane `key` as it is now (strongly consistent). */
  read(key: string): Promise<StoredLane>;
  /**
   * Writes `entries` as version `expectedVersion + 1` if the lane is still at `expectedVersion`;
   * an empty list deletes the lane. False when another write came first.
   */
  write(key: string, entries: LaneEntry[], expectedVersion: number): Promise<boolean>;
  /** Records which lane an execution entered, for a release that knows only the execution (an end event). */
  rememberLane(executionArn: string, key: string, expiresAt: number): Promise<void>;
  /** The lane `rememberLane` recorded for the execution, if any. */
  laneOf(executionArn: string): Promise<string | undefined>;
  forgetLane(executionArn: string): Promise<void>;
}
