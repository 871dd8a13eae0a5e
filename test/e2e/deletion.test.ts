/**
 * SECURITY.md hardening rule 7: deleting something ends everything it issued. After DELETE of a client every
 * auth_req_id, refresh token and access token issued to it is dead (invalid_grant, introspection inactive, userinfo
 * 401), also for a client registered again under the same client_id; after DELETE of a tenant the same for everything
 * of the tenant, enrollment tickets and devices included, also when the tenant is created again; DELETE of a user
 * removes the user with their devices (and passkeys) and pending requests. Tokens are used through openid-client.
 */
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../helpers/expect-error.ts';
import {
  CIBA_GRANT,
  enrollDevice,
  nextTxn,
  postForm,
  startTestService,
  type TenantFixture,
  TestDevice,
  type TestService,
} from '../helpers/service.ts';
import { scanTables } from '../resilience/faults.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(() => svc?.stop());

const CLIENT_ID = 'pos-terminal';

/** A tenant with alice and the client CLIENT_ID (CIBA and refresh_token grants). */
const setUp = async (tenant: string) => {
  expect(
    (
      await svc.admin('PUT', `/admin/tenants/${tenant}`, {
        backchannel_polling_interval: 1,
        user_rate_limit_per_minute: 100,
      })
    ).status,
  ).toBe(201);
  expect((await svc.admin('PUT', `/admin/tenants/${tenant}/users/alice`, { name: 'Alice' })).status).toBe(201);
  return register(tenant);
};

const register = async (tenant: string): Promise<TenantFixture> => {
  const c = await svc.admin('POST', `/admin/tenants/${tenant}/clients`, {
    client_id: CLIENT_ID,
    grant_types: [CIBA_GRANT, 'refresh_token'],
    backchannel_token_delivery_mode: 'poll',
  });
  expect(c.status, JSON.stringify(c.body)).toBe(201);
  return {
    tenant,
    issuer: `${svc.url}/${tenant}`,
    client: { client_id: c.body.client_id, client_secret: c.body.client_secret },
  };
};

const configFor = (fx: TenantFixture) =>
  oidc.discovery(new URL(fx.issuer), fx.client.client_id, undefined, oidc.ClientSecretBasic(fx.client.client_secret), {
    execute: [oidc.allowInsecureRequests],
  });

/** What a client holds after a while: redeemed tokens, an approved auth_req_id, a pending one. */
const grants = async (config: oidc.Configuration, device: TestDevice) => {
  const ask = () =>
    oidc.initiateBackchannelAuthentication(config, { scope: 'openid profile offline_access', login_hint: 'alice' });
  const redeemed = await ask();
  await device.decide(await nextTxn(device), 'approve');
  const tokens = await oidc.pollBackchannelAuthenticationGrant(config, redeemed);
  expect(tokens.refresh_token).toBeTypeOf('string');
  const approved = await ask();
  await device.decide(await nextTxn(device), 'approve');
  const pending = await ask();
  await nextTxn(device);
  return { tokens, approved, pending };
};

/** The OAuth error a rejected openid-client call carried. */
const oauthError = async (call: Promise<unknown>) => {
  try {
    await call;
  } catch (error) {
    if (error instanceof oidc.ResponseBodyError) return error.error;
    if (error instanceof oidc.WWWAuthenticateChallengeError) return `${error.status}`;
    throw error;
  }
  return 'accepted';
};

/** Every grant of `held`, used by `config` (the client registered now under the same client_id), is dead. */
const expectDead = async (config: oidc.Configuration, held: Awaited<ReturnType<typeof grants>>) => {
  const poll = (handle: oidc.BackchannelAuthenticationResponse) =>
    oidc.pollBackchannelAuthenticationGrant(config, { ...handle, interval: 1, expires_in: 5 });
  expect(await oauthError(poll(held.approved)), 'approved auth_req_id').toBe('invalid_grant');
  expect(await oauthError(poll(held.pending)), 'pending auth_req_id').toBe('invalid_grant');
  expect(await oauthError(oidc.refreshTokenGrant(config, held.tokens.refresh_token!)), 'refresh token').toBe(
    'invalid_grant',
  );
  expect(await oidc.tokenIntrospection(config, held.tokens.access_token)).toEqual({ active: false });
  expect(await oidc.tokenIntrospection(config, held.tokens.refresh_token!)).toEqual({ active: false });
  expect(await oauthError(oidc.fetchUserInfo(config, held.tokens.access_token, 'alice')), 'userinfo').toBe('401');
};

