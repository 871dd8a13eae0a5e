/**
 * Secret hygiene (issue 7, SECURITY.md "Secrets in logs"): a full run in every mode (poll, ping, push to a loopback receiver;
 * admin operations; enrollment; approval and denial; refresh tokens; errors and replays) with every log line
 * captured at debug level, then a search of the logs for every secret that crossed the wire: client secrets, access,
 * ID and refresh tokens, the secret half of each auth_req_id, client_notification_tokens, device proofs, the user
 * code, enrollment tickets and the admin token. Secrets are collected where they travel (every header and body
 * fetch sent or received, every callback the receiver got), so a new kind of token is caught too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallbackReceiver, sleep } from '../helpers/callback-receiver.ts';
import {
  ADMIN_TOKEN,
  CIBA_GRANT,
  createTenantFixture,
  enrollDevice,
  nextTxn,
  postForm,
  startTestService,
  type TenantFixture,
  type TestService,
} from '../helpers/service.ts';

const secrets = new Map<string, string>();
const kinds = new Set<string>();
const remember = (kind: string, value: unknown) => {
  if (typeof value !== 'string' || value.length < 8) return;
  secrets.set(value, kind);
  kinds.add(kind);
  // A JWT's signature alone would let nobody forge it, but it identifies the token: it must not leak either.
  const parts = value.split('.');
  if (parts.length === 3 && parts[2]!.length >= 16) secrets.set(parts[2]!, `${kind} signature`);
};

const SECRET_FIELDS = [
  'access_token',
  'id_token',
  'refresh_token',
  'client_secret',
  'ticket',
  'client_notification_token',
  'user_code',
];

/** Everything secret in a JSON or form body. */
const rememberBody = (text: string) => {
  let fields: Record<string, unknown> = {};
  try {
    fields = JSON.parse(text) as Record<string, unknown>;
  } catch {
    fields = Object.fromEntries(new URLSearchParams(text));
  }
  if (!fields || typeof fields !== 'object') return;
  for (const name of SECRET_FIELDS) remember(name, fields[name]);
  if (typeof fields.auth_req_id === 'string') remember('auth_req_id secret', fields.auth_req_id.split('.')[1]);
  if (typeof fields.enrollment_uri === 'string')
    remember('enrollment ticket', fields.enrollment_uri.split('ticket=')[1]);
};

const realFetch = globalThis.fetch;
let svc: TestService;
let receiver: CallbackReceiver;
let fx: TenantFixture;

beforeAll(async () => {
  // Every request the test sends and every answer it gets passes here.
  globalThis.fetch = async (input, init) => {
    const headers = new Headers(init?.headers);
    const auth = headers.get('authorization');
    if (auth) {
      remember('authorization', auth);
      const credential = auth.replace(/^\w+\s+/, '');
      remember('authorization credential', credential);
      if (/^Basic /i.test(auth)) {
        const [, secret] = Buffer.from(credential, 'base64').toString().split(':');
        remember('client secret', secret && decodeURIComponent(secret));
      }
    }
    remember('device proof', headers.get('dpop') ?? undefined);
    if (typeof init?.body === 'string') rememberBody(init.body);
    const res = await realFetch(input, init);
    rememberBody(await res.clone().text());
    return res;
  };
  svc = await startTestService({ callbacks: { backoff: { baseMs: 10, capMs: 20 } } });
  receiver = await CallbackReceiver.start();
  remember('admin token', ADMIN_TOKEN);
}, 60_000);
afterAll(async () => {
  globalThis.fetch = realFetch;
  await receiver?.stop();
  await svc?.stop();
});

const redeem = async (issuer: string, client: { client_id: string; client_secret: string }, authReqId: string) => {
  for (let i = 0; i < 20; i++) {
    const res = await postForm(`${issuer}/oauth/token`, { grant_type: CIBA_GRANT, auth_req_id: authReqId }, client);
    if (res.status === 200 || !['authorization_pending', 'slow_down'].includes(res.body.error)) return res;
    await sleep(1_050);
  }
  throw new Error('no token');
};

