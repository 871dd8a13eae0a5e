/**
 * Soak run (`npm run soak`; not part of `npm test`): sustained load against `npm start` with its store on disk, in
 * rounds of device-shape flows (test/bench/flows.ts, the benchmark's own flow), printing per round the flows/s, the
 * RSS and open files of `npm start`'s whole process tree, and the data directory's size. Bounded in rounds and time;
 * it stops the server with SIGTERM at the end (the way a supervisor does) and checks nothing is left running.
 * docs/performance.md ("Endurance") explains it and keeps the numbers. Issue 20's checks are printed at the end
 * and decide the exit code: no errors; the last round's RSS at most 1.3x the second's; the data directory at most
 * 20 KB per flow; the last round's flows/s at least 0.8x the best of the first two.
 *
 * Options: --rounds 5 --flows 1500 (per round) --c 16 --users 64 --data-dir DIR (default: a new temporary one,
 *          removed at the end) --max-minutes 30 (stops after the round under way when reached) --out FILE (JSON)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomToken } from '../../lib/crypto.ts';
import { processAlive as alive } from '../../lib/local/store-owner.ts';
import { FlowError, flow, type Latencies, provision } from './flows.ts';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    flows: { type: 'string', default: '1500' },
    c: { type: 'string', default: '16' },
    users: { type: 'string', default: '64' },
    'data-dir': { type: 'string' },
    'max-minutes': { type: 'string', default: '30' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout.write(`npm run soak -- [options]: rounds of device-shape flows against npm start (docs/performance.md)
  --rounds 5          rounds
  --flows 1500        flows per round
  --c 16              flows at once
  --users 64          users, one enrolled device each (at least --c)
  --data-dir DIR      the server's CIBA_DATA_DIR (default: a new temporary folder, removed at the end)
  --max-minutes 30    no new round starts after this
  --out FILE          the rounds as JSON
`);
  process.exit(0);
}
const rounds = Number(args.rounds);
const flowsPerRound = Number(args.flows);
const concurrency = Number(args.c);
const users = Number(args.users);
const maxMs = Number(args['max-minutes']) * 60_000;
for (const [name, value] of Object.entries({ rounds, flows: flowsPerRound, c: concurrency, users, maxMs })) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
}
if (users < concurrency) throw new Error('--users must be at least --c (one flow per user at a time)');

// The process tree of `npm start`, from /proc.

const children = (): Map<number, number[]> => {
  const tree = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      tree.set(ppid, [...(tree.get(ppid) ?? []), Number(entry)]);
    } catch {
      // Gone meanwhile.
    }
  }
  return tree;
};
const treeOf = (root: number): number[] => {
  const tree = children();
  const out: number[] = [];
  const visit = (pid: number) => {
    out.push(pid);
    for (const child of tree.get(pid) ?? []) visit(child);
  };
  visit(root);
  return out;
};
const rssMb = (pids: number[]) =>
  pids.reduce((sum, pid) => {
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return sum + (match ? Number(match[1]) / 1024 : 0);
    } catch {
      return sum;
    }
  }, 0);
const openFiles = (pids: number[]) => {
  let all = 0;
  let tables = 0;
  for (const pid of pids) {
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        all++;
        try {
          if (readlinkSync(`/proc/${pid}/fd/${fd}`).endsWith('.ldb')) tables++;
        } catch {
          // Closed meanwhile.
        }
      }
    } catch {
      // Gone meanwhile.
    }
  }
  return { all, tables };
};
const folderBytes = (dir: string): number =>
  readdirSync(dir, { withFileTypes: true }).reduce((sum, entry) => {
    const path = join(dir, entry.name);
    try {
      return sum + (entry.isDirectory() ? folderBytes(path) : statSync(path).size);
    } catch {
      return sum;
    }
  }, 0);

// The server: `npm start`, as a user or a supervisor runs it.

const dataDir = args['data-dir'] ?? (await mkdtemp(join(tmpdir(), 'ciba-soak-')));
const adminToken = randomToken(24);
const startServer = async (): Promise<{ child: ChildProcess; url: string; serverPid: number }> => {
  const child = spawn('npm', ['start'], {
    env: { ...process.env, CIBA_DATA_DIR: dataDir, PORT: '0', CIBA_ADMIN_TOKEN: adminToken, CIBA_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk) => {
      output += chunk;
      const match = /ciba-service is running at (\S+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`npm start exited with ${code}:\n${output}`)));
  });
  child.stdout!.resume();
  const { pid } = JSON.parse(readFileSync(join(dataDir, 'running.json'), 'utf8')) as { pid: number };
  return { child, url, serverPid: pid };
};

interface Round {
  round: number;
  flows: number;
  errors: Record<string, number>;
  flows_per_second: number;
  p99_ms: Record<string, number>;
  rss_mb: number;
  open_files: number;
  open_table_files: number;
  data_dir_mb: number;
  data_dir_kb_per_flow: number;
}

const server = await startServer();
const t0 = Date.now();
const results: Round[] = [];
let exitCode = 0;
try {
  const fx = await provision({ url: server.url, adminToken }, users);
  process.stdout.write(
    `# soak: npm start (pid ${server.child.pid}, server ${server.serverPid}) at ${server.url}, data ${dataDir}\n` +
      `# ${rounds} rounds of ${flowsPerRound} device-shape flows at ${concurrency} concurrent, ${users} users\n` +
      'round  flows/s   RSS MB  open files (.ldb)  data MB  KB/flow  errors\n',
  );
  let flowNo = 0;
  let total = 0;
  for (let round = 1; round <= rounds; round++) {
    if (Date.now() - t0 > maxMs) {
      process.stdout.write(`# --max-minutes reached: stopping after ${round - 1} rounds\n`);
      break;
    }
    const lat: Latencies = {};
    const errors: Record<string, number> = {};
    let started = 0;
    let ok = 0;
    const roundStart = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (started < flowsPerRound) {
          started++;
          try {
            await flow(fx, 'device', flowNo++, lat);
            ok++;
          } catch (error) {
            const kind = error instanceof FlowError ? error.message : `unexpected ${(error as Error).message}`;
            errors[kind] = (errors[kind] ?? 0) + 1;
          }
        }
      }),
    );
    const seconds = (performance.now() - roundStart) / 1000;
    total += flowsPerRound;
    const pids = treeOf(server.child.pid!);
    const files = openFiles(pids);
    const bytes = folderBytes(dataDir);
    const p99 = Object.fromEntries(
      Object.entries(lat).map(([k, v]) => [
        k,
        Number([...v].sort((a, b) => a - b)[Math.ceil(v.length * 0.99) - 1]!.toFixed(1)),
      ]),
    );
    const r: Round = {
      round,
      flows: ok,
      errors,
      flows_per_second: Number((ok / seconds).toFixed(1)),
      p99_ms: p99,
      rss_mb: Math.round(rssMb(pids)),
      open_files: files.all,
      open_table_files: files.tables,
      data_dir_mb: Number((bytes / 2 ** 20).toFixed(1)),
      data_dir_kb_per_flow: Number((bytes / 1024 / total).toFixed(1)),
    };
    results.push(r);
    process.stdout.write(
      `${String(round).padStart(5)}  ${String(r.flows_per_second).padStart(7)}  ${String(r.rss_mb).padStart(7)}  ` +
        `${String(r.open_files).padStart(10)} (${r.open_table_files})  ${String(r.data_dir_mb).padStart(7)}  ` +
        `${String(r.data_dir_kb_per_flow).padStart(7)}  ${Object.keys(errors).length ? JSON.stringify(errors) : 'none'}\n`,
    );
  }
  // Issue 20's checks.
  const last = results.at(-1)!;
  const checks: [string, boolean][] = [['no errors', results.every((r) => Object.keys(r.errors).length === 0)]];
  if (results.length >= 3) {
    const bestEarly = Math.max(results[0]!.flows_per_second, results[1]!.flows_per_second);
    checks.push(
      [
        `last RSS ${last.rss_mb} MB <= 1.3 x round 2's ${results[1]!.rss_mb} MB`,
        last.rss_mb <= 1.3 * results[1]!.rss_mb,
      ],
      [`data directory ${last.data_dir_kb_per_flow} KB per flow <= 20`, last.data_dir_kb_per_flow <= 20],
      [`last flows/s ${last.flows_per_second} >= 0.8 x ${bestEarly}`, last.flows_per_second >= 0.8 * bestEarly],
    );
  }
  for (const [name, passed] of checks) process.stdout.write(`${passed ? 'PASS' : 'FAIL'}  ${name}\n`);
  if (checks.some(([, passed]) => !passed)) exitCode = 1;
} catch (error) {
  process.stderr.write(`soak failed: ${(error as Error).stack ?? String(error)}\n`);
  exitCode = 1;
} finally {
  // Stopped as a supervisor stops it: SIGTERM to the npm process; nothing may be left running.
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  const stopAt = performance.now();
  server.child.kill('SIGTERM');
  await exited;
  const left = alive(server.serverPid);
  process.stdout.write(
    `${left ? 'FAIL' : 'PASS'}  SIGTERM to npm start: stopped in ${Math.round(performance.now() - stopAt)} ms, ${left ? `server ${server.serverPid} still running` : 'no server left'}\n`,
  );
  if (left) {
    process.kill(server.serverPid, 'SIGKILL');
    exitCode = 1;
  }
  if (args.out) {
    mkdirSync(dirname(args.out), { recursive: true });
    writeFileSync(args.out, `${JSON.stringify({ date: new Date().toISOString(), rounds: results }, null, 2)}\n`);
  }
  if (!args['data-dir']) rmSync(dataDir, { recursive: true, force: true });
}
process.exit(exitCode);
