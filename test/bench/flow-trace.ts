/**
 * Where a flow's time goes at c = 1, from the timeline test/bench/serve.ts writes with `BENCH_TRACE=FILE` (one request
 * at a time: the events of a request are those between its `req` and its `fin`). Per request of the peer's flow shape,
 * medians of: the server's time (from the parsed request to its last byte written), the store calls on its path (calls
 * side by side counted once), of which the store itself with the hand-over to it (the transport: dynalite on its worker
 * thread) and the SDK client (the rest of the calls' time: serialization, middleware, parsing), the rest of the service
 * (HTTP, handlers, JOSE), and the time before the request (the load generator and HTTP on the way in).
 *
 *   BENCH_TRACE=/tmp/trace.json (node --import tsx test/bench/bench.ts --serve …; run the peer's bench.mjs at --c 1)
 *   tsx test/bench/flow-trace.ts /tmp/trace.json [--skip 0.2]   (the first fifth, provisioning and warm-up, left out)
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { skip: { type: 'string', default: '0.2' } },
});
const file = positionals[0];
if (!file) throw new Error('usage: flow-trace.ts FILE [--skip 0.2]');
const timeline = JSON.parse(readFileSync(file, 'utf8')) as [string, number][];
const first = timeline.findIndex(([event]) => event === 'req bc-authorize');
const from = first + Math.floor((timeline.length - first) * Number(values.skip));

interface Request {
  name: string;
  start: number;
  end: number;
  before: number;
  calls: [number, number][];
  handOvers: [number, number][];
}
const requests: Request[] = [];
let current: (Request & { open: number[]; openHandOvers: number[] }) | undefined;
let lastEnd = Number.NaN;
for (const [event, at] of timeline.slice(from)) {
  if (event.startsWith('req ')) {
    current = {
      name: event.slice(4),
      start: at,
      end: 0,
      before: at - lastEnd,
      calls: [],
      handOvers: [],
      open: [],
      openHandOvers: [],
    };
  } else if (!current) {
  } else if (event.startsWith('fin ')) {
    // The token endpoint's two answers: authorization_pending (400) and the tokens (200).
    if (current.name === 'token') current.name = event.endsWith(' 200') ? 'token redeem' : 'token pending';
    requests.push({ ...current, end: at });
    lastEnd = at;
    current = undefined;
  } else if (event === 'store end') current.calls.push([current.open.shift()!, at]);
  else if (event.startsWith('store ')) current.open.push(at);
  else if (event === 'hand-over end') current.handOvers.push([current.openHandOvers.shift()!, at]);
  else if (event === 'hand-over') current.openHandOvers.push(at);
}

/** The time covered by intervals that may overlap. */
const covered = (intervals: [number, number][]) => {
  let total = 0;
  let start = Number.NaN;
  let end = Number.NEGATIVE_INFINITY;
  for (const [a, b] of [...intervals].sort((x, y) => x[0] - y[0])) {
    if (a > end) {
      if (end > Number.NEGATIVE_INFINITY) total += end - start;
      start = a;
      end = b;
    } else end = Math.max(end, b);
  }
  return end > Number.NEGATIVE_INFINITY ? total + end - start : total;
};
const median = (xs: number[]) => {
  const sorted = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN;
};
const f = (x: number) => x.toFixed(2);

const flows = requests.filter((r) => r.name === 'bc-authorize').length;
process.stdout.write(
  `${flows} flows; ms, medians per request\n\n` +
    '| request | server | store calls on its path | of which the store and the hand-over | of which the SDK client | rest of the service | before the request (load generator, HTTP in) |\n' +
    '| --- | --- | --- | --- | --- | --- | --- |\n',
);
const sum = [0, 0, 0, 0, 0, 0];
for (const name of ['bc-authorize', 'token pending', 'hook', 'token redeem']) {
  const of = requests.filter((r) => r.name === name);
  if (of.length === 0) continue;
  const server = median(of.map((r) => r.end - r.start));
  const store = median(of.map((r) => covered(r.calls)));
  const handOver = median(of.map((r) => covered(r.handOvers)));
  const row = [server, store, handOver, store - handOver, server - store, median(of.map((r) => r.before))];
  row.forEach((x, i) => {
    sum[i]! += x;
  });
  process.stdout.write(`| ${name} | ${row.map(f).join(' | ')} |\n`);
}
process.stdout.write(`| a flow (sum) | ${sum.map(f).join(' | ')} |\n`);
const wall = (requests.at(-1)!.end - requests[0]!.start) / flows;
process.stdout.write(`\nwall time per flow (mean over the trace): ${f(wall)} ms\n`);
