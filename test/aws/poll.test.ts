import { createLocalJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CIBA_GRANT, pushedTxn, type Shape, startShape } from './harness.ts';

/** Poll mode through the AWS shape: openid-client as the relying party, the device SDK with an FCM push channel. */
describe('poll mode on the AWS shape', () => {
  let shape: Shape;

  beforeAll(async () => {
    shape = await startShape();
  }, 300_000);
  afterAll(() => shape?.stop());
  afterEach(() => shape.cloud.expectNoDenials());

  it('login_hint: the push reaches the phone through SNS, the device approves, the client gets verifiable tokens', async () => {
    const registered = await shape.registerClient('acme', { grant_types: [CIBA_GRANT, 'refresh_token'] });
    const device = await shape.enrolledDevice('acme', 'alice', { type: 'fcm', token: 'fcm-alice' });
    const rp = await shape.relyingParty('acme', registered);

    const ack = await client.initiateBackchannelAuthentication(rp, {
      scope: 'openid profile email offline_access',
      login_hint: 'alice',
      binding_message: 'Code 4F-22',
    });
    expect(ack.interval).toBe(1);
    const txn = pushedTxn(shape.cloud, 'fcm-alice');
    expect(await device.get(txn)).toMatchObject({ txn, binding_message: 'Code 4F-22' });
    expect(await device.decide(txn, 'approve')).toEqual({ txn, status: 'approved' });

    const tokens = await client.pollBackchannelAuthenticationGrant(rp, ack);
    const jwksRes = await fetch(`${shape.issuer('acme')}/.well-known/jwks.json`);
    const jwks = createLocalJWKSet(await jwksRes.json());
    const { payload, protectedHeader } = await jwtVerify(tokens.id_token!, jwks, {
      issuer: shape.issuer('acme'),
      audience: registered.client_id,
    });
    expect(payload.sub).toBe('alice');
    expect(protectedHeader.alg).toBe('ES256');
    // The tenant's wrapped key signed it: its keyset holds the public half and the private half sealed under the
    // deployment's KMS key, nothing else.
    const keys = (await shape.cloud.directoryItem('T#acme', 'KEYS')) as {
      signing: { kid: string; mode: string; sealed: string }[];
    };
    expect(keys.signing).toEqual([expect.objectContaining({ kid: protectedHeader.kid, mode: 'wrapped' })]);
    expect(keys.signing[0]!.sealed).toMatch(/^kms:/);
    expect(JSON.stringify(keys)).not.toMatch(/"d":/);

    const userinfo = await client.fetchUserInfo(rp, tokens.access_token, 'alice');
    expect(userinfo).toMatchObject({ sub: 'alice', email: 'alice@example.com' });
    const introspected = await client.tokenIntrospection(rp, tokens.access_token);
    expect(introspected).toMatchObject({ active: true, sub: 'alice', client_id: registered.client_id });

    const refreshed = await client.refreshTokenGrant(rp, tokens.refresh_token!);
    expect(refreshed.access_token).toBeTruthy();
    await client.tokenRevocation(rp, refreshed.refresh_token ?? tokens.refresh_token!);
    await expect(client.refreshTokenGrant(rp, refreshed.refresh_token ?? tokens.refresh_token!)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
  });

  it('id_token_hint: an ID token this issuer gave the client names the user (bc-authorize reads the tenant public keys)', async () => {
    const registered = await shape.registerClient('acme');
    const device = await shape.enrolledDevice('acme', 'bob', { type: 'fcm', token: 'fcm-bob' });
    const rp = await shape.relyingParty('acme', registered);
    const first = await client.initiateBackchannelAuthentication(rp, {
      scope: 'openid',
      login_hint: 'bob',
      binding_message: 'one',
    });
    await device.decide(pushedTxn(shape.cloud, 'fcm-bob'), 'approve');
    const idToken = (await client.pollBackchannelAuthenticationGrant(rp, first)).id_token!;

    const again = await client.initiateBackchannelAuthentication(rp, {
      scope: 'openid',
      id_token_hint: idToken,
      binding_message: 'two',
    });
    const txn = pushedTxn(shape.cloud, 'fcm-bob');
    expect((await device.get(txn)).binding_message).toBe('two');
    await device.decide(txn, 'approve');
    expect((await client.pollBackchannelAuthenticationGrant(rp, again)).claims()?.sub).toBe('bob');
  });
});