describe('hardening rule 7: deleting something ends everything it issued', () => {
  it('kills every grant of a deleted client, also for a client registered again with the same client_id', async () => {
    const fx = await setUp('del-client');
    const device = await enrollDevice(svc, fx);
    const before = await configFor(fx);
    const held = await grants(before, device);
    // Alive until the delete.
    expect(await oidc.tokenIntrospection(before, held.tokens.access_token)).toMatchObject({ active: true });
    expect(await oidc.fetchUserInfo(before, held.tokens.access_token, 'alice')).toMatchObject({ sub: 'alice' });

    expect((await svc.admin('DELETE', `/admin/tenants/${fx.tenant}/clients/${CLIENT_ID}`)).status).toBe(204);
    const again = await configFor(await register(fx.tenant));
    // The pending request is still on the device, and may be approved: it grants nothing.
    const txn = await nextTxn(device);
    expect((await device.decide(txn, 'approve')).status).toBe(200);
    await expectDead(again, held);
    // The client registered again works on its own grants.
    const fresh = await grants(again, device);
    expect(await oidc.fetchUserInfo(again, fresh.tokens.access_token, 'alice')).toMatchObject({ sub: 'alice' });
  });

  it('kills every grant, ticket and device of a deleted tenant, also when the tenant is created again', async () => {
    const fx = await setUp('del-tenant');
    const device = await enrollDevice(svc, fx);
    const held = await grants(await configFor(fx), device);
    const ticket = await svc.admin('POST', `/admin/tenants/${fx.tenant}/users/alice/enrollment-tickets`);
    expect(ticket.status).toBe(201);

    expect((await svc.admin('DELETE', `/admin/tenants/${fx.tenant}`)).status).toBe(204);
    const again = await setUp(fx.tenant);
    const config = await configFor(again);
    // The old device is gone, and the old ticket enrolls nothing.
    expectError(await device.pending(), 401, 'invalid_dpop_proof');
    const newcomer = await TestDevice.create(fx.issuer);
    expectError(await newcomer.enroll(ticket.body.ticket), 400, 'invalid_request');
    // A device enrolled in the new tenant does not see the old tenant's pending request.
    const fresh = await enrollDevice(svc, again);
    expect((await fresh.pending()).body).toEqual({ transactions: [] });
    const pendingTxn = held.pending.auth_req_id.split('.')[0]!;
    expectError(await fresh.call('GET', `/device/transactions/${pendingTxn}`), 404, 'not_found');
    await expectDead(config, held);
  });

  it('DELETE of a user removes them with their devices and pending requests (erasure)', async () => {
    const fx = await setUp('del-user');
    const device = await enrollDevice(svc, fx);
    const second = await enrollDevice(svc, fx);
    const config = await configFor(fx);
    const held = await grants(config, device);
    const pending = held.pending;

    const res = await svc.admin('DELETE', `/admin/tenants/${fx.tenant}/users/alice`);
    expect(res.status).toBe(204);
    expect((await svc.admin('GET', `/admin/tenants/${fx.tenant}/users/alice`)).status).toBe(404);
    expect((await svc.admin('GET', `/admin/tenants/${fx.tenant}/users/alice/devices`)).status).toBe(404);
    for (const d of [device, second]) expectError(await d.pending(), 401, 'invalid_dpop_proof');
    const left = [...(await scanTables(svc)).keys()].filter(
      (k) =>
        // a device's own item and its membership item under the tenant
        k.includes(`T#${fx.tenant}#DEVICE#`) ||
        k.includes(`T#${fx.tenant}|DEVICE#`) ||
        k.includes(`|REQ#${pending.auth_req_id.split('.')[0]}`),
    );
    expect(left, 'devices (which hold the passkeys) and the pending request are gone').toEqual([]);
    expect(await oauthError(oidc.pollBackchannelAuthenticationGrant(config, pending))).toBe('invalid_grant');
    expectError(
      await postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice' }, fx.client),
      400,
      'unknown_user_id',
    );
    // The user's tokens end with them, and stay dead for a user created again under the same sub.
    const tokensDead = async () => {
      expect(await oauthError(oidc.refreshTokenGrant(config, held.tokens.refresh_token!)), 'refresh').toBe(
        'invalid_grant',
      );
      expect(await oidc.tokenIntrospection(config, held.tokens.access_token)).toEqual({ active: false });
      expect(await oidc.tokenIntrospection(config, held.tokens.refresh_token!)).toEqual({ active: false });
      expect(await oauthError(oidc.fetchUserInfo(config, held.tokens.access_token, 'alice')), 'userinfo').toBe('401');
    };
    await tokensDead();
    expectError(await svc.admin('DELETE', `/admin/tenants/${fx.tenant}/users/alice`), 404, 'not_found');
    // A second past the approval (auth_time counts in seconds), alice is created again: none of it comes back.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect((await svc.admin('PUT', `/admin/tenants/${fx.tenant}/users/alice`, { name: 'Alice' })).status).toBe(201);
    await tokensDead();
    expectError(await svc.admin('DELETE', `/admin/tenants/${fx.tenant}/users/no%20such`), 400, 'invalid_request');
  });
});
