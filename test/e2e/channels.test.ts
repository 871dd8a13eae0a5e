/**
 * Channels without the app (docs/channels.md): the tenant's `channels` and `channel_fallback_seconds`, users reached
 * by a one-time approval link by email or text message when they have no device, and the link's hostile cases.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channelFallback } from '../../lib/ciba/reach-user.ts';
import { expectError } from '../helpers/expect-error.ts';
import {
  CIBA_GRANT,
  createTenantFixture,
  enrollDevice,
  nextTxn,
  postForm,
  startTestService,
  type TenantFixture,
  type TestService,
} from '../helpers/service.ts';

let svc: TestService;
let offset = 0;
const clock = { now: () => Date.now() + offset };

beforeAll(async () => {
  svc = await startTestService({ clock });
});
afterAll(() => svc?.stop());

const ask = (issuer: string, client: { client_id: string; client_secret: string }, sub = 'alice') =>
  postForm(`${issuer}/bc-authorize`, { scope: 'openid', login_hint: sub, binding_message: 'Code 7Q-44' }, client);

describe('tenant settings channels and channel_fallback_seconds', () => {
  it('default to device only and no fallback, and are validated', async () => {
    const created = await svc.admin('PUT', '/admin/tenants/ch-settings', {});
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ channels: ['device'], channel_fallback_seconds: null });
    for (const bad of [
      { channels: [] },
      { channels: ['email', 'email'] },
      { channels: ['fax'] },
      { channels: 'email' },
      { channel_fallback_seconds: 0 },
      { channel_fallback_seconds: 1.5 },
      { channel_fallback_seconds: 86_401 },
    ]) {
      expectError(await svc.admin('PUT', '/admin/tenants/ch-settings', bad), 400, 'invalid_request');
    }
    const set = await svc.admin('PUT', '/admin/tenants/ch-settings', {
      channels: ['device', 'sms', 'email'],
      channel_fallback_seconds: 60,
    });
    expect(set.body).toMatchObject({ channels: ['device', 'sms', 'email'], channel_fallback_seconds: 60 });
    const cleared = await svc.admin('PUT', '/admin/tenants/ch-settings', { channel_fallback_seconds: null });
    expect(cleared.body).toMatchObject({ channels: ['device', 'sms', 'email'], channel_fallback_seconds: null });
  });

  it("refuses a user's email or phone_number that is not valid, and stores nothing", async () => {
    await svc.admin('PUT', '/admin/tenants/ch-users', { channels: ['email', 'sms'] });
    for (const bad of [
      { email: 'not-an-email' },
      { email: 'a@b@c.example' },
      { phone_number: '5555550100' },
      { phone_number: '+0555' },
      { phone_number: '+1 555 555 0100' },
    ]) {
      expectError(await svc.admin('PUT', '/admin/tenants/ch-users/users/bob', bad), 400, 'invalid_request');
      expect((await svc.admin('GET', '/admin/tenants/ch-users/users/bob')).status).toBe(404);
    }
  });
});

describe('reaching a user without a device', () => {
  it('admits them when the tenant allows a channel they have a contact for, and refuses them otherwise', async () => {
    const deviceOnly = await createTenantFixture(svc, 'ch-device-only');
    const refused = await ask(deviceOnly.issuer, deviceOnly.client);
    expectError(refused, 403, 'access_denied');
    expect(refused.body.error_description).toBe('the user has no authentication device or channel');

    const email = await createTenantFixture(svc, 'ch-email', { channels: ['device', 'email'] });
    expect((await ask(email.issuer, email.client)).status).toBe(200);

    // A user without a phone number is not reached by SMS.
    const sms = await createTenantFixture(svc, 'ch-sms', { channels: ['sms'] });
    expect((await svc.admin('PUT', '/admin/tenants/ch-sms/users/carol', { email: 'carol@example.com' })).status).toBe(
      201,
    );
    expectError(await ask(sms.issuer, sms.client, 'carol'), 403, 'access_denied');
    expect((await ask(sms.issuer, sms.client)).status).toBe(200);
  });

  it('does not count a device where the tenant reaches users by email only', async () => {
    const fx = await createTenantFixture(svc, 'ch-email-only', { channels: ['email'] });
    await svc.admin('PUT', '/admin/tenants/ch-email-only/users/dave', {});
    await enrollDevice(svc, fx, 'dave');
    // dave has a device but no email: nothing the tenant uses reaches him.
    const refused = await ask(fx.issuer, fx.client, 'dave');
    expectError(refused, 403, 'access_denied');
    expect(refused.body.error_description).toBe('the user has no authentication device or channel');
    // alice has an email (and a device too): the link goes by email.
    await enrollDevice(svc, fx);
    expect((await ask(fx.issuer, fx.client)).status).toBe(200);
    const { messages } = await fetch(`${fx.issuer}/mailbox`).then((r) => r.json());
    expect(messages).toHaveLength(1);
    expect(messages[0].channel).toBe('email');
  });
});

/** The secret of the newest link in the tenant's development mailbox. */
const newestLink = async (tenant: string): Promise<{ secret: string; message: Record<string, string> }> => {
  const { messages } = await fetch(`${svc.url}/${tenant}/mailbox`).then((r) => r.json());
  const secret = /\/approve#([A-Za-z0-9_-]{43})/.exec(messages[0].text)?.[1];
  if (!secret) throw new Error('no link in the mailbox');
  return { secret, message: messages[0] };
};

