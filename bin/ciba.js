#!/usr/bin/env node
// The `ciba` command: runs lib/cli/main.ts through tsx's ESM loader (no build step).
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
const { main } = await import('../lib/cli/main.ts');
await main(process.argv.slice(2));
