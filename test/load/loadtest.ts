/**
 * Load test (`npm run loadtest`; not part of `npm test`): full poll flows (bc-authorize, the device's pending list,
 * a signed approval, token polls) for a fixed time at rising concurrency, against the local service started in its
 * own process (or `--base-url` with `--admin-token`). Reports success rate, error kinds, p50/p99 per endpoint and
 * the server's memory; writes the results to bench-results/loadtest-<date>.json and prints a table. Timings are
 * measured, never asserted.
 *
 * The spawned server sheds load beyond `--max-in-flight` requests (503 temporarily_unavailable with Retry-After):
 * a flow refused at bc-authorize counts as shed; a flow whose bc-authorize was accepted must complete (its later
 * steps retry 503s), and any that does not is reported as failed after acceptance.
 *
 * Options: --base-url URL --admin-token T --levels 1,8,32,64 --duration 10 (seconds per level)
 *          --max-in-flight 48 --out FILE. Traffic goes to 127.0.0.1 only unless --base-url says otherwise.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { basicAuth, CIBA_GRANT, TestDevice } from '../helpers/service.ts';

const { values: args } = parseArgs({
  options: {
    'base-url': { type: 'string' },
    'admin-token': { type: 'string' },
    levels: { type: 'string', default: '1,8,32,64' },
    duration: { type: 'string', default: '10' },
    'max-in-flight': { type: 'string', default: '48' },
    out: { type: 'string' },
  },
});
const levels = args.levels.split(',').map(Number);
const durationMs = Number(args.duration) * 1000;
if (levels.some((n) => !Number.isInteger(n) || n < 1 || n > 256) || !(durationMs > 0 && durationMs <= 300_000)) {
  throw new Error('levels must be 1-256 and duration 1-300 seconds');
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// The server

interface Target {
  url: string;
  adminToken: string;
  pid?: number;
  child?: ChildProcess;
}

const startServer = async (): Promise<Target> => {
  if (args['base-url']) {
    const adminToken = args['admin-token'] ?? process.env.CIBA_ADMIN_TOKEN;
    if (!adminToken) throw new Error('--base-url needs --admin-token or CIBA_ADMIN_TOKEN');
    return { url: args['base-url'].replace(/\/+$/, ''), adminToken };
  }
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'serve.ts')], {
    env: { ...process.env, CIBA_MAX_IN_FLIGHT: args['max-in-flight'] },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the server exited with ${code}`)));
  });
  const ready = JSON.parse(line) as { url: string; adminToken: string; pid: number };
  return { ...ready, child };
};

/** Resident memory of the server process in MB (Linux /proc), when it runs here. */
const serverRssMb = (pid: number | undefined): number | undefined => {
  if (!pid) return undefined;
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Math.round(Number(match[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
};

// Measurements

type Endpoint = 'bc-authorize' | 'device list' | 'device decide' | 'token';
interface LevelStats {
  latencies: Record<Endpoint, number[]>;
  outcomes: Record<string, number>;
  flowsStarted: number;
  flowsCompleted: number;
  flowsShed: number;
  flowsFailedAfterAcceptance: number;
  maxRssMb?: number;
}
const newStats = (): LevelStats => ({
  latencies: { 'bc-authorize': [], 'device list': [], 'device decide': [], token: [] },
  outcomes: {},
  flowsStarted: 0,
  flowsCompleted: 0,
  flowsShed: 0,
  flowsFailedAfterAcceptance: 0,
});

const timed = async (
  stats: LevelStats,
  endpoint: Endpoint,
  run: () => Promise<{ status: number; body: unknown; headers: Headers }>,
) => {
  const started = performance.now();
  try {
    const res = await run();
    stats.latencies[endpoint].push(performance.now() - started);
    const error = (res.body as { error?: string } | undefined)?.error;
    const kind = `${endpoint} ${res.status}${error ? ` ${error}` : ''}`;
    stats.outcomes[kind] = (stats.outcomes[kind] ?? 0) + 1;
    return res;
  } catch (error) {
    const kind = `${endpoint} network ${(error as Error).cause ? String((error as { cause: { code?: string } }).cause.code) : (error as Error).name}`;
    stats.outcomes[kind] = (stats.outcomes[kind] ?? 0) + 1;
    return { status: 0, body: undefined, headers: new Headers() };
  }
};

const shedding = (status: number) => status === 503 || status === 429;
const retryAfterMs = (headers: Headers) => Math.min(1_000, Number(headers.get('retry-after') ?? '1') * 1000);

const json = async (res: Response) => {
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, body, headers: res.headers };
};

// Provisioning

const provision = async (target: Target, users: number) => {
  const tenant = `load-${Date.now().toString(36)}`;
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await json(
      await fetch(`${target.url}${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${target.adminToken}`,
          ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      }),
    );
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as Record<string, string>;
  };
  await admin('PUT', `/admin/tenants/${tenant}`, {
    backchannel_polling_interval: 1,
    user_rate_limit_per_minute: 10_000,
    client_rate_limit_per_minute: 1_000_000,
    tenant_rate_limit_per_minute: 1_000_000,
    max_pending_requests: 1_000_000,
  });
  const client = await admin('POST', `/admin/tenants/${tenant}/clients`, {
    client_name: 'Load',
    grant_types: [CIBA_GRANT],
    backchannel_token_delivery_mode: 'poll',
  });
  const issuer = `${target.url}/${tenant}`;
  const devices: TestDevice[] = [];
  for (let i = 0; i < users; i++) {
    await admin('PUT', `/admin/tenants/${tenant}/users/u${i}`, { name: `User ${i}` });
    const ticket = await admin('POST', `/admin/tenants/${tenant}/users/u${i}/enrollment-tickets`);
    const device = await TestDevice.create(issuer);
    const enrolled = await device.enroll(ticket.ticket!);
    if (enrolled.status !== 201) throw new Error(`enroll: ${enrolled.status}`);
    devices.push(device);
  }
  return { issuer, client: { client_id: client.client_id!, client_secret: client.client_secret! }, devices };
};

