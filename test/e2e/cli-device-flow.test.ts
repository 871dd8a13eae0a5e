/**
 * The terminal authenticator chains (docs/cli.md): `enroll-link | device enroll --ticket -`, `device approve` with
 * no txn (the one pending request, --latest, --wait), and a second enrollment that replaces a key file only when
 * its device is no longer enrolled. Against the local service, with the CLI in-process.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../lib/cli/main.ts';
import { seedDemo } from '../../lib/local/seed.ts';
import { ADMIN_TOKEN, CIBA_GRANT, postForm, startTestService, type TestService } from '../helpers/service.ts';
import { testContext } from '../unit/cli/context.ts';

describe('ciba device commands that chain', { timeout: 60_000 }, () => {
  let svc: TestService;
  let home: string;
  let demo: { client_id: string; client_secret: string };
  let issuer: string;

  beforeAll(async () => {
    svc = await startTestService();
    demo = (await seedDemo(svc.service.deps))!;
    issuer = `${svc.url}/demo`;
    await svc.admin('PUT', '/admin/tenants/demo', { user_rate_limit_per_minute: 100, backchannel_polling_interval: 1 });
    home = await mkdtemp(join(tmpdir(), 'ciba-home-'));
  });
  afterAll(async () => {
    await svc.stop();
    await rm(home, { recursive: true, force: true });
  });

  /** Runs the CLI with `stdin` as standard input; real time, so --wait really waits. */
  const cli = async (args: string[], stdin = '') => {
    const t = testContext({
      home,
      env: { CIBA_BASE_URL: svc.url, CIBA_ADMIN_TOKEN: ADMIN_TOKEN },
      readStdin: async () => stdin,
      now: () => Date.now(),
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.min(ms, 100))),
    });
    const code = await runCli(args, t.ctx);
    return { code, stdout: t.stdout(), stderr: t.stderr() };
  };
  const ask = async (message: string) => {
    const res = await postForm(
      `${issuer}/bc-authorize`,
      { scope: 'openid', login_hint: 'alice', binding_message: message },
      demo,
    );
    expect(res.status).toBe(200);
    return res.body.auth_req_id as string;
  };
  const poll = (authReqId: string) =>
    postForm(`${issuer}/oauth/token`, { grant_type: CIBA_GRANT, auth_req_id: authReqId }, demo);

  it('enrolls from the enroll-link output on stdin (text and --json)', async () => {
    const link = await cli(['user', 'enroll-link', 'alice']);
    expect(link.code).toBe(0);
    expect(link.stdout).toContain('npx ciba device enroll --ticket ');
    const enrolled = await cli(['device', 'enroll', '--ticket', '-'], link.stdout);
    expect(enrolled.stderr).toBe('');
    expect(enrolled.code).toBe(0);
    expect(enrolled.stdout).toContain(`issuer:    ${issuer}`);
    const empty = await cli(['device', 'enroll', '--ticket', '-', '--key-file', join(home, 'other.json')], '');
    expect(empty.stderr).toBe(
      'error: invalid_option — standard input is empty: did the command before the pipe fail?\n',
    );
  });

  it('approves the one pending request without a txn, and says there is none when none is pending', async () => {
    const none = await cli(['device', 'approve']);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe(
      'error: no_pending_request — no request is pending for this device (--wait waits for one)\n',
    );
    const authReqId = await ask('Code 1A-11');
    const approved = await cli(['device', 'approve']);
    expect(approved.code).toBe(0);
    expect(approved.stderr).toMatch(/^approving "Code 1A-11" from ACME Support Console \(txn [\w-]{22}\)\n$/);
    expect(approved.stdout).toMatch(/^approved [\w-]{22}\n$/);
    expect((await poll(authReqId)).body.id_token).toEqual(expect.any(String));
  });

  it('refuses to guess among several, takes the newest with --latest, and deny works the same', async () => {
    const older = await ask('Code 2B-22');
    const newer = await ask('Code 3C-33');
    const several = await cli(['device', 'approve']);
    expect(several.code).toBe(1);
    expect(several.stderr).toMatch(/^error: several_pending — 2 requests are pending \([\w-]+, [\w-]+\): name one/);
    const latest = await cli(['device', 'approve', '--latest']);
    expect(latest.stderr).toContain('approving "Code 3C-33"');
    const denied = await cli(['device', 'deny']);
    expect(denied.stderr).toContain('denying "Code 2B-22"');
    expect((await poll(newer)).body.id_token).toEqual(expect.any(String));
    expect((await poll(older)).body.error).toBe('access_denied');
  });

  it('--wait approves a request that arrives after it started', async () => {
    const waiting = cli(['device', 'approve', '--wait', '30']);
    const authReqId = await ask('Code 4D-44');
    const r = await waiting;
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('approving "Code 4D-44"');
    expect((await poll(authReqId)).body.id_token).toEqual(expect.any(String));
  });

  it('pending shows a payment by its rendered title and fields; report denies it and shields the user; lift-shield ends it', async () => {
    const payment = await postForm(
      `${issuer}/bc-authorize`,
      {
        scope: 'openid',
        login_hint: 'alice',
        binding_message: 'Code 4D-44',
        authorization_details: JSON.stringify([
          {
            type: 'payment_initiation',
            instructedAmount: { amount: '12.50', currency: 'EUR' },
            creditorName: 'Café Zeit',
            remittanceInformation: 'Invoice 2041',
          },
        ]),
      },
      demo,
    );
    expect(payment.status).toBe(200);
    const pending = await cli(['device', 'pending']);
    expect(pending.code).toBe(0);
    const lines = pending.stdout.split('\n');
    expect(lines[0]).toBe('Pay 12.50 EUR to Café Zeit');
    expect(lines[1]).toMatch(/^ {4}Reference {2}Invoice 2041$/);
    // The template's optional account is absent from the request: no empty row.
    expect(pending.stdout).not.toContain('To account');
    expect(pending.stdout).toContain('asked by  ACME Support Console (demo-client)');
    expect(pending.stdout).toContain('code      Code 4D-44');

    const reported = await cli(['device', 'report']);
    expect(reported.code).toBe(0);
    expect(reported.stderr).toMatch(
      /^reporting "Code 4D-44" \(Pay 12\.50 EUR to Café Zeit\) from ACME Support Console/,
    );
    expect((await poll(payment.body.auth_req_id)).body.error).toBe('access_denied');
    const refused = await postForm(`${issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice' }, demo);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toBe('access_denied');

    const shields = await cli(['user', 'shields', 'alice']);
    expect(shields.code).toBe(0);
    expect(shields.stdout).toMatch(/^CLIENT_ID +UNTIL\ndemo-client +\d{4}-\d\d-\d\dT/);
    const lifted = await cli(['user', 'lift-shield', 'alice', 'demo-client']);
    expect(lifted.code).toBe(0);
    expect(lifted.stdout).toBe('lifted the report shield of demo-client for alice\n');
    expect((await cli(['user', 'shields', 'alice'])).stdout).toBe('no report shields\n');
    expect((await cli(['user', 'lift-shield', 'alice', 'demo-client'])).code).toBe(1);
    const again = await ask('Code 5E-55');
    expect((await cli(['device', 'deny'])).code).toBe(0);
    expect((await poll(again)).body.error).toBe('access_denied');
  });

  it('replaces a key file on enroll only when its device is no longer enrolled', async () => {
    const again = await cli(
      ['device', 'enroll', '--ticket', '-'],
      (await cli(['user', 'enroll-link', 'alice'])).stdout,
    );
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error: key_file_exists — .*demo\.json holds device [\w-]{43}, still enrolled at /);
    const devices = await svc.admin('GET', '/admin/tenants/demo/users/alice/devices');
    for (const d of devices.body.devices) {
      await svc.admin('DELETE', `/admin/tenants/demo/users/alice/devices/${d.device_id}`);
    }
    const replaced = await cli(
      ['device', 'enroll', '--ticket', '-'],
      (await cli(['user', 'enroll-link', 'alice'])).stdout,
    );
    expect(replaced.code).toBe(0);
    expect(replaced.stderr).toMatch(/demo\.json held a device that .* no longer knows: replacing it\n$/);
    expect((await cli(['device', 'pending'])).stdout).toBe('no pending requests\n');
  });
});
