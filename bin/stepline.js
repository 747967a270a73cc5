#!/usr/bin/env node
// Runs the TypeScript CLI directly: the same sources the Lambdas are bundled from.
import { register } from 'tsx/esm/api';

register();
await import('../local/cli.ts');
