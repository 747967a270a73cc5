/**
 * How long does each Lambda take to initialise? Synthesizes the Stepline stack from
 * stepline.config.example.json with bundling on, so every bundle is exactly what `cdk deploy` uploads
 * (NodejsFunction runs esbuild with the options in infra/pipeline-function.ts), plus the floor: a
 * PipelineFunction that only creates an `SFNClient` (bench/cold-start-floor.ts), bundled the same way.
 *
 * Each round imports every bundle once, in shuffled order, each in a fresh `node` process started
 * with the function's own environment from the synthesized template (NODE_OPTIONS included;
 * references to resources become plausible dummy names and ARNs) plus what the Lambda runtime sets
 * (region, function name, dummy credentials). The child times `await import(bundle)` until the
 * handler export is there: module init, as in a Lambda's INIT phase. Nothing reaches the network.
 * Figures: bundle and source map size, median (min–max) wall milliseconds and median CPU
 * milliseconds of the import, each with the median of the rounds' ratios to the floor measured in
 * the same round (goal for the webhook: at most 1.3×).
 *
 *   npm run bench:cold-start
 *   BENCH_ROUNDS=41 npm run bench:cold-start
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { arch, platform } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import type { DeploymentConfigInput } from '#infra/config.ts';
import { cdkJsonContext } from '#infra/context.ts';
import { repoRoot } from '#infra/paths.ts';
import { PipelineFunction } from '#infra/pipeline-function.ts';
import { PipelineStack } from '#infra/pipeline-stack.ts';

const GOAL = 1.3;
const rounds = Math.min(Math.max(Number(process.env.BENCH_ROUNDS ?? 21), 3), 201);
const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';
const FLOOR = 'floor';

interface Resource {
  Type: string;
  Properties?: Record<string, unknown>;
}
type Template = { Resources: Record<string, Resource> };

interface Bundle {
  name: string;
  file: string;
  handler: string;
  env: Record<string, string>;
}

/** The app as `cdk deploy` would bundle it, in a directory under node_modules (external packages resolve). */
function synthesize(outdir: string): { pipeline: Template; floor: Template } {
  const config = JSON.parse(
    readFileSync(join(repoRoot, 'stepline.config.example.json'), 'utf8'),
  ) as DeploymentConfigInput;
  // cdk.json's context (the feature flags) as `cdk deploy` passes it; bundling on, as it is by default.
  const app = new App({ outdir, context: cdkJsonContext() });
  const pipeline = new PipelineStack(app, 'Stepline', { pipeline: { config } });
  const floorStack = new Stack(app, 'SteplineColdStartFloor');
  new PipelineFunction(floorStack, 'Floor', {
    folder: 'cold-start-floor',
    entry: join(repoRoot, 'bench', 'cold-start-floor.ts'),
  });
  const assembly = app.synth();
  const template = (stack: Stack) => assembly.getStackByName(stack.stackName).template as Template;
  return { pipeline: template(pipeline), floor: template(floorStack) };
}

/** A plausible value for a CloudFormation expression in a Lambda's environment. */
function resolve(value: unknown, resources: Template['Resources'], variable: string): string {
  const fail = (): never => {
    throw new Error(`cannot stand in for ${variable}: ${JSON.stringify(value)}`);
  };
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value !== 'object' || value === null) return fail();
  const [fn, args] = Object.entries(value)[0] ?? fail();
  const pseudo: Record<string, string> = {
    'AWS::Region': REGION,
    'AWS::AccountId': ACCOUNT,
    'AWS::Partition': 'aws',
    'AWS::URLSuffix': 'amazonaws.com',
    'AWS::StackName': 'Stepline',
  };
  const ref = (id: string): string => {
    if (pseudo[id] !== undefined) return pseudo[id];
    const type = resources[id]?.Type ?? fail();
    if (type === 'AWS::S3::Bucket') return `stepline-${id.toLowerCase()}`.slice(0, 63);
    if (type === 'AWS::StepFunctions::StateMachine')
      return `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${id}`;
    if (type === 'AWS::SecretsManager::Secret')
      return `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${id}-AbCdEf`;
    if (type === 'AWS::SNS::Topic') return `arn:aws:sns:${REGION}:${ACCOUNT}:${id}`;
    return id;
  };
  const getAtt = (id: string, attribute: string): string => {
    const type = resources[id]?.Type ?? fail();
    if (attribute === 'ApiEndpoint') return `https://abcdef1234.execute-api.${REGION}.amazonaws.com`;
    if (attribute === 'Arn' && type === 'AWS::IAM::Role') return `arn:aws:iam::${ACCOUNT}:role/${id}`;
    if (attribute === 'Arn') {
      const service = type.split('::')[1]?.toLowerCase() ?? fail();
      return `arn:aws:${service}:${REGION}:${ACCOUNT}:${id}`;
    }
    return fail();
  };
  if (fn === 'Ref' && typeof args === 'string') return ref(args);
  if (fn === 'Fn::GetAtt' && Array.isArray(args)) return getAtt(String(args[0]), String(args[1]));
  if (fn === 'Fn::Join' && Array.isArray(args) && Array.isArray(args[1]))
    return (args[1] as unknown[]).map((part) => resolve(part, resources, variable)).join(String(args[0]));
  if (fn === 'Fn::Select' && Array.isArray(args)) {
    const list = Array.isArray(args[1])
      ? (args[1] as unknown[]).map((part) => resolve(part, resources, variable))
      : resolveList(args[1], resources, variable);
    return list[Number(args[0])] ?? fail();
  }
  if (fn === 'Fn::Sub') {
    const [text, vars] = Array.isArray(args)
      ? [String(args[0]), args[1] as Record<string, unknown>]
      : [String(args), {}];
    return text.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
      if (vars[name] !== undefined) return resolve(vars[name], resources, variable);
      const [id, attribute] = name.split('.');
      return attribute === undefined ? ref(id!) : getAtt(id!, attribute);
    });
  }
  return fail();
}

