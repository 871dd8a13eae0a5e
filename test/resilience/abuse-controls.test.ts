/**
 * Abuse controls (issue 7, SECURITY.md): per-client and per-tenant request budgets, the cap on pending requests,
 * the user_code attempt counter, and short-lived enrollment tickets. The per-user limit, proof replay and
 * single-use tickets are tested in test/e2e (conformance 26, device-api).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USER_CODE_LOCKOUT_SECONDS, USER_CODE_MAX_FAILURES } from '../../lib/model.ts';
import { expectError } from '../helpers/expect-error.ts';
import {
  CIBA_GRANT,
  createTenantFixture,
  postForm,
  startTestService,
  TestDevice,
  type TestService,
} from '../helpers/service.ts';

let offset = 0;
const clock = { now: () => Date.now() + offset };
let svc: TestService;

/**
 * Moves the service's clock to 1 s past the start of the next fixed window of `windowMs` (the budgets count in fixed
 * windows: a minute for clients and tenants, USER_CODE_LOCKOUT_SECONDS for wrong user codes). A test that fills a
 * budget then has the rest of the window (59 s for a minute, more than a test may run) before the count starts over;
 * without this, a minute boundary between the requests would admit the one expected to be refused.
 */
const startOfWindow = (windowMs: number) => {
  offset += windowMs - (clock.now() % windowMs) + 1_000;
};

beforeAll(async () => {
  svc = await startTestService({ clock });
});
afterAll(() => svc?.stop());

