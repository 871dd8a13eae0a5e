/**
 * The CLI finds the local server through the state file `npm start` writes (`.data/local.json`: url, pid,
 * instance), with `--base-url` / `CIBA_BASE_URL` over it; it says where an unreachable address came from; and it
 * never sends one server's admin token or demo client to another server.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deviceIssuer } from '../../../lib/cli/commands/device.ts';
import { explainUnreachable } from '../../../lib/cli/commands/shared.ts';
import type { CliError } from '../../../lib/cli/context.ts';
import { globalsOf } from '../../../lib/cli/globals.ts';
import { NetworkError } from '../../../lib/cli/http.ts';
import { buildProgram, runCli } from '../../../lib/cli/main.ts';
import { DeviceKey } from '../../../lib/device/key.ts';
import { defaultKeyFilePath, saveDeviceKeyFile } from '../../../lib/device/node-key-file.ts';
import type { LocalState } from '../../../lib/local/state-file.ts';
import { testContext } from './context.ts';
import { type FakeHandler, startFakeServer } from './fake-server.ts';

/** A pid that ran and has exited (no process has it now, barring reuse within the test). */
const deadPid = (): number => spawnSync(process.execPath, ['-e', '0']).pid ?? 999_999_999;

/** A free loopback port with nothing listening on it. */
const closedPort = async (): Promise<string> => {
  const s = await startFakeServer(() => ({ status: 200 }));
  await s.close();
  return s.url;
};

