/**
 * "That was not me" (docs/device-api.md, docs/admin-api.md): a report denies the request and shields the user from
 * the client for the tenant's report_shield_seconds; and a user no device can reach is refused at once. Both spend
 * nothing of the user's budget or the tenant's pending slots.
 */
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CibaEvent } from '../../lib/ports.ts';
import { eventually } from '../helpers/callback-receiver.ts';
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

let offset = 0;
const clock = { now: () => Date.now() + offset };
let svc: TestService;
const events: CibaEvent[] = [];
const pushes: string[] = [];

beforeAll(async () => {
  svc = await startTestService({ clock });
  svc.service.deps.events.subscribe(async (event) => {
    events.push(event);
  });
  svc.service.deps.notifier.subscribe((_device, notification) => pushes.push(notification.txn));
});
afterAll(() => svc?.stop());

type Creds = TenantFixture['client'];

const newClient = async (fx: TenantFixture, name: string): Promise<Creds> => {
  const res = await svc.admin('POST', `/admin/tenants/${fx.tenant}/clients`, {
    client_name: name,
    grant_types: [CIBA_GRANT],
    backchannel_token_delivery_mode: 'poll',
  });
  expect(res.status).toBe(201);
  return { client_id: res.body.client_id, client_secret: res.body.client_secret };
};

const ask = (fx: TenantFixture, client: Creds, sub = 'alice') =>
  postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: sub, binding_message: 'Code 7Q-44' }, client);

const poll = (fx: TenantFixture, client: Creds, authReqId: string) =>
  postForm(`${fx.issuer}/oauth/token`, { grant_type: CIBA_GRANT, auth_req_id: authReqId }, client);