function resolveList(value: unknown, resources: Template['Resources'], variable: string): string[] {
  const split = (value as { 'Fn::Split'?: [string, unknown] })['Fn::Split'];
  if (!split) throw new Error(`cannot stand in for ${variable}: ${JSON.stringify(value)}`);
  return resolve(split[1], resources, variable).split(split[0]);
}

/** What the Lambda runtime itself puts in a function's environment. */
function runtimeEnvironment(
  name: string,
  memory: number,
  dir: string,
  handler: string,
): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    LANG: 'en_US.UTF-8',
    TZ: ':UTC',
    AWS_REGION: REGION,
    AWS_DEFAULT_REGION: REGION,
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    AWS_LAMBDA_FUNCTION_NAME: name,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memory),
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${name}`,
    AWS_LAMBDA_LOG_STREAM_NAME: '2025/01/01/[$LATEST]00000000000000000000000000000000',
    AWS_ACCESS_KEY_ID: 'ASIAXXXXXXXXXXXXXXXX',
    AWS_SECRET_ACCESS_KEY: 'cold-start-bench',
    AWS_SESSION_TOKEN: 'cold-start-bench',
    LAMBDA_TASK_ROOT: dir,
    _HANDLER: handler,
    // Lambda runs Node 22; this machine may run Node 20, for which the SDK would print a warning.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

/** Every Stepline Lambda of a template: its bundle, handler export and environment. */
function bundlesOf(template: Template, outdir: string): Bundle[] {
  const bundles: Bundle[] = [];
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const props = resource.Properties ?? {};
    const variables = ((props.Environment as { Variables?: Record<string, unknown> } | undefined)
      ?.Variables ?? {}) as Record<string, unknown>;
    const service = variables.POWERTOOLS_SERVICE_NAME;
    if (typeof service !== 'string' || !service.startsWith('stepline-')) continue;
    const key = (props.Code as { S3Key?: string } | undefined)?.S3Key;
    if (key === undefined) throw new Error(`${id}: no asset (was bundling skipped?)`);
    const dir = join(outdir, `asset.${key.replace(/\.zip$/, '')}`);
    const [fileBase, handler] = String(props.Handler).split('.') as [string, string];
    const file = ['.mjs', '.js', '.cjs'].map((ext) => join(dir, fileBase + ext)).find((f) => existsSync(f));
    if (file === undefined) throw new Error(`${id}: no ${fileBase}.{mjs,js,cjs} in ${dir}`);
    const name = service.slice('stepline-'.length);
    const env = runtimeEnvironment(
      `Stepline-${id}`,
      Number(props.MemorySize ?? 128),
      dir,
      String(props.Handler),
    );
    for (const [variable, value] of Object.entries(variables))
      env[variable] = resolve(value, template.Resources, `${name} ${variable}`);
    bundles.push({ name: name === 'cold-start-floor' ? FLOOR : name, file, handler, env });
  }
  return bundles;
}

/** The script each fresh process runs: streams set up as the runtime has them, then the timed import. */
function initScript(bundle: Bundle): string {
  const url = pathToFileURL(bundle.file).href;
  return [
    'process.stdout; process.stderr;',
    'const started = performance.now(); const cpu = process.cpuUsage();',
    `const m = await import(${JSON.stringify(url)});`,
    `if (typeof m[${JSON.stringify(bundle.handler)}] !== 'function') throw new Error('no handler export');`,
    'const used = process.cpuUsage(cpu);',
    'process.stdout.write(JSON.stringify({ ms: performance.now() - started, cpuMs: (used.user + used.system) / 1000 }));',
  ].join('\n');
}

function initOnce(bundle: Bundle): { ms: number; cpuMs: number } {
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', initScript(bundle)], {
    cwd: bundle.env.LAMBDA_TASK_ROOT,
    env: bundle.env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (child.status !== 0) throw new Error(`${bundle.name} failed to initialise:\n${child.stderr}`);
  return JSON.parse(child.stdout) as { ms: number; cpuMs: number };
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

const cache = join(repoRoot, 'node_modules', '.cache');
mkdirSync(cache, { recursive: true });
const outdir = mkdtempSync(join(cache, 'stepline-cold-start-'));
try {
  const synthStarted = performance.now();
  const templates = synthesize(outdir);
  const bundles = [...bundlesOf(templates.floor, outdir), ...bundlesOf(templates.pipeline, outdir)];
  const floor = bundles.find((b) => b.name === FLOOR);
  if (floor === undefined) throw new Error('the floor bundle is missing');
  process.stdout.write(
    `synthesized and bundled ${bundles.length} Lambdas in ${((performance.now() - synthStarted) / 1000).toFixed(1)} s\n`,
  );

  const ms = new Map<string, number[]>();
  const cpuMs = new Map<string, number[]>();
  const ratios = new Map<string, number[]>();
  const cpuRatios = new Map<string, number[]>();
  for (const bundle of bundles) initOnce(bundle); // warm the file cache; not counted
  for (let round = 0; round < rounds; round++) {
    const times = new Map<string, { ms: number; cpuMs: number }>();
    for (const bundle of shuffle([...bundles])) times.set(bundle.name, initOnce(bundle));
    const base = times.get(FLOOR)!;
    for (const [name, time] of times) {
      ms.set(name, [...(ms.get(name) ?? []), time.ms]);
      cpuMs.set(name, [...(cpuMs.get(name) ?? []), time.cpuMs]);
      ratios.set(name, [...(ratios.get(name) ?? []), time.ms / base.ms]);
      cpuRatios.set(name, [...(cpuRatios.get(name) ?? []), time.cpuMs / base.cpuMs]);
    }
  }

  process.stdout.write(
    `\nmodule init in a fresh node process, ${rounds} rounds (Node ${process.version}, ${platform()}/${arch()}; Lambda runs Node 22 on arm64, so quote the ratios)\n`,
  );
  const rows = bundles.map((bundle) => {
    const wall = ms.get(bundle.name)!;
    const mapFile = `${bundle.file}.map`;
    return [
      bundle.name === FLOOR ? 'floor (SFNClient only)' : bundle.name,
      kb(statSync(bundle.file).size),
      existsSync(mapFile) ? kb(statSync(mapFile).size) : '-',
      `${median(wall).toFixed(1)} (${Math.min(...wall).toFixed(1)}–${Math.max(...wall).toFixed(1)})`,
      `${median(ratios.get(bundle.name)!).toFixed(2)}×`,
      median(cpuMs.get(bundle.name)!).toFixed(1),
      `${median(cpuRatios.get(bundle.name)!).toFixed(2)}×`,
    ];
  });
  const header = ['bundle', 'size', 'map', 'init ms median (min–max)', 'vs floor', 'cpu ms', 'vs floor'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows])
    process.stdout.write(
      `${row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')}\n`,
    );
  if (ratios.has('webhook')) {
    const wall = median(ratios.get('webhook')!);
    const cpu = median(cpuRatios.get('webhook')!);
    const met = Math.max(wall, cpu) <= GOAL ? 'met' : 'NOT met';
    process.stdout.write(
      `\nwebhook: ${wall.toFixed(2)}× the floor in wall time, ${cpu.toFixed(2)}× in CPU time (goal: at most ${GOAL}×): ${met}\n` +
        'On a busy machine wall times wait for a CPU and spread; CPU times and the paired ratios hold better.\n',
    );
  }
} finally {
  if (process.env.BENCH_KEEP) process.stdout.write(`bundles kept in ${outdir}\n`);
  else rmSync(outdir, { recursive: true, force: true });
}
