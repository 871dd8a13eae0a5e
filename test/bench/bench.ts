/**
 * Benchmark (`npm run bench`; not part of `npm test`): complete CIBA flows (poll, or `--mode ping` or `push`) at fixed
 * concurrency levels for a fixed number of flows each, against the local service started in its own process (test/bench/serve.ts: embedded
 * dynalite, store in memory unless `--data-dir`), or `--base-url` with `--admin-token` for a running one.
 * docs/performance.md explains the method and keeps the numbers.
 *
 * Flow shapes (`--shape device|peer|both`, default both):
 * - device: bc-authorize → the device's pending list (DPoP) → one token poll answered authorization_pending →
 *   the signed approval (DPoP) → the redeeming token poll; the ID token is verified with jose (signature, iss, aud).
 * - peer: node-oidc-provider's bench shape (../shared/bench/oidc-provider-peer): bc-authorize → one pending poll →
 *   approval through the store (serve.ts's hook: one conditional write, no device API) → the redeeming poll.
 *
 * Delivery mode (`--mode poll|ping|push`, default poll): ping registers a ping client whose notification endpoint is
 * a loopback receiver in this process (flows.ts's startNotificationReceiver; the tenant has development_mode on) and
 * runs the device shape without polls: bc-authorize (with a client_notification_token) → the device's pending list →
 * the signed approval → the ping reaching the receiver (the callback function, invoked by the bus's rule) → one token
 * request; the ID token is verified. Push is the same up to the callback, which carries the tokens themselves: no
 * token request, the pushed ID token verified (with its `auth_req_id` claim). Their AWS terms file the callback's
 * invocation apart (`round_trips.callback`), as every mode files the publish of a decision's event by the table
 * stream's consumer (`round_trips.stream`).
 *
 * Reported per shape and level: flows/s, p50/p99 ms per endpoint, errors by kind, server CPU ms per flow and RSS
 * (from /proc of the server process), DynamoDB requests per flow and the partition key written most often per flow
 * (the store's client is counted inside the server process and read over IPC). Timings are measured, never asserted.
 * AWS terms per shape and level (issue 18): round trips per endpoint, capacity units with index writes, AWS calls per
 * service, the hottest partition key's writes per flow and the cost per million flows (test/bench/aws-terms.ts,
 * test/bench/cost-model.ts).
 *
 * Options: --c 1,8,32 --n 2000 (flows per level) --warmup 200 --users 1000 --shape both --mode poll --out FILE
 *          --quick (n 250, warmup 20, users 64: a short run for CI and scripts; 250 flows, so that no flow's own
 *          request item, written up to 5 times, passes 0.02 writes per flow of the run) --data-dir DIR (persisted LevelDB)
 *          --profile DIR (the server writes a V8 CPU profile there; summarized by test/bench/cpu-profile.ts)
 *          --base-url URL --admin-token T (a running service: no CPU, RSS or store counts)
 *          --serve (start and provision, print `{issuer, client_id, client_secret, approve_url, pid}` as one JSON
 *          line, and keep serving until SIGTERM: another load generator, such as the peer's bench.mjs, drives it;
 *          test/bench/compare-peer.sh does so; implies --throughput)
 *          --throughput (the server does not read each written item before and after: no index write units)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { CALLBACK_INVOCATION, CLIENT_ENDPOINT, INVOCATIONS, STREAM_INVOCATION } from './aws-terms.ts';
import { costFields, costPerMillionFlows } from './cost-model.ts';
import {
  type DeliveryMode,
  type Fixture,
  FlowError,
  type Latencies,
  provision as provisionTenant,
  flow as runFlow,
  type Shape,
  startNotificationReceiver,
} from './flows.ts';
import { hottestPartition, hottestPartitionByTable } from './partition-writes.ts';

const { values: args } = parseArgs({
  options: {
    'base-url': { type: 'string' },
    'admin-token': { type: 'string' },
    c: { type: 'string', default: '1,8,32' },
    n: { type: 'string' },
    warmup: { type: 'string' },
    users: { type: 'string' },
    shape: { type: 'string' },
    mode: { type: 'string', default: 'poll' },
    events: { type: 'string', default: 'matched' },
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    'data-dir': { type: 'string' },
    profile: { type: 'string' },
    serve: { type: 'boolean', default: false },
    throughput: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout.write(`npm run bench -- [options]: full CIBA flows (poll, ping or push: --mode) at fixed concurrency (docs/performance.md)
  --c 1,8,32          concurrency levels
  --n 2000            flows per level (after --warmup 200)
  --users 1000        users, one enrolled device each (at least the highest level)
  --shape both        device (with the device's work), peer (node-oidc-provider's bench shape) or both
  --mode poll         poll, or ping: a ping client pinged on a loopback receiver, then one token request, or push:
                      the tokens pushed to that receiver (ping and push: device shape)
  --events matched    EventBridge calls counted: those the deployment's own rule may take (ciba:events matched, no
                      rule of the operator's on the bus), or all (ciba:events=all, or a rule that takes every event)
  --quick             short run: --n 250 --warmup 20 --users 64
  --out FILE          where the JSON goes (default bench-results/bench-<date>.json)
  --data-dir DIR      persist the embedded store (LevelDB) instead of memory
  --profile DIR       the server writes a V8 CPU profile there (tsx test/bench/cpu-profile.ts DIR)
  --base-url URL --admin-token T   a running service instead (device shape; no CPU, RSS or store counts)
  --serve             start and provision only, print the client as JSON, serve until SIGTERM (implies --throughput)
  --throughput        no item images: the server does not read each written item before and after (flows/s and CPU
                      without that work; write_units_per_flow then leaves out index writes and failed conditions)
`);
  process.exit(0);
}
const quick = args.quick;
const levels = args.c.split(',').map(Number);
const flowsPerLevel = Number(args.n ?? (quick ? 250 : 2000));
const warmup = Number(args.warmup ?? (quick ? 20 : 200));
const userCount = Number(args.users ?? (quick ? 64 : 1000));
const mode = args.mode as DeliveryMode;
if (mode !== 'poll' && mode !== 'ping' && mode !== 'push') throw new Error('--mode: poll, ping or push');
if (mode !== 'poll' && args.shape !== undefined && args.shape !== 'device') {
  throw new Error(`--mode ${mode} runs the device shape (the peer shape polls)`);
}
const shapeArg = args.shape ?? (mode === 'poll' ? 'both' : 'device');
const shapes = (shapeArg === 'both' ? ['device', 'peer'] : [shapeArg]) as Shape[];
if (levels.some((c) => !Number.isInteger(c) || c < 1 || c > 256)) throw new Error('--c: levels of 1-256');
if (!(flowsPerLevel > 0) || !(warmup >= 0) || !(userCount >= Math.max(...levels))) {
  throw new Error('--n must be positive and --users at least the highest concurrency (one flow per user at a time)');
}
if (shapes.some((s) => s !== 'device' && s !== 'peer')) throw new Error('--shape: device, peer or both');
if (args.events !== 'matched' && args.events !== 'all') throw new Error('--events: matched or all');

// The server

interface Target {
  url: string;
  adminToken: string;
  hookUrl?: string;
  pid?: number;
  /** The embedded store's own process (dynalite in a child process): its CPU and memory count as the server's. */
  storePid?: number;
  child?: ChildProcess;
}

