import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { DeploymentConfigJson, parseEnv } from '#shared/env.ts';
import { createLogger } from '#shared/logger.ts';
import { createLaneHandler } from './create-handler.ts';
import { dynamoDbLaneStore } from './dynamodb-store.ts';

export { createLaneHandler } from './create-handler.ts';

export const LaneEnv = z.object({
  /** The deployment configuration as JSON: each repository's `executionMode` and deploy targets. */
  STEPLINE_CONFIG: DeploymentConfigJson,
  /** The DynamoDB table of the lanes. */
  LANE_TABLE: z.string().min(3),
});

const env = parseEnv(LaneEnv, process.env, 'lane');
const logger = createLogger('stepline-lane');

/** EnterLane, WaitInLane, CheckLaneBefore*, LeaveLane* and the execution-end rule. */
export const handler = createLaneHandler({
  store: dynamoDbLaneStore(new DynamoDBClient({}), env.LANE_TABLE),
  sfn: new SFNClient({}),
  config: env.STEPLINE_CONFIG,
  logger,
});