describe('report: "I did not ask for this"', () => {
  let fx: TenantFixture;
  let device: TestDevice;
  let other: Creds;
  let reportedTxn: string;
  let reportedAuthReqId: string;

  beforeAll(async () => {
    fx = await createTenantFixture(svc, 'reports', { user_rate_limit_per_minute: 3, report_shield_seconds: 600 });
    device = await enrollDevice(svc, fx);
    other = await newClient(fx, 'Other bank');
  });

  it('a report denies the request: the poll gets access_denied and the request is reported, with its evidence', async () => {
    const ack = await ask(fx, fx.client);
    expect(ack.status).toBe(200);
    reportedAuthReqId = ack.body.auth_req_id;
    reportedTxn = await nextTxn(device);
    const before = events.length;
    const reported = await device.decide(reportedTxn, 'report');
    expect(reported.status).toBe(200);
    expect(reported.body).toEqual({ txn: reportedTxn, status: 'reported' });
    // The same report again answers the same; another decision is 409.
    expect((await device.decide(reportedTxn, 'report')).body).toEqual({ txn: reportedTxn, status: 'reported' });
    expectError(await device.decide(reportedTxn, 'deny'), 409, 'request_not_pending');

    const answer = await poll(fx, fx.client, reportedAuthReqId);
    expectError(answer, 400, 'access_denied');
    const view = (await svc.admin('GET', `/admin/tenants/${fx.tenant}/requests/${reportedTxn}`)).body;
    expect(view.state).toBe('reported');
    expect(view.evidence).toMatchObject({ decision: 'report', device_id: device.deviceId });
    // Hardening rule 11: the kept proof names the transaction and the decision.
    expect(decodeProtectedHeader(view.evidence.signed_proof).typ).toBe('dpop+jwt');
    expect(decodeJwt(view.evidence.signed_proof)).toMatchObject({ txn: reportedTxn, decision: 'report' });

    const reportedEvents = events.slice(before).filter((e) => e.type === 'CIBA Request Reported');
    expect(reportedEvents.length).toBeGreaterThanOrEqual(1);
    expect(reportedEvents[0]!.detail).toMatchObject({
      txn: reportedTxn,
      client_id: fx.client.client_id,
      sub: 'alice',
      device_id: device.deviceId,
    });
    const detail = reportedEvents[0]!.detail as { reported_at: number; shield_until: number };
    expect(detail.shield_until - detail.reported_at).toBe(600);
    // Published from the stored decision, off the request's path: it follows the answer.
    const decided = await eventually(async () => events.slice(before).find((e) => e.type === 'CIBA Request Decided'));
    expect(decided.detail).toMatchObject({ txn: reportedTxn, status: 'reported' });
  });

  it('a report must be signed as a report (hardening rule 11)', async () => {
    expect((await ask(fx, other)).status).toBe(200);
    const txn = await nextTxn(device);
    const url = `${fx.issuer}/device/transactions/${txn}`;
    const proof = await device.proof('POST', url, { txn, decision: 'deny' });
    expectError(
      await device.call('POST', `/device/transactions/${txn}`, { decision: 'report' }, proof),
      401,
      'invalid_dpop_proof',
    );
    expect((await device.decide(txn, 'deny')).body.status).toBe('denied');
  });

  it('shields the user from that client: 403 access_denied saying why, no notification, nothing spent', async () => {
    const shown = await svc.admin('GET', `/admin/tenants/${fx.tenant}/users/alice`);
    expect(shown.body.report_shields).toEqual([{ client_id: fx.client.client_id, until: expect.any(Number) }]);
    const pushed = pushes.length;
    for (let i = 0; i < 5; i++) {
      const refused = await ask(fx, fx.client);
      expectError(refused, 403, 'access_denied');
      expect(refused.body.error_description).toMatch(
        /^the user reported an unexpected authentication request from this client; its requests for this user are refused until \d{4}-\d\d-\d\dT/,
      );
    }
    expect(pushes.length).toBe(pushed);
    expect((await device.pending()).body.transactions).toEqual([]);
    // Five refusals spent none of alice's three requests a minute (counted over this minute and the one before):
    // two minutes on, another client has all of them.
    offset += 120_000;
    for (let i = 0; i < 3; i++) expect((await ask(fx, other)).status).toBe(200);
    expectError(await ask(fx, other), 403, 'access_denied');
    for (const t of (await device.pending()).body.transactions) await device.decide(t.txn, 'deny');
  });

  it('ends when report_shield_seconds have passed', async () => {
    offset += 601_000;
    expect((await svc.admin('GET', `/admin/tenants/${fx.tenant}/users/alice`)).body.report_shields).toEqual([]);
    const ack = await ask(fx, fx.client);
    expect(ack.status).toBe(200);
    await device.decide(await nextTxn(device), 'deny');
  });

  it('an operator lifts a shield: 204, then requests go through; lifting one that does not run is 404', async () => {
    expect((await ask(fx, other)).status).toBe(200);
    await device.decide(await nextTxn(device), 'report');
    expectError(await ask(fx, other), 403, 'access_denied');
    const path = `/admin/tenants/${fx.tenant}/users/alice/shields/${other.client_id}`;
    expect((await svc.admin('DELETE', path)).status).toBe(204);
    expect((await ask(fx, other)).status).toBe(200);
    expectError(await svc.admin('DELETE', path), 404, 'not_found');
    expectError(await svc.admin('DELETE', `/admin/tenants/${fx.tenant}/users/nobody/shields/x`), 404, 'not_found');
    for (const t of (await device.pending()).body.transactions) await device.decide(t.txn, 'deny');
  });

  it('report_shield_seconds defaults to 3600 and is checked', async () => {
    const fresh = await svc.admin('PUT', '/admin/tenants/reports-default', {});
    expect(fresh.body.report_shield_seconds).toBe(3600);
    for (const bad of [-1, 1.5, 'an hour', 31 * 86_400]) {
      expectError(
        await svc.admin('PUT', '/admin/tenants/reports-default', { report_shield_seconds: bad }),
        400,
        'invalid_request',
      );
    }
  });
});

