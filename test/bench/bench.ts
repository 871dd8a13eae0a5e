/**
 * Benchmark (`npm run bench`; not part of `npm test`): complete CIBA poll flows at fixed concurrency levels for a
 * fixed number of flows each, against the local service started in its own process (test/bench/serve.ts: embedded
 * dynalite, store in memory unless `--data-dir`), or `--base-url` with `--admin-token` for a running one.
 * docs/performance.md explains the method and keeps the numbers.
 *
 * Flow shapes (`--shape device|peer|both`, default both):
 * - device: bc-authorize → the device's pending list (DPoP) → one token poll answered authorization_pending →
 *   the signed approval (DPoP) → the redeeming token poll; the ID token is verified with jose (signature, iss, aud).
 * - peer: node-oidc-provider's bench shape (../shared/bench/oidc-provider-peer): bc-authorize → one pending poll →
 *   approval through the store (serve.ts's hook: one conditional write, no device API) → the redeeming poll.
 *
 * Reported per shape and level: flows/s, p50/p99 ms per endpoint, errors by kind, server CPU ms per flow and RSS
 * (from /proc of the server process), DynamoDB requests per flow (the store's client is counted inside the server
 * process and read over IPC). Timings are measured, never asserted.
 *
 * Options: --c 1,8,32 --n 2000 (flows per level) --warmup 200 --users 1000 --shape both --out FILE
 *          --quick (n 200, warmup 20, users 64: a short run for CI and scripts) --data-dir DIR (persisted LevelDB)
 *          --profile DIR (the server writes a V8 CPU profile there; summarized by test/bench/cpu-profile.ts)
 *          --base-url URL --admin-token T (a running service: no CPU, RSS or store counts)
 *          --serve (start and provision, print `{issuer, client_id, client_secret, approve_url, pid}` as one JSON
 *          line, and keep serving until SIGTERM: another load generator, such as the peer's bench.mjs, drives it;
 *          test/bench/compare-peer.sh does so)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { basicAuth, CIBA_GRANT, TestDevice } from '../helpers/service.ts';

const { values: args } = parseArgs({
  options: {
    'base-url': { type: 'string' },
    'admin-token': { type: 'string' },
    c: { type: 'string', default: '1,8,32' },
    n: { type: 'string' },
    warmup: { type: 'string' },
    users: { type: 'string' },
    shape: { type: 'string', default: 'both' },
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    'data-dir': { type: 'string' },
    profile: { type: 'string' },
    serve: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout.write(`npm run bench -- [options]: full CIBA poll flows at fixed concurrency (docs/performance.md)
  --c 1,8,32          concurrency levels
  --n 2000            flows per level (after --warmup 200)
  --users 1000        users, one enrolled device each (at least the highest level)
  --shape both        device (with the device's work), peer (node-oidc-provider's bench shape) or both
  --quick             short run: --n 200 --warmup 20 --users 64
  --out FILE          where the JSON goes (default bench-results/bench-<date>.json)
  --data-dir DIR      persist the embedded store (LevelDB) instead of memory
  --profile DIR       the server writes a V8 CPU profile there (tsx test/bench/cpu-profile.ts DIR)
  --base-url URL --admin-token T   a running service instead (device shape; no CPU, RSS or store counts)
  --serve             start and provision only, print the client as JSON, serve until SIGTERM
`);
  process.exit(0);
}
const quick = args.quick;
const levels = args.c.split(',').map(Number);
const flowsPerLevel = Number(args.n ?? (quick ? 200 : 2000));
const warmup = Number(args.warmup ?? (quick ? 20 : 200));
const userCount = Number(args.users ?? (quick ? 64 : 1000));
const shapes = (args.shape === 'both' ? ['device', 'peer'] : [args.shape]) as Shape[];
type Shape = 'device' | 'peer';
if (levels.some((c) => !Number.isInteger(c) || c < 1 || c > 256)) throw new Error('--c: levels of 1-256');
if (!(flowsPerLevel > 0) || !(warmup >= 0) || !(userCount >= Math.max(...levels))) {
  throw new Error('--n must be positive and --users at least the highest concurrency (one flow per user at a time)');
}
if (shapes.some((s) => s !== 'device' && s !== 'peer')) throw new Error('--shape: device, peer or both');

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
    env: { ...process.env, ...(args['data-dir'] ? { CIBA_DATA_DIR: args['data-dir'] } : {}) },
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
  capacity: { read: number; write: number };
}
const storeRequests = (child: ChildProcess | undefined): Promise<StoreCounts | undefined> =>
  new Promise((resolve) => {
    if (!child?.connected) return resolve(undefined);
    const onMessage = (message: { type?: string } & StoreCounts) => {
      if (message?.type !== 'count') return;
      child.off('message', onMessage);
      resolve({ count: message.count, capacity: { ...message.capacity } });
    };
    child.on('message', onMessage);
    child.send({ type: 'count' });
  });

// HTTP

interface Answer {
  status: number;
  body: Record<string, unknown> | undefined;
}

const call = async (url: string, init: RequestInit): Promise<Answer> => {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: Record<string, unknown> | undefined;
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
  } catch {
    body = { raw: text.slice(0, 80) };
  }
  return { status: res.status, body };
};

class FlowError extends Error {}

// Provisioning: a tenant of its own with limits that never bite, one client, users with one device each.

const provision = async (target: Target) => {
  const tenant = `bench-${Date.now().toString(36)}`;
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await call(`${target.url}${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${target.adminToken}`,
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as Record<string, string>;
  };
  await admin('PUT', `/admin/tenants/${tenant}`, {
    display_name: 'Bench',
    backchannel_polling_interval: 1,
    user_rate_limit_per_minute: 10_000,
    client_rate_limit_per_minute: 1_000_000,
    tenant_rate_limit_per_minute: 1_000_000,
    max_pending_requests: 10_000_000,
  });
  const client = await admin('POST', `/admin/tenants/${tenant}/clients`, {
    client_name: 'Bench',
    grant_types: [CIBA_GRANT],
    backchannel_token_delivery_mode: 'poll',
    token_endpoint_auth_method: 'client_secret_basic',
  });
  const issuer = `${target.url}/${tenant}`;
  const devices: TestDevice[] = new Array(userCount);
  let next = 0;
  // A few at a time: provisioning is not what is measured.
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = next++; i < userCount; i = next++) {
        await admin('PUT', `/admin/tenants/${tenant}/users/user-${i}`, { name: `User ${i}` });
        const ticket = await admin('POST', `/admin/tenants/${tenant}/users/user-${i}/enrollment-tickets`);
        const device = await TestDevice.create(issuer);
        const enrolled = await device.enroll(ticket.ticket!);
        if (enrolled.status !== 201) throw new Error(`enroll: ${enrolled.status} ${JSON.stringify(enrolled.body)}`);
        devices[i] = device;
        progress(`provisioning ${i + 1}/${userCount} users`);
      }
    }),
  );
  const jwks = createLocalJWKSet(
    (await call(`${issuer}/.well-known/jwks.json`, {})).body as unknown as Parameters<typeof createLocalJWKSet>[0],
  );
  return {
    tenant,
    issuer,
    jwks,
    client: { client_id: client.client_id!, client_secret: client.client_secret! },
    devices,
  };
};
type Fixture = Awaited<ReturnType<typeof provision>>;

// One flow

type Latencies = Record<string, number[]>;

const timed = async (lat: Latencies, endpoint: string, run: () => Promise<Answer>, expect: (a: Answer) => boolean) => {
  const started = performance.now();
  let answer: Answer;
  try {
    answer = await run();
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    throw new FlowError(`${endpoint} network ${cause}`);
  }
  const samples = lat[endpoint] ?? [];
  samples.push(performance.now() - started);
  lat[endpoint] = samples;
  if (!expect(answer)) {
    throw new FlowError(`${endpoint} ${answer.status}${answer.body?.error ? ` ${String(answer.body.error)}` : ''}`);
  }
  return answer;
};

const flow = async (fx: Fixture, target: Target, shape: Shape, flowNo: number, lat: Latencies) => {
  const user = flowNo % userCount;
  const sub = `user-${user}`;
  const authorization = basicAuth(fx.client.client_id, fx.client.client_secret);
  const form = (path: string, params: Record<string, string>) =>
    call(`${fx.issuer}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: authorization },
      body: new URLSearchParams(params).toString(),
    });
  const message = `Bench ${flowNo}`;
  const ack = await timed(
    lat,
    'bc-authorize',
    () => form('/bc-authorize', { scope: 'openid', login_hint: sub, binding_message: message }),
    (a) => a.status === 200 && typeof a.body?.auth_req_id === 'string',
  );
  const authReqId = ack.body!.auth_req_id as string;
  const poll = () => form('/oauth/token', { grant_type: CIBA_GRANT, auth_req_id: authReqId });

  if (shape === 'device') {
    const device = fx.devices[user]!;
    const list = await timed(
      lat,
      'device list',
      () => device.pending() as Promise<Answer>,
      (a) => a.status === 200,
    );
    const txn = (list.body?.transactions as { txn: string; binding_message?: string }[] | undefined)?.find(
      (t) => t.binding_message === message,
    )?.txn;
    if (!txn) throw new FlowError('device list: the request is not listed');
    await timed(lat, 'token pending', poll, (a) => a.status === 400 && a.body?.error === 'authorization_pending');
    await timed(
      lat,
      'device approve',
      () => device.decide(txn, 'approve') as Promise<Answer>,
      (a) => a.status === 200 && a.body?.status === 'approved',
    );
  } else {
    await timed(lat, 'token pending', poll, (a) => a.status === 400 && a.body?.error === 'authorization_pending');
    await timed(
      lat,
      'approve hook',
      () =>
        call(`${target.hookUrl}?tenant=${fx.tenant}`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ auth_req_id: authReqId, login_hint: sub }).toString(),
        }),
      (a) => a.status === 204,
    );
  }
  const tokens = await timed(
    lat,
    'token redeem',
    poll,
    (a) => a.status === 200 && typeof a.body?.id_token === 'string',
  );
  try {
    const { payload } = await jwtVerify(tokens.body!.id_token as string, fx.jwks, {
      issuer: fx.issuer,
      audience: fx.client.client_id,
    });
    if (payload.sub !== sub) throw new Error('sub');
  } catch {
    throw new FlowError('id_token does not verify');
  }
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
          await flow(fx, target, shape, flowSeq++, lat);
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
  return {
    shape,
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
    `${r.shape.padEnd(6)} c=${String(r.concurrency).padStart(3)}  ${String(r.flows_per_second).padStart(7)} flows/s  ` +
      `srv CPU ${r.server_cpu_ms_per_flow ?? '-'} ms/flow (main thread ${r.server_main_thread_cpu_ms_per_flow ?? '-'})  store ${r.store_requests_per_flow ?? '-'} req/flow  ` +
      `RSS ${r.rss_mb ?? '-'} MB  ok ${r.ok}/${r.n}\n         p50/p99 ms: ${endpoints}\n` +
      (r.failed ? `         errors: ${JSON.stringify(r.errors)}\n` : ''),
  );
};

const target = await startServer();
let exitCode = 0;
try {
  const fx = await provision(target);
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
    pending_polls: 1,
  };
  writeFileSync(out, `${JSON.stringify({ meta, runs }, null, 2)}\n`);
  process.stdout.write(`wrote ${out}\n`);
} catch (error) {
  clearProgress();
  if (args.serve && (error as Error).message === 'stopped') process.exit(0);
  process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
  exitCode = 1;
} finally {
  if (target.child) {
    const exited = new Promise((resolve) => target.child!.once('exit', resolve));
    target.child.kill('SIGTERM');
    await exited;
  }
}
process.exit(exitCode);