describe('the CLI and the local server it talks to', () => {
  let dir: string;
  const closers: (() => Promise<void>)[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ciba-cli-local-'));
    await mkdir(join(dir, '.data'));
  });
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
    await rm(dir, { recursive: true, force: true });
  });

  const writeState = (state: LocalState) => writeFile(join(dir, '.data', 'local.json'), JSON.stringify(state));
  const server = async (instance: string | undefined, handler: FakeHandler = () => ({ status: 200, body: {} })) => {
    const s = await startFakeServer((req) =>
      req.url === '/health' ? { status: 200, body: { status: 'ok', ...(instance ? { instance } : {}) } } : handler(req),
    );
    closers.push(s.close);
    return s;
  };
  const run = async (args: string[], env: Record<string, string> = {}) => {
    const t = testContext({ cwd: dir, env });
    const code = await runCli(args, t.ctx);
    return { code, stdout: t.stdout(), stderr: t.stderr() };
  };

  it('finds the server on another port from .data/local.json, and uses its admin token there', async () => {
    const s = await server('run-1');
    await writeState({ url: s.url, pid: process.pid, instanceId: 'run-1', adminToken: 'token-of-run-1' });
    const r = await run(['tenant', 'get']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const admin = s.requests.find((q) => q.url.startsWith('/admin/'));
    expect(admin?.url).toBe('/admin/tenants/demo');
    expect(admin?.headers['authorization']).toBe('Bearer token-of-run-1');
  });

  it('uses the file once the server at another spelling of the URL answers the same instance', async () => {
    const s = await server('run-1');
    await writeState({ url: s.url.replace('127.0.0.1', 'localhost'), instanceId: 'run-1', adminToken: 'tok' });
    const r = await run(['tenant', 'get'], { CIBA_BASE_URL: s.url });
    expect(r.code).toBe(0);
    expect(s.requests.find((q) => q.url.startsWith('/admin/'))?.headers['authorization']).toBe('Bearer tok');
  });

  it('takes CIBA_BASE_URL and --base-url over the file', async () => {
    const fromFile = await server('run-1');
    const fromEnv = await server(undefined);
    await writeState({ url: fromFile.url, instanceId: 'run-1' });
    const r = await run(['tenant', 'get'], { CIBA_BASE_URL: fromEnv.url, CIBA_ADMIN_TOKEN: 'env-token' });
    expect(r.code).toBe(0);
    expect(fromEnv.requests.map((q) => q.url)).toEqual(['/admin/tenants/demo']);
    const fromOption = await server(undefined);
    await run(['--base-url', fromOption.url, 'tenant', 'get'], { CIBA_BASE_URL: fromEnv.url, CIBA_ADMIN_TOKEN: 'x' });
    expect(fromOption.requests.map((q) => q.url)).toEqual(['/admin/tenants/demo']);
    expect(fromFile.requests).toEqual([]);
  });

  it('does not send the admin token of one server to another one at the same address, and says so', async () => {
    const other = await server('run-2');
    const pid = deadPid();
    await writeState({ url: other.url, pid, instanceId: 'run-1', startedAt: 1_790_000_000, adminToken: 'token-1' });
    const r = await run(['tenant', 'get']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `error: other_server — the server at ${other.url} is not the one that wrote .data/local.json (the server at ${other.url} (pid ${pid}, no longer running; started 2026-09-21 14:13:20 UTC)), so that file's admin token is not for it: pass --admin-token or set CIBA_ADMIN_TOKEN`,
    );
    expect(other.requests.map((q) => q.url)).toEqual(['/health']);
    expect(JSON.stringify(other.requests)).not.toContain('token-1');
  });

  it('does not send the demo client of one server to another (CIBA_BASE_URL elsewhere), and says so', async () => {
    const mine = await server('run-1');
    const other = await server('run-2', (req) =>
      req.url.endsWith('/openid-configuration')
        ? {
            status: 200,
            body: {
              issuer: `${other.url}/demo`,
              token_endpoint: `${other.url}/demo/oauth/token`,
              backchannel_authentication_endpoint: `${other.url}/demo/bc-authorize`,
              jwks_uri: `${other.url}/demo/.well-known/jwks.json`,
            },
          }
        : { status: 500 },
    );
    await writeState({
      url: mine.url,
      pid: process.pid,
      instanceId: 'run-1',
      demoClient: { client_id: 'demo-client', client_secret: 'secret-of-run-1' },
    });
    const r = await run(['authorize', '--login-hint', 'alice'], { CIBA_BASE_URL: other.url });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `error: other_server — the server at ${other.url} is not the one that wrote .data/local.json (the server at ${mine.url} (pid ${process.pid}))`,
    );
    expect(r.stderr).toContain("so that file's demo client is not for it: pass --client-id");
    expect(other.requests.map((q) => q.url)).toEqual(['/demo/.well-known/openid-configuration', '/health']);
    expect(JSON.stringify(other.requests)).not.toContain('secret-of-run-1');
  });

  it('says where an unreachable address came from: the state file and its stopped server', async () => {
    const url = await closedPort();
    const pid = deadPid();
    await writeState({ url, pid, instanceId: 'run-1', adminToken: 'tok' });
    const r = await run(['user', 'enroll-link', 'alice']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^error: network_error — cannot reach ${url} \\(ECONNREFUSED; from \\.data/local\\.json, written by the server at ${url} \\(pid ${pid}, no longer running\\)\\): start the server with npm start, or set CIBA_BASE_URL to where it runs\\n$`,
      ),
    );
  });

  it('says where an unreachable address came from: the default, and CIBA_BASE_URL', async () => {
    // The default address (8787) may be in use on this machine, so the globals are resolved here without a request.
    const program = buildProgram(testContext().ctx);
    const t = testContext({ cwd: dir, env: { CIBA_DATA_DIR: 'elsewhere' } });
    const g = await globalsOf(program, t.ctx);
    expect(g.baseUrl).toBe('http://127.0.0.1:8787');
    const explained = explainUnreachable(new NetworkError('http://127.0.0.1:8787', 'ECONNREFUSED'), g) as CliError;
    expect(explained.description).toBe(
      'cannot reach http://127.0.0.1:8787 (ECONNREFUSED; from the default: no elsewhere/local.json here, where npm start writes its address): start the server with npm start, or set CIBA_BASE_URL to where it runs',
    );
    const url = await closedPort();
    const e = await run(['tenant', 'get'], { CIBA_ADMIN_TOKEN: 'x', CIBA_BASE_URL: url });
    expect(e.stderr).toBe(
      `error: network_error — cannot reach ${url} (ECONNREFUSED; from CIBA_BASE_URL): is the service running there?\n`,
    );
  });

  it('reaches a device of the local server where the server listens now, after a start on another PORT', async () => {
    // Enrolled while the server listened on a port it no longer does; the same data directory, started again elsewhere.
    const before = await closedPort();
    await saveDeviceKeyFile(defaultKeyFilePath('demo', dir), {
      issuer: `${before}/demo`,
      key: await DeviceKey.generate({ extractable: true }),
    });
    const s = await server('run-2', (req) =>
      req.url === '/demo/device/transactions' ? { status: 200, body: { transactions: [] } } : { status: 404 },
    );
    await writeState({ url: s.url, pid: process.pid, instanceId: 'run-2', adminToken: 'tok' });
    const t = testContext({ cwd: dir, home: dir });
    expect(await runCli(['device', 'pending'], t.ctx)).toBe(0);
    expect(t.stderr()).toBe('');
    const listed = s.requests.find((q) => q.url === '/demo/device/transactions');
    expect(JSON.parse(Buffer.from(String(listed!.headers['dpop']).split('.')[1]!, 'base64url').toString()).htu).toBe(
      `${s.url}/demo/device/transactions`,
    );
  });

  it('moves only a loopback device of the same tenant, and only to the address the state file gives', () => {
    const local = { path: '.data/local.json', shown: '.data/local.json', state: { url: 'http://127.0.0.1:19812' } };
    const g = { baseUrl: 'http://127.0.0.1:19812', issuer: 'http://127.0.0.1:19812/demo', local };
    expect(deviceIssuer('http://127.0.0.1:8787/demo', g)).toBe('http://127.0.0.1:19812/demo');
    expect(deviceIssuer('http://localhost:8787/demo', g)).toBe('http://127.0.0.1:19812/demo');
    expect(deviceIssuer('https://ciba.example.com/demo', g)).toBe('https://ciba.example.com/demo');
    expect(deviceIssuer('http://127.0.0.1:8787/acme', g)).toBe('http://127.0.0.1:8787/acme');
    // --base-url or CIBA_BASE_URL chose another server: the key file's issuer stands.
    expect(deviceIssuer('http://127.0.0.1:8787/demo', { ...g, baseUrl: 'http://127.0.0.1:9999' })).toBe(
      'http://127.0.0.1:8787/demo',
    );
    expect(deviceIssuer('http://127.0.0.1:8787/demo', { baseUrl: g.baseUrl, issuer: g.issuer })).toBe(
      'http://127.0.0.1:8787/demo',
    );
  });
});
