import { App } from 'aws-cdk-lib';
import { cdkJsonContext } from './context.ts';
import { buildApp } from './stepline-app.ts';

/**
 * `npm run synth`: synthesizes the app offline into cdk.out with `app.synth()` (no CDK CLI, no AWS
 * account) and the context of cdk.json (the feature flags `cdk deploy` uses), prints the stacks, and
 * exits non-zero when the config is invalid or cdk-nag reports a finding nobody acknowledged. Context as with the CLI: `npm run synth -- -c demo=true`.
 */
function contextFromArgs(args: readonly string[]): Record<string, string> {
  const context: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const pair =
      arg === '-c' || arg === '--context'
        ? args[++i]
        : arg.startsWith('--context=')
          ? arg.slice(10)
          : undefined;
    if (pair === undefined)
      throw new Error(`unknown argument ${JSON.stringify(arg)} (expected -c key=value)`);
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`context ${JSON.stringify(pair)}: expected key=value`);
    context[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return context;
}

const started = performance.now();
try {
  const app = new App({
    outdir: 'cdk.out',
    context: { ...cdkJsonContext(), ...contextFromArgs(process.argv.slice(2)) },
  });
  const stacks = buildApp(app);
  const assembly = app.synth();
  for (const stack of Object.values(stacks)) {
    const artifact = assembly.getStackByName(stack.stackName);
    const resources = Object.keys((artifact.template as { Resources?: object }).Resources ?? {}).length;
    process.stdout.write(`${stack.stackName}: ${resources} resources, ${artifact.templateFile}\n`);
  }
  process.stdout.write(
    `cdk-nag AwsSolutions: no unacknowledged findings\nsynthesized to ${assembly.directory} in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
  );
} catch (error) {
  process.stderr.write(`synth failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
