import { z } from 'zod';
import { startAwsJsonServer } from '#local/http/aws-json.ts';
import type { AccessKey } from '#local/http/sigv4.ts';
import type { LocalStepFunctions } from './engine.ts';
import { SfnApiError, StateMachineDoesNotExistError, ValidationError } from './errors.ts';
import { executionStatuses, type LocalHistoryEvent } from './store.ts';

/**
 * A loopback endpoint speaking the Step Functions JSON protocol (AWS JSON 1.0) for the
 * operations the pipeline's code uses, so the real `@aws-sdk/client-sfn` works unchanged with
 * `AWS_ENDPOINT_URL_SFN`. Only requests signed (SigV4) with the data directory's credentials are
 * answered.
 */
export interface SfnApiServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  close(): Promise<void>;
}

const maxBodyBytes = 2 * 1024 * 1024;

const StartExecution = z.object({
  stateMachineArn: z.string().min(1),
  name: z.string().optional(),
  input: z.string().optional(),
  traceHeader: z.string().optional(),
});
const ExecutionRequest = z.object({ executionArn: z.string().min(1) });
const ListExecutions = z.object({
  stateMachineArn: z.string().min(1),
  statusFilter: z.enum(executionStatuses).optional(),
  maxResults: z.number().int().optional(),
  nextToken: z.string().optional(),
});
const GetExecutionHistory = ExecutionRequest.extend({
  maxResults: z.number().int().optional(),
  nextToken: z.string().optional(),
  reverseOrder: z.boolean().optional(),
  includeExecutionData: z.boolean().optional(),
});
const StopExecution = ExecutionRequest.extend({ error: z.string().optional(), cause: z.string().optional() });
const RedriveExecution = ExecutionRequest.extend({
  clientToken: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[!-~]+$/)
    .optional(),
});
const SendTaskSuccess = z.object({ taskToken: z.string().min(1), output: z.string() });
const SendTaskFailure = z.object({
  taskToken: z.string().min(1),
  error: z.string().optional(),
  cause: z.string().optional(),
});
const SendTaskHeartbeat = z.object({ taskToken: z.string().min(1) });

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.path.join('.') || '(body)';
  throw new ValidationError(`1 validation error detected: '${field}': ${issue?.message ?? 'invalid'}`);
}

/** Dates travel as epoch seconds in the JSON protocol. */
function epochSeconds(date: Date): number {
  return date.getTime() / 1000;
}

function wireEvent(event: LocalHistoryEvent): Record<string, unknown> {
  return { ...event, timestamp: epochSeconds(event.timestamp) };
}

function withoutUndefined<T extends Record<string, unknown>>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

async function dispatch(engine: LocalStepFunctions, operation: string, body: unknown): Promise<unknown> {
  const ownMachine = (arn: string) => {
    if (arn !== engine.stateMachineArn)
      throw new StateMachineDoesNotExistError(`State Machine Does Not Exist: '${arn}'`);
  };
  switch (operation) {
    case 'StartExecution': {
      const request = parse(StartExecution, body);
      ownMachine(request.stateMachineArn);
      const started = await engine.startExecution({ name: request.name, input: request.input });
      return { executionArn: started.executionArn, startDate: epochSeconds(started.startDate) };
    }
    case 'DescribeExecution': {
      const { executionArn } = parse(ExecutionRequest, body);
      const d = engine.describeExecution(executionArn);
      return withoutUndefined({
        executionArn: d.executionArn,
        stateMachineArn: d.stateMachineArn,
        name: d.name,
        status: d.status,
        startDate: epochSeconds(d.startDate),
        stopDate: d.stopDate && epochSeconds(d.stopDate),
        input: d.input,
        inputDetails: { included: true },
        output: d.output,
        outputDetails: d.output === undefined ? undefined : { included: true },
        error: d.error,
        cause: d.cause,
        redriveCount: d.redriveCount,
        redriveDate: d.redriveDate && epochSeconds(d.redriveDate),
        redriveStatus: d.redriveStatus,
        redriveStatusReason: d.redriveStatusReason,
      });
    }
    case 'ListExecutions': {
      const request = parse(ListExecutions, body);
      ownMachine(request.stateMachineArn);
      const page = engine.listExecutions({
        statusFilter: request.statusFilter,
        maxResults: request.maxResults,
        nextToken: request.nextToken,
      });
      return withoutUndefined({
        executions: page.executions.map((item) =>
          withoutUndefined({
            ...item,
            startDate: epochSeconds(item.startDate),
            stopDate: item.stopDate && epochSeconds(item.stopDate),
            redriveDate: item.redriveDate && epochSeconds(item.redriveDate),
          }),
        ),
        nextToken: page.nextToken,
      });
    }
    case 'GetExecutionHistory': {
      const { executionArn, ...request } = parse(GetExecutionHistory, body);
      const page = engine.getExecutionHistory(executionArn, request);
      return withoutUndefined({ events: page.events.map(wireEvent), nextToken: page.nextToken });
    }
    case 'RedriveExecution': {
      const { executionArn, clientToken } = parse(RedriveExecution, body);
      const { redriveDate } = await engine.redriveExecution(executionArn, { clientToken });
      return { redriveDate: epochSeconds(redriveDate) };
    }
    case 'StopExecution': {
      const { executionArn, ...request } = parse(StopExecution, body);
      const { stopDate } = await engine.stopExecution(executionArn, request);
      return { stopDate: epochSeconds(stopDate) };
    }
    case 'SendTaskSuccess': {
      const request = parse(SendTaskSuccess, body);
      engine.sendTaskSuccess(request.taskToken, request.output);
      return {};
    }
    case 'SendTaskFailure': {
      const request = parse(SendTaskFailure, body);
      engine.sendTaskFailure(request.taskToken, request.error, request.cause);
      return {};
    }
    case 'SendTaskHeartbeat': {
      const request = parse(SendTaskHeartbeat, body);
      engine.sendTaskHeartbeat(request.taskToken);
      return {};
    }
    default:
      throw Object.assign(new SfnApiError(`operation ${operation} is not supported by the local runtime`), {
        name: 'UnknownOperationException',
      });
  }
}

/** Serves `engine` over the Step Functions JSON protocol on a loopback port (0 picks a free one). */
export function startSfnApiServer(
  engine: LocalStepFunctions,
  options: { credentials: AccessKey; port?: number; host?: string },
): Promise<SfnApiServer> {
  return startAwsJsonServer(
    {
      name: 'the local Step Functions endpoint',
      targetPrefix: 'AWSStepFunctions.',
      jsonVersion: '1.0',
      maxBodyBytes,
      dispatch: (operation, body) => dispatch(engine, operation, body),
      isClientError: (error): error is Error => error instanceof SfnApiError,
      serverErrorType: 'InternalFailure',
      credentials: options.credentials,
    },
    options,
  );
}
