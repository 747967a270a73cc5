/**
 * The JSON the console's API serves and its browser app reads. Types only: the browser app
 * (console/) compiles against this file with the DOM library, the server with Node's.
 */

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

/** A page of `GET /api/executions`: newest first, filtered before it is cut. */
export interface ExecutionListPage {
  executions: ExecutionSummary[];
  /** Pass as `nextToken` for the next (older) page; null on the last page. */
  nextToken: string | null;
  /** How many executions match the filters, over every page. */
  total: number;
  /** Every execution's repositories and branches, for the filters' choices. */
  repositories: string[];
  branches: string[];
}

/** One row of the executions list. */
export interface ExecutionSummary {
  name: string;
  status: ExecutionStatus;
  repository: string | null;
  provider: string | null;
  /** Branch or tag name. */
  branch: string | null;
  refType: 'branch' | 'tag' | null;
  commit: string | null;
  /** The head commit's message, first line. */
  message: string | null;
  /** Who pushed: name, then email when the provider gave one. */
  pusher: string | null;
  startDate: string;
  stopDate: string | null;
  /** Milliseconds from start to stop (to now while running). */
  durationMs: number;
  /** The state a running execution is in. */
  currentState: string | null;
  /** Estimated cost in USD, when the cost model can tell. */
  cost: CostEstimate | null;
}

export interface CostEstimate {
  /** US dollars. */
  total: number;
  /** `$0.0182`: the total as the CLI prints it. */
  formatted: string;
  /** What the price table says about itself (region, date), shown next to the figure. */
  label: string;
  /** The items the total is made of, in dollars. */
  parts: { name: string; usd: number; formatted: string }[];
}

/**
 * How a state's last visit went, as the graph colours it: `caught` failed and went on through its
 * Catch; `cancelled` was running when the execution was stopped.
 */
export type StateOutcome = 'running' | 'succeeded' | 'failed' | 'caught' | 'cancelled' | 'notReached';

/** One visit of a state (a state in a loop is visited several times). */
export interface StateVisitView {
  /** Position in the execution: 0, 1, 2, … */
  index: number;
  name: string;
  type: string;
  enteredAt: string;
  exitedAt: string | null;
  durationMs: number | null;
  outcome: Exclude<StateOutcome, 'notReached'>;
  retries: number;
  /** JSON text of the state's input and output, as the history has them. */
  input: string | null;
  output: string | null;
  /** What the task was called with (Parameters applied), for Task states. */
  parameters: string | null;
  error: string | null;
  cause: string | null;
  /** A few words on what the step produced. */
  summary: string | null;
  /** A task log exists for this state (`/api/executions/{name}/logs/{state}`). */
  hasLog: boolean;
}

export interface GraphNode {
  name: string;
  type: string;
  /** Centre of the node. */
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface GraphEdge {
  from: string;
  to: string;
  /** `next`/`default`/`choice` are transitions; `catch` is where a caught error goes. */
  kind: 'next' | 'choice' | 'default' | 'catch';
  points: { x: number; y: number }[];
}

/** The state machine laid out for drawing (dagre, from the ASL itself). */
export interface GraphLayout {
  width: number;
  height: number;
  startAt: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

export interface TestFailureView {
  suite: string;
  name: string;
  kind: string;
  message: string;
}

export interface TestResultsView {
  total: number;
  passed: number;
  failed: number;
  errors: number;
  skipped: number;
  failures: TestFailureView[];
  note: string | null;
  /** Set when the Test state failed without a result (e.g. TestsFailedError): its cause. */
  failureCause: string | null;
}

export interface DeployedView {
  environment: 'staging' | 'production';
  outcome: string | null;
  rolloutState: string | null;
  url: string | null;
  taskDefinitionArn: string | null;
  supersededBy: string | null;
}

export interface ApprovalView {
  id: string | null;
  /** `pending` while the execution waits for it. */
  status: 'pending' | 'approved' | 'rejected' | 'closed';
  approvers: string[];
  expiresAt: string | null;
  decision: { decision: string; approver: string; comment: string; decidedAt: string } | null;
}

export interface ExecutionDetail {
  summary: ExecutionSummary;
  error: string | null;
  cause: string | null;
  input: string;
  output: string | null;
  visits: StateVisitView[];
  /** The outcome of each state's last visit, by state name; absent: not reached. */
  states: Record<string, Exclude<StateOutcome, 'notReached'>>;
  image: { uri: string; digest: string } | null;
  deployments: DeployedView[];
  tests: TestResultsView | null;
  approval: ApprovalView | null;
  actions: { stop: boolean; redrive: boolean; approve: boolean };
}

/** A service as `stepline services` and the console's services page show it. */
export interface ServiceView {
  /** `staging`/`production` as the deployment configuration names it, else the service's name. */
  environment: string;
  service: string;
  cluster: string;
  /** Revision of the task definition the service runs (its PRIMARY deployment's). */
  revision: number | null;
  /** Digest of the image the service's container runs, when named by digest. */
  imageDigest: string | null;
  /** The task definition's `stepline:commit` tag: the commit deployed. */
  commit: string | null;
  desired: number;
  running: number;
  healthy: number;
  /** The service's stable URL (its proxy), or null. */
  url: string | null;
  /** The PRIMARY deployment's rolloutState. */
  rolloutState: string | null;
}

export interface RollbackJob {
  id: string;
  environment: 'staging' | 'production';
  status: 'running' | 'succeeded' | 'failed';
  lines: string[];
  startedAt: string;
}

export interface ServicesPayload {
  services: ServiceView[];
  rollbacks: RollbackJob[];
  canRollback: boolean;
}

/** Messages of the list's event stream. */
export type ListStreamMessage = { kind: 'execution'; execution: ExecutionSummary };

/** Messages of an execution's event stream. */
export type DetailStreamMessage = { kind: 'detail'; detail: ExecutionDetail };

/** Messages of a task log's stream. */
export type LogStreamMessage = { kind: 'log'; text: string } | { kind: 'end' };

export interface ActionResult {
  ok: boolean;
  message: string;
}

/** What the console says about itself. */
export interface ConsoleInfo {
  dataDir: string;
  stateMachineArn: string;
  webhookUrl: string;
  costModel: string | null;
}
