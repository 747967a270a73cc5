import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { DeploymentConfigJson, parseEnv } from '#shared/env.ts';
import { createLogger } from '#shared/logger.ts';
import { createLaneHandler } from './create-handler.ts';
import { dynamoDbLaneStore } from './dynamodb-store.ts';
import { fileLaneStore } from './file-store.ts';

export { createLaneHandler } from './create-handler.ts';

export const LaneEnv = z
  .object({
    /** The deployment configuration as JSON: each repository's `executionMode` and deploy targets. */
    STEPLINE_CONFIG: DeploymentConfigJson,
    /** `dynamodb` (AWS: the table `LANE_TABLE`) or `local` (the local runtime: files under `STEPLINE_DATA_DIR/lanes`). */
    LANE_STORE: z.enum(['dynamodb', 'local']).default('dynamodb'),
    /** The DynamoDB table of the lanes. */
    LANE_TABLE: z.string().min(3).optional(),
    STEPLINE_DATA_DIR: z.string().min(1).optional(),
  })
  .superRefine((env, ctx) => {
    if (env.LANE_STORE === 'dynamodb' && !env.LANE_TABLE)
      ctx.addIssue({ code: 'custom', path: ['LANE_TABLE'], message: 'required when LANE_STORE is dynamodb' });
    if (env.LANE_STORE === 'local' && !env.STEPLINE_DATA_DIR)
      ctx.addIssue({
        code: 'custom',
        path: ['STEPLINE_DATA_DIR'],
        message: 'required when LANE_STORE is local',
      });
  });

const env = parseEnv(LaneEnv, process.env, 'lane');
const logger = createLogger('stepline-lane');

/** EnterLane, WaitInLane, CheckLaneBefore*, LeaveLane* and the execution-end rule. */
export const handler = createLaneHandler({
  store:
    env.LANE_STORE === 'local' && env.STEPLINE_DATA_DIR
      ? fileLaneStore(env.STEPLINE_DATA_DIR)
      : dynamoDbLaneStore(new DynamoDBClient({}), env.LANE_TABLE ?? ''),
  sfn: new SFNClient({}),
  config: env.STEPLINE_CONFIG,
  logger,
});
