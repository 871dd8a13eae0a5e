import { CompactEncrypt, decodeJwt, importJWK, SignJWT } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../../helpers/expect-error.ts';
import {
  CIBA_GRANT,
  createTenantFixture,
  enrollDevice,
  nextTxn,
  postForm,
  type TenantFixture,
  type TestDevice,
} from '../../helpers/service.ts';
import {
  assertionForm,
  type ClientKey,
  clientKey,
  signClientJwt,
  startMtlsService,
  TestPki,
  tlsRequest,
  unsignedJwt,
} from '../../helpers/strong-auth.ts';

// Signed authentication requests (CIBA Core §7.1.1; checklist cases 61-75), login_hint_token (CIBA Core §7.1;
// 31-32) and requested_expiry in a JWT (43).
describe('conformance H: signed authentication requests', () => {
  let pki: TestPki;
  let svc: Awaited<ReturnType<typeof startMtlsService>>;
  let fx: TenantFixture;
  let device: TestDevice;
  let key: ClientKey;
  let otherKey: ClientKey;
  let bc: string;
  const C3 = 'signing-client';
  const C10 = 'other-signing-client';
  const request = (claims: Record<string, unknown>, k: ClientKey = key, header: Record<string, unknown> = {}) =>
    signClientJwt(k, { iss: C3, aud: fx.issuer, scope: 'openid', login_hint: 'alice', ...claims }, header);
  const send = async (jwt: string, outside: Record<string, string> = {}) =>
    postForm(bc, { request: jwt, ...(await assertionForm(key, C3, fx.issuer)), ...outside }, null);

  beforeAll(async () => {
    pki = await TestPki.create();
    svc = await startMtlsService(pki);
    fx = await createTenantFixture(svc, 'signed', { user_rate_limit_per_minute: 1000 });
    bc = `${fx.issuer}/bc-authorize`;
    device = await enrollDevice(svc, fx);
    key = await clientKey('PS256');
    otherKey = await clientKey('PS256');
    for (const [id, k] of [
      [C3, key],
      [C10, otherKey],
    ] as const) {
      const c = await svc.admin('POST', '/admin/tenants/signed/clients', {
        client_id: id,
        grant_types: [CIBA_GRANT],
        backchannel_token_delivery_mode: 'poll',
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [k.publicJwk] },
        backchannel_authentication_request_signing_alg: 'PS256',
      });
      expect(c.status).toBe(201);
    }
  });
  afterAll(() => svc.stop());

  it('61: a valid signed request is accepted, and its parameters (binding_message) reach the device', async () => {
    const res = await send(await request({ binding_message: 'Signed 61', requested_expiry: 120 }));
    expect(res.status).toBe(200);
    expect(res.body.expires_in).toBe(120);
    const txn = await nextTxn(device);
    expect((await device.call('GET', `/device/transactions/${txn}`)).body.binding_message).toBe('Signed 61');
    await device.decide(txn, 'deny');
  });

  it('43: requested_expiry may be a JSON string or number inside the JWT', async () => {
    expect((await send(await request({ requested_expiry: '30' }))).body.expires_in).toBe(30);
    expect((await send(await request({ requested_expiry: 30 }))).body.expires_in).toBe(30);
    expectError(await send(await request({ requested_expiry: 'abc' })), 400, 'invalid_request');
  });

  it('62: authentication request parameters outside the JWT are invalid_request', async () => {
    expectError(await send(await request({}), { login_hint: 'bob' }), 400, 'invalid_request');
    expectError(await send(await request({}), { scope: 'openid' }), 400, 'invalid_request');
  });

  it('63-64: a missing or foreign aud is invalid_request; the token and backchannel endpoints are accepted', async () => {
    expectError(await send(await request({ aud: undefined })), 400, 'invalid_request');
    expectError(await send(await request({ aud: 'https://other.example/as' })), 400, 'invalid_request');
    expect((await send(await request({ aud: bc }))).status).toBe(200);
    expect((await send(await request({ aud: `${fx.issuer}/oauth/token` }))).status).toBe(200);
  });

  it('65: a missing iss, or another client as iss, is 400 invalid_request', async () => {
    expectError(await send(await request({ iss: undefined })), 400, 'invalid_request');
    expectError(await send(await request({ iss: C10 })), 400, 'invalid_request');
  });

  it('66-68: missing or past exp, missing or future iat, missing or future nbf are invalid_request', async () => {
    const now = Math.floor(Date.now() / 1000);
    for (const claims of [
      { exp: undefined },
      { exp: now - 120, iat: now - 300, nbf: now - 300 },
      { iat: undefined },
      { iat: now + 600 },
      { nbf: undefined },
      { nbf: now + 600 },
    ]) {
      expectError(await send(await request(claims)), 400, 'invalid_request');
    }
  });

  it('69: a missing jti is invalid_request, and a replayed request object is refused', async () => {
    expectError(await send(await request({ jti: undefined })), 400, 'invalid_request');
    const once = await request({});
    expect((await send(once)).status).toBe(200);
    expectError(await send(once), 400, 'invalid_request');
  });

  it('70-73: alg none, a corrupted signature, another client key, an unregistered or a symmetric alg are invalid_request', async () => {
    const good = await request({});
    const [h, p, s] = good.split('.');
    const corrupted = `${h}.${p}.${s!.slice(0, -4)}${s!.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
    const es = await clientKey('ES256');
    const rs = await clientKey('RS256');
    const now = Math.floor(Date.now() / 1000);
    const hs = await new SignJWT({
      iss: C3,
      aud: fx.issuer,
      iat: now,
      nbf: now,
      exp: now + 60,
      jti: 'hs',
      scope: 'openid',
      login_hint: 'alice',
    })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode('a-shared-secret-of-sufficient-length'));
    for (const jwt of [
      unsignedJwt({
        iss: C3,
        aud: fx.issuer,
        iat: now,
        nbf: now,
        exp: now + 60,
        jti: 'none',
        scope: 'openid',
        login_hint: 'alice',
      }),
      corrupted,
      await request({}, { ...otherKey, kid: key.kid }),
      await request({}, es),
      await request({}, rs),
      hs,
    ]) {
      expectError(await send(jwt), 400, 'invalid_request');
    }
  });

  it('74: an encrypted request object (JWE) is invalid_request', async () => {
    const enc = await importJWK({ ...key.publicJwk, alg: 'RSA-OAEP-256' } as never, 'RSA-OAEP-256');
    const jwe = await new CompactEncrypt(new TextEncoder().encode(await request({})))
      .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM' })
      .encrypt(enc);
    expectError(await send(jwe), 400, 'invalid_request');
  });

  it('27: a request object from a client that registered no signing alg, and request_uri, are invalid_request', async () => {
    expectError(
      await postForm(bc, { request: await request({ iss: fx.client.client_id }) }, fx.client),
      400,
      'invalid_request',
    );
    expectError(
      await postForm(bc, { scope: 'openid', login_hint: 'alice', request_uri: 'https://x/r' }, fx.client),
      400,
      'invalid_request',
    );
  });

  it('75: with mTLS, a form client_id that differs from the JWT iss is 401 invalid_client', async () => {
    const cert = await pki.issue('CN=mtls-signer');
    const signer = await clientKey('PS256');
    await svc.admin('POST', '/admin/tenants/signed/clients', {
      client_id: 'mtls-signer',
      grant_types: [CIBA_GRANT],
      backchannel_token_delivery_mode: 'poll',
      token_endpoint_auth_method: 'tls_client_auth',
      tls_client_auth_subject_dn: 'CN=mtls-signer',
      jwks: { keys: [signer.publicJwk] },
      backchannel_authentication_request_signing_alg: 'PS256',
    });
    const jwt = await signClientJwt(signer, {
      iss: 'mtls-signer',
      aud: fx.issuer,
      scope: 'openid',
      login_hint: 'alice',
    });
    const url = `${svc.tlsUrl}/signed/bc-authorize`;
    const ok = await tlsRequest(url, {
      ca: pki.ca.cert,
      client: cert,
      form: { request: jwt, client_id: 'mtls-signer' },
    });
    expect(ok.status).toBe(200);
    const jwt2 = await signClientJwt(signer, {
      iss: 'mtls-signer',
      aud: fx.issuer,
      scope: 'openid',
      login_hint: 'alice',
    });
    const res = await tlsRequest(url, { ca: pki.ca.cert, client: cert, form: { request: jwt2, client_id: C10 } });
    expectError(res, 401, 'invalid_client');
  });

  it('openid-client v6 completes a CIBA flow with a request object signed with jose', async () => {
    const config = await oidc.discovery(
      new URL(fx.issuer),
      C3,
      undefined,
      oidc.PrivateKeyJwt({ key: key.privateKey, kid: key.kid }),
      {
        execute: [oidc.allowInsecureRequests],
      },
    );
    const jwt = await request({ scope: 'openid profile', binding_message: 'Signed flow' });
    const ack = await oidc.initiateBackchannelAuthentication(config, { request: jwt });
    await device.decide(await nextTxn(device), 'approve');
    const tokens = await oidc.pollBackchannelAuthenticationGrant(config, ack);
    expect(tokens.claims()).toMatchObject({ sub: 'alice', aud: C3 });
    expect(decodeJwt(tokens.access_token).scope).toBe('openid profile');
  });

  describe('D: login_hint_token (31-32)', () => {
    const hintToken = (claims: Record<string, unknown>, k: ClientKey = key, iss = C3) =>
      signClientJwt(k, { iss, nbf: undefined, jti: undefined, ...claims });
    const withHint = async (token: string) => send(await request({ login_hint: undefined, login_hint_token: token }));

    it('31: a token naming the user by sub, email, phone_number or sub_id is accepted; an expired one is expired_login_hint_token', async () => {
      for (const claims of [
        { sub: 'alice' },
        { email: 'alice@example.com' },
        { phone_number: '+15555550100' },
        { sub_id: { format: 'email', email: 'ALICE@example.com' } },
        { sub_id: { format: 'opaque', id: 'alice' } },
      ]) {
        expect((await withHint(await hintToken(claims))).status).toBe(200);
      }
      const past = Math.floor(Date.now() / 1000) - 600;
      expectError(
        await withHint(await hintToken({ sub: 'alice', exp: past, iat: past - 60 })),
        400,
        'expired_login_hint_token',
      );
    });

    it('31: a token from a tenant-trusted issuer is accepted', async () => {
      const idp = await clientKey('ES256');
      await svc.admin('PUT', '/admin/tenants/signed', {
        login_hint_token_issuers: [{ issuer: 'https://idp.example', jwks: { keys: [idp.publicJwk] } }],
      });
      expect((await withHint(await hintToken({ sub: 'alice' }, idp, 'https://idp.example'))).status).toBe(200);
    });

    it('32: malformed, badly signed or untrusted tokens are invalid_request; an unknown user is unknown_user_id', async () => {
      const stranger = await clientKey('PS256');
      expectError(await withHint('not-a-jwt'), 400, 'invalid_request');
      expectError(
        await withHint(await hintToken({ sub: 'alice' }, { ...stranger, kid: key.kid })),
        400,
        'invalid_request',
      );
      expectError(
        await withHint(await hintToken({ sub: 'alice' }, stranger, 'https://untrusted.example')),
        400,
        'invalid_request',
      );
      expectError(await withHint(await hintToken({ email: 'nobody@example.com' })), 400, 'unknown_user_id');
    });
  });
});
