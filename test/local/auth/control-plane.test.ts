import { mkdtempSync, rmSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { ECSClient, ListClustersCommand } from '@aws-sdk/client-ecs';
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  credentialsFile,
  ensureLocalCredentials,
  generateCredentials,
  type LocalCredentials,
  readLocalCredentials,
} from '#local/credentials.ts';
import { startEcsApiServer } from '#local/ecs/api-server.ts';
import { registryImageSource } from '#local/ecs/images.ts';
import { LocalEcs } from '#local/ecs/local-ecs.ts';
import { NodeSha256 } from '#local/http/sigv4.ts';
import { type LocalRegistry, startLocalRegistry } from '#local/registry/server.ts';
import { type LocalSes, startLocalSes } from '#local/ses/server.ts';
import { startSfnApiServer } from '#local/sfn/api-server.ts';
import type { LocalStepFunctions } from '#local/sfn/engine.ts';
import { createEngine, tokenMachine, tokenRecorder, tokenResource } from '../sfn/helpers.ts';
import { boto3, runPython } from './python.ts';

/** One data directory's key, and servers that know it. */
let dataDir: string;
let credentials: LocalCredentials;
let engine: LocalStepFunctions;
let runner: ReturnType<typeof tokenRecorder>;
let sfnUrl: string;
let ecs: LocalEcs;
let ecsUrl: string;
let registry: LocalRegistry;
let ses: LocalSes;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'stepline-auth-'));
  credentials = await ensureLocalCredentials(dataDir);
  ecs = await LocalEcs.start({ dataDir: join(dataDir, 'ecs-data'), images: registryImageSource() });
  const ecsApi = await startEcsApiServer(ecs, { credentials });
  ecsUrl = ecsApi.url;
  closers.push(
    () => ecsApi.close(),
    () => ecs.close(),
  );
  registry = await startLocalRegistry({ dir: join(dataDir, 'registry'), baseImages: false, credentials });
  closers.push(() => registry.close());
  ses = await startLocalSes({ outboxDir: join(dataDir, 'outbox'), credentials });
  closers.push(() => ses.close());
});

afterAll(async () => {
  for (const close of closers) await close().catch(() => {});
  rmSync(dataDir, { recursive: true, force: true });
});

/** A request as any local process could send it: JSON protocol, no signature. */
function unsigned(url: string, target: string, body: unknown, version = '1.0') {
  return fetch(url, {
    method: 'POST',
    headers: { 'x-amz-target': target, 'content-type': `application/x-amz-json-${version}` },
    body: JSON.stringify(body),
  });
}

const sfnClient = (key: LocalCredentials) =>
  new SFNClient({ endpoint: sfnUrl, region: 'us-east-1', credentials: key, maxAttempts: 1 });

describe('the data directory credentials', () => {
  it('are generated once into credentials.json, owner-only, and read back by later starts', async () => {
    const file = credentialsFile(dataDir);

    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await ensureLocalCredentials(dataDir)).toEqual(credentials);
    expect(await readLocalCredentials(dataDir)).toEqual(credentials);
    expect(credentials.accessKeyId).toMatch(/^STPL[A-Z2-7]{16}$/);
    expect(credentials.secretAccessKey).toHaveLength(40);
    expect(generateCredentials()).not.toEqual(generateCredentials());
  });

  it('are not there for a data directory no runtime started on, and the message says so', async () => {
    await expect(readLocalCredentials(join(dataDir, 'nothing'))).rejects.toThrow(/no runtime has started/);
  });
});

