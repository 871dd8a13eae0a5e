/**
 * Channels without the app (docs/channels.md): the tenant's `channels` and `channel_fallback_seconds`, users reached
 * by a one-time approval link by email or text message when they have no device, and the link's hostile cases.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../helpers/expect-error.ts';
import { createTenantFixture, postForm, startTestService, type TestService } from '../helpers/service.ts';

let svc: TestService;

beforeAll(async () => {
  svc = await startTestService();
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
});
