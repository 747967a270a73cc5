#!/usr/bin/env node
// Runs the TypeScript CLI directly: the same sources the Lambdas are bundled from.
import { register } from 'tsx/esm/api';

// The terminal tells the run's story; structured logs are for when something needs digging into.
process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
// Node 20 is supported here (Lambda runs Node 22); the SDK's notice about it is noise in a terminal.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
await import('../local/cli.ts');