describe('the local Step Functions endpoint refuses what is not signed with them', () => {
  // The engine helper closes its engines after each test.
  beforeEach(async () => {
    runner = tokenRecorder();
    engine = createEngine(tokenMachine({ HeartbeatSeconds: 60 }), { [tokenResource]: runner.handler });
    const sfn = await startSfnApiServer(engine, { credentials });
    sfnUrl = sfn.url;
    closers.push(() => sfn.close());
  });

  it('refuses StartExecution, GetExecutionHistory and SendTaskSuccess without a signature, and the build goes on waiting', async () => {
    const sdk = sfnClient(credentials);
    const { executionArn } = await sdk.send(
      new StartExecutionCommand({
        stateMachineArn: engine.stateMachineArn,
        name: 'real',
        input: '{"value":1}',
      }),
    );
    const { token } = await runner.next();

    const start = await unsigned(sfnUrl, 'AWSStepFunctions.StartExecution', {
      stateMachineArn: engine.stateMachineArn,
      name: 'forged',
      input: '{"value":2}',
    });
    const history = await unsigned(sfnUrl, 'AWSStepFunctions.GetExecutionHistory', { executionArn });
    const success = await unsigned(sfnUrl, 'AWSStepFunctions.SendTaskSuccess', {
      taskToken: token,
      output: '{"fake":true}',
    });

    for (const response of [start, history, success]) {
      expect(response.status).toBe(403);
      expect(((await response.json()) as { __type: string }).__type).toBe(
        'MissingAuthenticationTokenException',
      );
    }
    expect(engine.listExecutions({}).executions.map((e) => e.name)).toEqual(['real']);
    expect((await sdk.send(new DescribeExecutionCommand({ executionArn }))).status).toBe('RUNNING');
    await sdk.send(new SendTaskSuccessCommand({ taskToken: token, output: '{"real":true}' }));
    await engine.waitForExecution(executionArn ?? '');
    expect(engine.describeExecution(executionArn ?? '').status).toBe('SUCCEEDED');
    sdk.destroy();
  });

  it('refuses the SDK signing with a wrong secret (InvalidSignatureException) or another key (UnrecognizedClientException)', async () => {
    const wrongSecret = sfnClient({ accessKeyId: credentials.accessKeyId, secretAccessKey: 'guessed' });
    const otherKey = sfnClient(generateCredentials());
    const request = new StartExecutionCommand({ stateMachineArn: engine.stateMachineArn, name: 'forged-2' });

    await expect(wrongSecret.send(request)).rejects.toMatchObject({
      name: 'InvalidSignatureException',
      $metadata: { httpStatusCode: 403 },
    });
    await expect(otherKey.send(request)).rejects.toMatchObject({ name: 'UnrecognizedClientException' });
    expect(engine.listExecutions({}).executions.map((e) => e.name)).not.toContain('forged-2');
    wrongSecret.destroy();
    otherKey.destroy();
  });

  it('refuses a request signed more than 15 minutes ago (a replayed one)', async () => {
    const old = new SFNClient({
      endpoint: sfnUrl,
      region: 'us-east-1',
      credentials,
      maxAttempts: 1,
      systemClockOffset: -16 * 60 * 1000,
    });

    await expect(
      old.send(new GetExecutionHistoryCommand({ executionArn: engine.executionArnOf('any') })),
    ).rejects.toMatchObject({ name: 'InvalidSignatureException', message: expect.stringMatching(/expired/) });
    old.destroy();
  });

  it('refuses a signed StartExecution whose body was changed after signing, or whose host was', async () => {
    const signer = new SignatureV4({
      credentials,
      region: 'us-east-1',
      service: 'states',
      sha256: NodeSha256,
    });
    const url = new URL(sfnUrl);
    const body = JSON.stringify({
      stateMachineArn: engine.stateMachineArn,
      name: 'signed',
      input: '{"value":1}',
    });
    const signed = await signer.sign({
      method: 'POST',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: '/',
      headers: {
        host: url.host,
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'AWSStepFunctions.StartExecution',
      },
      body,
    });
    // node:http, since fetch sets Host itself.
    const send = (sentBody: string, host = url.host) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(sfnUrl, { method: 'POST', headers: { ...signed.headers, host } }, (res) => {
          let text = '';
          res.on('data', (chunk) => {
            text += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        });
        req.on('error', reject);
        req.end(sentBody);
      });

    const tampered = await send(body.replace('"name":"signed"', '"name":"forged-body"'));
    const otherHost = await send(body, `localhost:${url.port}`);
    const intact = await send(body);

    expect(tampered.status).toBe(403);
    expect(JSON.parse(tampered.body).__type).toBe('InvalidSignatureException');
    expect(otherHost.status).toBe(403);
    expect(intact.status).toBe(200);
    expect(engine.listExecutions({}).executions.map((e) => e.name)).toEqual(['signed']);
    engine.sendTaskSuccess((await runner.next()).token, '{}');
  });

  it.skipIf(!boto3.available)(
    'works with boto3 signing with the key, and refuses boto3 with another secret',
    async () => {
      const script = `
import boto3, json, sys
from botocore.config import Config
endpoint, arn, key_id, secret = sys.argv[1:5]
def client(secret):
    return boto3.client('stepfunctions', endpoint_url=endpoint, region_name='us-east-1', aws_access_key_id=key_id,
        aws_secret_access_key=secret, config=Config(retries={'max_attempts': 1}))
sfn = client(secret)
started = sfn.start_execution(stateMachineArn=arn, name='from-boto3', input='{"value": 3}')
status = sfn.describe_execution(executionArn=started['executionArn'])['status']
events = [e['type'] for e in sfn.get_execution_history(executionArn=started['executionArn'])['events']]
try:
    client('wrong').start_execution(stateMachineArn=arn, name='boto3-forged')
    wrong = 'accepted'
except Exception as e:
    wrong = e.response['Error']['Code']
print(json.dumps({'status': status, 'first': events[0], 'wrong': wrong}))
`;
      const out = await runPython(script, [
        sfnUrl,
        engine.stateMachineArn,
        credentials.accessKeyId,
        credentials.secretAccessKey,
      ]);

      expect(out).toEqual({
        status: 'RUNNING',
        first: 'ExecutionStarted',
        wrong: 'InvalidSignatureException',
      });
      const { token } = await runner.next();
      engine.sendTaskSuccess(token, '{}');
    },
  );
});

