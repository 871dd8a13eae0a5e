import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTenantFixture,
  enrollDevice,
  nextTxn,
  startTestService,
  type TenantFixture,
  type TestDevice,
  type TestService,
} from '../helpers/service.ts';

describe('a real OpenID client (openid-client v6) in poll mode against the local server', () => {
  let svc: TestService;
  let fx: TenantFixture;
  let device: TestDevice;
  let config: client.Configuration;

  beforeAll(async () => {
    svc = await startTestService();
    fx = await createTenantFixture(svc, 'acme', { display_name: 'ACME Support' });
    device = await enrollDevice(svc, fx);
    config = await client.discovery(
      new URL(fx.issuer),
      fx.client.client_id,
      undefined,
      client.ClientSecretBasic(fx.client.client_secret),
      {
        execute: [client.allowInsecureRequests],
      },
    );
  });
  afterAll(() => svc.stop());

  it('completes the flow when the device approves, with an ID token that verifies against the JWKS', async () => {
    const ack = await client.initiateBackchannelAuthentication(config, {
      scope: 'openid profile email',
      login_hint: 'alice',
      binding_message: 'Code 4F-22',
      acr_values: 'urn:ciba-service:acr:device-key',
    });
    expect(ack.expires_in).toBe(300);
    expect(ack.interval).toBe(1);

    const txn = await nextTxn(device);
    const details = await device.call('GET', `/device/transactions/${txn}`);
    expect(details.body).toMatchObject({
      txn,
      client_name: 'Test Console',
      binding_message: 'Code 4F-22',
      scope: 'openid profile email',
    });
    expect(JSON.stringify(details.body)).not.toContain(ack.auth_req_id);
    expect((await device.decide(txn, 'approve')).body).toEqual({ txn, status: 'approved' });

    const tokens = await client.pollBackchannelAuthenticationGrant(config, ack);
    expect(tokens.token_type).toBe('bearer');
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({
      sub: 'alice',
      aud: fx.client.client_id,
      iss: fx.issuer,
      name: 'Alice Example',
      email: 'Alice@Example.com',
    });
    expect(claims.acr).toBe('urn:ciba-service:acr:device-key');
    expect(claims['urn:openid:params:jwt:claim:auth_req_id']).toBe(ack.auth_req_id);
    const jwks = createRemoteJWKSet(new URL(`${fx.issuer}/.well-known/jwks.json`));
    const { protectedHeader } = await jwtVerify(tokens.id_token!, jwks, {
      issuer: fx.issuer,
      audience: fx.client.client_id,
    });
    expect(protectedHeader.alg).toBe('ES256');
    const at = await jwtVerify(tokens.access_token, jwks, { issuer: fx.issuer, typ: 'at+jwt' });
    expect(at.payload).toMatchObject({ sub: 'alice', client_id: fx.client.client_id, scope: 'openid profile email' });

    const userinfo = await client.fetchUserInfo(config, tokens.access_token, 'alice');
    expect(userinfo).toMatchObject({ sub: 'alice', name: 'Alice Example', email: 'Alice@Example.com' });
    expect(userinfo.phone_number).toBeUndefined();
  });

  it('ends in access_denied when the device denies', async () => {
    const ack = await client.initiateBackchannelAuthentication(config, {
      scope: 'openid',
      login_hint: 'email:alice@example.com',
    });
    const txn = await nextTxn(device);
    expect((await device.decide(txn, 'deny')).body).toEqual({ txn, status: 'denied' });
    await expect(client.pollBackchannelAuthenticationGrant(config, ack)).rejects.toMatchObject({
      error: 'access_denied',
    });
  });

  it('hands the callback function no event of a poll flow, as the tenant rule in AWS does not', async () => {
    // The flows above put Request Created, Decided and Tokens Issued on the bus; the rule passes only decided ping and
    // push requests, so the callback function never ran (it logs every event it ignores or skips).
    await new Promise((resolve) => setImmediate(resolve));
    expect(svc.logs.some((l) => l.includes('"message":"event"'))).toBe(true);
    expect(svc.logs.filter((l) => /callback event ignored|callback skipped/.test(l))).toEqual([]);
  });

  it('ends in expired_token when nobody answers before requested_expiry', async () => {
    const ack = await client.initiateBackchannelAuthentication(config, {
      scope: 'openid',
      login_hint: 'phone:+15555550100',
      requested_expiry: '2',
    });
    expect(ack.expires_in).toBe(2);
    await expect(
      client.pollBackchannelAuthenticationGrant(config, ack, undefined, { signal: AbortSignal.timeout(10_000) }),
    ).rejects.toMatchObject({
      error: 'expired_token',
    });
  });
});
