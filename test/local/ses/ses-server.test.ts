import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { simpleParser } from 'mailparser';
import MailComposer from 'nodemailer/lib/mail-composer';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type LocalSes, type SentEmail, startLocalSes } from '#local/ses/server.ts';
import { testCredentials } from '../../helpers/local-auth.ts';

const run = promisify(execFile);
let dir: string;
let ses: LocalSes;
let client: SESv2Client;

function hasBoto3(): boolean {
  try {
    execFileSync('python3', ['-c', 'import boto3'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const boto3 = hasBoto3();
if (!boto3) console.log('skipping the boto3 tests: python3 with boto3 is not installed');

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stepline-ses-'));
  ses = await startLocalSes({ outboxDir: join(dir, 'outbox'), credentials: testCredentials });
  client = new SESv2Client({
    endpoint: ses.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
});

afterEach(async () => {
  client.destroy();
  await ses.close();
  await rm(dir, { recursive: true, force: true });
});

function nextEmail(): Promise<SentEmail> {
  return new Promise((resolve) => {
    const off = ses.onEmail((email) => {
      off();
      resolve(email);
    });
  });
}

describe('the local SES v2 stand-in', () => {
  it('takes SendEmail from the AWS SDK and writes the MIME message SES would send to the outbox', async () => {
    const announced = nextEmail();
    const link =
      'http://127.0.0.1:8080/approvals/AAAAAAAAAAAAAAAAAAAAAA?approver=alice%40example.com&expires=1900000000&sig=abc';

    const out = await client.send(
      new SendEmailCommand({
        FromEmailAddress: 'stepline@example.com',
        Destination: {
          ToAddresses: ['alice@example.com'],
          CcAddresses: ['ops@example.com'],
          BccAddresses: ['audit@example.com'],
        },
        Content: {
          Simple: {
            Subject: { Data: 'Approve production: acme/api main — ünïcode', Charset: 'UTF-8' },
            Body: {
              Text: { Data: `Review and decide:\n\n${link}\n${'A long line. '.repeat(20)}` },
              Html: { Data: '<p>Review <a href="x">and decide</a></p>' },
            },
          },
        },
      }),
    );
    const email = await announced;

    expect(out.MessageId).toMatch(/^0100[0-9a-f]{12}-[0-9a-f-]{36}-000000$/);
    expect(email).toMatchObject({
      messageId: out.MessageId,
      from: 'stepline@example.com',
      to: ['alice@example.com', 'ops@example.com', 'audit@example.com'],
      subject: 'Approve production: acme/api main — ünïcode',
      links: [link],
    });
    expect(basename(email.path)).toMatch(
      new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\d-\\d{3}Z-${out.MessageId}\\.eml$`),
    );
    expect((await stat(email.path)).mode & 0o777).toBe(0o600);
    const parsed = await simpleParser(await readFile(email.path));
    expect(parsed.subject).toBe('Approve production: acme/api main — ünïcode');
    expect(parsed.messageId).toBe(`<${out.MessageId}@email.amazonses.com>`);
    expect(parsed.text).toContain(link);
    expect(parsed.html).toContain('<a href="x">and decide</a>');
    expect(parsed.headers.get('bcc')).toBeUndefined();
  });

  it('delivers Raw content as given and finds its recipients and links in it', async () => {
    const raw = await new MailComposer({
      from: 'ci@example.com',
      to: 'dev@example.com',
      subject: 'Raw hello',
      text: 'see https://example.com/a/b?c=d',
    })
      .compile()
      .build();
    const announced = nextEmail();

    await client.send(new SendEmailCommand({ Content: { Raw: { Data: raw } } }));
    const email = await announced;

    expect(email).toMatchObject({
      from: 'ci@example.com',
      to: ['dev@example.com'],
      subject: 'Raw hello',
      links: ['https://example.com/a/b?c=d'],
    });
    expect(await readFile(email.path)).toEqual(raw);
  });

  it('answers a request SES would refuse with BadRequestException naming what is wrong', async () => {
    const promise = client.send(
      new SendEmailCommand({
        FromEmailAddress: 'stepline@example.com',
        Content: { Simple: { Subject: { Data: 's' }, Body: { Text: { Data: 't' } } } },
      }),
    );

    await expect(promise).rejects.toMatchObject({
      name: 'BadRequestException',
      message: 'Destination needs at least one address',
    });
  });

  it('refuses an unsigned request', async () => {
    const response = await fetch(`${ses.endpoint}/v2/email/outbound-emails`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });

    expect(response.status).toBe(403);
    expect(response.headers.get('x-amzn-errortype')).toBe('MissingAuthenticationTokenException');
  });

  it.skipIf(!boto3)('takes SendEmail from boto3 (sesv2) too, and refuses what SES refuses', async () => {
    const announced = nextEmail();
    const script = `
import boto3, json, sys
c = boto3.client('sesv2', endpoint_url=sys.argv[1], region_name='us-east-1',
                 aws_access_key_id='local', aws_secret_access_key='local')
r = c.send_email(FromEmailAddress='boto@example.com', Destination={'ToAddresses': ['alice@example.com']},
                 Content={'Simple': {'Subject': {'Data': 'Hello from boto3'},
                                     'Body': {'Text': {'Data': 'Open https://example.com/x'}}}})
try:
    c.send_email(FromEmailAddress='boto@example.com', Content={'Template': {'TemplateName': 't'}},
                 Destination={'ToAddresses': ['a@example.com']})
    error = None
except c.exceptions.BadRequestException as e:
    error = e.response['Error']['Code']
print(json.dumps({'MessageId': r['MessageId'], 'error': error}))
`;

    const { stdout } = await run('python3', ['-c', script, ses.endpoint]);
    const result = JSON.parse(stdout) as { MessageId: string; error: string };
    const email = await announced;

    expect(result.error).toBe('BadRequestException');
    expect(email).toMatchObject({
      messageId: result.MessageId,
      to: ['alice@example.com'],
      subject: 'Hello from boto3',
      links: ['https://example.com/x'],
    });
    const parsed = await simpleParser(await readFile(email.path));
    expect(parsed.from?.text).toBe('boto@example.com');
  });
});
