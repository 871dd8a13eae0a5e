/**
 * What one hand-over of a store call to another thread and back costs (`tsx test/bench/handover.ts`), whatever
 * carries it: the worker's own port (how lib/local/worker-transport.ts reaches dynalite's thread), a MessageChannel
 * of its own, and a SharedArrayBuffer whose sides wake each other with Atomics (`waitAsync`, or a blocking `wait` on
 * both sides, which no event loop could afford; or neither side ever sleeping, both spinning on the buffer, which
 * shows what the sleeping and waking costs). Each round trip carries a 400-byte request and a small answer, as a
 * store call does; nothing is done with them. Variants alternate in rounds so that the machine's drift is shared.
 * Prints the main thread's CPU and the wall time per round trip (µs, medians of the rounds). docs/performance.md
 * ("Targets missed") reads it.
 */
import { MessageChannel, Worker } from 'node:worker_threads';

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const PER_ROUND = Number(process.env.N ?? 5000);
const REQUEST = new Uint8Array(400).fill(0x61);
const ANSWER = { status: 200, headers: { 'content-type': 'application/x-amz-json-1.0' }, body: '{"Item":{}}' };

interface Variant {
  name: string;
  start(): Promise<{ call(): Promise<void> | void; stop(): Promise<number> }>;
}

const echoOnPort = (port: string) => `
const { parentPort, workerData } = require('node:worker_threads');
const port = ${port};
port.on('message', (m) => port.postMessage({ id: m.id, ...workerData.answer }));`;

const messages = (name: string, own: boolean): Variant => ({
  name,
  async start() {
    const channel = own ? new MessageChannel() : undefined;
    const worker = new Worker(echoOnPort(own ? 'workerData.port' : 'parentPort'), {
      eval: true,
      workerData: { answer: ANSWER, ...(channel ? { port: channel.port2 } : {}) },
      transferList: channel ? [channel.port2] : [],
    });
    const port = channel?.port1 ?? worker;
    let resolve = () => {};
    port.on('message', () => resolve());
    return {
      call: () =>
        new Promise<void>((r) => {
          resolve = r;
          port.postMessage({ id: 1, body: REQUEST.slice() });
        }),
      stop: () => worker.terminate(),
    };
  },
});

/** Node has had it since 16; the project's TypeScript lib (ES2022) does not declare it. */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(a: Int32Array, i: number, v: number): { async: boolean; value: Promise<string> | string };
  }
).waitAsync;

/** [0] requests sent, [1] answers sent, [2] the length of what is in the buffer. */
const shared = (name: string, wait: 'async' | 'blocking' | 'spinning'): Variant => ({
  name,
  async start() {
    const sab = new SharedArrayBuffer(64 * 1024);
    const ctl = new Int32Array(sab, 0, 4);
    const data = new Uint8Array(sab, 16);
    const worker = new Worker(
      `
const { workerData } = require('node:worker_threads');
const ctl = new Int32Array(workerData.sab, 0, 4);
const data = new Uint8Array(workerData.sab, 16);
const answer = new TextEncoder().encode(JSON.stringify(workerData.answer));
let seen = 0;
const serve = () => {
  seen = Atomics.load(ctl, 0);
  data.slice(0, ctl[2]);
  data.set(answer);
  ctl[2] = answer.length;
  Atomics.add(ctl, 1, 1);
  Atomics.notify(ctl, 1);
};
if (workerData.wait === 'blocking') for (;;) { Atomics.wait(ctl, 0, seen); serve(); }
if (workerData.wait === 'spinning') for (;;) { while (Atomics.load(ctl, 0) === seen); serve(); }
setInterval(() => {}, 60_000);
(async () => { for (;;) { const w = Atomics.waitAsync(ctl, 0, seen); if (w.async) await w.value; serve(); } })();`,
      { eval: true, workerData: { sab, answer: ANSWER, wait } },
    );
    let answered = 0;
    const send = () => {
      data.set(REQUEST);
      ctl[2] = REQUEST.length;
      Atomics.add(ctl, 0, 1);
      Atomics.notify(ctl, 0);
    };
    const take = () => {
      answered = Atomics.load(ctl, 1);
      data.slice(0, ctl[2]);
    };
    return {
      call:
        wait !== 'async'
          ? () => {
              send();
              if (wait === 'blocking') Atomics.wait(ctl, 1, answered);
              else while (Atomics.load(ctl, 1) === answered);
              take();
            }
          : async () => {
              send();
              const w = waitAsync(ctl, 1, answered);
              if (w.async) await w.value;
              take();
            },
      stop: () => worker.terminate(),
    };
  },
});

const variants = [
  messages('worker port (postMessage)', false),
  messages('MessageChannel', true),
  shared('SharedArrayBuffer, Atomics.waitAsync', 'async'),
  shared('SharedArrayBuffer, blocking Atomics.wait', 'blocking'),
  shared('SharedArrayBuffer, both threads spinning (no sleep, no wake)', 'spinning'),
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const results = new Map(variants.map((v) => [v.name, { cpu: [] as number[], wall: [] as number[] }]));
for (let round = 0; round < ROUNDS; round++) {
  for (const variant of variants) {
    const run = await variant.start();
    for (let i = 0; i < 1000; i++) await run.call();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < PER_ROUND; i++) await run.call();
    const cpu = process.cpuUsage(cpu0);
    const wall = performance.now() - t0;
    await run.stop();
    const r = results.get(variant.name);
    r?.cpu.push((cpu.user + cpu.system) / PER_ROUND);
    r?.wall.push((wall * 1000) / PER_ROUND);
  }
}
process.stdout.write(`one hand-over and back, ${ROUNDS} rounds of ${PER_ROUND} (medians, µs)\n`);
process.stdout.write('| transport | main thread CPU | wall |\n| --- | --- | --- |\n');
for (const [name, r] of results) {
  process.stdout.write(`| ${name} | ${median(r.cpu).toFixed(1)} | ${median(r.wall).toFixed(1)} |\n`);
}