const newClient = async (tenant: string, extra: Record<string, unknown> = {}) => {
  const res = await svc.admin('POST', `/admin/tenants/${tenant}/clients`, {
    client_name: 'Another',
    grant_types: [CIBA_GRANT],
    backchannel_token_delivery_mode: 'poll',
    ...extra,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { client_id: res.body.client_id as string, client_secret: res.body.client_secret as string };
};

const ask = (
  issuer: string,
  client: { client_id: string; client_secret: string },
  extra: Record<string, string> = {},
) => postForm(`${issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice', ...extra }, client);

/** Refused for capacity: 503 temporarily_unavailable with a Retry-After within the window. */
const expectOverCapacity = (res: Awaited<ReturnType<typeof ask>>, maxRetryAfter: number) => {
  expectError(res, 503, 'temporarily_unavailable');
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(maxRetryAfter);
};

describe('abuse controls', () => {
  it('limits each client to client_rate_limit_per_minute with 503 temporarily_unavailable, and not other clients', async () => {
    const fx = await createTenantFixture(svc, 'rl-client', {
      client_rate_limit_per_minute: 3,
      user_rate_limit_per_minute: 1000,
    });
    const other = await newClient(fx.tenant);
    startOfWindow(60_000);
    for (let i = 0; i < 3; i++) expect((await ask(fx.issuer, fx.client)).status).toBe(200);
    expectOverCapacity(await ask(fx.issuer, fx.client), 60);
    expect((await ask(fx.issuer, other)).status).toBe(200);
    offset += 60_000;
    expect((await ask(fx.issuer, fx.client)).status).toBe(200);
  });

  it('admits exactly the limit from a parallel burst (one conditional write per request)', async () => {
    const fx = await createTenantFixture(svc, 'rl-burst', {
      client_rate_limit_per_minute: 7,
      user_rate_limit_per_minute: 1000,
    });
    // The whole burst in one minute (one straddling a boundary could be admitted 7 + k times, k from 0 to 7).
    startOfWindow(60_000);
    const answers = await Promise.all(Array.from({ length: 25 }, () => ask(fx.issuer, fx.client)));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(7);
    expect(statuses.filter((s) => s !== 200).every((s) => s === 503)).toBe(true);
  });

  it('limits the tenant as a whole to tenant_rate_limit_per_minute across clients', async () => {
    const fx = await createTenantFixture(svc, 'rl-tenant', {
      tenant_rate_limit_per_minute: 4,
      user_rate_limit_per_minute: 1000,
    });
    const other = await newClient(fx.tenant);
    startOfWindow(60_000);
    expect((await ask(fx.issuer, fx.client)).status).toBe(200);
    expect((await ask(fx.issuer, other)).status).toBe(200);
    expect((await ask(fx.issuer, fx.client)).status).toBe(200);
    expect((await ask(fx.issuer, other)).status).toBe(200);
    expectOverCapacity(await ask(fx.issuer, other), 60);
    expectOverCapacity(await ask(fx.issuer, fx.client), 60);
  });

  it('caps pending requests per tenant at max_pending_requests, counting every request of the last expiry period', async () => {
    const fx = await createTenantFixture(svc, 'rl-pending', {
      max_pending_requests: 3,
      user_rate_limit_per_minute: 1000,
      backchannel_expires_in: 120,
      backchannel_max_expires_in: 120,
    });
    for (let i = 0; i < 3; i++) expect((await ask(fx.issuer, fx.client)).status).toBe(200);
    expectOverCapacity(await ask(fx.issuer, fx.client), 240);
    // Two expiry periods later every one of them has expired: room again.
    offset += 240_000;
    expect((await ask(fx.issuer, fx.client)).status).toBe(200);
  });

  it('refuses every user_code for a user after repeated wrong ones, the right one included, until the window ends', async () => {
    const fx = await createTenantFixture(svc, 'uc-lock', { user_rate_limit_per_minute: 1000 });
    expect((await svc.admin('PUT', `/admin/tenants/${fx.tenant}/users/alice`, { user_code: '4242' })).status).toBe(200);
    const client = await newClient(fx.tenant, { backchannel_user_code_parameter: true });
    // Wrong codes are counted in fixed windows of the lockout's length: all of them in one.
    startOfWindow(USER_CODE_LOCKOUT_SECONDS * 1000);
    expect((await ask(fx.issuer, client, { user_code: '4242' })).status).toBe(200);
    for (let i = 0; i < USER_CODE_MAX_FAILURES; i++) {
      expectError(await ask(fx.issuer, client, { user_code: `000${i}` }), 400, 'invalid_user_code');
    }
    expectError(await ask(fx.issuer, client, { user_code: '4242' }), 403, 'access_denied');
    expectError(await ask(fx.issuer, client, { user_code: '0000' }), 403, 'access_denied');
    // The previous window still counts in the next one; after that the count starts over.
    offset += USER_CODE_LOCKOUT_SECONDS * 1000;
    expectError(await ask(fx.issuer, client, { user_code: '4242' }), 403, 'access_denied');
    offset += USER_CODE_LOCKOUT_SECONDS * 1000;
    expect((await ask(fx.issuer, client, { user_code: '4242' })).status).toBe(200);
  });

  it('counts wrong user_codes across a window boundary: never more than the maximum within one lockout period', async () => {
    const fx = await createTenantFixture(svc, 'uc-edge', { user_rate_limit_per_minute: 1000 });
    expect((await svc.admin('PUT', `/admin/tenants/${fx.tenant}/users/alice`, { user_code: '4242' })).status).toBe(200);
    const client = await newClient(fx.tenant, { backchannel_user_code_parameter: true });
    // All but one wrong code in the last seconds of a window, the rest just after it.
    startOfWindow(USER_CODE_LOCKOUT_SECONDS * 1000);
    offset += USER_CODE_LOCKOUT_SECONDS * 1000 - 10_000;
    for (let i = 0; i < USER_CODE_MAX_FAILURES - 1; i++) {
      expectError(await ask(fx.issuer, client, { user_code: `000${i}` }), 400, 'invalid_user_code');
    }
    offset += 20_000;
    expectError(await ask(fx.issuer, client, { user_code: '0009' }), 400, 'invalid_user_code');
    expectError(await ask(fx.issuer, client, { user_code: '0008' }), 403, 'access_denied');
    expectError(await ask(fx.issuer, client, { user_code: '4242' }), 403, 'access_denied');
  });

  it('refuses an enrollment ticket after its 10 minutes, and a ticket is single use', async () => {
    const fx = await createTenantFixture(svc, 'ticket-ttl');
    const ticket = await svc.admin('POST', `/admin/tenants/${fx.tenant}/users/alice/enrollment-tickets`);
    expect(ticket.status).toBe(201);
    expect(ticket.body.expires_in).toBe(600);
    offset += 601_000;
    const late = await TestDevice.create(fx.issuer);
    const proof = await late.proof('POST', `${fx.issuer}/device/enrollments`, {}, Math.floor(clock.now() / 1000));
    expectError(
      await late.call('POST', '/device/enrollments', { ticket: ticket.body.ticket }, proof),
      400,
      'invalid_request',
    );

    const fresh = await svc.admin('POST', `/admin/tenants/${fx.tenant}/users/alice/enrollment-tickets`);
    const first = await TestDevice.create(fx.issuer);
    const iat = () => Math.floor(clock.now() / 1000);
    const url = `${fx.issuer}/device/enrollments`;
    expect(
      (
        await first.call(
          'POST',
          '/device/enrollments',
          { ticket: fresh.body.ticket },
          await first.proof('POST', url, {}, iat()),
        )
      ).status,
    ).toBe(201);
    const second = await TestDevice.create(fx.issuer);
    expectError(
      await second.call(
        'POST',
        '/device/enrollments',
        { ticket: fresh.body.ticket },
        await second.proof('POST', url, {}, iat()),
      ),
      400,
      'invalid_request',
    );
  });

  it('documents its entropy: auth_req_id carries a 128-bit txn and a 160-bit secret', async () => {
    const fx = await createTenantFixture(svc, 'entropy', { user_rate_limit_per_minute: 1000 });
    const ack = await ask(fx.issuer, fx.client);
    // base64url: 22 characters = 16 bytes, 27 characters = 20 bytes (CIBA §7.3 asks for at least 128 bits).
    expect(ack.body.auth_req_id).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{27}$/);
  });
});