const startServer = async (): Promise<Target> => {
  if (args['base-url']) {
    const adminToken = args['admin-token'] ?? process.env.CIBA_ADMIN_TOKEN;
    if (!adminToken) throw new Error('--base-url needs --admin-token or CIBA_ADMIN_TOKEN');
    if (shapes.includes('peer')) throw new Error('the peer shape approves through serve.ts: use --shape device');
    return { url: args['base-url'].replace(/\/+$/, ''), adminToken };
  }
  const nodeArgs = ['--import', 'tsx'];
  if (args.profile) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${args.profile}`);
  const child = spawn(process.execPath, [...nodeArgs, join(import.meta.dirname, 'serve.ts')], {
    env: {
      ...process.env,
      ...(args['data-dir'] ? { CIBA_DATA_DIR: args['data-dir'] } : {}),
      ...(args.throughput || args.serve ? { BENCH_ITEM_IMAGES: '0' } : {}),
      BENCH_EVENTS: args.events,
    },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the server exited with ${code}`)));
  });
  return { ...(JSON.parse(line) as Omit<Target, 'child'>), child };
};

const procStatus = (pid: number | undefined, field: string): number | undefined => {
  if (!pid) return undefined;
  try {
    const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Math.round(Number(match[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
};

/**
 * utime + stime in ms (Linux USER_HZ is 100) of the process, or of one of its threads (`tid`: the process's id is its
 * main thread, where the service's own code runs; the embedded store's worker thread and V8's helpers are the rest).
 */
const processCpuMs = (pid: number | undefined, tid?: number): number | undefined => {
  if (!pid) return undefined;
  try {
    const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return undefined;
  }
};

interface StoreCounts {
  count: number;
  commands: Record<string, number>;
  /** dynalite's units, and what the meter adds: index writes and failed conditional writes (serve.ts). */
  capacity: { read: number; write: number; indexWrite: number; failedWrite: number; indexWriteAllProjected: number };
  meter: {
    endpoints: Record<string, { requests: number; roundTrips: number; calls: number }>;
    services: Record<string, number>;
    lifecycleEvents: number;
  };
  logs: { info: number; lines: number };
  /** Writes per partition key (`{table} {pk}`), failed conditional writes included. */
  partitions: Record<string, number>;
  /** Writes per item (`{table} {pk} {sk}`). */
  items: Record<string, number>;
}
const storeRequests = (child: ChildProcess | undefined): Promise<StoreCounts | undefined> =>
  new Promise((resolve) => {
    if (!child?.connected) return resolve(undefined);
    const onMessage = (message: { type?: string } & StoreCounts) => {
      if (message?.type !== 'count') return;
      child.off('message', onMessage);
      resolve({
        count: message.count,
        commands: { ...message.commands },
        meter: structuredClone(message.meter),
        logs: { ...message.logs },
        capacity: { ...message.capacity },
        partitions: { ...message.partitions },
        items: { ...message.items },
      });
    };
    child.on('message', onMessage);
    child.send({ type: 'count' });
  });

/**
 * The AWS terms of a level (issue 18, docs/performance.md): round trips per endpoint (the mean over the level's
 * requests to it; calls that overlap count once), store requests and capacity units per flow (index writes and failed
 * conditional writes included), AWS calls per service, the hottest partition key's writes, and the cost model.
 */
const awsTerms = (a: StoreCounts, b: StoreCounts, flows: number, cpuMs: number) => {
  const per = (x: number) => Number((x / Math.max(1, flows)).toFixed(3));
  const roundTrips: Record<string, number> = {};
  let httpRequests = 0;
  let pathTrips = 0;
  for (const [endpoint, e] of Object.entries(b.meter.endpoints)) {
    const requests = e.requests - (a.meter.endpoints[endpoint]?.requests ?? 0);
    if (requests <= 0) continue;
    const trips = e.roundTrips - (a.meter.endpoints[endpoint]?.roundTrips ?? 0);
    roundTrips[endpoint] = Number((trips / requests).toFixed(2));
    // The callback function's and the stream consumer's invocations are Lambda requests by an event, not API requests
    // (INVOCATIONS).
    if (!(endpoint in INVOCATIONS)) httpRequests += requests;
    pathTrips += trips;
  }
  const diff = (x: Record<string, number>, y: Record<string, number>) =>
    Object.fromEntries(
      Object.entries(y)
        .map(([k, v]) => [k, per(v - (x[k] ?? 0))] as const)
        .filter(([, v]) => v > 0),
    );
  // The callbacks' POSTs to the client's endpoint are round trips of the callback's path, not AWS calls.
  const { [CLIENT_ENDPOINT]: clientCalls = 0, ...awsCalls }: Record<string, number> = {
    KMS: 0,
    ...diff(a.meter.services, b.meter.services),
  };
  const units = (c: StoreCounts['capacity']) => c.write + c.indexWrite + c.failedWrite;
  const hottest = hottestPartition(a.partitions, b.partitions);
  const figures = {
    httpRequests: per(httpRequests),
    eventInvocations: awsCalls[CALLBACK_INVOCATION] ?? 0,
    streamInvocations: awsCalls[STREAM_INVOCATION] ?? 0,
    roundTrips: per(pathTrips),
    clientCalls,
    cpuMs: per(cpuMs),
    writeUnits: per(units(b.capacity) - units(a.capacity)),
    readUnits: per(b.capacity.read - a.capacity.read),
    awsCalls,
    lifecycleEvents: per(b.meter.lifecycleEvents - a.meter.lifecycleEvents),
    logLines: per(b.logs.lines - a.logs.lines),
    logBytes: per(b.logs.info - a.logs.info),
  };
  // The same flows on the AWS deployment's default `pending-by-user` projection (ALL; the bench's store is INCLUDE).
  const allProjectedUnits = per(
    units(b.capacity) -
      b.capacity.indexWrite +
      b.capacity.indexWriteAllProjected -
      (units(a.capacity) - a.capacity.indexWrite + a.capacity.indexWriteAllProjected),
  );
  const allProjected = costPerMillionFlows({ ...figures, writeUnits: allProjectedUnits });
  return {
    round_trips: roundTrips,
    http_requests_per_flow: figures.httpRequests,
    event_invocations_per_flow: figures.eventInvocations,
    stream_invocations_per_flow: figures.streamInvocations,
    client_endpoint_calls_per_flow: clientCalls,
    store_commands_per_flow: diff(a.commands, b.commands),
    write_units_per_flow: figures.writeUnits,
    write_units_breakdown: {
      table: per(b.capacity.write - a.capacity.write),
      indexes: per(b.capacity.indexWrite - a.capacity.indexWrite),
      failed_conditions: per(b.capacity.failedWrite - a.capacity.failedWrite),
    },
    read_units_per_flow: figures.readUnits,
    aws_calls_per_flow: awsCalls,
    lifecycle_events_per_flow: figures.lifecycleEvents,
    hottest_key_writes_per_flow: hottest ? per(hottest.writes) : 0,
    log_bytes_per_flow: figures.logBytes,
    ...costFields(figures),
    pending_index_all_projected: {
      write_units_per_flow: allProjectedUnits,
      cost_per_million_flows_usd: allProjected.total,
    },
  };
};

// Runner

const isTty = process.stderr.isTTY;
let lastDraw = 0;
function progress(text: string, done?: number, total?: number) {
  if (!isTty) return;
  const now = performance.now();
  if (done !== undefined && done < (total ?? 0) && now - lastDraw < 100) return;
  lastDraw = now;
  const width = 30;
  const bar =
    total && done !== undefined ? `[${'#'.repeat(Math.round((done / total) * width)).padEnd(width, '.')}] ` : '';
  process.stderr.write(`\r\x1b[K${bar}${text}`);
}
const clearProgress = () => isTty && process.stderr.write('\r\x1b[K');

const percentile = (values: number[], p: number) => {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  return Number(sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!.toFixed(2));
};

/** The service's CPU: its own process plus the embedded store's, when that runs apart. */
const serverCpuMs = (target: Target): number | undefined => {
  const own = processCpuMs(target.pid);
  if (own === undefined || target.storePid === undefined) return own;
  return own + (processCpuMs(target.storePid) ?? 0);
};

const serverMemory = (target: Target, field: string): number | null => {
  const own = procStatus(target.pid, field);
  if (own === undefined) return null;
  return own + (target.storePid === undefined ? 0 : (procStatus(target.storePid, field) ?? 0));
};

let flowSeq = 0;
const runLevel = async (fx: Fixture, target: Target, shape: Shape, c: number, n: number, label: string) => {
  const lat: Latencies = {};
  const errors: Record<string, number> = {};
  let ok = 0;
  let started = 0;
  const cpu0 = serverCpuMs(target);
  const main0 = processCpuMs(target.pid, target.pid);
  const bench0 = process.cpuUsage();
  const store0 = await storeRequests(target.child);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (started < n) {
        started++;
        try {
          await runFlow(fx, shape, flowSeq++, lat, target.hookUrl);
          ok++;
        } catch (error) {
          const kind = error instanceof FlowError ? error.message : `unexpected ${(error as Error).message}`;
          errors[kind] = (errors[kind] ?? 0) + 1;
        }
        progress(`${label} ${shape} c=${c}: ${ok + Object.values(errors).reduce((a, b) => a + b, 0)}/${n}`, ok, n);
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const cpu1 = serverCpuMs(target);
  const main1 = processCpuMs(target.pid, target.pid);
  const store1 = await storeRequests(target.child);
  const bench = process.cpuUsage(bench0);
  const per = (x: number) => Number((x / Math.max(1, ok)).toFixed(3));
  const hottest = store0 && store1 ? hottestPartition(store0.partitions, store1.partitions) : undefined;
  const hottestItem = store0 && store1 ? hottestPartition(store0.items, store1.items) : undefined;
  const hottestByTable = store0 && store1 ? hottestPartitionByTable(store0.partitions, store1.partitions) : {};
  const terms =
    store0 && store1 && main0 !== undefined && main1 !== undefined
      ? awsTerms(store0, store1, ok, main1 - main0)
      : undefined;
  return {
    shape,
    mode,
    concurrency: c,
    n,
    ok,
    failed: n - ok,
    wall_s: Number((wallMs / 1000).toFixed(3)),
    flows_per_second: Number((ok / (wallMs / 1000)).toFixed(1)),
    server_cpu_ms_per_flow: cpu0 !== undefined && cpu1 !== undefined ? per(cpu1 - cpu0) : null,
    // The service's main thread alone: its code, the SDK client and HTTP, without the store's worker thread.
    server_main_thread_cpu_ms_per_flow: main0 !== undefined && main1 !== undefined ? per(main1 - main0) : null,
    bench_cpu_ms_per_flow: per((bench.user + bench.system) / 1000),
    store_requests_per_flow: store0 && store1 ? per(store1.count - store0.count) : null,
    // As dynalite reports them: without index writes and failed conditional writes (docs/performance.md).
    store_read_units_per_flow: store0 && store1 ? per(store1.capacity.read - store0.capacity.read) : null,
    store_write_units_per_flow: store0 && store1 ? per(store1.capacity.write - store0.capacity.write) : null,
    // The partition key written most often (DynamoDB: about 1,000 writes/s per partition), writes per flow.
    store_hottest_partition: hottest ? { partition: hottest.partition, writes_per_flow: per(hottest.writes) } : null,
    // Each table's own (the directory's users and devices, the ledger's requests and counter shards).
    store_hottest_partition_by_table: Object.fromEntries(
      Object.entries(hottestByTable).map(([table, h]) => [
        table,
        { partition: h.partition, writes_per_flow: per(h.writes) },
      ]),
    ),
    // The item written most often (DynamoDB may spread one partition key's items over partitions by sort key).
    store_hottest_item: hottestItem ? { item: hottestItem.partition, writes_per_flow: per(hottestItem.writes) } : null,
    ...(terms ?? {}),
    p50_ms: Object.fromEntries(Object.entries(lat).map(([k, v]) => [k, percentile(v, 50)])),
    p99_ms: Object.fromEntries(Object.entries(lat).map(([k, v]) => [k, percentile(v, 99)])),
    errors,
    rss_mb: serverMemory(target, 'VmRSS'),
    peak_rss_mb: serverMemory(target, 'VmHWM'),
  };
};
type Run = Awaited<ReturnType<typeof runLevel>>;

const printRun = (r: Run) => {
  const ms = (k: string) => `${r.p50_ms[k] ?? '-'}/${r.p99_ms[k] ?? '-'}`;
  const endpoints = Object.keys(r.p50_ms)
    .map((k) => `${k} ${ms(k)}`)
    .join(', ');
  process.stdout.write(
    `${r.shape.padEnd(6)} ${r.mode} c=${String(r.concurrency).padStart(3)}  ${String(r.flows_per_second).padStart(7)} flows/s  ` +
      `srv CPU ${r.server_cpu_ms_per_flow ?? '-'} ms/flow (main thread ${r.server_main_thread_cpu_ms_per_flow ?? '-'})  store ${r.store_requests_per_flow ?? '-'} req/flow  ` +
      `hottest partition ${r.store_hottest_partition ? `${r.store_hottest_partition.writes_per_flow} writes/flow (${r.store_hottest_partition.partition})` : '-'}  ` +
      `(by table ${
        Object.entries(r.store_hottest_partition_by_table)
          .map(([, h]) => `${h.writes_per_flow} ${h.partition}`)
          .join(', ') || '-'
      })  ` +
      `hottest item ${r.store_hottest_item ? `${r.store_hottest_item.writes_per_flow} writes/flow (${r.store_hottest_item.item})` : '-'}  ` +
      `RSS ${r.rss_mb ?? '-'} MB  ok ${r.ok}/${r.n}\n         p50/p99 ms: ${endpoints}\n` +
      (r.round_trips
        ? `         round trips: ${JSON.stringify(r.round_trips)}  WRU ${r.write_units_per_flow} ${JSON.stringify(r.write_units_breakdown)}  RRU ${r.read_units_per_flow}  AWS calls ${JSON.stringify(r.aws_calls_per_flow)}  $${r.cost_per_million_flows_usd}/M flows ${JSON.stringify(r.cost_breakdown_usd)}${r.cost_per_million_flows_provisioned_capacity_usd ? ` ($${r.cost_per_million_flows_provisioned_capacity_usd.total} on provisioned capacity at ${r.cost_per_million_flows_provisioned_capacity_usd.utilization * 100} % use)` : ''}${r.pending_index_all_projected ? `  (AWS default pending index, ALL: WRU ${r.pending_index_all_projected.write_units_per_flow}, $${r.pending_index_all_projected.cost_per_million_flows_usd}/M)` : ''}\n`
        : '') +
      (r.failed ? `         errors: ${JSON.stringify(r.errors)}\n` : ''),
  );
};

const target = await startServer();
const receiver = mode === 'poll' ? undefined : await startNotificationReceiver();
let exitCode = 0;
try {
  const fx = await provisionTenant(
    target,
    userCount,
    (i) => progress(`provisioning ${i}/${userCount} users`),
    receiver && mode !== 'poll' ? { mode, receiver } : undefined,
  );
  clearProgress();
  if (args.serve) {
    process.stdout.write(
      `${JSON.stringify({ issuer: fx.issuer, ...fx.client, approve_url: `${target.hookUrl}?tenant=${fx.tenant}`, pid: target.pid })}\n`,
    );
    await new Promise((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    throw new Error('stopped');
  }
  process.stdout.write(
    `# ciba-service bench: ${target.url} tenant ${fx.tenant}, ${userCount} users, ${flowsPerLevel} flows per level ` +
      `(+${warmup} warmup), node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}\n`,
  );
  const runs: Run[] = [];
  for (const shape of shapes) {
    for (const c of levels) {
      if (warmup > 0) await runLevel(fx, target, shape, c, warmup, 'warmup');
      const run = await runLevel(fx, target, shape, c, flowsPerLevel, 'measure');
      clearProgress();
      printRun(run);
      runs.push(run);
      if (run.failed) exitCode = 1;
    }
  }
  const out = args.out ?? join('bench-results', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(out), { recursive: true });
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    cpu: os.cpus()[0]?.model,
    target: args['base-url'] ? 'base-url' : `embedded dynalite (${args['data-dir'] ?? 'memory'})`,
    flows_per_level: flowsPerLevel,
    warmup,
    users: userCount,
    delivery_mode: mode,
    pending_polls: mode === 'poll' ? 1 : 0,
    // EventBridge calls counted: `matched`, those the deployment's own rule may take; `all`, every event.
    events: args.events,
    // Whether the server read each written item before and after (index write units, failed conditions).
    item_images: !(args.throughput || args.serve),
  };
  writeFileSync(out, `${JSON.stringify({ meta, runs }, null, 2)}\n`);
  process.stdout.write(`wrote ${out}\n`);
} catch (error) {
  clearProgress();
  if (args.serve && (error as Error).message === 'stopped') process.exit(0);
  process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
  exitCode = 1;
} finally {
  await receiver?.close();
  if (target.child) {
    const exited = new Promise((resolve) => target.child!.once('exit', resolve));
    target.child.kill('SIGTERM');
    await exited;
  }
}
process.exit(exitCode);
