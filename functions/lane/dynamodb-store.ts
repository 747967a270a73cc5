import {
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { LaneEntry, LaneStore } from './lane-store.ts';

/**
 * Lanes in one DynamoDB table (partition key `pk`, a string; TTL on `expiresAt`). A lane is one item,
 * `lane#<provider>:<repository>:<ref>`, holding its entries as JSON and a `version`; every write is
 * conditional on the version it read (`attribute_not_exists(pk)` for a new lane), so concurrent
 * executions of one branch serialize on that item and executions of different branches never meet.
 * `execution#<arn>` items say which lane an execution entered, for the EventBridge release.
 */
export function dynamoDbLaneStore(client: Pick<DynamoDBClient, 'send'>, tableName: string): LaneStore {
  const laneKey = (key: string) => ({ pk: { S: `lane#${key}` } });
  const pointerKey = (executionArn: string) => ({ pk: { S: `execution#${executionArn}` } });
  return {
    async read(key) {
      const { Item } = await client.send(
        new GetItemCommand({ TableName: tableName, Key: laneKey(key), ConsistentRead: true }),
      );
      if (!Item) return { version: 0, entries: [] };
      return {
        version: Number(Item.version?.N ?? '0'),
        entries: JSON.parse(Item.entries?.S ?? '[]') as LaneEntry[],
      };
    },
    async write(key, entries, expectedVersion) {
      const condition =
        expectedVersion === 0
          ? { ConditionExpression: 'attribute_not_exists(pk)' }
          : {
              ConditionExpression: 'version = :expected',
              ExpressionAttributeValues: { ':expected': { N: String(expectedVersion) } },
            };
      try {
        if (entries.length === 0) {
          await client.send(new DeleteItemCommand({ TableName: tableName, Key: laneKey(key), ...condition }));
        } else {
          await client.send(
            new PutItemCommand({
              TableName: tableName,
              Item: {
                ...laneKey(key),
                version: { N: String(expectedVersion + 1) },
                entries: { S: JSON.stringify(entries) },
                expiresAt: { N: String(Math.max(...entries.map((e) => e.expiresAt))) },
              },
              ...condition,
            }),
          );
        }
        return true;
      } catch (error) {
        if ((error as { name?: string }).name === 'ConditionalCheckFailedException') return false;
        throw error;
      }
    },
    async rememberLane(executionArn, key, expiresAt) {
      await client.send(
        new PutItemCommand({
          TableName: tableName,
          Item: { ...pointerKey(executionArn), lane: { S: key }, expiresAt: { N: String(expiresAt) } },
        }),
      );
    },
    async laneOf(executionArn) {
      const { Item } = await client.send(
        new GetItemCommand({ TableName: tableName, Key: pointerKey(executionArn), ConsistentRead: true }),
      );
      return Item?.lane?.S;
    },
    async forgetLane(executionArn) {
      await client.send(new DeleteItemCommand({ TableName: tableName, Key: pointerKey(executionArn) }));
    },
  };
}
