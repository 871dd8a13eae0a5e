import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallbackReceiver, eventually } from '../helpers/callback-receiver.ts';
import { expectError } from '../helpers/expect-error.ts';
import {
  CIBA_GRANT,
  createTenantFixture,
  enrollDevice,
  postForm,
  startTestService,
  type TenantFixture,
  TestDevice,
  type TestService,
} from '../helpers/service.ts';

/** URLs the review found passing (IPv4-compatible, -translated, local-use NAT64) and the plainer loopback forms. */
const REFUSED_URLS = [
  'http://127.0.0.1:9/hook',
  'https://127.0.0.1/hook',
  'https://localhost/hook',
  'https://[::1]/hook',
  'https://[::127.0.0.1]/hook',
  'https://[::ffff:0:127.0.0.1]/hook',
  'https://[64:ff9b:1::7f00:1]/hook',
  'https://[64:ff9b::a9fe:a9fe]/latest',
  'https://[::ffff:169.254.169.254]/latest',
  'https://169.254.169.254/latest',
  'https://10.0.0.1/hook',
  'https://[2002:7f00:1::1]/hook',
];

/**
 * Hardening rule 3 through the public interfaces: device push channels (webhooks, Web Push endpoints), `jwks_uri`
 * and notification endpoints pass the same URL policy outside development mode; a refused device channel is 400
 * invalid_request at enrollment and at PUT {issuer}/device/push, stores nothing and spends no ticket; and a channel
 * stored while the tenant was in development mode is not called once it is not.
 */
describe('hardening rule 3: every outbound URL is guarded the same way', () => {
  let svc: TestService;
  let fx: TenantFixture;
  let receiver: CallbackReceiver;

  beforeAll(async () => {
    svc = await startTestService();
    receiver = await CallbackReceiver.start();
    fx = await createTenantFixture(svc, 'guarded');
  });
  afterAll(async () => {
    await svc?.stop();
    await receiver?.stop();
  });

  const ticket = async (tenant = fx.tenant) =>
    (await svc.admin('POST', `/admin/tenants/${tenant}/users/alice/enrollment-tickets`)).body.ticket as string;

  const channels = (url: string) => [
    { type: 'webhook', url },
    { type: 'webpush', subscription: { endpoint: url, keys: { p256dh: 'BP'.padEnd(87, 'A'), auth: 'a'.repeat(22) } } },
  ];

  it('refuses a loopback or non-global device channel at enrollment with 400; the ticket still enrolls', async () => {
    const t = await ticket();
    for (const url of REFUSED_URLS) {
      for (const push of channels(url)) {
        const device = await TestDevice.create(fx.issuer);
        expectError(await device.enroll(t, { push }), 400, 'invalid_request', `${push.type} ${url}`);
      }
    }
    const devices = await svc.admin('GET', `/admin/tenants/${fx.tenant}/users/alice/devices`);
    expect(devices.body.devices).toEqual([]);
    const device = await TestDevice.create(fx.issuer);
    expect((await device.enroll(t)).status).toBe(201);
    await svc.admin('DELETE', `/admin/tenants/${fx.tenant}/users/alice/devices/${device.deviceId}`);
  });

  it('refuses the same channels at PUT {issuer}/device/push with 400 and keeps the channel it had', async () => {
    const device = await enrollDevice(svc, fx);
    for (const url of REFUSED_URLS) {
      for (const push of channels(url)) {
        expectError(await device.call('PUT', '/device/push', { push }), 400, 'invalid_request', `${push.type} ${url}`);
      }
    }
    expect((await device.call('GET', '/device')).body.push).toBeNull();
    // A public https URL is a channel like any other.
    expect(
      (await device.call('PUT', '/device/push', { push: channels('https://hooks.example.com/ciba')[0] })).status,
    ).toBe(200);
    await svc.admin('DELETE', `/admin/tenants/${fx.tenant}/users/alice/devices/${device.deviceId}`);
  });

  it('accepts a loopback webhook in development mode, and stops calling it when development mode is turned off', async () => {
    const dev = await createTenantFixture(svc, 'guarded-dev', { development_mode: true });
    const device = await enrollDevice(svc, dev);
    const hook = receiver.endpoint('/dev-hook');
    expect((await device.call('PUT', '/device/push', { push: { type: 'webhook', url: hook } })).status).toBe(200);
    const start = () => postForm(`${dev.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice' }, dev.client);

    expect((await start()).status).toBe(200);
    await receiver.waitFor('/dev-hook', 1);

    expect((await svc.admin('PUT', `/admin/tenants/${dev.tenant}`, { development_mode: false })).status).toBe(200);
    const logged = svc.logs.length;
    expect((await start()).status).toBe(200);
    // The refusal is logged; nothing more reached the receiver.
    const refusal = await eventually(async () =>
      svc.logs.slice(logged).find((line) => line.includes('device webhook failed')),
    );
    expect(refusal).toMatch(/destination refused: the device webhook must be an https URL/);
    expect(receiver.at('/dev-hook')).toHaveLength(1);
  });

  it('refuses the same addresses as jwks_uri and as notification endpoints (invalid_client_metadata)', async () => {
    for (const url of REFUSED_URLS) {
      const jwks = await svc.admin('POST', `/admin/tenants/${fx.tenant}/clients`, {
        grant_types: [CIBA_GRANT],
        backchannel_token_delivery_mode: 'poll',
        token_endpoint_auth_method: 'private_key_jwt',
        jwks_uri: url,
      });
      expectError(jwks, 400, 'invalid_client_metadata', `jwks_uri ${url}`);
      const ping = await svc.admin('POST', `/admin/tenants/${fx.tenant}/clients`, {
        grant_types: [CIBA_GRANT],
        backchannel_token_delivery_mode: 'ping',
        backchannel_client_notification_endpoint: url,
      });
      expectError(ping, 400, 'invalid_client_metadata', `notification endpoint ${url}`);
    }
  });
});
