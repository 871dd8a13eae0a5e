import { createHash, X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt, SignJWT } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallbackReceiver } from '../../helpers/callback-receiver.ts';
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
  clientAssertion,
  clientKey,
  startMtlsService,
  TestPki,
  tlsRequest,
  unsignedJwt,
} from '../../helpers/strong-auth.ts';

const thumbprint = (pem: string) => createHash('sha256').update(new X509Certificate(pem).raw).digest('base64url');

// Registration (RFC 7591; checklist cases 8, 13, 15), private_key_jwt (RFC 7523, OIDC Core §9; 51-57), mutual TLS
// (RFC 8705 §2; 58-60), certificate-bound tokens (RFC 8705 §3; 110).
describe('conformance B and G: strong client authentication', () => {
  let pki: TestPki;
  let svc: Awaited<ReturnType<typeof startMtlsService>>;
  let fx: TenantFixture;
  let device: TestDevice;
  let key: ClientKey;
  let bc: string;
  let token: string;
  const jwtClient = 'jwt-client';
  const register = (body: Record<string, unknown>, tenant = 'strong') =>
    svc.admin('POST', `/admin/tenants/${tenant}/clients`, {
      grant_types: [CIBA_GRANT],
      backchannel_token_delivery_mode: 'poll',
      ...body,
    });
  const bcWithAssertion = async (extra: Record<string, unknown> = {}, aud = fx.issuer) =>
    postForm(bc, { scope: 'openid', login_hint: 'alice', ...(await assertionForm(key, jwtClient, aud, extra)) }, null);

  beforeAll(async () => {
    pki = await TestPki.create();
    svc = await startMtlsService(pki);
    fx = await createTenantFixture(svc, 'strong', { user_rate_limit_per_minute: 1000 });
    bc = `${fx.issuer}/bc-authorize`;
    token = `${fx.issuer}/oauth/token`;
    device = await enrollDevice(svc, fx);
    key = await clientKey('ES256');
    const c = await register({
      client_id: jwtClient,
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [key.publicJwk] },
    });
    expect(c.status).toBe(201);
  });
  afterAll(() => svc.stop());

  describe('B: registration', () => {
    it('8: a private_key_jwt poll client is registered without a secret and echoes its metadata', async () => {
      const other = await clientKey('PS256');
      const res = await register({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [other.publicJwk] } });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({
        backchannel_token_delivery_mode: 'poll',
        backchannel_user_code_parameter: false,
        token_endpoint_auth_method: 'private_key_jwt',
      });
      expect(res.body.client_secret).toBeUndefined();
      expect(res.body.jwks.keys[0].kid).toBe(other.kid);
    });

    it('13: refuses none, HS256, unknown request signing algorithms and an algorithm without keys', async () => {
      for (const alg of ['none', 'HS256', 'ES512']) {
        const res = await register({
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [key.publicJwk] },
          backchannel_authentication_request_signing_alg: alg,
        });
        expectError(res, 400, 'invalid_client_metadata');
      }
      expectError(
        await register({ backchannel_authentication_request_signing_alg: 'PS256' }),
        400,
        'invalid_client_metadata',
      );
    });

    it('15: refuses pairwise subjects, jwks with jwks_uri, private keys and incomplete mTLS metadata', async () => {
      // client_secret_jwt is offered (derived secrets): see client-secret-jwt.test.ts.
      const bad: Record<string, unknown>[] = [
        { subject_type: 'pairwise', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.publicJwk] } },
        { token_endpoint_auth_method: 'private_key_jwt' },
        {
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [key.publicJwk] },
          jwks_uri: 'https://client.example/jwks',
        },
        { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ ...key.publicJwk, d: 'secret' }] } },
        { token_endpoint_auth_method: 'tls_client_auth' },
        {
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_subject_dn: 'CN=a',
          tls_client_auth_san_dns: 'a',
        },
        { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'http://client.example/jwks' },
        {
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [key.publicJwk] },
          token_endpoint_auth_signing_alg: 'HS256',
        },
      ];
      for (const body of bad) expectError(await register(body), 400, 'invalid_client_metadata');
    });
  });

  describe('G: private_key_jwt', () => {
    it('51: accepts the issuer, the token endpoint and the backchannel endpoint as aud, at both endpoints', async () => {
      for (const aud of [fx.issuer, token, bc]) expect((await bcWithAssertion({}, aud)).status).toBe(200);
      const ack = await bcWithAssertion();
      for (const aud of [fx.issuer, token]) {
        const res = await postForm(
          token,
          { grant_type: CIBA_GRANT, auth_req_id: ack.body.auth_req_id, ...(await assertionForm(key, jwtClient, aud)) },
          null,
        );
        expect(['authorization_pending', 'slow_down']).toContain(res.body.error);
      }
    });

    it('52: a wrong audience is 401 invalid_client', async () => {
      expectError(await bcWithAssertion({}, 'https://other.example/token'), 401, 'invalid_client');
    });

    it('53: an expired or missing exp is 401 invalid_client', async () => {
      const past = Math.floor(Date.now() / 1000) - 600;
      expectError(await bcWithAssertion({ exp: past, iat: past - 60 }), 401, 'invalid_client');
      expectError(await bcWithAssertion({ exp: undefined }), 401, 'invalid_client');
    });

    it('54: a replayed assertion is refused, also at another endpoint', async () => {
      const form = await assertionForm(key, jwtClient, fx.issuer);
      expect((await postForm(bc, { scope: 'openid', login_hint: 'alice', ...form }, null)).status).toBe(200);
      expectError(await postForm(bc, { scope: 'openid', login_hint: 'alice', ...form }, null), 401, 'invalid_client');
      expectError(
        await postForm(token, { grant_type: CIBA_GRANT, auth_req_id: 'x', ...form }, null),
        401,
        'invalid_client',
      );
    });

    it('55: a missing jti, iss or sub other than the client, a missing sub or a future nbf is 401 invalid_client', async () => {
      const future = Math.floor(Date.now() / 1000) + 600;
      for (const extra of [
        { jti: undefined },
        { iss: 'someone' },
        { sub: 'someone' },
        { sub: undefined },
        { nbf: future },
      ]) {
        expectError(await bcWithAssertion(extra), 401, 'invalid_client');
      }
    });

    it('56: another key, alg none or an HS256 assertion is 401 invalid_client', async () => {
      const stranger = await clientKey('ES256');
      const signedByStranger = await clientAssertion({ ...stranger, kid: key.kid }, jwtClient, fx.issuer);
      const now = Math.floor(Date.now() / 1000);
      const none = unsignedJwt({ iss: jwtClient, sub: jwtClient, aud: fx.issuer, exp: now + 60, jti: 'n1' });
      const hs = await new SignJWT({ iss: jwtClient, sub: jwtClient, aud: fx.issuer, exp: now + 60, jti: 'h1' })
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode('a-shared-secret-of-sufficient-length'));
      for (const assertion of [signedByStranger, none, hs]) {
        const res = await postForm(
          bc,
          {
            scope: 'openid',
            login_hint: 'alice',
            client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
            client_assertion: assertion,
          },
          null,
        );
        expectError(res, 401, 'invalid_client');
      }
    });

    it('57: a missing or wrong client_assertion_type is 401 invalid_client', async () => {
      const assertion = await clientAssertion(key, jwtClient, fx.issuer);
      for (const type of [undefined, 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer']) {
        const res = await postForm(
          bc,
          {
            scope: 'openid',
            login_hint: 'alice',
            client_assertion: assertion,
            ...(type ? { client_assertion_type: type } : {}),
          },
          null,
        );
        expectError(res, 401, 'invalid_client');
      }
    });

    it('49: a private_key_jwt client presenting a secret, and a secret client presenting an assertion, are refused', async () => {
      expectError(
        await postForm(bc, { scope: 'openid', login_hint: 'alice' }, { client_id: jwtClient, client_secret: 'x' }),
        401,
        'invalid_client',
      );
      const res = await postForm(
        bc,
        { scope: 'openid', login_hint: 'alice', ...(await assertionForm(key, fx.client.client_id, fx.issuer)) },
        null,
      );
      expectError(res, 401, 'invalid_client');
    });

    it('enforces a registered token_endpoint_auth_signing_alg', async () => {
      const es = await clientKey('ES256');
      await register({
        client_id: 'pinned-alg',
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [es.publicJwk] },
        token_endpoint_auth_signing_alg: 'PS256',
      });
      const res = await postForm(
        bc,
        { scope: 'openid', login_hint: 'alice', ...(await assertionForm(es, 'pinned-alg', fx.issuer)) },
        null,
      );
      expectError(res, 401, 'invalid_client');
    });

    describe('with a jwks_uri', () => {
      let jwksServer: Server;
      let served: { keys: unknown[] };
      let uri: string;
      beforeAll(async () => {
        jwksServer = createServer((_req, res) => {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify(served));
        });
        await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', () => r()));
        uri = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`;
        await svc.admin('PUT', '/admin/tenants/devjwks', { development_mode: true, backchannel_polling_interval: 1 });
        await svc.admin('PUT', '/admin/tenants/devjwks/users/alice', { name: 'Alice' });
        await enrollDevice(svc, { tenant: 'devjwks', issuer: `${svc.url}/devjwks`, client: fx.client });
      });
      afterAll(() => new Promise<void>((r) => jwksServer.close(() => r())));

      it('verifies assertions with keys fetched (plain http to loopback only in development mode)', async () => {
        const remote = await clientKey('ES256');
        served = { keys: [remote.publicJwk] };
        const reg = await register(
          { client_id: 'remote-keys', token_endpoint_auth_method: 'private_key_jwt', jwks_uri: uri },
          'devjwks',
        );
        expect(reg.status).toBe(201);
        const issuer = `${svc.url}/devjwks`;
        const res = await postForm(
          `${issuer}/bc-authorize`,
          { scope: 'openid', login_hint: 'alice', ...(await assertionForm(remote, 'remote-keys', issuer)) },
          null,
        );
        expect(res.status).toBe(200);
        // Outside development mode the same URI is refused at registration.
        expectError(
          await register({ token_endpoint_auth_method: 'private_key_jwt', jwks_uri: uri }),
          400,
          'invalid_client_metadata',
        );
      });
    });

    it('openid-client v6 completes a CIBA flow with PrivateKeyJwt', async () => {
      const config = await oidc.discovery(
        new URL(fx.issuer),
        jwtClient,
        undefined,
        oidc.PrivateKeyJwt({ key: key.privateKey, kid: key.kid }),
        {
          execute: [oidc.allowInsecureRequests],
        },
      );
      const ack = await oidc.initiateBackchannelAuthentication(config, {
        scope: 'openid profile',
        login_hint: 'alice',
      });
      await device.decide(await nextTxn(device), 'approve');
      const tokens = await oidc.pollBackchannelAuthenticationGrant(config, ack);
      expect(tokens.claims()).toMatchObject({ sub: 'alice', aud: jwtClient, name: 'Alice Example' });
    });
  });

  describe('G: mutual TLS (a real local TLS listener)', () => {
    let certA: { cert: string; key: string };
    let certB: { cert: string; key: string };
    let selfSigned: Awaited<ReturnType<typeof TestPki.selfSigned>>;
    let tlsIssuer: string;
    const tls = (path: string, form: Record<string, string>, client?: { cert: string; key: string }, headers = {}) =>
      tlsRequest(`${tlsIssuer}${path}`, { ca: pki.ca.cert, form, headers, ...(client ? { client } : {}) });

    beforeAll(async () => {
      certA = await pki.issue('CN=client-a,O=Example Bank,C=DE', [{ type: 'dns', value: 'client-a.example' }]);
      certB = await pki.issue('CN=client-b,O=Example Bank,C=DE');
      selfSigned = await TestPki.selfSigned('CN=self-signed-client');
      tlsIssuer = `${svc.tlsUrl}/strong`;
      expect(
        (
          await register({
            client_id: 'mtls-c4',
            token_endpoint_auth_method: 'tls_client_auth',
            tls_client_auth_subject_dn: 'CN=client-a,O=Example Bank,C=DE',
          })
        ).status,
      ).toBe(201);
      expect(
        (
          await register({
            client_id: 'mtls-c4-san',
            token_endpoint_auth_method: 'tls_client_auth',
            tls_client_auth_san_dns: 'client-a.example',
          })
        ).status,
      ).toBe(201);
      expect(
        (
          await register({
            client_id: 'mtls-c10',
            token_endpoint_auth_method: 'tls_client_auth',
            tls_client_auth_subject_dn: 'CN=client-b,O=Example Bank,C=DE',
          })
        ).status,
      ).toBe(201);
      expect(
        (
          await register({
            client_id: 'mtls-c5',
            token_endpoint_auth_method: 'self_signed_tls_client_auth',
            jwks: { keys: [selfSigned.jwk] },
          })
        ).status,
      ).toBe(201);
    });

    it('7: discovery advertises the mTLS methods, certificate-bound tokens and endpoint aliases on the TLS host', async () => {
      const doc = await (await fetch(`${fx.issuer}/.well-known/openid-configuration`)).json();
      expect(doc.token_endpoint_auth_methods_supported).toEqual(
        expect.arrayContaining(['private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth']),
      );
      expect(doc.tls_client_certificate_bound_access_tokens).toBe(true);
      expect(doc.mtls_endpoint_aliases).toMatchObject({
        token_endpoint: `${tlsIssuer}/oauth/token`,
        backchannel_authentication_endpoint: `${tlsIssuer}/bc-authorize`,
        userinfo_endpoint: `${tlsIssuer}/userinfo`,
      });
      // The alias host names the same issuer.
      const viaTls = await tlsRequest(`${tlsIssuer}/.well-known/openid-configuration`, { ca: pki.ca.cert });
      expect(viaTls.body.issuer).toBe(fx.issuer);
    });

    it('58: tls_client_auth by subject DN or SAN succeeds; another client_id with that certificate is 401 at both endpoints', async () => {
      expect(
        (await tls('/bc-authorize', { scope: 'openid', login_hint: 'alice', client_id: 'mtls-c4' }, certA)).status,
      ).toBe(200);
      expect(
        (await tls('/bc-authorize', { scope: 'openid', login_hint: 'alice', client_id: 'mtls-c4-san' }, certA)).status,
      ).toBe(200);
      expectError(
        await tls('/bc-authorize', { scope: 'openid', login_hint: 'alice', client_id: 'mtls-c10' }, certA),
        401,
        'invalid_client',
      );
      expectError(
        await tls('/oauth/token', { grant_type: CIBA_GRANT, auth_req_id: 'x', client_id: 'mtls-c10' }, certA),
        401,
        'invalid_client',
      );
    });

    it('59: no certificate, an unregistered self-signed key or a certificate from no trusted CA is 401; a registered self-signed key works', async () => {
      const req = { scope: 'openid', login_hint: 'alice' };
      expectError(await tls('/bc-authorize', { ...req, client_id: 'mtls-c4' }), 401, 'invalid_client');
      expectError(
        await tls('/oauth/token', { grant_type: CIBA_GRANT, auth_req_id: 'x', client_id: 'mtls-c4' }),
        401,
        'invalid_client',
      );
      expectError(await tls('/bc-authorize', { ...req, client_id: 'mtls-c5' }, certA), 401, 'invalid_client');
      expect((await tls('/bc-authorize', { ...req, client_id: 'mtls-c5' }, selfSigned)).status).toBe(200);
      // The same subject DN as C4's, but self-signed: the chain does not lead to the CA.
      const forged = await TestPki.selfSigned('CN=client-a,O=Example Bank,C=DE');
      expectError(await tls('/bc-authorize', { ...req, client_id: 'mtls-c4' }, forged), 401, 'invalid_client');
    });

    it('60: a certificate in a request header is never believed', async () => {
      const pemOneLine = encodeURIComponent(certA.cert);
      for (const name of ['X-SSL-Client-Cert', 'X-Amzn-Mtls-Clientcert', 'X-Client-Cert']) {
        const res = await postForm(bc, { scope: 'openid', login_hint: 'alice', client_id: 'mtls-c4' }, null, {
          [name]: pemOneLine,
        });
        expectError(res, 401, 'invalid_client');
      }
    });

    it('110: an mTLS client gets a certificate-bound access token that userinfo accepts only with that certificate', async () => {
      const ack = await tls(
        '/bc-authorize',
        { scope: 'openid profile', login_hint: 'alice', client_id: 'mtls-c4' },
        certA,
      );
      await device.decide(await nextTxn(device), 'approve');
      const res = await tls(
        '/oauth/token',
        { grant_type: CIBA_GRANT, auth_req_id: ack.body.auth_req_id, client_id: 'mtls-c4' },
        certA,
      );
      expect(res.status).toBe(200);
      const at = res.body.access_token as string;
      expect(decodeJwt(at).cnf).toEqual({ 'x5t#S256': thumbprint(certA.cert) });
      const bearer = { Authorization: `Bearer ${at}` };
      const ok = await tlsRequest(`${tlsIssuer}/userinfo`, { ca: pki.ca.cert, client: certA, headers: bearer });
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ sub: 'alice', name: 'Alice Example' });
      const noCert = await fetch(`${fx.issuer}/userinfo`, { headers: bearer });
      expect(noCert.status).toBe(401);
      expect((await noCert.json()).error).toBe('invalid_token');
      const otherCert = await tlsRequest(`${tlsIssuer}/userinfo`, { ca: pki.ca.cert, client: certB, headers: bearer });
      expectError(otherCert, 401, 'invalid_token');
    });

    it('103: a push-mode mTLS client is pushed an access token bound to the certificate it used at bc-authorize', async () => {
      await svc.admin('PUT', '/admin/tenants/strong', {
        development_mode: true,
        delivery_modes: ['poll', 'ping', 'push'],
      });
      const receiver = await CallbackReceiver.start();
      try {
        const registered = await register({
          client_id: 'mtls-push',
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_subject_dn: 'CN=client-a,O=Example Bank,C=DE',
          backchannel_token_delivery_mode: 'push',
          backchannel_client_notification_endpoint: receiver.endpoint('/push'),
        });
        expect(registered.status).toBe(201);
        const ack = await tls(
          '/bc-authorize',
          { scope: 'openid', login_hint: 'alice', client_id: 'mtls-push', client_notification_token: 'push-token-1' },
          certA,
        );
        expect(ack.status).toBe(200);
        await device.decide(await nextTxn(device), 'approve');
        const [push] = await receiver.waitFor('/push', 1);
        const at = JSON.parse(push!.body).access_token as string;
        expect(decodeJwt(at).cnf).toEqual({ 'x5t#S256': thumbprint(certA.cert) });
      } finally {
        await receiver.stop();
      }
    });
  });
});