// One flow

const flow = async (
  stats: LevelStats,
  ctx: Awaited<ReturnType<typeof provision>>,
  user: number,
  flowNo: number,
): Promise<void> => {
  const { issuer, client } = ctx;
  const device = ctx.devices[user]!;
  const form = (path: string, params: Record<string, string>) =>
    fetch(`${issuer}${path}`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        Authorization: basicAuth(client.client_id, client.client_secret),
      },
      body: new URLSearchParams(params).toString(),
    }).then(json);
  stats.flowsStarted++;
  const message = `L${flowNo}`;
  let ack = await timed(stats, 'bc-authorize', () =>
    form('/bc-authorize', { scope: 'openid', login_hint: `u${user}`, binding_message: message }),
  );
  for (let i = 0; i < 3 && shedding(ack.status); i++) {
    await sleep(retryAfterMs(ack.headers));
    ack = await timed(stats, 'bc-authorize', () =>
      form('/bc-authorize', { scope: 'openid', login_hint: `u${user}`, binding_message: message }),
    );
  }
  if (ack.status !== 200) {
    stats.flowsShed++;
    return;
  }
  // Accepted: from here on every step retries a shed answer, and the flow must complete.
  const authReqId = (ack.body as { auth_req_id: string }).auth_req_id;
  const retry = async (
    endpoint: Endpoint,
    run: () => Promise<Awaited<ReturnType<typeof json>>>,
    ok: (r: Awaited<ReturnType<typeof json>>) => boolean,
  ) => {
    for (let i = 0; i < 20; i++) {
      const res = await timed(stats, endpoint, run);
      if (ok(res)) return res;
      await sleep(shedding(res.status) ? retryAfterMs(res.headers) : 50);
    }
    return undefined;
  };
  const list = await retry(
    'device list',
    () => device.call('GET', '/device/transactions'),
    (r) =>
      r.status === 200 &&
      ((r.body as { transactions: { binding_message?: string }[] }).transactions ?? []).some(
        (t) => t.binding_message === message,
      ),
  );
  const txn = (
    list?.body as { transactions: { txn: string; binding_message?: string }[] } | undefined
  )?.transactions.find((t) => t.binding_message === message)?.txn;
  const decided = txn
    ? await retry(
        'device decide',
        () => device.decide(txn, 'approve'),
        (r) => r.status === 200,
      )
    : undefined;
  const tokens = decided
    ? await retry(
        'token',
        () => form('/oauth/token', { grant_type: CIBA_GRANT, auth_req_id: authReqId }),
        (r) => r.status === 200,
      )
    : undefined;
  if (tokens) stats.flowsCompleted++;
  else stats.flowsFailedAfterAcceptance++;
};

