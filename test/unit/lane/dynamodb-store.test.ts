import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { dynamoDbLaneStore } from '#functions/lane/dynamodb-store.ts';
import type { LaneEntry } from '#functions/lane/lane-store.ts';

const dynamo = mockClient(DynamoDBClient);
afterEach(() => dynamo.reset());

const entry: LaneEntry = {
  execution: 'github-1',
  executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:stepline:github-1',
  commit: 'a'.repeat(40),
  startedAt: '2026-11-30T06:00:00.000Z',
  mode: 'queued',
  expiresAt: 1_800_000_000,
};
const store = () => dynamoDbLaneStore(new DynamoDBClient({ region: 'eu-west-1' }), 'lanes');

describe('the DynamoDB lane store', () => {
  it('reads a lane with a strongly consistent GetItem of its item', async () => {
    dynamo.on(GetItemCommand).resolves({
      Item: { pk: { S: 'lane#k' }, version: { N: '4' }, entries: { S: JSON.stringify([entry]) } },
    });

    const lane = await store().read('k');

    expect(lane).toEqual({ version: 4, entries: [entry] });
    expect(dynamo.commandCalls(GetItemCommand)[0]!.args[0].input).toEqual({
      TableName: 'lanes',
      Key: { pk: { S: 'lane#k' } },
      ConsistentRead: true,
    });
  });

  it('creates a lane only if no item exists, and updates one only at the version read', async () => {
    dynamo.on(PutItemCommand).resolves({});

    await store().write('k', [entry], 0);
    await store().write('k', [entry], 4);
    const [create, update] = dynamo.commandCalls(PutItemCommand).map((c) => c.args[0].input);

    expect(create).toMatchObject({ ConditionExpression: 'attribute_not_exists(pk)' });
    expect(create!.Item).toMatchObject({ version: { N: '1' }, expiresAt: { N: '1800000000' } });
    expect(update).toMatchObject({
      ConditionExpression: 'version = :expected',
      ExpressionAttributeValues: { ':expected': { N: '4' } },
      Item: { version: { N: '5' } },
    });
  });

  it('answers false when another write came first', async () => {
    dynamo
      .on(PutItemCommand)
      .rejects(
        new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
      );

    expect(await store().write('k', [entry], 4)).toBe(false);
  });

  it('deletes an emptied lane, on the same condition', async () => {
    dynamo.on(DeleteItemCommand).resolves({});

    expect(await store().write('k', [], 7)).toBe(true);
    expect(dynamo.commandCalls(DeleteItemCommand)[0]!.args[0].input).toMatchObject({
      Key: { pk: { S: 'lane#k' } },
      ConditionExpression: 'version = :expected',
      ExpressionAttributeValues: { ':expected': { N: '7' } },
    });
  });

  it('passes on any other error', async () => {
    dynamo
      .on(PutItemCommand)
      .rejects(Object.assign(new Error('slow down'), { name: 'ProvisionedThroughputExceededException' }));

    await expect(store().write('k', [entry], 4)).rejects.toThrow('slow down');
  });
});