describe('the local ECS, ECR and SES endpoints refuse what is not signed with them', () => {
  it('ECS: an unsigned RunTask or ListClusters is refused, the signed SDK is answered', async () => {
    const runTask = await unsigned(
      ecsUrl,
      'AmazonEC2ContainerServiceV20141113.RunTask',
      { taskDefinition: 'stepline-runner' },
      '1.1',
    );
    const wrong = new ECSClient({
      endpoint: ecsUrl,
      region: 'us-east-1',
      credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: 'guessed' },
      maxAttempts: 1,
    });
    const right = new ECSClient({ endpoint: ecsUrl, region: 'us-east-1', credentials, maxAttempts: 1 });

    expect(runTask.status).toBe(403);
    await expect(wrong.send(new ListClustersCommand({}))).rejects.toMatchObject({
      name: 'InvalidSignatureException',
    });
    await expect(right.send(new ListClustersCommand({}))).resolves.toMatchObject({ clusterArns: [] });
    wrong.destroy();
    right.destroy();
  });

  it('ECR: the registry token is handed out only to a signed GetAuthorizationToken', async () => {
    const anonymous = await unsigned(
      registry.endpoint,
      'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken',
      {},
      '1.1',
    );
    const wrong = new ECRClient({
      endpoint: registry.endpoint,
      region: 'us-east-1',
      credentials: generateCredentials(),
      maxAttempts: 1,
    });
    const right = new ECRClient({
      endpoint: registry.endpoint,
      region: 'us-east-1',
      credentials,
      maxAttempts: 1,
    });

    expect(anonymous.status).toBe(403);
    expect(await anonymous.text()).not.toContain(Buffer.from(`AWS:${registry.password}`).toString('base64'));
    await expect(wrong.send(new GetAuthorizationTokenCommand({}))).rejects.toMatchObject({
      name: 'UnrecognizedClientException',
    });
    const { authorizationData } = await right.send(new GetAuthorizationTokenCommand({}));
    expect(Buffer.from(authorizationData?.[0]?.authorizationToken ?? '', 'base64').toString()).toBe(
      `AWS:${registry.password}`,
    );
    const ping = await fetch(`${registry.endpoint}/v2/`);
    expect(ping.status).toBe(401);
    wrong.destroy();
    right.destroy();
  });

  it.skipIf(!boto3.available)(
    'ECS and ECR: boto3 with the key is answered, with another secret refused',
    async () => {
      const script = `
import boto3, json, sys
from botocore.config import Config
ecs_url, ecr_url, key_id, secret = sys.argv[1:5]
def client(name, url, secret):
    return boto3.client(name, endpoint_url=url, region_name='us-east-1', aws_access_key_id=key_id,
        aws_secret_access_key=secret, config=Config(retries={'max_attempts': 1}))
clusters = client('ecs', ecs_url, secret).list_clusters()['clusterArns']
token = client('ecr', ecr_url, secret).get_authorization_token()['authorizationData'][0]['authorizationToken']
wrong = []
for name, url in (('ecs', ecs_url), ('ecr', ecr_url)):
    try:
        c = client(name, url, 'wrong')
        c.list_clusters() if name == 'ecs' else c.get_authorization_token()
        wrong.append('accepted')
    except Exception as e:
        wrong.append(e.response['Error']['Code'])
print(json.dumps({'clusters': clusters, 'token': token, 'wrong': wrong}))
`;
      const out = await runPython(script, [
        ecsUrl,
        registry.endpoint,
        credentials.accessKeyId,
        credentials.secretAccessKey,
      ]);

      expect(out).toEqual({
        clusters: [],
        token: Buffer.from(`AWS:${registry.password}`).toString('base64'),
        wrong: ['InvalidSignatureException', 'InvalidSignatureException'],
      });
    },
  );

  it('SES: an email signed with a wrong secret is refused and not written to the outbox', async () => {
    const sent: string[] = [];
    const off = ses.onEmail((email) => sent.push(email.subject));
    const wrong = new SESv2Client({
      endpoint: ses.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: 'guessed' },
      maxAttempts: 1,
    });
    const right = new SESv2Client({
      endpoint: ses.endpoint,
      region: 'us-east-1',
      credentials,
      maxAttempts: 1,
    });
    const email = (subject: string) =>
      new SendEmailCommand({
        FromEmailAddress: 'stepline@example.com',
        Destination: { ToAddresses: ['approver@example.com'] },
        Content: { Simple: { Subject: { Data: subject }, Body: { Text: { Data: 'x' } } } },
      });

    await expect(wrong.send(email('forged approval'))).rejects.toMatchObject({
      name: 'InvalidSignatureException',
    });
    await right.send(email('real approval'));

    expect(sent).toEqual(['real approval']);
    off();
    wrong.destroy();
    right.destroy();
  });
});