// Reporting

const percentile = (values: number[], p: number): number | undefined => {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! * 10) / 10;
};

const summarize = (level: number, stats: LevelStats, seconds: number) => ({
  concurrency: level,
  seconds,
  flows: {
    started: stats.flowsStarted,
    completed: stats.flowsCompleted,
    shed: stats.flowsShed,
    failedAfterAcceptance: stats.flowsFailedAfterAcceptance,
    completedPerSecond: Math.round((stats.flowsCompleted / seconds) * 10) / 10,
    successRate:
      stats.flowsStarted === 0 ? 0 : Math.round((stats.flowsCompleted / stats.flowsStarted) * 10_000) / 10_000,
  },
  endpoints: Object.fromEntries(
    Object.entries(stats.latencies).map(([name, values]) => [
      name,
      { requests: values.length, p50Ms: percentile(values, 50), p99Ms: percentile(values, 99) },
    ]),
  ),
  outcomes: stats.outcomes,
  serverMaxRssMb: stats.maxRssMb,
});

const main = async () => {
  const target = await startServer();
  const started = new Date();
  try {
    const ctx = await provision(target, Math.max(...levels));
    const results = [];
    for (const level of levels) {
      const stats = newStats();
      const deadline = Date.now() + durationMs;
      const sampler = setInterval(() => {
        const rss = serverRssMb(target.pid);
        if (rss !== undefined) stats.maxRssMb = Math.max(stats.maxRssMb ?? 0, rss);
      }, 250);
      const t0 = performance.now();
      let flowNo = 0;
      await Promise.all(
        Array.from({ length: level }, async (_, user) => {
          while (Date.now() < deadline) await flow(stats, ctx, user, flowNo++);
        }),
      );
      clearInterval(sampler);
      results.push(summarize(level, stats, (performance.now() - t0) / 1000));
      await sleep(500);
    }
    const report = {
      startedAt: started.toISOString(),
      target: args['base-url'] ? target.url : 'local (spawned)',
      maxInFlight: args['base-url'] ? undefined : Number(args['max-in-flight']),
      durationSecondsPerLevel: durationMs / 1000,
      node: process.version,
      results,
    };
    const out = args.out ?? join('bench-results', `loadtest-${started.toISOString().replace(/[:.]/g, '-')}.json`);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
    printTable(results);
    console.log(`\nresults: ${out}`);
    const lost = results.reduce((n, r) => n + r.flows.failedAfterAcceptance, 0);
    if (lost > 0) console.log(`WARNING: ${lost} flow(s) failed after their request was accepted`);
  } finally {
    target.child?.kill('SIGTERM');
  }
};

const printTable = (results: ReturnType<typeof summarize>[]) => {
  const rows: string[][] = [
    [
      'conc',
      'flows/s',
      'ok',
      'shed',
      'lost',
      'bc p50/p99',
      'list p50/p99',
      'decide p50/p99',
      'token p50/p99',
      'RSS MB',
    ],
  ];
  const pp = (e: { p50Ms?: number | undefined; p99Ms?: number | undefined } | undefined) =>
    e?.p50Ms === undefined ? '-' : `${e.p50Ms}/${e.p99Ms}`;
  for (const r of results) {
    rows.push([
      String(r.concurrency),
      String(r.flows.completedPerSecond),
      `${(r.flows.successRate * 100).toFixed(1)}%`,
      String(r.flows.shed),
      String(r.flows.failedAfterAcceptance),
      pp(r.endpoints['bc-authorize']),
      pp(r.endpoints['device list']),
      pp(r.endpoints['device decide']),
      pp(r.endpoints.token),
      String(r.serverMaxRssMb ?? '-'),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows) console.log(row.map((cell, i) => cell.padStart(widths[i]!)).join('  '));
  console.log('\nerror kinds (non-2xx answers):');
  for (const r of results) {
    const kinds = Object.entries(r.outcomes).filter(([kind]) => !/ 2\d\d$/.test(kind));
    console.log(`  ${r.concurrency}: ${kinds.length ? kinds.map(([k, n]) => `${k} x${n}`).join(', ') : 'none'}`);
  }
};

await main();
