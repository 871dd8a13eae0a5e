import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedJWK, jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../../../lib/cli/main.ts';
import { testContext } from './context.ts';
import { type FakeHandler, startFakeServer } from './fake-server.ts';

describe('admin commands', () => {
  let dir: string;
  let close: (() => Promise<void>) | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ciba-cli-'));
    await mkdir(join(dir, '.data'));
    await writeFile(join(dir, '.data', 'local.json'), JSON.stringify({ adminToken: 'local-admin-token' }));
  });
  afterEach(async () => {
    await close?.();
    close = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  const run = async (args: string[], handler: FakeHandler, env: Record<string, string> = {}) => {
    const server = await startFakeServer(handler);
    close = server.close;
    const t = testContext({ cwd: dir, env });
    const code = await runCli(['--base-url', server.url, ...args], t.ctx);
    return { code, requests: server.requests, stdout: t.stdout(), stderr: t.stderr() };
  };

  it('uses the admin token of .data/local.json, and CIBA_ADMIN_TOKEN over it', async () => {
    const a = await run(['tenant', 'get'], () => ({ status: 200, body: { issuer: 'x' } }));
    expect(a.requests[0]?.headers['authorization']).toBe('Bearer local-admin-token');
    expect(a.requests[0]?.url).toBe('/admin/tenants/demo');
    await close?.();
    const b = await run(['tenant', 'get', '--tenant', 'acme'], () => ({ status: 200, body: {} }), {
      CIBA_ADMIN_TOKEN: 'env-token',
    });
    expect(b.requests[0]?.headers['authorization']).toBe('Bearer env-token');
    expect(b.requests[0]?.url).toBe('/admin/tenants/acme');
    expect(b.stdout + b.stderr).not.toContain('env-token');
  });

  it('puts tenant settings', async () => {
    const r = await run(['tenant', 'put', '--display-name', 'ACME', '--set', 'backchannel_polling_interval=2'], () => ({
      status: 201,
      body: { issuer: 'http://x/demo', display_name: 'ACME' },
    }));
    expect(r.code).toBe(0);
    expect(r.requests[0]?.method).toBe('PUT');
    expect(JSON.parse(r.requests[0]!.body)).toEqual({ display_name: 'ACME', backchannel_polling_interval: 2 });
    expect(r.stdout).toContain('display_name:');
  });

  it('rotates the tenant keys and shows them, old key still published', async () => {
    const keys = [
      {
        kid: 'old',
        alg: 'ES256',
        key_mode: 'wrapped',
        status: 'current',
        created_at: 1_800_000_000,
        active_from: 1_800_000_000,
        published_until: 1_800_007_960,
      },
      {
        kid: 'new',
        alg: 'ES256',
        key_mode: 'wrapped',
        status: 'next',
        created_at: 1_800_000_000,
        active_from: 1_800_000_060,
      },
    ];
    const r = await run(['--tenant', 'acme', 'tenant', 'rotate-keys'], () => ({ status: 200, body: { keys } }));
    expect(r.code).toBe(0);
    expect(`${r.requests[0]?.method} ${r.requests[0]?.url}`).toBe('POST /admin/tenants/acme/keys/rotate');
    expect(r.stdout.split('\n')[0]).toMatch(/^kid\s+alg\s+key_mode\s+status\s+active_from\s+published_until$/);
    expect(r.stdout).toMatch(/old\s+ES256\s+wrapped\s+current\s+2027-01-15T08:00:00.000Z\s+2027-01-15T10:12:40.000Z/);
    expect(r.stdout).toMatch(/new\s+ES256\s+wrapped\s+next\s+2027-01-15T08:01:00.000Z\n/);
    await close?.();
    const listed = await run(['--json', '--tenant', 'acme', 'tenant', 'keys'], () => ({ status: 200, body: { keys } }));
    expect(`${listed.requests[0]?.method} ${listed.requests[0]?.url}`).toBe('GET /admin/tenants/acme/keys');
    expect(JSON.parse(listed.stdout)).toEqual({ keys });
  });

  it('deletes a large tenant by repeating DELETE while it answers 202', async () => {
    let calls = 0;
    const r = await run(['--tenant', 'big', 'tenant', 'delete'], () =>
      ++calls < 3 ? { status: 202, body: { tenant: 'big', status: 'deleting' } } : { status: 204 },
    );
    expect(r.code).toBe(0);
    expect(r.requests.map((q) => `${q.method} ${q.url}`)).toEqual(Array(3).fill('DELETE /admin/tenants/big'));
    expect(r.stdout).toBe('deleting tenant big: more items remain, going on\n'.repeat(2) + 'deleted tenant big\n');
  });

  it('creates a client and prints its secret once', async () => {
    const r = await run(['--json', 'client', 'create', '--name', 'POS', '--grant', 'refresh_token'], () => ({
      status: 201,
      body: { client_id: 'c1', client_secret: 's3cret' },
    }));
    expect(r.code).toBe(0);
    expect(`${r.requests[0]?.method} ${r.requests[0]?.url}`).toBe('POST /admin/tenants/demo/clients');
    expect(JSON.parse(r.requests[0]!.body).grant_types).toEqual(['urn:openid:params:grant-type:ciba', 'refresh_token']);
    expect(JSON.parse(r.stdout)).toEqual({ client_id: 'c1', client_secret: 's3cret' });
  });

  it('puts users, issues tickets, lists and revokes devices at encoded paths', async () => {
    const handler: FakeHandler = (req) => {
      if (req.url.endsWith('/enrollment-tickets')) {
        return {
          status: 201,
          body: { ticket: 't1', expires_in: 600, enrollment_uri: 'http://x/demo/authenticator?ticket=t1' },
        };
      }
      if (req.url.endsWith('/devices'))
        return { status: 200, body: { devices: [{ device_id: 'd1', name: 'phone', created_at: 1 }] } };
      if (req.method === 'DELETE') return { status: 204 };
      return { status: 200, body: { sub: 'a b' } };
    };
    const put = await run(
      ['user', 'put', 'a b', '--email', 'a@example.com', '--claim', 'email_verified=true'],
      handler,
    );
    expect(`${put.requests[0]?.method} ${put.requests[0]?.url}`).toBe('PUT /admin/tenants/demo/users/a%20b');
    expect(JSON.parse(put.requests[0]!.body)).toEqual({ email: 'a@example.com', email_verified: true });
    await close?.();
    const link = await run(['user', 'enroll-link', 'alice', '--qr'], handler);
    expect(link.code).toBe(0);
    expect(link.stdout).toContain('enrollment_uri:');
    expect(link.stdout).toContain('▄');
    await close?.();
    const devices = await run(['user', 'devices', 'alice'], handler);
    expect(devices.stdout).toMatch(/DEVICE_ID\s+NAME/);
    expect(devices.stdout).toContain('phone');
    await close?.();
    const revoke = await run(['user', 'revoke-device', 'alice', 'd1'], handler);
    expect(revoke.code).toBe(0);
    expect(`${revoke.requests[0]?.method} ${revoke.requests[0]?.url}`).toBe(
      'DELETE /admin/tenants/demo/users/alice/devices/d1',
    );
    await close?.();
    // Service-made ids start with '-' one time in 64: still an id, not an unknown option.
    const dashed = await run(
      ['user', 'revoke-device', 'alice', '-aLmCXJEwgvpTdvjA9a_LRaT0q0MCM05IppWYSJkwo4'],
      handler,
    );
    expect(dashed.code).toBe(0);
    expect(`${dashed.requests[0]?.method} ${dashed.requests[0]?.url}`).toBe(
      'DELETE /admin/tenants/demo/users/alice/devices/-aLmCXJEwgvpTdvjA9a_LRaT0q0MCM05IppWYSJkwo4',
    );
    await close?.();
    const mistyped = await run(['user', 'revoke-device', '--forse', 'alice'], handler);
    expect(mistyped.code).toBe(1);
    expect(mistyped.stderr).toContain("unknown option '--forse'");
    expect(mistyped.requests).toEqual([]);
    await close?.();
    const erased = await run(['user', 'delete', 'alice'], handler);
    expect(erased.code).toBe(0);
    expect(`${erased.requests[0]?.method} ${erased.requests[0]?.url}`).toBe('DELETE /admin/tenants/demo/users/alice');
    expect(erased.stdout).toBe('deleted user alice with their devices and pending requests\n');
  });

  it('prints service errors as "error: <error> — <description>" and exits 1', async () => {
    const r = await run(['client', 'get', 'nope'], () => ({
      status: 404,
      body: { error: 'not_found', error_description: 'no such client' },
    }));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: not_found — no such client\n');
    expect(r.stdout).toBe('');
  });

  it('shows a request', async () => {
    const r = await run(['request', 'show', 'ar.1'], () => ({ status: 200, body: { status: 'pending' } }));
    expect(r.requests[0]?.url).toBe('/admin/tenants/demo/requests/ar.1');
    expect(r.stdout).toContain('status:');
  });
});

