/**
 * Summarizes a V8 CPU profile of the benchmark's server (`npm run bench -- --profile DIR` writes it): self time by
 * where the code comes from (the AWS SDK, dynalite and its storage, Node's HTTP and streams, jose, zod, middy, this
 * service) and the heaviest functions. `tsx test/bench/cpu-profile.ts DIR|FILE [--top 25] [--last SECONDS]`: with
 * `--last`, only the profile's last SECONDS (the measured flows, without provisioning and warm-up). A DIR gives the
 * main thread's profile; the store's worker thread writes one of its own (give its FILE).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' }, last: { type: 'string' } },
});
const input = positionals[0];
if (!input) throw new Error('usage: cpu-profile.ts DIR|FILE');
const file = statSync(input).isDirectory()
  ? join(
      input,
      readdirSync(input)
        .filter((f) => f.endsWith('.cpuprofile'))
        // The main thread's profile is the largest (tsx's loader thread writes one too).
        .sort((a, b) => statSync(join(input, b)).size - statSync(join(input, a)).size)[0]!,
    )
  : input;

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
};

const CATEGORIES: [string, RegExp][] = [
  ['aws-sdk (client, smithy, marshalling)', /node_modules\/(@aws-sdk|@smithy|@aws-crypto|fast-xml-parser|bowser)\//],
  ['dynalite (server, lazy, validation)', /node_modules\/(dynalite|lazy|big\.js|once)\//],
  [
    'dynalite storage (levelup, memdown, ...)',
    /node_modules\/(levelup|leveldown|memdown|level[-\w]*|abstract-leveldown|deferred-leveldown|encoding-down|subleveldown|functional-red-black-tree|async|lock)\//,
  ],
  ['jose', /node_modules\/jose\//],
  ['zod', /node_modules\/zod\//],
  ['middy, powertools', /node_modules\/(@middy|@aws-lambda-powertools)\//],
  ['tsx (loader)', /node_modules\/(tsx|esbuild|get-tsconfig)\//],
  ['other node_modules', /node_modules\//],
  ['this service', /\/(lib|functions|test)\//],
  ['node: http, net, streams', /^node:(_http|http|net|stream|internal\/(http|streams|stream_base|net|js_stream))/],
  ['node: crypto', /^node:(crypto|internal\/crypto)/],
  ['node: other', /^node:/],
];
const categoryOf = (node: Node): string => {
  const { url, functionName } = node.callFrame;
  if (!url) {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)' || functionName === '(program)') return functionName;
    return 'native (V8 builtins, libuv, OpenSSL)';
  }
  return CATEGORIES.find(([, re]) => re.test(url))?.[0] ?? 'other';
};

const selfUs = new Map<number, number>();
const from = values.last ? profile.endTime - Number(values.last) * 1e6 : -Infinity;
let at = profile.startTime;
for (let i = 0; i < profile.samples.length; i++) {
  at += profile.timeDeltas[i] ?? 0;
  if (at < from) continue;
  const id = profile.samples[i]!;
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
const byCategory = new Map<string, number>();
const byFunction = new Map<string, number>();
let busy = 0;
for (const node of profile.nodes) {
  const us = selfUs.get(node.id) ?? 0;
  if (us === 0) continue;
  const category = categoryOf(node);
  byCategory.set(category, (byCategory.get(category) ?? 0) + us);
  if (category !== '(idle)') busy += us;
  const short = node.callFrame.url
    .replace(/^.*node_modules\//, '')
    .replace(/^file:\/\/.*\/(lib|functions|test)\//, '$1/');
  const key = `${node.callFrame.functionName || '(anonymous)'} ${short}:${node.callFrame.lineNumber + 1}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + us);
}
const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)} %`;
process.stdout.write(
  `${file}\nbusy (not idle) ${(busy / 1e6).toFixed(2)} s of ${((profile.endTime - Math.max(from, profile.startTime)) / 1e6).toFixed(2)} s\n\n`,
);
for (const [category, us] of [...byCategory].sort((a, b) => b[1] - a[1])) {
  if (category === '(idle)') continue;
  process.stdout.write(`${pct(us)}  ${category}\n`);
}
process.stdout.write(`\ntop functions (self time):\n`);
for (const [fn, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) {
  if (fn.startsWith('(idle)')) continue;
  process.stdout.write(`${pct(us)}  ${fn}\n`);
}
