/**
 * Abuse controls (issue 7, SECURITY.md): per-client and per-tenant request budgets, the cap on pending requests,
 * the user_code attempt counter, and short-lived enrollment tickets. The per-user limit, proof replay and
 * single-use tickets are tested in test/e2e (conformance 26, device-api).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LEDGER_TABLE_DEFAULT } from '../../lib/adapters/dynamodb-schema.ts';
import { USER_CODE_LOCKOUT_SECONDS, USER_CODE_MAX_FAILURES, USER_CODE_MAX_FAILURES_PER_USER } from '../../lib/model.ts';
import { expectError } from '../helpers/expect-error.ts';
import {
  CIBA_GRANT,
  createTenantFixture,
  postForm,
  reachableUsers,
  startTestService,
  TestDevice,
  type TestService,
} from '../helpers/service.ts';
import { scanTables } from './faults.ts';

let offset = 0;
/** Set, the service's clock stands still (a test that must not see a window pass however slow the machine is). */
let frozenAt: number | undefined;
const clock = { now: () => frozenAt ?? Date.now() + offset };
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
afterEach(() => {
  frozenAt = undefined;
});

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
    const fx = await createTenantFixture(
      svc,
      'rl-client',
      {
        client_rate_limit_per_minute: 3,
        user_rate_limit_per_minute: 1000,
      },
      {},
      { device: true },
    );
    const other = await newClient(fx.tenant);
    startOfWindow(60_000);
    for (let i = 0; i < 3; i++) expect((await ask(fx.issuer, fx.client)).status).toBe(200);
    expectOverCapacity(await ask(fx.issuer, fx.client), 60);
    expect((await ask(fx.issuer, other)).status).toBe(200);
    offset += 60_000;
    expect((await ask(fx.issuer, fx.client)).status).toBe(200);
  });

  it('admits exactly the limit from a parallel burst (one conditional write per request)', async () => {
    const fx = await createTenantFixture(
      svc,
      'rl-burst',
      {
        client_rate_limit_per_minute: 7,
        user_rate_limit_per_minute: 1000,
      },
      {},
      { device: true },
    );
    // The whole burst in one minute (one straddling a boundary could be admitted 7 + k times, k from 0 to 7).
    startOfWindow(60_000);
    const answers = await Promise.all(Array.from({ length: 25 }, () => ask(fx.issuer, fx.client)));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(7);
    expect(statuses.filter((s) => s !== 200).every((s) => s === 503)).toBe(true);
  });

  it('limits the tenant as a whole to tenant_rate_limit_per_minute across clients', async () => {
    const fx = await createTenantFixture(
      svc,
      'rl-tenant',
      {
        tenant_rate_limit_per_minute: 4,
        user_rate_limit_per_minute: 1000,
      },
      {},
      { device: true },
    );
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
    const fx = await createTenantFixture(
      svc,
      'rl-pending',
      {
        max_pending_requests: 3,
        user_rate_limit_per_minute: 1000,
        backchannel_expires_in: 120,
        backchannel_max_expires_in: 120,
      },
      {},
      { device: true },
    );
    for (let i = 0; i < 3; i++) expect((await ask(fx.issuer, fx.client)).status).toBe(200);
    expectOverCapacity(await ask(fx.issuer, fx.client), 240);
    // Two expiry periods later every one of them has expired: room again.
    offset += 240_000;
    expect((await ask(fx.issuer, fx.client)).status).toBe(200);
  });

  it('refuses every user_code from a client for a user after repeated wrong ones, the right one included, until the window ends', async () => {
    const fx = await createTenantFixture(svc, 'uc-lock', { user_rate_limit_per_minute: 1000 }, {}, { device: true });
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
    const fx = await createTenantFixture(svc, 'uc-edge', { user_rate_limit_per_minute: 1000 }, {}, { device: true });
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

  it('rule 6: wrong user_codes from client A lock out A only; client B redeems for the same user meanwhile', async () => {
    const fx = await createTenantFixture(
      svc,
      'uc-per-client',
      { user_rate_limit_per_minute: 1000 },
      {},
      { device: true },
    );
    expect((await svc.admin('PUT', `/admin/tenants/${fx.tenant}/users/alice`, { user_code: '4242' })).status).toBe(200);
    // Device proofs carry the service's (moved) clock.
    const iat = () => Math.floor(clock.now() / 1000);
    const device = await TestDevice.create(fx.issuer);
    const ticket = await svc.admin('POST', `/admin/tenants/${fx.tenant}/users/alice/enrollment-tickets`);
    const enrollment = `${fx.issuer}/device/enrollments`;
    const enrolled = await device.call(
      'POST',
      '/device/enrollments',
      { ticket: ticket.body.ticket },
      await device.proof('POST', enrollment, {}, iat()),
    );
    expect(enrolled.status).toBe(201);
    const a = await newClient(fx.tenant, { backchannel_user_code_parameter: true });
    const b = await newClient(fx.tenant, { backchannel_user_code_parameter: true });
    startOfWindow(USER_CODE_LOCKOUT_SECONDS * 1000);
    for (let i = 0; i < USER_CODE_MAX_FAILURES; i++) {
      expectError(await ask(fx.issuer, a, { user_code: `000${i}` }), 400, 'invalid_user_code');
    }
    expectError(await ask(fx.issuer, a, { user_code: '4242' }), 403, 'access_denied');
    // B was never wrong: its request goes through, is approved on the device and redeemed.
    const ack = await ask(fx.issuer, b, { user_code: '4242' });
    expect(ack.status, JSON.stringify(ack.body)).toBe(200);
    const list = await device.call(
      'GET',
      '/device/transactions',
      undefined,
      await device.proof('GET', `${fx.issuer}/device/transactions`, {}, iat()),
    );
    const txn = list.body.transactions[0].txn as string;
    const url = `${fx.issuer}/device/transactions/${txn}`;
    const decided = await device.call(
      'POST',
      `/device/transactions/${txn}`,
      { decision: 'approve' },
      await device.proof('POST', url, { txn, decision: 'approve' }, iat()),
    );
    expect(decided.status, JSON.stringify(decided.body)).toBe(200);
    const tokens = await postForm(
      `${fx.issuer}/oauth/token`,
      { grant_type: CIBA_GRANT, auth_req_id: ack.body.auth_req_id },
      b,
    );
    expect(tokens.status, JSON.stringify(tokens.body)).toBe(200);
    expect(tokens.body.id_token).toBeTypeOf('string');
    // A is still locked out.
    expectError(await ask(fx.issuer, a, { user_code: '4242' }), 403, 'access_denied');
  });

  it('rule 6: a backstop of 20 wrong user_codes for a user across clients locks out every client', async () => {
    const fx = await createTenantFixture(
      svc,
      'uc-backstop',
      { user_rate_limit_per_minute: 1000 },
      {},
      { device: true },
    );
    expect((await svc.admin('PUT', `/admin/tenants/${fx.tenant}/users/alice`, { user_code: '4242' })).status).toBe(200);
    const clients = [];
    for (let i = 0; i <= USER_CODE_MAX_FAILURES_PER_USER / USER_CODE_MAX_FAILURES; i++) {
      clients.push(await newClient(fx.tenant, { backchannel_user_code_parameter: true }));
    }
    const fresh = clients.pop()!;
    startOfWindow(USER_CODE_LOCKOUT_SECONDS * 1000);
    expect((await ask(fx.issuer, fresh, { user_code: '4242' })).status).toBe(200);
    for (const client of clients) {
      for (let i = 0; i < USER_CODE_MAX_FAILURES; i++) {
        expectError(await ask(fx.issuer, client, { user_code: `000${i}` }), 400, 'invalid_user_code');
      }
    }
    // The client that was never wrong is refused too now; the window's end lifts it.
    expectError(await ask(fx.issuer, fresh, { user_code: '4242' }), 403, 'access_denied');
    offset += 2 * USER_CODE_LOCKOUT_SECONDS * 1000;
    expect((await ask(fx.issuer, fresh, { user_code: '4242' })).status).toBe(200);
  });

  it('rule 6: requests refused before they exist hold no pending slot: 1,000 for unknown users leave the count untouched', async () => {
    // Requests in flight hold a slot each until refused: room for the ten sent at once, and one more.
    const CAP = 12;
    const fx = await createTenantFixture(svc, 'rl-unknown', {
      max_pending_requests: CAP,
      user_rate_limit_per_minute: 1,
      client_rate_limit_per_minute: 1_000_000,
      tenant_rate_limit_per_minute: 1_000_000,
    });
    const subs = Array.from({ length: CAP }, (_, i) => `user-${i}`);
    for (const sub of subs) {
      const put = await svc.admin('PUT', `/admin/tenants/${fx.tenant}/users/${sub}`, { user_code: '4242' });
      expect(put.status).toBe(201);
    }
    await reachableUsers(svc, fx, 'alice', ...subs);
    await svc.admin('PUT', `/admin/tenants/${fx.tenant}/users/no-device`, { name: 'Nobody reaches me' });
    const coded = await newClient(fx.tenant, { backchannel_user_code_parameter: true });
    // Summed over the tenant's counter shards: the requests of the (frozen) pending window and the one before.
    const pendingCount = async () => {
      let sum = 0;
      const name = `p.300000.${Math.floor(clock.now() / 300_000)}`;
      for (const [key, item] of await scanTables(svc)) {
        if (key.startsWith(`${LEDGER_TABLE_DEFAULT}|QUOTA#SHARD#${fx.tenant}#`)) sum += Number(item[name] ?? 0);
      }
      return sum;
    };
    // One minute and one pending window (300 s) for the whole test, however long 1,000 requests take.
    startOfWindow(300_000);
    frozenAt = clock.now();
    expect((await ask(fx.issuer, fx.client)).status).toBe(200);
    const before = await pendingCount();
    expect(before).toBe(1);
    // 1,000 requests for users that do not exist, ten at a time, named by user id and by e-mail address.
    for (let i = 0; i < 100; i++) {
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, j) =>
          ask(fx.issuer, fx.client, { login_hint: j % 2 ? `nobody-${i}-${j}` : `email:nobody-${i}-${j}@example.com` }),
        ),
      );
      for (const answer of answers) expectError(answer, 400, 'unknown_user_id');
    }
    // Refused later for other reasons: the per-user limit (alice has had her one a minute), a wrong user_code, a user
    // without a device (asked twice: her budget of one is not spent either).
    expectError(await ask(fx.issuer, fx.client), 403, 'access_denied');
    for (let i = 0; i < 2; i++) {
      const unreachable = await ask(fx.issuer, fx.client, { login_hint: 'no-device' });
      expectError(unreachable, 403, 'access_denied');
      expect(unreachable.body.error_description).toBe('the user has no authentication device or channel');
    }
    expectError(await ask(fx.issuer, coded, { login_hint: subs[0]!, user_code: '0000' }), 400, 'invalid_user_code');
    expect(await pendingCount()).toBe(before);
    // Every other pending slot is still there for real requests; then the cap holds.
    for (const sub of subs.slice(1)) {
      expect((await ask(fx.issuer, coded, { login_hint: sub, user_code: '4242' })).status).toBe(200);
    }
    expectOverCapacity(await ask(fx.issuer, fx.client, { login_hint: 'bob' }), 600);
    // A thousand requests take seconds on an idle machine, minutes on a loaded one: no timing is asserted.
  }, 600_000);

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
    const fx = await createTenantFixture(svc, 'entropy', { user_rate_limit_per_minute: 1000 }, {}, { device: true });
    const ack = await ask(fx.issuer, fx.client);
    // base64url: 22 characters = 16 bytes, 27 characters = 20 bytes (CIBA §7.3 asks for at least 128 bits).
    expect(ack.body.auth_req_id).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{27}$/);
  });
});
