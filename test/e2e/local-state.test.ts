/**
 * `npm start` records where it listens in its data directory (`local.json`, mode 0600: url, pid, instance, next to
 * the admin token and the demo client), `GET /health` names the same instance, and the CLI finds the server through
 * the file on any port, without CIBA_BASE_URL.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../lib/cli/main.ts';
import type { LocalState } from '../../lib/local/state-file.ts';
import { testContext } from '../unit/cli/context.ts';

describe('the local state file', { timeout: 90_000 }, () => {
  let dir: string;
  let child: ChildProcess;
  let url: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ciba-state-'));
    child = spawn(process.execPath, ['--import', 'tsx', 'lib/local/main.ts'], {
      env: { ...process.env, PORT: '0', CIBA_DATA_DIR: join(dir, '.data'), CIBA_ADMIN_TOKEN: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    url = await new Promise<string>((resolve, reject) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const m = /ciba-service is running at (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`npm start exited (${code}): ${out}`)));
    });
  });

  afterAll(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('holds the URL, the pid and the instance, readable by the owner only', async () => {
    const path = join(dir, '.data', 'local.json');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const state = JSON.parse(await readFile(path, 'utf8')) as LocalState;
    expect(state.url).toBe(url);
    expect(url).not.toBe('http://127.0.0.1:8787');
    expect(state.pid).toBe(child.pid);
    expect(state.instanceId).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(Math.abs((state.startedAt ?? 0) - Date.now() / 1000)).toBeLessThan(120);
    expect(state.adminToken).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(state.demoClient?.client_id).toBe('demo-client');
    const health = await (await fetch(`${url}/health`)).json();
    expect(health).toEqual({ status: 'ok', instance: state.instanceId });
  });

  it('lets the CLI find the server on its port with no CIBA_BASE_URL', async () => {
    const t = testContext({ cwd: dir, env: {} });
    const code = await runCli(['--json', 'user', 'enroll-link', 'alice'], t.ctx);
    expect(t.stderr()).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(t.stdout()).enrollment_uri).toMatch(new RegExp(`^${url}/demo/authenticator#ticket=`));
  });
});
