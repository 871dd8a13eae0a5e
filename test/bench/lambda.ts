/**
 * Lambda bundles and their cold initialisation (`npm run bench:lambda`; not part of `npm test`). Bundles every
 * function with esbuild exactly as infra/ciba-function.ts has NodejsFunction do it (infra/bundling.ts: ESM, minified,
 * the require banner, the SDK bundled), then, for each bundle, starts fresh `node` processes that import it with fake
 * environment variables and time the import (which builds the function's deps: `createHandler(awsDeps())` runs at
 * module scope), and reports the median. No AWS call is made: SDK clients do not connect until they send.
 *
 * Options: --runs 9 (rounds: each imports every bundle once in a fresh process) --out FILE --only name,name
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { ESBUILD_TARGET, ESM_REQUIRE_BANNER, entryOf, LAMBDA_ALIASES, LAMBDA_FUNCTIONS } from '../../infra/bundling.ts';
import { FAKE_ENV } from './lambda-env.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '9' },
    out: { type: 'string' },
    only: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout.write(`npm run bench:lambda -- [options]: each Lambda bundle's size and cold initialisation
  --runs 9            rounds; each imports every bundle once in a fresh process (median reported)
  --only a,b          only these functions (${LAMBDA_FUNCTIONS.join(', ')})
  --out FILE          where the JSON goes (default bench-results/lambda-<date>.json)
`);
  process.exit(0);
}

const runs = Number(args.runs);
const names = args.only ? args.only.split(',') : [...LAMBDA_FUNCTIONS];
const unknown = names.filter((n) => !(LAMBDA_FUNCTIONS as readonly string[]).includes(n));
if (unknown.length > 0)
  throw new Error(`--only: unknown function ${unknown.join(', ')} (known: ${LAMBDA_FUNCTIONS.join(', ')})`);
if (!(Number.isInteger(runs) && runs > 0)) throw new Error('--runs must be a positive integer');

/** One fresh process: the time from before the import to after it, in ms. */
const PROBE = `
const t0 = performance.now();
const mod = await import(process.argv[1]);
const ms = performance.now() - t0;
if (typeof mod.handler !== 'function') throw new Error('no handler export');
process.stdout.write(JSON.stringify({ ms, rssMb: process.memoryUsage().rss / 1048576 }));
`;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
};

const dir = join(os.tmpdir(), 'ciba-bench-lambda');
rmSync(dir, { recursive: true, force: true });

// Build every bundle first, then probe in rounds (each round imports every bundle once): this machine's speed drifts
// within minutes, and interleaving spreads the drift over all functions instead of favouring whichever ran first.
const bundles = [];
for (const name of names) {
  const outfile = join(dir, name, 'index.mjs');
  const built = await build({
    entryPoints: [entryOf(name as (typeof LAMBDA_FUNCTIONS)[number])],
    bundle: true,
    outfile,
    platform: 'node',
    format: 'esm',
    target: ESBUILD_TARGET,
    mainFields: ['module', 'main'],
    banner: { js: ESM_REQUIRE_BANNER },
    alias: LAMBDA_ALIASES,
    minify: true,
    metafile: true,
    logLevel: 'silent',
  });
  const output = built.metafile.outputs[Object.keys(built.metafile.outputs).find((o) => o.endsWith('.mjs'))!]!;
  const byPackage = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1] ?? input.split('/').slice(0, 2).join('/');
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + bytesInOutput);
  }
  const top = [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 12);
  bundles.push({ name, outfile, bytes: output.bytes, top, samples: [] as { ms: number; rssMb: number }[] });
}
for (let i = 0; i < runs; i++) {
  process.stderr.write(`\rround ${i + 1}/${runs}`);
  for (const bundle of bundles) {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', PROBE, bundle.outfile], {
      env: { PATH: process.env.PATH ?? '', ...FAKE_ENV },
      encoding: 'utf8',
    });
    bundle.samples.push(JSON.parse(out) as { ms: number; rssMb: number });
  }
}
process.stderr.write('\n');

const results = [];
process.stdout.write(
  'function            bundle KiB  top inputs (KiB)                                      init ms (median)\n',
);
for (const { name, bytes, top, samples } of bundles) {
  const result = {
    function: name,
    bundle_bytes: bytes,
    bundle_kib: Math.round(bytes / 1024),
    init_ms_median: Number(median(samples.map((s) => s.ms)).toFixed(1)),
    init_ms_min: Number(Math.min(...samples.map((s) => s.ms)).toFixed(1)),
    init_ms_max: Number(Math.max(...samples.map((s) => s.ms)).toFixed(1)),
    rss_mb_median: Number(median(samples.map((s) => s.rssMb)).toFixed(1)),
    top_inputs_kib: Object.fromEntries(top.map(([k, v]) => [k, Math.round(v / 1024)])),
  };
  results.push(result);
  const topText = top
    .slice(0, 4)
    .map(([k, v]) => `${k.replace(/^@aws-sdk\//, 'sdk/')} ${Math.round(v / 1024)}`)
    .join(', ');
  process.stdout.write(
    `${name.padEnd(19)} ${String(result.bundle_kib).padStart(10)}  ${topText.padEnd(52)}  ${result.init_ms_median} (${result.init_ms_min}-${result.init_ms_max})\n`,
  );
}
const out = args.out ?? join('bench-results', `lambda-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
mkdirSync(dirname(out), { recursive: true });
const meta = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: os.cpus().length,
  runs,
  target: ESBUILD_TARGET,
};
writeFileSync(out, `${JSON.stringify({ meta, functions: results }, null, 2)}\n`);
process.stdout.write(`wrote ${out}\n`);