describe('the terminal authenticator', () => {
  let dir: string;
  let close: (() => Promise<void>) | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ciba-dev-'));
  });
  afterEach(async () => {
    await close?.();
    close = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('enrolls, saves the key 0600, lists pending requests and approves with a signed decision', async () => {
    const now = Math.floor(Date.now() / 1000);
    const server = await startFakeServer((req) => {
      if (req.url === '/demo/device/enrollments') return { status: 201, body: { device_id: 'from-server' } };
      if (req.url === '/demo/device/transactions') {
        return {
          status: 200,
          body: {
            transactions: [
              {
                txn: 'tx-1',
                client_id: 'c1',
                client_name: 'ACME support',
                binding_message: '4F-22',
                scope: 'openid',
                created_at: now,
                expires_at: now + 125,
              },
            ],
          },
        };
      }
      if (req.url === '/demo/device/transactions/tx-1' && req.method === 'POST')
        return { status: 200, body: { txn: 'tx-1', status: 'approved' } };
      return { status: 404, body: { error: 'not_found' } };
    });
    close = server.close;
    const t = testContext({ home: dir, now: () => now * 1000 });
    const base = ['--base-url', server.url];

    expect(
      await runCli(
        [...base, 'device', 'enroll', '--ticket', 'tkt', '--name', 'laptop', '--webhook', 'http://127.0.0.1:9/hook'],
        t.ctx,
      ),
    ).toBe(0);
    expect(JSON.parse(server.requests[0]!.body)).toEqual({
      ticket: 'tkt',
      name: 'laptop',
      push: { type: 'webhook', url: 'http://127.0.0.1:9/hook' },
    });
    const keyFile = join(dir, '.ciba', 'devices', 'demo.json');
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(await readFile(keyFile, 'utf8'));
    expect(saved.issuer).toBe(`${server.url}/demo`);
    expect(t.stderr()).toContain('warning');

    expect(await runCli([...base, 'device', 'enroll', '--ticket', 'again'], t.ctx)).toBe(1);
    expect(t.stderr()).toContain('error: key_file_exists');

    expect(await runCli(['device', 'pending'], t.ctx)).toBe(0);
    // As a person reads it: what is asked first, then who asks, the code, what it shares, the time left.
    expect(t.stdout()).toContain(
      "Confirm it's you\n  asked by  ACME support (c1)\n  code      4F-22\n  shares    openid\n  txn       tx-1   2m 05s left\n",
    );

    expect(await runCli(['device', 'approve', 'tx-1'], t.ctx)).toBe(0);
    expect(t.stdout()).toContain('approved tx-1');
    const decision = server.requests.at(-1)!;
    expect(JSON.parse(decision.body)).toEqual({ decision: 'approve' });
    const { payload } = await jwtVerify(decision.headers['dpop'] as string, EmbeddedJWK, { typ: 'dpop+jwt' });
    expect(payload).toMatchObject({
      htm: 'POST',
      htu: `${server.url}/demo/device/transactions/tx-1`,
      txn: 'tx-1',
      decision: 'approve',
    });

    expect(await runCli(['device', 'show', 'tx-2'], t.ctx)).toBe(1);
    expect(t.stderr()).toContain('error: not_found\n');
  });

  it('explains when there is no key file', async () => {
    const t = testContext({ home: dir });
    expect(await runCli(['device', 'pending'], t.ctx)).toBe(1);
    expect(t.stderr()).toMatch(/^error: no_device — no device key at .*demo\.json/);
  });
});
