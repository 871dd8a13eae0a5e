/**
 * Ping and push delivery end to end on the local server, with a loopback receiver as the clients' notification
 * endpoint (the tenant has development_mode on, which allows http to loopback).
 *
 * Ping and push (CIBA Core §10.2, §10.3, §12), numbered as in the project's conformance checklist:
 * 90 notification token validation · 91 ping ack · 92 ping shape · 93 poll after ping · 94 ping after denial ·
 * 95 200 with a body · 96 3xx/401/403 · 97 push ack · 98 push body · 99 auth_req_id claim · 100 at_hash ·
 * 101 rt_hash: a push client with the refresh_token grant asking for offline_access is pushed a refresh token and
 *     the ID token's rt_hash; without offline_access none is pushed · 102 push errors (access_denied, expired_token;
 *     transaction_failed is covered in test/unit/ciba/deliver-callback.test.ts terms: a grant without tokens) ·
 * 103 push transport: 3xx not followed; the certificate binding half does not apply (no mTLS client
 *     authentication, so no certificate to bind to).
 */
import { createHash } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT } from '../../lib/events.ts';
import type { CibaEvent } from '../../lib/ports.ts';
import { CallbackReceiver, eventually, sleep } from '../helpers/callback-receiver.ts';
import {
  CIBA_GRANT,
  createTenantFixture,
  enrollDevice,
  postForm,
  startTestService,
  type TenantFixture,
  type TestDevice,
  type TestService,
} from '../helpers/service.ts';

const TOKEN = 'Nt-0123456789._~+/abcdef==';
const RESPONSE_TIMEOUT_MS = 300;

let svc: TestService;
let receiver: CallbackReceiver;
let fx: TenantFixture;
let device: TestDevice;
const events: CibaEvent[] = [];
let pathNo = 0;

beforeAll(async () => {
  svc = await startTestService({
    callbacks: {
      outbound: { connectTimeoutMs: 1_000, responseTimeoutMs: RESPONSE_TIMEOUT_MS },
      backoff: { baseMs: 20, capMs: 50 },
    },
  });
  receiver = await CallbackReceiver.start();
  fx = await createTenantFixture(svc, 'callbacks', {
    development_mode: true,
    delivery_modes: ['poll', 'ping', 'push'],
    user_rate_limit_per_minute: 1000,
  });
  device = await enrollDevice(svc, fx);
  svc.service.deps.events.subscribe(async (event) => {
    events.push(event);
  });
});
afterAll(async () => {
  await svc?.stop();
  await receiver?.stop();
});

type Creds = { client_id: string; client_secret: string };

/** A new ping or push client at its own receiver path, answering with `answers`. */
const newClient = async (mode: 'ping' | 'push', answers: Parameters<CallbackReceiver['endpoint']>[1] = []) => {
  const path = `/cb/${mode}-${++pathNo}`;
  const res = await svc.admin('POST', `/admin/tenants/${fx.tenant}/clients`, {
    grant_types: [CIBA_GRANT],
    backchannel_token_delivery_mode: mode,
    backchannel_client_notification_endpoint: receiver.endpoint(path, answers),
  });
  expect(res.status).toBe(201);
  return { path, creds: { client_id: res.body.client_id, client_secret: res.body.client_secret } as Creds };
};

const authorize = (creds: Creds, extra: Record<string, string> = {}) =>
  postForm(
    `${fx.issuer}/bc-authorize`,
    { scope: 'openid profile', login_hint: 'alice', client_notification_token: TOKEN, ...extra },
    creds,
  );

const txnOf = (authReqId: string) => authReqId.split('.')[0]!;

const decide = async (authReqId: string, decision: 'approve' | 'deny' | 'report') => {
  const res = await device.decide(txnOf(authReqId), decision);
  expect(res.status).toBe(200);
};

const requestView = async (authReqId: string) =>
  (await svc.admin('GET', `/admin/tenants/${fx.tenant}/requests/${authReqId}`)).body;

