import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DeviceClient,
  DeviceKey,
  InvalidBindingCode,
  InvalidDpopProof,
  NotFound,
  RequestNotPending,
  UserVerificationRequired,
} from '../../lib/device/index.ts';
import {
  createTenantFixture,
  postForm,
  startTestService,
  type TenantFixture,
  type TestService,
} from '../helpers/service.ts';

/** The device SDK (lib/device) against the local server: every call DPoP-signed, every error typed. */
describe('the device SDK against the local server', () => {
  let svc: TestService;
  let fx: TenantFixture;

  beforeAll(async () => {
    svc = await startTestService();
    fx = await createTenantFixture(svc, 'sdk');
  });
  afterAll(() => svc.stop());

  const enrolledDevice = async (fixture: TenantFixture = fx): Promise<DeviceClient> => {
    const ticket = await svc.admin('POST', `/admin/tenants/${fixture.tenant}/users/alice/enrollment-tickets`);
    const device = new DeviceClient({ issuer: fixture.issuer, key: await DeviceKey.generate() });
    expect(await device.enroll({ ticket: ticket.body.ticket, name: 'SDK test' })).toEqual({
      device_id: device.deviceId,
    });
    return device;
  };

  const startRequest = async (fixture: TenantFixture = fx, bindingMessage = 'Code 4F-22') => {
    const ack = await postForm(
      `${fixture.issuer}/bc-authorize`,
      { scope: 'openid email', login_hint: 'alice', binding_message: bindingMessage },
      fixture.client,
    );
    expect(ack.status).toBe(200);
    return ack.body.auth_req_id as string;
  };

  const poll = (fixture: TenantFixture, authReqId: string) =>
    postForm(
      `${fixture.issuer}/oauth/token`,
      { grant_type: 'urn:openid:params:grant-type:ciba', auth_req_id: authReqId },
      fixture.client,
    );

  it('enrolls, lists the pending request, fetches its details and approves it', async () => {
    const device = await enrolledDevice();
    const authReqId = await startRequest();
    const [tx] = await device.pending();
    expect(tx).toMatchObject({ client_name: 'Test Console', binding_message: 'Code 4F-22', scope: 'openid email' });
    const details = await device.get(tx!.txn);
    expect(details).toMatchObject({ txn: tx!.txn, status: 'pending' });
    expect(JSON.stringify(details)).not.toContain(authReqId);
    expect(await device.decide(tx!.txn, 'approve')).toEqual({ txn: tx!.txn, status: 'approved' });
    expect((await poll(fx, authReqId)).status).toBe(200);
    expect(await device.pending()).toEqual([]);
  });

  it('denies, and a different decision afterwards is RequestNotPending', async () => {
    const device = await enrolledDevice();
    const authReqId = await startRequest();
    const [tx] = await device.pending();
    expect(await device.decide(tx!.txn, 'deny')).toEqual({ txn: tx!.txn, status: 'denied' });
    expect(await device.decide(tx!.txn, 'deny')).toEqual({ txn: tx!.txn, status: 'denied' });
    await expect(device.decide(tx!.txn, 'approve')).rejects.toBeInstanceOf(RequestNotPending);
    expect((await poll(fx, authReqId)).body.error).toBe('access_denied');
  });

  it('reports an unknown transaction as NotFound and an unenrolled key as InvalidDpopProof', async () => {
    const device = await enrolledDevice();
    const unknown = 'A'.repeat(22);
    await expect(device.get(unknown)).rejects.toBeInstanceOf(NotFound);
    const stranger = new DeviceClient({ issuer: fx.issuer, key: await DeviceKey.generate() });
    const error = await stranger.pending().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidDpopProof);
    expect(error).toMatchObject({ status: 401, error: 'invalid_dpop_proof' });
  });

  it('describes the device and the tenant rules, and takes a new push channel', async () => {
    const device = await enrolledDevice();
    expect(await device.profile()).toMatchObject({
      device_id: device.deviceId,
      name: 'SDK test',
      push: null,
      passkey: false,
      tenant: { binding_code_confirmation: false, user_verification: 'none' },
    });
    await device.setPush({ type: 'webhook', url: 'https://hooks.example.com/ciba' });
    expect((await device.profile()).push).toEqual({ type: 'webhook', disabled: false });
  });

  it('binding-code confirmation: withholds the message, refuses and counts wrong codes, denies after three', async () => {
    const coded = await createTenantFixture(svc, 'sdk-code', { binding_code_confirmation: true });
    const device = await enrolledDevice(coded);
    // The tenant needs a message to compare with.
    const missing = await postForm(
      `${coded.issuer}/bc-authorize`,
      { scope: 'openid', login_hint: 'alice' },
      coded.client,
    );
    expect(missing.body.error).toBe('invalid_request');

    const first = await startRequest(coded, '4F-22');
    const [tx] = await device.pending();
    expect(tx).toMatchObject({ binding_code_required: true });
    expect(tx!.binding_message).toBeUndefined();
    await expect(device.decide(tx!.txn, 'approve')).rejects.toMatchObject({ error: 'invalid_request' });
    const wrong = await device.decide(tx!.txn, 'approve', { bindingCode: '4F-23' }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(InvalidBindingCode);
    expect((wrong as InvalidBindingCode).description).toContain('2 attempts left');
    expect(wrong).toMatchObject({ attemptsLeft: 2, requestStatus: 'pending' });
    expect(await device.decide(tx!.txn, 'approve', { bindingCode: ' 4f22 ' })).toMatchObject({ status: 'approved' });
    expect((await poll(coded, first)).status).toBe(200);

    const second = await startRequest(coded, 'Z9-K2');
    const [tx2] = await device.pending();
    for (const attempt of ['AA-11', 'BB-22']) {
      await expect(device.decide(tx2!.txn, 'approve', { bindingCode: attempt })).rejects.toBeInstanceOf(
        InvalidBindingCode,
      );
    }
    const last = await device.decide(tx2!.txn, 'approve', { bindingCode: 'CC-33' }).catch((e: unknown) => e);
    expect((last as InvalidBindingCode).description).toContain('denied');
    // What a device decides on: the fields, as the wire carries them (docs/device-api.md).
    expect(last).toMatchObject({ status: 400, attemptsLeft: 0, requestStatus: 'denied' });
    expect((last as InvalidBindingCode).fields).toEqual({ attempts_left: 0, status: 'denied' });
    await expect(device.decide(tx2!.txn, 'approve', { bindingCode: 'Z9-K2' })).rejects.toBeInstanceOf(
      RequestNotPending,
    );
    expect((await poll(coded, second)).body.error).toBe('access_denied');
    const state = await svc.admin('GET', `/admin/tenants/${coded.tenant}/requests/${encodeURIComponent(second)}`);
    expect(JSON.stringify(state.body)).toContain('denied');
  });

  it('keeps the VAPID private key write-only and gives the device the public key', async () => {
    const push = await createTenantFixture(svc, 'sdk-push', { web_push: { subject: 'mailto:ops@example.com' } });
    const tenant = await svc.admin('GET', `/admin/tenants/${push.tenant}`);
    expect(tenant.body.web_push).toEqual({ subject: 'mailto:ops@example.com', vapid_public_key: expect.any(String) });
    expect(JSON.stringify(tenant.body)).not.toMatch(/private/);
    const device = await enrolledDevice(push);
    expect((await device.profile()).tenant.web_push_public_key).toBe(tenant.body.web_push.vapid_public_key);
    await device.setPush({
      type: 'webpush',
      subscription: { endpoint: 'https://fcm.googleapis.com/fcm/send/x', keys: { p256dh: 'p', auth: 'a' } },
    });
    expect((await device.profile()).push).toEqual({ type: 'webpush', disabled: false });
  });

  it('user verification: approving without a passkey is UserVerificationRequired; denying needs none', async () => {
    const uv = await createTenantFixture(svc, 'sdk-uv', { user_verification: 'passkey' });
    const device = await enrolledDevice(uv);
    await startRequest(uv);
    const [tx] = await device.pending();
    expect(tx!.webauthn).toMatchObject({ userVerification: 'required', allowCredentials: [] });
    await expect(device.decide(tx!.txn, 'approve')).rejects.toBeInstanceOf(UserVerificationRequired);
    expect(await device.decide(tx!.txn, 'deny')).toMatchObject({ status: 'denied' });
    const options = await device.passkeyRegistrationOptions();
    expect(options).toMatchObject({
      rp: { id: '127.0.0.1' },
      authenticatorSelection: { userVerification: 'required' },
    });
  });
});
