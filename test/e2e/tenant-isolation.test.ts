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
  TestDevice,
  type TestService,
} from '../helpers/service.ts';

const UNKNOWN_AUTH_REQ_ID = `${'Q'.repeat(22)}.${'R'.repeat(27)}`;
const UNKNOWN_TXN = 'Q'.repeat(22);

describe('tenant isolation: tenant B cannot read, approve or redeem anything of tenant A, nor tell it from nothing', () => {
  let svc: TestService;
  let a: TenantFixture;
  let b: TenantFixture;
  let deviceA: TestDevice;
  let deviceB: TestDevice;
  let authReqId: string;
  let txn: string;

  const poll = (fx: TenantFixture, id: string, client = fx.client) =>
    postForm(`${fx.issuer}/oauth/token`, { grant_type: CIBA_GRANT, auth_req_id: id }, client);

  beforeAll(async () => {
    svc = await startTestService();
    // The same chosen client_id in both tenants: the tenant, not the client id, must keep them apart.
    const sameId = { client_id: 'shared-console' };
    a = await createTenantFixture(svc, 'tenant-a', { user_rate_limit_per_minute: 1000 }, sameId);
    b = await createTenantFixture(svc, 'tenant-b', { user_rate_limit_per_minute: 1000 }, sameId);
    deviceA = await enrollDevice(svc, a);
    deviceB = await enrollDevice(svc, b);
    const ack = await postForm(
      `${a.issuer}/bc-authorize`,
      { scope: 'openid', login_hint: 'alice', binding_message: 'A only' },
      a.client,
    );
    authReqId = ack.body.auth_req_id;
    txn = await nextTxn(deviceA);
  });
  afterAll(() => svc.stop());

  it("answers B's client redeeming A's auth_req_id with invalid_grant, the same body as for a random id", async () => {
    const foreign = await poll(b, authReqId);
    const unknown = await poll(b, UNKNOWN_AUTH_REQ_ID);
    expectError(foreign, 400, 'invalid_grant');
    expect(foreign.body).toEqual(unknown.body);
  });

  it("shows B's device an empty pending list and 404 for A's txn, identical to an unknown txn", async () => {
    const pending = await deviceB.pending();
    expect(pending.status).toBe(200);
    expect(pending.body).toEqual({ transactions: [] });

    const details = await deviceB.call('GET', `/device/transactions/${txn}`);
    const unknown = await deviceB.call('GET', `/device/transactions/${UNKNOWN_TXN}`);
    expectError(details, 404, 'not_found');
    expect(details.body).toEqual(unknown.body);

    for (const decision of ['approve', 'deny'] as const) {
      const decided = await deviceB.decide(txn, decision);
      expectError(decided, 404, 'not_found');
      expect(decided.body).toEqual((await deviceB.decide(UNKNOWN_TXN, decision)).body);
    }
  });

  it("refuses A's device proof at B with 401", async () => {
    // The same key and device, pointed at tenant B's URLs.
    const stranger = Object.assign(Object.create(TestDevice.prototype), deviceA, { issuer: b.issuer }) as TestDevice;
    const res = await stranger.pending();
    expectError(res, 401, 'invalid_dpop_proof');
    expect(res.headers.get('www-authenticate')).toBe('DPoP error="invalid_dpop_proof"');
    expectError(await stranger.call('GET', `/device/transactions/${txn}`), 401, 'invalid_dpop_proof');
    expectError(await stranger.decide(txn, 'approve'), 401, 'invalid_dpop_proof');
  });

  it("answers B's client credentials at A with invalid_client", async () => {
    const bc = await postForm(`${a.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice' }, b.client);
    expectError(bc, 401, 'invalid_client');
    expectError(await poll(a, authReqId, b.client), 401, 'invalid_client');
  });

  it("answers the admin GET of A's request under B with 404", async () => {
    expect((await svc.admin('GET', `/admin/tenants/tenant-a/requests/${authReqId}`)).status).toBe(200);
    const foreign = await svc.admin('GET', `/admin/tenants/tenant-b/requests/${authReqId}`);
    expectError(foreign, 404, 'not_found');
    expect(foreign.body).toEqual(
      (await svc.admin('GET', `/admin/tenants/tenant-b/requests/${UNKNOWN_AUTH_REQ_ID}`)).body,
    );
  });

  it("refuses B's admin paths for A's device", async () => {
    expectError(
      await svc.admin('DELETE', `/admin/tenants/tenant-b/users/alice/devices/${deviceA.deviceId}`),
      404,
      'not_found',
    );
    expect((await deviceA.pending()).status).toBe(200);
  });

  it("leaves A's flow intact: A's device approves and A's client redeems exactly once", async () => {
    // B's client polled A's approved request (below) before A's client does: that must not burn it.
    const details = await deviceA.call('GET', `/device/transactions/${txn}`);
    expect(details.body).toMatchObject({ txn, status: 'pending', binding_message: 'A only' });
    expect((await deviceA.decide(txn, 'approve')).body).toEqual({ txn, status: 'approved' });

    expectError(await poll(b, authReqId), 400, 'invalid_grant');
    const state = await svc.admin('GET', `/admin/tenants/tenant-a/requests/${authReqId}`);
    expect(state.body.state).toBe('approved');
    expect(state.body.last_polled_at).toBeUndefined();

    const tokens = await poll(a, authReqId);
    expect(tokens.status, JSON.stringify(tokens.body)).toBe(200);
    expect(tokens.body.access_token).toBeTruthy();
    expectError(await poll(a, authReqId), 400, 'invalid_grant');
  });

  it('keeps a new device of B from seeing anything of A', async () => {
    const other = await TestDevice.create(b.issuer);
    const ticket = await svc.admin('POST', '/admin/tenants/tenant-b/users/alice/enrollment-tickets');
    expect((await other.enroll(ticket.body.ticket)).status).toBe(201);
    await postForm(`${a.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice' }, a.client);
    await nextTxn(deviceA);
    expect((await other.pending()).body).toEqual({ transactions: [] });
  });
});