const setPolicy = (attempts: number, ageSeconds = 86_400) =>
  svc.admin('PUT', `/admin/tenants/${fx.tenant}`, {
    callback_max_attempts: attempts,
    callback_max_age_seconds: ageSeconds,
  });

const atHash = (token: string) =>
  createHash('sha256').update(token, 'ascii').digest().subarray(0, 16).toString('base64url');

describe('registering ping and push clients (CIBA §4, RFC 7591)', () => {
  const register = (tenant: string, metadata: Record<string, unknown>) =>
    svc.admin('POST', `/admin/tenants/${tenant}/clients`, { grant_types: [CIBA_GRANT], ...metadata });
  let strict: string;

  beforeAll(async () => {
    strict = 'strict';
    const res = await svc.admin('PUT', `/admin/tenants/${strict}`, { delivery_modes: ['poll', 'ping'] });
    expect(res.status).toBe(201);
  });

  it('registers a ping client with an https endpoint and echoes it', async () => {
    const res = await register(strict, {
      backchannel_token_delivery_mode: 'ping',
      backchannel_client_notification_endpoint: 'https://rp.example.com/ciba/cb',
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      backchannel_token_delivery_mode: 'ping',
      backchannel_client_notification_endpoint: 'https://rp.example.com/ciba/cb',
    });
    const read = await svc.admin('GET', `/admin/tenants/${strict}/clients/${res.body.client_id}`);
    expect(read.body.backchannel_client_notification_endpoint).toBe('https://rp.example.com/ciba/cb');
  });

  it.each([
    'https://127.0.0.1/cb',
    'https://10.0.0.1/cb',
    'https://169.254.169.254/latest/meta-data',
    'https://[::1]/cb',
    'https://localhost/cb',
    'http://127.0.0.1:9000/cb',
  ])('refuses %s outside development mode, and accepts it in development mode', async (endpoint) => {
    const refused = await register(strict, {
      backchannel_token_delivery_mode: 'ping',
      backchannel_client_notification_endpoint: endpoint,
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('invalid_client_metadata');
    const accepted = await register(fx.tenant, {
      backchannel_token_delivery_mode: 'ping',
      backchannel_client_notification_endpoint: endpoint,
    });
    expect(accepted.status).toBe(201);
  });

  it.each([
    ['ping without an endpoint', { backchannel_token_delivery_mode: 'ping' }],
    ['push without an endpoint', { backchannel_token_delivery_mode: 'push' }],
    [
      'poll with an endpoint',
      {
        backchannel_token_delivery_mode: 'poll',
        backchannel_client_notification_endpoint: 'https://rp.example.com/cb',
      },
    ],
    [
      'a relative endpoint',
      { backchannel_token_delivery_mode: 'ping', backchannel_client_notification_endpoint: '/cb' },
    ],
    [
      'plain http to a public host',
      { backchannel_token_delivery_mode: 'ping', backchannel_client_notification_endpoint: 'http://rp.example.com/cb' },
    ],
    [
      'a fragment',
      {
        backchannel_token_delivery_mode: 'ping',
        backchannel_client_notification_endpoint: 'https://rp.example.com/cb#x',
      },
    ],
    [
      'user information',
      {
        backchannel_token_delivery_mode: 'ping',
        backchannel_client_notification_endpoint: 'https://u:p@rp.example.com/cb',
      },
    ],
  ])('refuses %s with 400 invalid_client_metadata, even in development mode', async (_name, metadata) => {
    const res = await register(fx.tenant, metadata);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_client_metadata');
  });

  it('refuses push where the tenant does not offer it', async () => {
    const res = await register(strict, {
      backchannel_token_delivery_mode: 'push',
      backchannel_client_notification_endpoint: 'https://rp.example.com/cb',
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_client_metadata');
  });
});

describe('client_notification_token at bc-authorize (conformance 90, 91, 97)', () => {
  it.each([
    ['missing', undefined],
    ['1025 characters', 'a'.repeat(1025)],
    ['with a space', 'foo bar'],
    ['with a colon', 'foo:bar'],
    ['with = inside', 'foo=bar'],
    ['with a comma', 'foo,bar'],
  ])('refuses a token %s with 400 invalid_request', async (_name, token) => {
    const { creds } = await newClient('ping');
    const form: Record<string, string> = { scope: 'openid', login_hint: 'alice' };
    if (token !== undefined) form.client_notification_token = token;
    const res = await postForm(`${fx.issuer}/bc-authorize`, form, creds);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
  });

  it('accepts the RFC 6750 b64token characters and 1024 characters, and answers ping with an interval', async () => {
    const { creds } = await newClient('ping');
    for (const token of ['abc-._~+/==', 'a'.repeat(1024)]) {
      const res = await authorize(creds, { client_notification_token: token });
      expect(res.status).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(['auth_req_id', 'expires_in', 'interval']);
    }
  });

  it('answers a push request without an interval, and refuses one without a token', async () => {
    const { creds } = await newClient('push');
    const ok = await authorize(creds);
    expect(ok.status).toBe(200);
    expect(Object.keys(ok.body).sort()).toEqual(['auth_req_id', 'expires_in']);
    const missing = await postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice' }, creds);
    expect(missing.body.error).toBe('invalid_request');
  });

  it('ignores a poll client’s token and does not store it', async () => {
    const res = await authorize(fx.client);
    expect(res.status).toBe(200);
    const stored = await svc.service.deps.requests.get(txnOf(res.body.auth_req_id));
    expect(stored!.clientNotificationToken).toBeUndefined();
  });
});

describe('ping mode (conformance 92-96)', () => {
  it('pings with the exact request after approval, then openid-client redeems the tokens', async () => {
    const { path, creds } = await newClient('ping');
    const config = await oidc.discovery(
      new URL(fx.issuer),
      creds.client_id,
      undefined,
      oidc.ClientSecretBasic(creds.client_secret),
      {
        execute: [oidc.allowInsecureRequests],
      },
    );
    const ack = await oidc.initiateBackchannelAuthentication(config, {
      scope: 'openid profile',
      login_hint: 'alice',
      client_notification_token: TOKEN,
    });
    expect(ack.interval).toBe(1);
    // 93: before the ping, the token endpoint says pending.
    const early = await postForm(
      `${fx.issuer}/oauth/token`,
      { grant_type: CIBA_GRANT, auth_req_id: ack.auth_req_id },
      creds,
    );
    expect(early.body.error).toBe('authorization_pending');

    await decide(ack.auth_req_id, 'approve');
    const [ping] = await receiver.waitFor(path, 1);
    expect(ping!.method).toBe('POST');
    expect(ping!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(ping!.headers['content-type']).toBe('application/json');
    expect(ping!.body).toBe(JSON.stringify({ auth_req_id: ack.auth_req_id }));

    const tokens = await oidc.pollBackchannelAuthenticationGrant(config, ack);
    expect(tokens.claims()!['urn:openid:params:jwt:claim:auth_req_id']).toBe(ack.auth_req_id);
    expect(tokens.claims()!.sub).toBe('alice');
    await sleep(100);
    expect(receiver.at(path)).toHaveLength(1);
    expect((await requestView(ack.auth_req_id)).callback).toMatchObject({
      state: 'delivered',
      attempts: [{ attempt: 1, status: 204 }],
      delivered_at: expect.any(Number),
    });
  });

  it('pings after denial too, and the token endpoint then answers access_denied', async () => {
    const { path, creds } = await newClient('ping');
    const ack = (await authorize(creds)).body;
    await decide(ack.auth_req_id, 'deny');
    const [ping] = await receiver.waitFor(path, 1);
    expect(ping!.body).toBe(JSON.stringify({ auth_req_id: ack.auth_req_id }));
    expect(ping!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    const res = await postForm(
      `${fx.issuer}/oauth/token`,
      { grant_type: CIBA_GRANT, auth_req_id: ack.auth_req_id },
      creds,
    );
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('access_denied');
  });

  it('pings after a report as after a denial; the client then gets access_denied and is shielded', async () => {
    const { path, creds } = await newClient('ping');
    const ack = (await authorize(creds)).body;
    await decide(ack.auth_req_id, 'report');
    const [ping] = await receiver.waitFor(path, 1);
    expect(ping!.body).toBe(JSON.stringify({ auth_req_id: ack.auth_req_id }));
    const res = await postForm(
      `${fx.issuer}/oauth/token`,
      { grant_type: CIBA_GRANT, auth_req_id: ack.auth_req_id },
      creds,
    );
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('access_denied');
    const again = await authorize(creds);
    expect(again.status).toBe(403);
    expect(again.body.error).toBe('access_denied');
    expect(again.body.error_description).toMatch(/the user reported an unexpected authentication request/);
    await svc.admin('DELETE', `/admin/tenants/${fx.tenant}/users/alice/shields/${creds.client_id}`);
  });

  it('accepts a 200 with a body as delivered, and the flow completes', async () => {
    const { path, creds } = await newClient('ping', [
      { status: 200, headers: { 'Content-Type': 'text/plain' }, body: 'thanks' },
    ]);
    const ack = (await authorize(creds)).body;
    await decide(ack.auth_req_id, 'approve');
    await receiver.waitFor(path, 1);
    await eventually(async () =>
      (await requestView(ack.auth_req_id)).callback.state === 'delivered' ? true : undefined,
    );
    const res = await postForm(
      `${fx.issuer}/oauth/token`,
      { grant_type: CIBA_GRANT, auth_req_id: ack.auth_req_id },
      creds,
    );
    expect(res.status).toBe(200);
  });

  it('retries a receiver answering 500 twice then 204: exactly three requests', async () => {
    const { path, creds } = await newClient('ping', [{ status: 500 }, { status: 500 }, { status: 204 }]);
    const ack = (await authorize(creds)).body;
    await decide(ack.auth_req_id, 'approve');
    await receiver.waitFor(path, 3);
    const view = await eventually(async () => {
      const v = await requestView(ack.auth_req_id);
      return v.callback.state === 'delivered' ? v : undefined;
    });
    await sleep(200);
    expect(receiver.at(path)).toHaveLength(3);
    expect(new Set(receiver.at(path).map((r) => r.body)).size).toBe(1);
    expect(view.callback.attempts.map((a: { status: number }) => a.status)).toEqual([500, 500, 204]);
    expect(
      events.filter((e) => e.type === EVENT.callbackDelivered && e.detail.txn === txnOf(ack.auth_req_id)),
    ).toHaveLength(1);
  });

  it('never follows a 301: nothing arrives at the Location', async () => {
    await setPolicy(2);
    try {
      const { path, creds } = await newClient('ping', [
        { status: 301, headers: { Location: `${receiver.base}/moved` } },
      ]);
      const ack = (await authorize(creds)).body;
      await decide(ack.auth_req_id, 'approve');
      const view = await eventually(async () => {
        const v = await requestView(ack.auth_req_id);
        return v.callback.state === 'dead_lettered' ? v : undefined;
      });
      expect(receiver.at(path)).toHaveLength(2);
      expect(receiver.at('/moved')).toHaveLength(0);
      expect(view.callback.dead_letter_reason).toBe('HTTP 301: gave up after 2 attempts');
    } finally {
      await setPolicy(20);
    }
  });

  it.each([401, 403])(
    'does not retry a %i, and the client still completes the flow at the token endpoint',
    async (status) => {
      const { path, creds } = await newClient('ping', [{ status }]);
      const ack = (await authorize(creds)).body;
      await decide(ack.auth_req_id, 'approve');
      const view = await eventually(async () => {
        const v = await requestView(ack.auth_req_id);
        return v.callback.state === 'dead_lettered' ? v : undefined;
      });
      await sleep(200);
      expect(receiver.at(path)).toHaveLength(1);
      expect(view.callback).toMatchObject({
        dead_letter_reason: `HTTP ${status}: not retried`,
        attempts: [{ attempt: 1, status }],
      });
      expect(
        events.find((e) => e.type === EVENT.callbackFailed && e.detail.txn === txnOf(ack.auth_req_id))?.detail,
      ).toMatchObject({
        reason: `HTTP ${status}: not retried`,
      });
      const res = await postForm(
        `${fx.issuer}/oauth/token`,
        { grant_type: CIBA_GRANT, auth_req_id: ack.auth_req_id },
        creds,
      );
      expect(res.status).toBe(200);
    },
  );

  it('dead-letters a receiver that never answers, with the reason visible to operators', async () => {
    await setPolicy(2);
    try {
      const { path, creds } = await newClient('ping', ['hang']);
      const ack = (await authorize(creds)).body;
      await decide(ack.auth_req_id, 'approve');
      const view = await eventually(async () => {
        const v = await requestView(ack.auth_req_id);
        return v.callback.state === 'dead_lettered' ? v : undefined;
      });
      expect(receiver.at(path)).toHaveLength(2);
      const timeout = `response timeout: no answer within ${RESPONSE_TIMEOUT_MS} ms`;
      expect(view.callback).toEqual({
        state: 'dead_lettered',
        attempts: [
          { attempt: 1, at: expect.any(Number), error: timeout },
          { attempt: 2, at: expect.any(Number), error: timeout },
        ],
        dead_letter_reason: `${timeout}: gave up after 2 attempts`,
      });
    } finally {
      await setPolicy(20);
    }
  });
});

describe('push mode (conformance 97-103)', () => {
  const jwks = () => createRemoteJWKSet(new URL(`${fx.issuer}/.well-known/jwks.json`));

  it('101: pushes a refresh token with offline_access, and the ID token carries its rt_hash; the token refreshes', async () => {
    const path = `/cb/push-rt-${++pathNo}`;
    const res = await svc.admin('POST', `/admin/tenants/${fx.tenant}/clients`, {
      grant_types: [CIBA_GRANT, 'refresh_token'],
      backchannel_token_delivery_mode: 'push',
      backchannel_client_notification_endpoint: receiver.endpoint(path, []),
    });
    expect(res.status).toBe(201);
    const creds = { client_id: res.body.client_id, client_secret: res.body.client_secret } as Creds;
    const ack = (await authorize(creds, { scope: 'openid offline_access' })).body;
    await decide(ack.auth_req_id, 'approve');
    const [push] = await receiver.waitFor(path, 1);
    const body = JSON.parse(push!.body);
    expect(body.refresh_token).toEqual(expect.any(String));
    const { payload } = await jwtVerify(body.id_token, jwks(), { issuer: fx.issuer, audience: creds.client_id });
    expect(payload['urn:openid:params:jwt:claim:rt_hash']).toBe(atHash(body.refresh_token));
    const refreshed = await postForm(
      `${fx.issuer}/oauth/token`,
      { grant_type: 'refresh_token', refresh_token: body.refresh_token },
      creds,
    );
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.refresh_token).not.toBe(body.refresh_token);
  });

  it('pushes a token response whose ID token verifies against the JWKS with at_hash and auth_req_id', async () => {
    const { path, creds } = await newClient('push');
    const ack = (await authorize(creds)).body;
    await decide(ack.auth_req_id, 'approve');
    const [push] = await receiver.waitFor(path, 1);
    expect(push!.method).toBe('POST');
    expect(push!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(push!.headers['content-type']).toBe('application/json');
    const body = JSON.parse(push!.body);
    expect(Object.keys(body).sort()).toEqual([
      'access_token',
      'auth_req_id',
      'expires_in',
      'id_token',
      'scope',
      'token_type',
    ]);
    expect(body).toMatchObject({
      auth_req_id: ack.auth_req_id,
      token_type: 'Bearer',
      expires_in: 3600,
      scope: 'openid profile',
    });
    // 101: no offline_access, so no refresh token and no rt_hash.
    expect(body.refresh_token).toBeUndefined();

    const { payload, protectedHeader } = await jwtVerify(body.id_token, jwks(), {
      issuer: fx.issuer,
      audience: creds.client_id,
    });
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload['urn:openid:params:jwt:claim:auth_req_id']).toBe(ack.auth_req_id);
    expect(payload.at_hash).toBe(atHash(body.access_token));
    expect(payload['urn:openid:params:jwt:claim:rt_hash']).toBeUndefined();
    await jwtVerify(body.access_token, jwks(), { issuer: fx.issuer, typ: 'at+jwt' });

    const view = await eventually(async () => {
      const v = await requestView(ack.auth_req_id);
      return v.callback.state === 'delivered' ? v : undefined;
    });
    const shown = JSON.stringify(view);
    for (const secret of [body.access_token, body.id_token, TOKEN]) {
      expect(shown).not.toContain(secret);
      expect(svc.logs.join('\n')).not.toContain(secret);
    }
    // The kept token response is dropped once delivered.
    expect((await svc.service.deps.requests.get(txnOf(ack.auth_req_id)))!.sealedPushResponse).toBeUndefined();
  });

  it('answers a push client at the token endpoint with unauthorized_client', async () => {
    const { creds } = await newClient('push');
    const ack = (await authorize(creds)).body;
    const res = await postForm(
      `${fx.issuer}/oauth/token`,
      { grant_type: CIBA_GRANT, auth_req_id: ack.auth_req_id },
      creds,
    );
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('unauthorized_client');
  });

  it('pushes access_denied when the user denies', async () => {
    const { path, creds } = await newClient('push');
    const ack = (await authorize(creds)).body;
    await decide(ack.auth_req_id, 'deny');
    const [push] = await receiver.waitFor(path, 1);
    expect(push!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(JSON.parse(push!.body)).toEqual({ error: 'access_denied', auth_req_id: ack.auth_req_id });
  });

  it('pushes access_denied when the user reports the request', async () => {
    const { path, creds } = await newClient('push');
    const ack = (await authorize(creds)).body;
    await decide(ack.auth_req_id, 'report');
    const [push] = await receiver.waitFor(path, 1);
    expect(JSON.parse(push!.body)).toEqual({ error: 'access_denied', auth_req_id: ack.auth_req_id });
    expect((await requestView(ack.auth_req_id)).state).toBe('reported');
    await svc.admin('DELETE', `/admin/tenants/${fx.tenant}/users/alice/shields/${creds.client_id}`);
  });

  it('pushes expired_token within seconds when nobody decides', async () => {
    const { path, creds } = await newClient('push');
    const ack = (await authorize(creds, { requested_expiry: '1' })).body;
    expect(ack.expires_in).toBe(1);
    // The expiry timer fires after 1 s; the rest of the budget is for a loaded machine.
    const [push] = await receiver.waitFor(path, 1, 10_000);
    expect(JSON.parse(push!.body)).toEqual({ error: 'expired_token', auth_req_id: ack.auth_req_id });
  });

  it('withdraws the expiry timer of a push request decided in time: nothing runs at its expiry', async () => {
    const { path, creds } = await newClient('push');
    const ack = (await authorize(creds, { requested_expiry: '2' })).body;
    await decide(ack.auth_req_id, 'approve');
    await receiver.waitFor(path, 1);
    const txn = txnOf(ack.auth_req_id);
    await sleep(3_000);
    const runs = svc.logs.map((l) => JSON.parse(l)).filter((l) => l.txn === txn && l.trigger === 'expiry');
    // Before timers were withdrawn: `callback skipped` with trigger `expiry` once the 2 s had passed.
    expect(runs).toEqual([]);
    expect(await receiver.waitFor(path, 1)).toHaveLength(1);
  });

  /**
   * bc-authorize for a push client whose expiry timer fails, as Scheduler does when it is unavailable. The request and
   * its timer are written side by side: the timer waits until the request's write has ended (5 s at most, which one
   * after the other would take), runs `meanwhile` with the stored request's txn, then fails. Returns the answer and
   * that txn.
   */
  const authorizeWithFailingTimer = async (
    creds: Creds,
    meanwhile: (txn: string) => Promise<void> = async () => {},
  ) => {
    const { scheduler, requests } = svc.service.deps;
    const [schedule, create] = [scheduler.schedule, requests.create];
    let stored: ((txn: string) => void) | undefined;
    const written = new Promise<string>((resolve, reject) => {
      const never = setTimeout(() => reject(new Error('the timer was set before the request was written')), 5_000);
      stored = (txn) => {
        clearTimeout(never);
        resolve(txn);
      };
    });
    written.catch(() => {});
    requests.create = async (request) => {
      const outcome = await create.call(requests, request);
      stored?.(request.txn);
      return outcome;
    };
    scheduler.schedule = async () => {
      await meanwhile(await written);
      throw Object.assign(new Error('Scheduler is unavailable'), { name: 'ServiceUnavailableException' });
    };
    try {
      const res = await authorize(creds);
      return { res, txn: await written };
    } finally {
      scheduler.schedule = schedule;
      requests.create = create;
    }
  };

  it('withdraws a push request whose expiry timer cannot be set: a retryable 503, nothing stored, nothing sent', async () => {
    const { path, creds } = await newClient('push');
    const seen = events.length;
    const { res, txn } = await authorizeWithFailingTimer(creds);
    expect(res.status).toBe(503);
    expect(res.body.error).toBe('temporarily_unavailable');
    expect(await svc.service.deps.requests.get(txn)).toBeUndefined();
    expect(((await device.pending()).body.transactions as { txn: string }[]).map((r) => r.txn)).not.toContain(txn);
    await sleep(100);
    expect(events.slice(seen).filter((e) => e.detail.txn === txn)).toEqual([]);
    expect(receiver.at(path)).toEqual([]);
    // The same request a moment later succeeds.
    expect((await authorize(creds)).status).toBe(200);
  });

  it('tells the operator when the withdrawal fails too: the request stands without its timer, and the client gets a 503', async () => {
    const { creds } = await newClient('push');
    const { requests } = svc.service.deps;
    const withdraw = requests.withdraw;
    requests.withdraw = async () => {
      throw Object.assign(new Error('the store is unavailable'), { name: 'ServiceUnavailableException' });
    };
    const { res, txn } = await authorizeWithFailingTimer(creds).finally(() => {
      requests.withdraw = withdraw;
    });
    expect(res.status).toBe(503);
    expect((await requests.get(txn))?.status).toBe('pending');
    const logged = svc.logs.map((l) => JSON.parse(l)).filter((l) => l.txn === txn);
    expect(logged).toContainEqual(
      expect.objectContaining({ level: 'error', message: 'push request stored without its expiry timer' }),
    );
  });

  it('keeps a push request decided before its timer failed: it needs no timer, and its tokens are pushed', async () => {
    const { path, creds } = await newClient('push');
    const { res, txn } = await authorizeWithFailingTimer(creds, (stored) => decide(stored, 'approve'));
    expect(res.status).toBe(200);
    expect(txnOf(res.body.auth_req_id)).toBe(txn);
    const [push] = await receiver.waitFor(path, 1);
    expect(JSON.parse(push!.body)).toMatchObject({ auth_req_id: res.body.auth_req_id, token_type: 'Bearer' });
  });

  it('resends the same tokens when the first push fails, never minting a second set', async () => {
    const { path, creds } = await newClient('push', [{ status: 503 }, { status: 204 }]);
    const ack = (await authorize(creds)).body;
    await decide(ack.auth_req_id, 'approve');
    const pushes = await receiver.waitFor(path, 2);
    expect(pushes[1]!.body).toBe(pushes[0]!.body);
    await sleep(100);
    expect(events.filter((e) => e.type === EVENT.tokensIssued && e.detail.txn === txnOf(ack.auth_req_id))).toHaveLength(
      1,
    );
  });

  it('rule 12: keeps the token response sealed while it waits for a retry: no token is ever stored', async () => {
    // What the callback keeps on the request for its retry, as it is written.
    const store = svc.service.deps.callbacks;
    const kept: string[] = [];
    const save = store.savePushResponse;
    store.savePushResponse = (txn, sealed, now) => {
      kept.push(sealed);
      return save.call(store, txn, sealed, now);
    };
    try {
      const { path, creds } = await newClient('push', [{ status: 503 }, { status: 204 }]);
      const ack = (await authorize(creds)).body;
      await decide(ack.auth_req_id, 'approve');
      const pushes = await receiver.waitFor(path, 2);
      expect(pushes[1]!.body).toBe(pushes[0]!.body);
      const tokens = JSON.parse(pushes[0]!.body) as Record<string, string>;
      expect(kept).toHaveLength(1);
      // A compact JWE (dir, A256GCM, `kid` naming the tenant's MAC key): five parts, no key, no token inside in any
      // readable form.
      expect(kept[0]!.split('.')).toHaveLength(5);
      expect(JSON.parse(Buffer.from(kept[0]!.split('.')[0]!, 'base64url').toString())).toEqual({
        alg: 'dir',
        enc: 'A256GCM',
        kid: expect.stringMatching(/^[A-Za-z0-9_-]+$/),
      });
      for (const name of ['access_token', 'id_token']) {
        for (const part of tokens[name]!.split('.').slice(1)) expect(kept[0]).not.toContain(part);
      }
      expect(kept[0]).not.toContain('access_token');
    } finally {
      store.savePushResponse = save;
    }
  });

  it('delivers the same decision event twice as one callback and one set of tokens', async () => {
    const { path, creds } = await newClient('push');
    const ack = (await authorize(creds)).body;
    const txn = txnOf(ack.auth_req_id);
    await decide(ack.auth_req_id, 'approve');
    // Published from the stored decision, off the decision's path: it follows the answer.
    const decided = await eventually(async () =>
      events.find((e) => e.type === EVENT.requestDecided && e.detail.txn === txn),
    );
    // The same event again, at once (racing the first delivery) and after it.
    await svc.service.deps.events.publish([decided]);
    await receiver.waitFor(path, 1);
    await svc.service.deps.events.publish([decided]);
    await sleep(300);
    expect(receiver.at(path)).toHaveLength(1);
    expect(events.filter((e) => e.type === EVENT.tokensIssued && e.detail.txn === txn)).toHaveLength(1);
  });

  it('never follows a 3xx from a push endpoint', async () => {
    await setPolicy(1);
    try {
      const { path, creds } = await newClient('push', [
        { status: 307, headers: { Location: `${receiver.base}/moved-push` } },
      ]);
      const ack = (await authorize(creds)).body;
      await decide(ack.auth_req_id, 'approve');
      await eventually(async () =>
        (await requestView(ack.auth_req_id)).callback.state === 'dead_lettered' ? true : undefined,
      );
      expect(receiver.at(path)).toHaveLength(1);
      expect(receiver.at('/moved-push')).toHaveLength(0);
    } finally {
      await setPolicy(20);
    }
  });
});

describe('lifecycle events', () => {
  it('carry the tenant and no tokens or notification token', () => {
    const types = new Set(events.map((e) => e.type));
    for (const type of Object.values(EVENT)) expect(types.has(type)).toBe(true);
    for (const event of events) {
      expect(event.tenantId).toBe(fx.tenant);
      const text = JSON.stringify(event);
      expect(text).not.toContain(TOKEN);
      expect(text).not.toMatch(/access_token|id_token|auth_req_id/);
    }
  });
});
