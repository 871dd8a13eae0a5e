/**
 * `npm start` as a process, the way supervisors and people treat it (issue 20, issue 13): SIGTERM to the npm process
 * stops the server (nothing is left holding the store) and the next start works; a second start on the same data
 * directory names the instance that holds it; `kill -9` loses nothing that was acknowledged and redeems nothing twice.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { processAlive as alive } from '../../lib/local/store-owner.ts';
import {
  ADMIN_TOKEN,
  adminApi,
  CIBA_GRANT,
  createTenantFixture,
  enrollDevice,
  nextTxn,
  postForm,
  type TestService,
} from '../helpers/service.ts';

interface Started {
  child: ChildProcess;
  url: string;
  /** The server's own process (from running.json): with `npm start`, npm's child. */
  serverPid: number;
  output: () => string;
  exited: Promise<number | null>;
}

/** Starts `npm start` (or the server without npm) on `dataDir` and waits until it says where it runs. */
const start = async (dataDir: string, how: 'npm' | 'node' = 'npm'): Promise<Started> => {
  const [command, args] =
    how === 'npm' ? ['npm', ['start']] : [process.execPath, ['--import', 'tsx', 'lib/local/main.ts']];
  const child = spawn(command, args as string[], {
    env: { ...process.env, CIBA_DATA_DIR: dataDir, PORT: '0', CIBA_ADMIN_TOKEN: ADMIN_TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr!.on('data', (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const check = () => {
      const match = /ciba-service is running at (\S+)/.exec(output);
      if (match) {
        child.stdout!.off('data', check);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', check);
    exited.then((code) => reject(new Error(`exited with ${code} before it ran:\n${output}`)));
  });
  const { pid } = JSON.parse(await readFile(join(dataDir, 'running.json'), 'utf8')) as { pid: number };
  return { child, url, serverPid: pid, output: () => output, exited };
};

/** What the shared fixtures need from a service: its URL and the admin API. */
const asService = (url: string) => ({ url, admin: adminApi(url) }) as TestService;

describe('npm start as a process', { timeout: 120_000 }, () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });
  const dataDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ciba-process-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  };
  const track = (started: Started) => {
    cleanup.push(async () => {
      for (const pid of [started.serverPid, started.child.pid]) if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
    });
    return started;
  };

  it('stops the server on SIGTERM to the npm process, saying when the drain starts and ends; the next start works', async () => {
    const dir = await dataDir();
    const first = track(await start(dir));
    expect(first.serverPid).not.toBe(first.child.pid);
    expect((await fetch(`${first.url}/health`)).status).toBe(200);

    first.child.kill('SIGTERM');
    await first.exited;
    // npm waits for the server it ran; nothing is left holding the store.
    expect(alive(first.serverPid)).toBe(false);
    expect(first.output()).toMatch(/stopping: waiting for 0 requests/);
    expect(first.output()).toMatch(/ stopped/);

    const second = track(await start(dir, 'node'));
    expect((await fetch(`${second.url}/health`)).status).toBe(200);
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
  });

  it('refuses a second start on the same data directory, naming the instance that holds it', async () => {
    const dir = await dataDir();
    const first = track(await start(dir, 'node'));
    const second = spawn(process.execPath, ['--import', 'tsx', 'lib/local/main.ts'], {
      env: { ...process.env, CIBA_DATA_DIR: dir, PORT: '0', CIBA_ADMIN_TOKEN: ADMIN_TOKEN },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    second.stderr!.on('data', (chunk) => {
      stderr += chunk;
    });
    const code = await new Promise((resolve) => second.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toContain(
      `ciba-service failed to start: the data directory ${dir} is in use by another ciba-service (pid ${first.serverPid}, ${first.url})`,
    );
    // The first one was not disturbed.
    expect((await fetch(`${first.url}/health`)).status).toBe(200);
    first.child.kill('SIGTERM');
    await first.exited;
  });

  it('after kill -9 starts again on the same data: what was acknowledged is there, and redeemed once', async () => {
    const dir = await dataDir();
    const first = track(await start(dir, 'node'));
    const fx = await createTenantFixture(asService(first.url), 'killed');
    const device = await enrollDevice(asService(first.url), fx);
    const approved = await postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice' }, fx.client);
    expect(approved.status).toBe(200);
    expect((await device.decide(await nextTxn(device), 'approve')).status).toBe(200);
    const waiting = await postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice' }, fx.client);
    expect(waiting.status).toBe(200);

    process.kill(first.serverPid, 'SIGKILL');
    await first.exited;

    // No repair by hand: the same command on the same folder.
    const again = track(await start(dir, 'node'));
    const issuer = `${again.url}/killed`;
    const token = (id: string) =>
      postForm(`${issuer}/oauth/token`, { grant_type: CIBA_GRANT, auth_req_id: id }, fx.client);
    const redeemed = await token(approved.body.auth_req_id);
    expect(redeemed.status, JSON.stringify(redeemed.body)).toBe(200);
    expect(redeemed.body.id_token).toBeTruthy();
    expect((await token(approved.body.auth_req_id)).body.error).toBe('invalid_grant');
    expect((await token(waiting.body.auth_req_id)).body.error).toBe('authorization_pending');
    again.child.kill('SIGTERM');
    await again.exited;
  });
});