describe('a user no device can reach', () => {
  let fx: TenantFixture;

  beforeAll(async () => {
    fx = await createTenantFixture(svc, 'unreachable', { user_rate_limit_per_minute: 1, max_pending_requests: 1 });
  });

  it('is refused at once with 403, spending neither the user budget nor a pending slot', async () => {
    offset += 60_000 - (clock.now() % 60_000) + 1_000;
    const pushed = pushes.length;
    for (let i = 0; i < 3; i++) {
      const refused = await ask(fx, fx.client);
      expectError(refused, 403, 'access_denied');
      expect(refused.body.error_description).toBe('the user has no authentication device or channel');
    }
    expect(pushes.length).toBe(pushed);
    // Once a device is enrolled: the budget of one and the one pending slot are both still there.
    const device = await enrollDevice(svc, fx);
    const ack = await ask(fx, fx.client);
    expect(ack.status).toBe(200);
    expect((await device.pending()).body.transactions).toHaveLength(1);
  });

  it('is refused again once its last device is revoked', async () => {
    const revoked = await createTenantFixture(svc, 'unreachable-again');
    const device = await enrollDevice(svc, revoked);
    const path = `/admin/tenants/${revoked.tenant}/users/alice/devices/${device.deviceId}`;
    expect((await svc.admin('DELETE', path)).status).toBe(204);
    expectError(await ask(revoked, revoked.client), 403, 'access_denied');
  });
});

describe("the operator console's Cancel", () => {
  let fx: TenantFixture;
  let device: TestDevice;

  const cancel = (authReqId: string) =>
    fetch(`${fx.issuer}/console/cancel`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-ciba-console': '1', origin: new URL(svc.url).origin },
      body: JSON.stringify({ auth_req_id: authReqId }),
    }).then(async (res) => ({ status: res.status, body: await res.json() }));

  beforeAll(async () => {
    fx = await createTenantFixture(svc, 'cancels', { user_rate_limit_per_minute: 20 });
    await svc.admin('PUT', `/admin/tenants/${fx.tenant}`, { console_client_id: fx.client.client_id });
    device = await enrollDevice(svc, fx);
  });

  it('denies its own pending request: the poll gets access_denied, the device no longer sees it, Decided is published', async () => {
    const ack = await ask(fx, fx.client);
    const txn = await nextTxn(device);
    const before = events.length;
    expect(await cancel(ack.body.auth_req_id)).toEqual({ status: 200, body: { state: 'cancelled' } });
    expectError(await poll(fx, fx.client, ack.body.auth_req_id), 400, 'access_denied');
    expect((await device.call('GET', `/device/transactions/${txn}`)).body.status).toBe('denied');
    expectError(await device.decide(txn, 'approve'), 409, 'request_not_pending');
    const decided = await eventually(async () => {
      const found = events.slice(before).filter((e) => e.type === 'CIBA Request Decided');
      return found.length > 0 ? found : undefined;
    });
    expect(decided.map((e) => e.detail.status)).toEqual(['denied']);
    // Again: where it stands, nothing more.
    expect(await cancel(ack.body.auth_req_id)).toEqual({ status: 200, body: { state: 'denied' } });
  });

  it("leaves a decided request as it is, and cannot touch another client's request", async () => {
    const ack = await ask(fx, fx.client);
    const txn = await nextTxn(device);
    expect((await device.decide(txn, 'approve')).status).toBe(200);
    expect(await cancel(ack.body.auth_req_id)).toEqual({ status: 200, body: { state: 'approved' } });
    expect((await poll(fx, fx.client, ack.body.auth_req_id)).status).toBe(200);

    const other = await newClient(fx, 'Other bank');
    const theirs = await ask(fx, other);
    const theirTxn = await nextTxn(device);
    const refused = await cancel(theirs.body.auth_req_id);
    expect(refused.body).toMatchObject({ state: 'error', error: 'invalid_grant' });
    expect((await device.call('GET', `/device/transactions/${theirTxn}`)).body.status).toBe('pending');
  });
});