describe('secret hygiene', () => {
  it('logs no secret of a full run in every mode, with errors and replays', async () => {
    fx = await createTenantFixture(
      svc,
      'hygiene',
      { development_mode: true, delivery_modes: ['poll', 'ping', 'push'], user_rate_limit_per_minute: 1000 },
      { grant_types: [CIBA_GRANT, 'refresh_token'] },
    );
    expect(
      (await svc.admin('PUT', `/admin/tenants/${fx.tenant}/users/alice`, { user_code: 'uc-secret-2468' })).status,
    ).toBe(200);
    remember('user code', 'uc-secret-2468');
    const device = await enrollDevice(svc, fx);
    const admin = await svc.admin('GET', `/admin/tenants/${fx.tenant}/users/alice/devices`);
    expect(admin.status).toBe(200);

    // Poll: approve (with a refresh token), then use and replay the refresh token; userinfo; a denial.
    const poll = await postForm(
      `${fx.issuer}/bc-authorize`,
      { scope: 'openid profile offline_access', login_hint: 'alice', binding_message: 'Hygiene 1' },
      fx.client,
    );
    expect(poll.status, JSON.stringify(poll.body)).toBe(200);
    expect((await device.decide(await nextTxn(device), 'approve')).status).toBe(200);
    const tokens = await redeem(fx.issuer, fx.client, poll.body.auth_req_id);
    expect(tokens.status, JSON.stringify(tokens.body)).toBe(200);
    await fetch(`${fx.issuer}/userinfo`, { headers: { Authorization: `Bearer ${tokens.body.access_token}` } });
    if (tokens.body.refresh_token) {
      const refresh = { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token };
      expect((await postForm(`${fx.issuer}/oauth/token`, refresh, fx.client)).status).toBe(200);
      expect((await postForm(`${fx.issuer}/oauth/token`, refresh, fx.client)).status).toBe(400);
    }
    const denied = await postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice' }, fx.client);
    expect((await device.decide(await nextTxn(device), 'deny')).status).toBe(200);
    expect((await redeem(fx.issuer, fx.client, denied.body.auth_req_id)).body.error).toBe('access_denied');

    // Ping and push to the loopback receiver.
    for (const mode of ['ping', 'push'] as const) {
      const endpoint = receiver.endpoint(`/${mode}`);
      const reg = await svc.admin('POST', `/admin/tenants/${fx.tenant}/clients`, {
        client_name: mode,
        grant_types: [CIBA_GRANT],
        backchannel_token_delivery_mode: mode,
        backchannel_client_notification_endpoint: endpoint,
      });
      expect(reg.status).toBe(201);
      const client = { client_id: reg.body.client_id, client_secret: reg.body.client_secret };
      const ack = await postForm(
        `${fx.issuer}/bc-authorize`,
        { scope: 'openid', login_hint: 'alice', client_notification_token: `cnt-${mode}-0123456789abcdef` },
        client,
      );
      expect(ack.status).toBe(200);
      expect((await device.decide(await nextTxn(device), 'approve')).status).toBe(200);
      const [callback] = await receiver.waitFor(`/${mode}`, 1);
      remember('callback authorization', callback!.headers.authorization);
      rememberBody(callback!.body);
      if (mode === 'ping') expect((await redeem(fx.issuer, client, ack.body.auth_req_id)).status).toBe(200);
      const state = await svc.admin('GET', `/admin/tenants/${fx.tenant}/requests/${ack.body.auth_req_id}`);
      expect(state.status).toBe(200);
    }

    // Errors: a wrong secret, a wrong user code, a replayed proof, a used ticket, a wrong admin token.
    await postForm(
      `${fx.issuer}/bc-authorize`,
      { scope: 'openid', login_hint: 'alice' },
      {
        client_id: fx.client.client_id,
        client_secret: 'wrong-secret-0123456789',
      },
    );
    const ucClient = await svc.admin('POST', `/admin/tenants/${fx.tenant}/clients`, {
      client_name: 'uc',
      grant_types: [CIBA_GRANT],
      backchannel_token_delivery_mode: 'poll',
      backchannel_user_code_parameter: true,
    });
    const uc = { client_id: ucClient.body.client_id, client_secret: ucClient.body.client_secret };
    await postForm(
      `${fx.issuer}/bc-authorize`,
      { scope: 'openid', login_hint: 'alice', user_code: 'wrong-code-97531' },
      uc,
    );
    remember('user code', 'wrong-code-97531');
    expect(
      (
        await postForm(
          `${fx.issuer}/bc-authorize`,
          { scope: 'openid', login_hint: 'alice', user_code: 'uc-secret-2468' },
          uc,
        )
      ).status,
    ).toBe(200);
    const url = `${fx.issuer}/device/transactions`;
    const proof = await device.proof('GET', url);
    await device.call('GET', '/device/transactions', undefined, proof);
    expect((await device.call('GET', '/device/transactions', undefined, proof)).status).toBe(401);
    const ticket = await svc.admin('POST', `/admin/tenants/${fx.tenant}/users/alice/enrollment-tickets`);
    await enrollDevice(svc, fx);
    await fetch(`${svc.url}/admin/tenants/${fx.tenant}`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}-wrong` } });
    await postForm(
      `${fx.issuer}/oauth/token`,
      { grant_type: CIBA_GRANT, auth_req_id: `${poll.body.auth_req_id}x` },
      fx.client,
    );
    expect(ticket.status).toBe(201);

    await sleep(200);
    for (const kind of [
      'access_token',
      'id_token',
      'refresh_token',
      'client_secret',
      'ticket',
      'device proof',
      'auth_req_id secret',
      'client_notification_token',
      'user code',
      'admin token',
    ]) {
      expect(kinds, `the run produced no ${kind}`).toContain(kind);
    }
    expect(svc.logs.length).toBeGreaterThan(20);
    const leaks: string[] = [];
    for (const line of svc.logs) {
      for (const [secret, kind] of secrets) if (line.includes(secret)) leaks.push(`${kind} in: ${line.slice(0, 300)}`);
    }
    expect(leaks).toEqual([]);
  }, 120_000);
});