const call = (issuer: string, path: 'view' | 'decide', body: Record<string, unknown>) =>
  fetch(`${issuer}/approve/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  }).then(async (res) => ({ status: res.status, headers: res.headers, body: await res.json() }));

const poll = (fx: TenantFixture, authReqId: string) =>
  postForm(`${fx.issuer}/oauth/token`, { grant_type: CIBA_GRANT, auth_req_id: authReqId }, fx.client);

describe('approval links: hostile input', () => {
  let fx: TenantFixture;
  let other: TenantFixture;

  beforeAll(async () => {
    fx = await createTenantFixture(svc, 'ch-hostile', { channels: ['sms'], user_rate_limit_per_minute: 50 });
    other = await createTenantFixture(svc, 'ch-hostile-other', { channels: ['sms'], user_rate_limit_per_minute: 50 });
  });

  it('sends an SMS to the phone number naming tenant and client, with a 256-bit secret and no token', async () => {
    const ack = await ask(fx.issuer, fx.client);
    expect(ack.status).toBe(200);
    const { secret, message } = await newestLink(fx.tenant);
    expect(message).toMatchObject({ channel: 'sms', to: '+15555550100' });
    expect(message.text).toContain('ch-hostile: Test Console asks you to confirm');
    expect(message.text).not.toContain(ack.body.auth_req_id);
    expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
    // The log says a link was sent, never which.
    expect(svc.logs.some((l) => l.includes('approval link sent') && l.includes('"channel":"sms"'))).toBe(true);
    expect(svc.logs.join('\n')).not.toContain(secret);
    const view = await call(fx.issuer, 'view', { link: secret });
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({ state: 'pending', client_name: 'Test Console', binding_message: 'Code 7Q-44' });
    expect(view.body.txn).toBeUndefined();
  });

  it('answers a tampered, unknown, malformed or other-tenant link with the same 404, and changes nothing', async () => {
    const ack = await ask(fx.issuer, fx.client);
    const { secret } = await newestLink(fx.tenant);
    const flipped = `${secret.slice(0, 10)}${secret[10] === 'A' ? 'B' : 'A'}${secret.slice(11)}`;
    const answers = [
      await call(fx.issuer, 'view', { link: flipped }),
      await call(fx.issuer, 'view', { link: 'A'.repeat(43) }),
      await call(fx.issuer, 'view', { link: `${secret}x` }),
      await call(fx.issuer, 'view', { link: secret.slice(0, 42) }),
      await call(other.issuer, 'view', { link: secret }),
      await call(fx.issuer, 'decide', { link: flipped, decision: 'approve' }),
      await call(other.issuer, 'decide', { link: secret, decision: 'approve' }),
    ];
    for (const answer of answers) expect(answer).toMatchObject({ status: 404, body: answers[0]!.body });
    expect(answers[0]!.body.error).toBe('not_found');
    expectError(await poll(fx, ack.body.auth_req_id), 400, 'authorization_pending');
    expectError(await call(fx.issuer, 'decide', { link: secret, decision: 'maybe' }), 400, 'invalid_request');
    expectError(await call(fx.issuer, 'view', { link: secret, extra: 1 }), 400, 'invalid_request');
    // Still pending and decidable by its own link.
    expect((await call(fx.issuer, 'view', { link: secret })).body.state).toBe('pending');
  });

  it('decides once: a replay or another decision is 409 with the outcome, and the client sees the first', async () => {
    const ack = await ask(fx.issuer, fx.client);
    const { secret } = await newestLink(fx.tenant);
    const [a, b] = await Promise.all([
      call(fx.issuer, 'decide', { link: secret, decision: 'deny' }),
      call(fx.issuer, 'decide', { link: secret, decision: 'approve' }),
    ]);
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual([200, 409]);
    const won = a.status === 200 ? a.body.state : b.body.state;
    const lost = a.status === 409 ? a.body : b.body;
    expect(lost).toMatchObject({ error: 'request_not_pending', state: won });
    const replay = await call(fx.issuer, 'decide', { link: secret, decision: 'deny' });
    expect(replay).toMatchObject({ status: 409, body: { error: 'request_not_pending', state: won } });
    expect((await call(fx.issuer, 'view', { link: secret })).body).toMatchObject({ state: won });
    const polled = await poll(fx, ack.body.auth_req_id);
    if (won === 'approved') expect(polled.status).toBe(200);
    else expectError(polled, 400, 'access_denied');
  });

  it('dies with its request: an expired link shows the outcome and decides nothing', async () => {
    const ack = await ask(fx.issuer, fx.client);
    const { secret } = await newestLink(fx.tenant);
    offset += 301_000;
    try {
      expect((await call(fx.issuer, 'view', { link: secret })).body).toMatchObject({ state: 'expired' });
      expect(await call(fx.issuer, 'decide', { link: secret, decision: 'approve' })).toMatchObject({
        status: 409,
        body: { error: 'request_not_pending', state: 'expired' },
      });
      expectError(await poll(fx, ack.body.auth_req_id), 400, 'expired_token');
    } finally {
      offset -= 301_000;
    }
  });

  it('under number matching: withholds the code, counts wrong ones, approves with the right one (email-link acr)', async () => {
    const bound = await createTenantFixture(svc, 'ch-bound', {
      channels: ['email'],
      binding_code_confirmation: true,
    });
    const ack = await ask(bound.issuer, bound.client);
    const { secret } = await newestLink(bound.tenant);
    const view = await call(bound.issuer, 'view', { link: secret });
    expect(view.body).toMatchObject({ state: 'pending', binding_code_required: true });
    expect(view.body.binding_message).toBeUndefined();
    expectError(await call(bound.issuer, 'decide', { link: secret, decision: 'approve' }), 400, 'invalid_request');
    const wrong = await call(bound.issuer, 'decide', { link: secret, decision: 'approve', binding_code: '1234' });
    expect(wrong).toMatchObject({
      status: 400,
      body: { error: 'invalid_binding_code', attempts_left: 2, status: 'pending' },
    });
    const right = await call(bound.issuer, 'decide', { link: secret, decision: 'approve', binding_code: 'code 7q44' });
    expect(right).toMatchObject({ status: 200, body: { state: 'approved' } });
    const tokens = await poll(bound, ack.body.auth_req_id);
    expect(tokens.status).toBe(200);
    const { decodeJwt } = await import('jose');
    expect(decodeJwt(tokens.body.id_token).acr).toBe('urn:ciba-service:acr:email-link');
  });

  it('reports: denies and shields the user from the client', async () => {
    const reporting = await createTenantFixture(svc, 'ch-report', { channels: ['email'] });
    const ack = await ask(reporting.issuer, reporting.client);
    const { secret } = await newestLink(reporting.tenant);
    expect(await call(reporting.issuer, 'decide', { link: secret, decision: 'report' })).toMatchObject({
      status: 200,
      body: { state: 'reported' },
    });
    expectError(await poll(reporting, ack.body.auth_req_id), 400, 'access_denied');
    expectError(await ask(reporting.issuer, reporting.client), 403, 'access_denied');
  });

  it('cannot approve where the tenant requires a passkey (deny and report stay)', async () => {
    const uv = await createTenantFixture(svc, 'ch-uv', { channels: ['email'], user_verification: 'passkey' });
    await ask(uv.issuer, uv.client);
    const { secret } = await newestLink(uv.tenant);
    expect((await call(uv.issuer, 'view', { link: secret })).body.can_approve).toBe(false);
    expectError(
      await call(uv.issuer, 'decide', { link: secret, decision: 'approve' }),
      400,
      'user_verification_required',
    );
    expect((await call(uv.issuer, 'decide', { link: secret, decision: 'deny' })).status).toBe(200);
  });

  it('is not sent to a user with a device when the device comes first', async () => {
    const both = await createTenantFixture(svc, 'ch-device-first', { channels: ['device', 'email'] });
    await enrollDevice(svc, both);
    await ask(both.issuer, both.client);
    const { messages } = await fetch(`${both.issuer}/mailbox`).then((r) => r.json());
    expect(messages).toEqual([]);
  });
});

describe('channel_fallback_seconds', () => {
  /** The tenant's mailbox, once it has a message (the fallback timer fires after a second of real time). */
  const firstMessage = async (tenant: string) => {
    let messages: { text: string; channel: string }[] = [];
    await expect
      .poll(
        async () => {
          messages = (await fetch(`${svc.url}/${tenant}/mailbox`).then((r) => r.json())).messages;
          return messages.length;
        },
        { timeout: 20_000, interval: 100 },
      )
      .toBeGreaterThan(0);
    return messages;
  };

  it('sends a pending device request by SMS once, and the device decision then settles it for both', async () => {
    const fx = await createTenantFixture(svc, 'ch-fallback', {
      channels: ['device', 'sms'],
      channel_fallback_seconds: 1,
      user_rate_limit_per_minute: 20,
    });
    const device = await enrollDevice(svc, fx);
    const ack = await ask(fx.issuer, fx.client);
    const txn = await nextTxn(device);
    const messages = await firstMessage(fx.tenant);
    expect(messages).toHaveLength(1);
    expect(messages[0]!.channel).toBe('sms');
    const secret = /\/approve#([A-Za-z0-9_-]{43})/.exec(messages[0]!.text)![1]!;
    // The timer fired once; the same timer again (a redelivery) sends nothing more.
    expect(await channelFallback(svc.service.deps, { tenantId: fx.tenant, txn })).toBe('skipped');
    expect((await fetch(`${fx.issuer}/mailbox`).then((r) => r.json())).messages).toHaveLength(1);
    expect((await device.decide(txn, 'approve')).status).toBe(200);
    expect((await call(fx.issuer, 'view', { link: secret })).body.state).toBe('approved');
    expect(await call(fx.issuer, 'decide', { link: secret, decision: 'deny' })).toMatchObject({
      status: 409,
      body: { state: 'approved' },
    });
    const tokens = await poll(fx, ack.body.auth_req_id);
    expect(tokens.status).toBe(200);
    const { decodeJwt } = await import('jose');
    expect(decodeJwt(tokens.body.id_token).acr).toBeUndefined();
  });

  it('a link decision first: the device then gets request_not_pending', async () => {
    const fx = await createTenantFixture(svc, 'ch-fallback-link', {
      channels: ['device', 'email'],
      channel_fallback_seconds: 1,
    });
    const device = await enrollDevice(svc, fx);
    const ack = await ask(fx.issuer, fx.client);
    const txn = await nextTxn(device);
    const [message] = await firstMessage(fx.tenant);
    const secret = /\/approve#([A-Za-z0-9_-]{43})/.exec(message!.text)![1]!;
    expect((await call(fx.issuer, 'decide', { link: secret, decision: 'deny' })).status).toBe(200);
    expectError(await device.decide(txn, 'approve'), 409, 'request_not_pending');
    expectError(await poll(fx, ack.body.auth_req_id), 400, 'access_denied');
  });

  it('does not fall back once the request is decided, nor for another tenant', async () => {
    const fx = await createTenantFixture(svc, 'ch-fallback-decided', {
      channels: ['device', 'email'],
      channel_fallback_seconds: 600,
    });
    const device = await enrollDevice(svc, fx);
    await ask(fx.issuer, fx.client);
    const txn = await nextTxn(device);
    expect(await channelFallback(svc.service.deps, { tenantId: 'ch-hostile', txn })).toBe('skipped');
    expect((await device.decide(txn, 'deny')).status).toBe(200);
    expect(await channelFallback(svc.service.deps, { tenantId: fx.tenant, txn })).toBe('skipped');
    expect((await fetch(`${fx.issuer}/mailbox`).then((r) => r.json())).messages).toEqual([]);
  });
});

describe('sms_daily_limit', () => {
  it("sends at most the tenant's daily number of text messages, and logs the ones it holds back", async () => {
    const fx = await createTenantFixture(svc, 'ch-sms-cap', {
      channels: ['sms'],
      sms_daily_limit: 2,
      user_rate_limit_per_minute: 10,
    });
    expectError(await svc.admin('PUT', '/admin/tenants/ch-sms-cap', { sms_daily_limit: -1 }), 400, 'invalid_request');
    for (let i = 0; i < 3; i++) expect((await ask(fx.issuer, fx.client)).status).toBe(200);
    const { messages } = await fetch(`${fx.issuer}/mailbox`).then((r) => r.json());
    expect(messages).toHaveLength(2);
    expect(
      svc.logs.filter((l) => l.includes('the daily SMS limit is reached') && l.includes('ch-sms-cap')),
    ).toHaveLength(1);
    expect((await svc.admin('GET', '/admin/tenants/ch-sms-cap')).body.sms_daily_limit).toBe(2);
  });
});
