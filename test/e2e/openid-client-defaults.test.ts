/**
 * openid-client 6 with its defaults against the seeded demo client: `discovery(issuer, client_id, client_secret)`
 * authenticates with client_secret_post, and the demo client is registered for client_secret_basic. RFC 6749
 * §2.3.1 lets a secret client send its secret either way, so the whole flow works unchanged.
 */
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../../lib/local/seed.ts';
import { nextTxn, startTestService, TestDevice, type TestService } from '../helpers/service.ts';

describe('openid-client with its defaults and the demo client', () => {
  let svc: TestService;
  let secret: string;
  let issuer: string;

  beforeAll(async () => {
    svc = await startTestService();
    const seeded = await seedDemo(svc.service.deps);
    secret = seeded!.client_secret;
    issuer = `${svc.url}/demo`;
    // Shorter polls for the test; client authentication does not depend on it.
    await svc.admin('PUT', '/admin/tenants/demo', { backchannel_polling_interval: 1 });
  });
  afterAll(() => svc.stop());

  it('completes a flow after discovery(issuer, client_id, client_secret)', async () => {
    const ticket = await svc.admin('POST', '/admin/tenants/demo/users/alice/enrollment-tickets');
    const device = await TestDevice.create(issuer);
    expect((await device.enroll(ticket.body.ticket)).status).toBe(201);

    const config = await client.discovery(new URL(issuer), 'demo-client', secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    const ack = await client.initiateBackchannelAuthentication(config, {
      scope: 'openid profile',
      login_hint: 'alice',
      binding_message: 'Code 4F-22',
    });
    expect((await device.decide(await nextTxn(device), 'approve')).status).toBe(200);
    const tokens = await client.pollBackchannelAuthenticationGrant(config, ack);
    expect(tokens.claims()).toMatchObject({ sub: 'alice', aud: 'demo-client', iss: issuer, name: 'Alice Example' });
    // The demo client is registered for Basic; the secret came in the body.
    const registered = await svc.admin('GET', '/admin/tenants/demo/clients/demo-client');
    expect(registered.body.token_endpoint_auth_method).toBe('client_secret_basic');
  });
});
