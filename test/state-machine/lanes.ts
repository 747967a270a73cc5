import { SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import { fileLaneStore } from '#functions/lane/file-store.ts';
import { lane } from '#functions/lane/lane.ts';
import type { LocalStepFunctions, TaskHandler } from '#local/sfn/engine.ts';
import { localSubstitutions } from '#local/substitutions.ts';
import { DeploymentConfig, type ExecutionModeSetting } from '#shared/deployment-config.ts';
import { asLambda } from '../helpers/as-lambda.ts';

const target = { cluster: 'c', service: 's', container: 'app' };

/**
 * The real lane function for tests that run the ASL with fake steps: lanes in files under `dataDir`,
 * `WaitInLane` tokens answered through the engine, `acme/hello` of GitHub in `executionMode`.
 */
export function laneTasks(
  dataDir: string,
  engine: () => LocalStepFunctions,
  executionMode?: ExecutionModeSetting,
) {
  const config = DeploymentConfig.parse({
    repositories: [
      {
        provider: 'github',
        name: 'acme/hello',
        webhookSecret: { value: 'secret' },
        deploy: { staging: target, production: target },
        ...(executionMode === undefined ? {} : { executionMode }),
      },
    ],
  });
  const deps = {
    store: fileLaneStore(dataDir),
    config,
    logger: { info: () => {}, warn: () => {} },
    sfn: {
      send: (async (command: unknown) => {
        if (command instanceof SendTaskSuccessCommand)
          engine().sendTaskSuccess(command.input.taskToken!, command.input.output!);
        return {};
      }) as never,
    },
  };
  const invoke = asLambda('lane', (event) => lane(event, deps));
  return {
    /** `${LaneFunctionArn}`: EnterLane, the checkpoints, LeaveLane*. */
    lane: invoke,
    /**
     * `lambda:invoke.waitForTaskToken`: WaitInLane goes to the lane with its Payload, anything else
     * (RequestApproval) to `other`.
     */
    withToken(other: TaskHandler): TaskHandler {
      return async (input, ctx) => {
        const { FunctionName, Payload } = input as { FunctionName?: string; Payload?: unknown };
        if (FunctionName === localSubstitutions.LaneFunctionArn) return invoke(Payload, ctx);
        return other(input, ctx);
      };
    },
    deps,
  };
}
