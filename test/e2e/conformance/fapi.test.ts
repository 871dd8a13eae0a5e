import { createHash, X509Certificate } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, exportJWK, importJWK, jwtVerify } from 'jose';
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
  type CertAndKey,
  type ClientKey,
  clientKey,
  signClientJwt,
  startMtlsService,
  TestPki,
  tlsRequest,
} from '../../helpers/strong-auth.ts';

// A FAPI-CIBA tenant (FAPI-CIBA ID1 §5.2.2 on FAPI 1.0 Advanced): cases 104-113 of the conformance checklist.
describe('conformance L: FAPI-CIBA', () => {
  let pki: TestPki;
  let svc: Awaited<ReturnType<typeof startMtlsService>>;
  let fx: TenantFixture;
  let device: TestDevice;
  let key: ClientKey;
  let cert: CertAndKey;
  let tlsIssuer: string;
  const CLIENT = 'fapi-client';
  const register = (body: Record<string, unknown>) =>
    svc.admin('POST', '/admin/tenants/fapi/clients', {
      grant_types: [CIBA_GRANT],
      backchannel_token_delivery_mode: 'poll',
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [key.publicJwk] },
      backchannel_authentication_request_signing_alg: 'PS256',
      ...body,
    });
  const request = (claims: Record<string, unknown>, k: ClientKey = key) =>
    signClientJwt(k, {
      iss: CLIENT,
      aud: fx.issuer,
      scope: 'openid',
      login_hint: 'alice',
      binding_message: 'FAPI 1234',
      ...claims,
    });
  /** A backchannel request over mutual TLS, authenticated with private_key_jwt. */
  const send = async (form: Record<string, string>, assertionKey: ClientKey = key) =>
    tlsRequest(`${tlsIssuer}/bc-authorize`, {
      ca: pki.ca.cert,
      client: cert,
      form: { ...form, ...(await assertionForm(assertionKey, CLIENT, fx.issuer)) },
    });

  beforeAll(async () => {
    pki = await TestPki.create();
    svc = await startMtlsService(pki);
    fx = await createTenantFixture(svc, 'fapi', { user_rate_limit_per_minute: 1000 });
    tlsIssuer = `${svc.tlsUrl}/fapi`;
    device = await enrollDevice(svc, fx);
    key = await clientKey('PS256');
    cert = await pki.issue('CN=fapi-client');
  });
  afterAll(() => svc.stop());

  it('refuses RS256 and push for a FAPI tenant, and accepts PS256 with poll and ping', async () => {
    expectError(
      await svc.admin('PUT', '/admin/tenants/fapi', { fapi: true, signing_alg: 'RS256' }),
      400,
      'invalid_request',
    );
    expectError(
      await svc.admin('PUT', '/admin/tenants/fapi', { fapi: true, delivery_modes: ['poll', 'push'] }),
      400,
      'invalid_request',
    );
    const ok = await svc.admin('PUT', '/admin/tenants/fapi', {
      fapi: true,
      signing_alg: 'PS256',
      delivery_modes: ['poll', 'ping'],
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ fapi: true, signing_alg: 'PS256' });
    expect((await register({ client_id: CLIENT })).status).toBe(201);
  });

  it('112: the TLS listener accepts TLS 1.2 only with forward-secret AES-GCM suites (and TLS 1.3), nothing older', async () => {
    const { port } = new URL(svc.tlsUrl);
    const handshake = (options: Record<string, unknown>) =>
      new Promise<string>((resolve) => {
        const socket = tlsConnect({ host: '127.0.0.1', port: Number(port), ca: pki.ca.cert, ...options }, () => {
          const version = `${socket.getProtocol()} ${socket.getCipher().standardName}`;
          socket.end();
          resolve(version);
        });
        socket.on('error', (error: Error & { code?: string }) => resolve(`refused ${error.code ?? error.message}`));
      });
    expect(await handshake({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' })).toBe(
      'TLSv1.2 TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
    );
    expect(await handshake({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA' })).toMatch(/^refused/);
    expect(await handshake({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305' })).toMatch(/^refused/);
    expect(await handshake({ maxVersion: 'TLSv1.1', minVersion: 'TLSv1' })).toMatch(/^refused/);
    expect(await handshake({})).toMatch(/^TLSv1\.3 /);
  });

  it('104: discovery shows the FAPI profile', async () => {
    const doc = await (await fetch(`${fx.issuer}/.well-known/openid-configuration`)).json();
    expect(doc.backchannel_token_delivery_modes_supported).toEqual(['poll', 'ping']);
    expect(doc.token_endpoint_auth_methods_supported).toEqual([
      'private_key_jwt',
      'tls_client_auth',
      'self_signed_tls_client_auth',
    ]);
    expect(doc.id_token_signing_alg_values_supported).toEqual(['PS256']);
    expect(doc.backchannel_authentication_request_signing_alg_values_supported).toEqual(['PS256', 'ES256']);
    expect(doc.token_endpoint_auth_signing_alg_values_supported).toEqual(['PS256', 'ES256']);
    expect(doc.tls_client_certificate_bound_access_tokens).toBe(true);
  });

  it('105: refuses push, public and secret clients, and clients that do not sign requests', async () => {
    for (const body of [
      { backchannel_token_delivery_mode: 'push', backchannel_client_notification_endpoint: 'https://rp.example/cb' },
      { token_endpoint_auth_method: 'none' },
      {
        token_endpoint_auth_method: 'client_secret_basic',
        jwks: undefined,
        backchannel_authentication_request_signing_alg: undefined,
      },
      { backchannel_authentication_request_signing_alg: undefined },
      { backchannel_authentication_request_signing_alg: 'RS256' },
    ]) {
      expectError(await register(body), 400, 'invalid_client_metadata');
    }
    // The secret client registered before the tenant turned FAPI on no longer authenticates.
    expectError(
      await postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice' }, fx.client),
      401,
      'invalid_client',
    );
  });

  it('106: an unsigned request is invalid_request', async () => {
    expectError(await send({ scope: 'openid', login_hint: 'alice', binding_message: 'x' }), 400, 'invalid_request');
  });

  it('107: a request object living more than 60 minutes is refused; 60 minutes is accepted', async () => {
    const now = Math.floor(Date.now() / 1000);
    expectError(await send({ request: await request({ nbf: now, exp: now + 70 * 60 }) }), 400, 'invalid_request');
    expectError(await send({ request: await request({ nbf: now - 70 * 60, exp: now + 60 }) }), 400, 'invalid_request');
    expectError(
      await send({ request: await request({ nbf: now + 10 * 60, exp: now + 20 * 60 }) }),
      400,
      'invalid_request',
    );
    expect((await send({ request: await request({ nbf: now, exp: now + 60 * 60 - 5 }) })).status).toBe(200);
  });

  it('108: RS256 request objects and client assertions are refused', async () => {
    // The client's own registered RSA key, used with RS256 instead of PS256.
    const rsa = {
      ...key,
      alg: 'RS256',
      privateKey: (await importJWK(await exportJWK(key.privateKey), 'RS256')) as ClientKey['privateKey'],
    };
    expectError(await send({ request: await request({}, rsa) }), 400, 'invalid_request');
    expectError(await send({ request: await request({}) }, rsa), 401, 'invalid_client');
    const token = await tlsRequest(`${tlsIssuer}/oauth/token`, {
      ca: pki.ca.cert,
      client: cert,
      form: { grant_type: CIBA_GRANT, auth_req_id: 'x', ...(await assertionForm(rsa, CLIENT, fx.issuer)) },
    });
    expectError(token, 401, 'invalid_client');
  });

  it('109: binding_message is required unless authorization_details are sent', async () => {
    expectError(await send({ request: await request({ binding_message: undefined }) }), 400, 'invalid_request');
    await svc.admin('PUT', '/admin/tenants/fapi', {
      authorization_details_types: { payment_initiation: { type: 'object', required: ['type'] } },
    });
    const withRar = await send({
      request: await request({ binding_message: undefined, authorization_details: [{ type: 'payment_initiation' }] }),
    });
    expect(withRar.status).toBe(200);
  });

  it('110, 113: tokens are PS256, certificate-bound, and need the certificate at the token endpoint', async () => {
    const ack = await send({
      request: await request({ scope: 'openid profile', acr_values: 'urn:ciba-service:acr:device-key' }),
    });
    expect(ack.status).toBe(200);
    await device.decide(await nextTxn(device), 'approve');
    // Without a client certificate the token cannot be bound: refused (the grant stays redeemable).
    const noCert = await postForm(
      `${fx.issuer}/oauth/token`,
      { grant_type: CIBA_GRANT, auth_req_id: ack.body.auth_req_id, ...(await assertionForm(key, CLIENT, fx.issuer)) },
      null,
    );
    expectError(noCert, 400, 'invalid_request');
    const res = await tlsRequest(`${tlsIssuer}/oauth/token`, {
      ca: pki.ca.cert,
      client: cert,
      form: {
        grant_type: CIBA_GRANT,
        auth_req_id: ack.body.auth_req_id,
        ...(await assertionForm(key, CLIENT, fx.issuer)),
      },
    });
    expect(res.status).toBe(200);
    const x5t = createHash('sha256').update(new X509Certificate(cert.cert).raw).digest('base64url');
    expect(decodeJwt(res.body.access_token).cnf).toEqual({ 'x5t#S256': x5t });
    expect(decodeProtectedHeader(res.body.id_token).alg).toBe('PS256');
    const jwks = createRemoteJWKSet(new URL(`${fx.issuer}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(res.body.id_token, jwks, { issuer: fx.issuer, audience: CLIENT });
    expect(payload.acr).toBe('urn:ciba-service:acr:device-key'); // 111
    const rsaKey = (await (await fetch(`${fx.issuer}/.well-known/jwks.json`)).json()).keys.find(
      (k: any) => k.alg === 'PS256',
    );
    expect(Buffer.from(rsaKey.n, 'base64url').length * 8).toBeGreaterThanOrEqual(2048);
    expect(Buffer.from(res.body.access_token.split('.')[1], 'base64url').length).toBeGreaterThan(16);
  });
});
