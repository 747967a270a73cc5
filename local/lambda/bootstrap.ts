// The inside of one local Lambda "container": a worker thread that loads the function's bundle
// once (its init: env parsing, clients) and then runs one invocation at a time, as the Node.js
// Lambda runtime does. Bundled to plain JavaScript (local/lambda/bundles.ts) and imports nothing
// but Node, so the worker needs no TypeScript loader. Messages: see local/lambda/protocol.ts.
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import type { FromWorker, ToWorker, WorkerSetup } from './protocol.ts';

const setup = workerData as WorkerSetup;
const port = parentPort;
if (!port) throw new Error('local/lambda/bootstrap.ts runs as a worker thread');

const post = (message: FromWorker) => port.postMessage(message);

/** An error as the Node.js runtime reports it: `errorType` is the error's name. */
function formatError(error: unknown): { errorType: string; errorMessage: string; trace: string[] } {
  if (error instanceof Error) {
    return {
      errorType: error.name || 'Error',
      errorMessage: error.message,
      trace: (error.stack ?? '').split('\n'),
    };
  }
  return { errorType: 'Error', errorMessage: String(error), trace: [] };
}

type Handler = (event: unknown, context: object) => Promise<unknown> | unknown;

let handler: Handler;
try {
  const module = (await import(pathToFileURL(setup.bundle).href)) as Record<string, unknown>;
  const exported = module[setup.handler];
  if (typeof exported !== 'function') {
    const error = new Error(`${setup.bundle} does not export "${setup.handler}" as a function`);
    error.name = 'Runtime.HandlerNotFound';
    throw error;
  }
  handler = exported as Handler;
  post({ type: 'ready' });
} catch (error) {
  post({ type: 'init-error', error: formatError(error) });
  // Nothing more to run here: the next invocation starts a new worker (a new init), as on Lambda.
  port.close();
}

port.on('message', async (message: ToWorker) => {
  if (message.type !== 'invoke') return;
  const { id, requestId, deadline } = message;
  const context = {
    functionName: setup.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: setup.functionArn,
    memoryLimitInMB: String(setup.memorySize),
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${setup.functionName}`,
    logStreamName: `local/[$LATEST]${setup.workerId}`,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  try {
    const result = await handler(JSON.parse(message.event), context);
    post({ type: 'result', id, payload: result === undefined ? 'null' : JSON.stringify(result) });
  } catch (error) {
    post({ type: 'error', id, error: formatError(error) });
  }
});
