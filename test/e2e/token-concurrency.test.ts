import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../helpers/expect-error.ts';
import {
  CIBA_GRANT,
  createTenantFixture,
  enrollDevice,
  nextTxn,
  postForm,
  startTestService,
  type TenantFixture,
  type TestDevice,
  type TestService,
} from '../helpers/service.ts';

/** Polls that race the approval may still see the request pending; none of them may be a second token. */
const BEFORE_APPROVAL = ['authorization_pending', 'slow_down'];

describe('token redemption under concurrency', () => {
  let svc: TestService;
  let fx: TenantFixture;
  let device: TestDevice;

  const start = async () =>
    (await postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice' }, fx.client)).body
      .auth_req_id as string;
  const poll = (authReqId: string) =>
    postForm(`${fx.issuer}/oauth/token`, { grant_type: CIBA_GRANT, auth_req_id: authReqId }, fx.client);

  beforeAll(async () => {
    svc = await startTestService();
    fx = await createTenantFixture(svc, 'race', { user_rate_limit_per_minute: 1000 });
    device = await enrollDevice(svc, fx);
  });
  afterAll(() => svc.stop());

  it('answers 50 simultaneous polls after approval with exactly one token response and invalid_grant for the rest', async () => {
    const authReqId = await start();
    expect((await device.decide(await nextTxn(device), 'approve')).status).toBe(200);

    const results = await Promise.all(Array.from({ length: 50 }, () => poll(authReqId)));
    const tokens = results.filter((r) => r.status === 200);
    expect(tokens).toHaveLength(1);
    expect(tokens[0]!.body.access_token).toBeTruthy();
    expect(tokens[0]!.headers.get('cache-control')).toBe('no-store');
    for (const r of results.filter((r) => r.status !== 200)) expectError(r, 400, 'invalid_grant');

    const state = await svc.admin('GET', `/admin/tenants/race/requests/${authReqId}`);
    expect(state.body.state).toBe('redeemed');
  });

  it('never issues a second token when 50 polls race the approval itself', async () => {
    const authReqId = await start();
    const txn = await nextTxn(device);
    const polls = Array.from({ length: 50 }, async (_, i) => {
      await new Promise((r) => setTimeout(r, i * 3));
      return poll(authReqId);
    });
    const [decision, ...results] = await Promise.all([device.decide(txn, 'approve'), ...polls]);
    expect(decision.status).toBe(200);
    // Whatever the interleaving, a poll after the approval finds the grant (or that it was redeemed).
    results.push(await poll(authReqId));

    if (!results.some((r) => r.status === 200)) {
      // Every poll ran before the approval was visible: the grant is still there for the next one.
      await new Promise((r) => setTimeout(r, 1100));
      results.push(await poll(authReqId));
    }
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    for (const r of results.filter((r) => r.status !== 200)) {
      expect(r.status).toBe(400);
      expect(['invalid_grant', ...BEFORE_APPROVAL]).toContain(r.body.error);
    }
    expect((await poll(authReqId)).body.error).toBe('invalid_grant');
  });

  it('answers invalid_grant to a repeated redemption after success, again and again', async () => {
    const authReqId = await start();
    await device.decide(await nextTxn(device), 'approve');
    expect((await poll(authReqId)).status).toBe(200);
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 1100));
      expectError(await poll(authReqId), 400, 'invalid_grant');
    }
  });
});
