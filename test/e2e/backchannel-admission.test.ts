import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../helpers/expect-error.ts';
import {
  CIBA_GRANT,
  createTenantFixture,
  postForm,
  reachableUsers,
  startTestService,
  type TenantFixture,
  type TestService,
} from '../helpers/service.ts';

/**
 * bc-authorize counts the client's and tenant's budgets beside the user's (one round trip for both,
 * lib/ciba/start-backchannel-authentication.ts), and what one side refuses spends nothing of the other: a request the
 * client's budget refuses gives the user's window back (refundUserRequest), one the user's budget refuses gives the
 * pending slot back (hardening rule 6). SECURITY.md's abuse controls.
 */
describe('bc-authorize: the client, tenant and user budgets side by side', () => {
  let svc: TestService;
  let realNow: () => number;

  beforeAll(async () => {
    svc = await startTestService();
    // Every budget counts in fixed minutes: the service's clock stands in the middle of one, so that no burst below
    // crosses a boundary.
    const { clock } = svc.service.deps;
    realNow = clock.now;
    const midMinute = Math.floor(Date.now() / 60_000) * 60_000 + 30_000;
    clock.now = () => midMinute;
  });
  afterAll(async () => {
    svc.service.deps.clock.now = realNow;
    await svc.stop();
  });

  const newClient = async (fx: TenantFixture, metadata: Record<string, unknown> = {}) => {
    const c = await svc.admin('POST', `/admin/tenants/${fx.tenant}/clients`, {
      client_name: 'Another',
      grant_types: [CIBA_GRANT],
      backchannel_token_delivery_mode: 'poll',
      ...metadata,
    });
    expect(c.status).toBe(201);
    return { client_id: c.body.client_id as string, client_secret: c.body.client_secret as string };
  };

  it('a client over its budget hammering a user spends none of that user’s budget', async () => {
    const fx = await createTenantFixture(
      svc,
      'hammered',
      { user_rate_limit_per_minute: 2, client_rate_limit_per_minute: 3 },
      {},
      { device: true },
    );
    const others = ['bob', 'carol', 'dave'];
    await reachableUsers(svc, fx, ...others);
    const url = `${fx.issuer}/bc-authorize`;
    // The attacker spends its own budget on other users...
    for (const sub of others) {
      expect((await postForm(url, { scope: 'openid', login_hint: sub }, fx.client)).status).toBe(200);
    }
    // ...then hammers alice: every request is refused by the client's budget, concurrently (before this process
    // knows the client is over its budget) and after.
    const burst = await Promise.all(
      Array.from({ length: 12 }, () => postForm(url, { scope: 'openid', login_hint: 'alice' }, fx.client)),
    );
    for (const r of burst) expectError(r, 503, 'temporarily_unavailable');
    for (let i = 0; i < 4; i++) {
      expectError(
        await postForm(url, { scope: 'openid', login_hint: 'alice' }, fx.client),
        503,
        'temporarily_unavailable',
      );
    }
    // Another client still has alice's whole budget of two.
    const legit = await newClient(fx);
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await postForm(url, { scope: 'openid', login_hint: 'alice' }, legit));
    expect(results.map((r) => r.status)).toEqual([200, 200, 403]);
    expect((await fx.device!.pending()).body.transactions).toHaveLength(2);
  });

  it('a request the user’s budget refuses holds no pending slot, and the client’s refusal wins over the user’s', async () => {
    const fx = await createTenantFixture(
      svc,
      'userlimited',
      { user_rate_limit_per_minute: 1, max_pending_requests: 2 },
      {},
      { device: true },
    );
    await reachableUsers(svc, fx, 'bob');
    const url = `${fx.issuer}/bc-authorize`;
    expect((await postForm(url, { scope: 'openid', login_hint: 'alice' }, fx.client)).status).toBe(200);
    // alice's budget is spent: these are refused by it, and give their pending slots back.
    for (let i = 0; i < 5; i++) {
      expectError(
        await postForm(url, { scope: 'openid', login_hint: 'alice' }, fx.client),
        403,
        'access_denied',
        `#${i}`,
      );
    }
    // The second pending slot is still free for bob; then the cap refuses, whatever the user.
    expect((await postForm(url, { scope: 'openid', login_hint: 'bob' }, fx.client)).status).toBe(200);
    expectError(await postForm(url, { scope: 'openid', login_hint: 'bob' }, fx.client), 503, 'temporarily_unavailable');
    expectError(
      await postForm(url, { scope: 'openid', login_hint: 'alice' }, fx.client),
      503,
      'temporarily_unavailable',
    );
    expectError(
      await postForm(url, { scope: 'openid', login_hint: 'nobody' }, fx.client),
      503,
      'temporarily_unavailable',
    );
  });

  it('a wrong user_code counts against the user’s budget; a missing one does not', async () => {
    const fx = await createTenantFixture(svc, 'usercodes', { user_rate_limit_per_minute: 2 });
    expect((await svc.admin('PUT', `/admin/tenants/${fx.tenant}/users/carol`, { user_code: '4242' })).status).toBe(201);
    await reachableUsers(svc, fx, 'carol');
    const client = await newClient(fx, { backchannel_user_code_parameter: true });
    const url = `${fx.issuer}/bc-authorize`;
    const ask = (extra: Record<string, string> = {}) =>
      postForm(url, { scope: 'openid', login_hint: 'carol', ...extra }, client);
    for (let i = 0; i < 3; i++) expectError(await ask(), 400, 'missing_user_code');
    expectError(await ask({ user_code: '0000' }), 400, 'invalid_user_code');
    // The missing codes spent nothing, the wrong one one of the two.
    expect((await ask({ user_code: '4242' })).status).toBe(200);
    expectError(await ask({ user_code: '4242' }), 403, 'access_denied');
  });
});
