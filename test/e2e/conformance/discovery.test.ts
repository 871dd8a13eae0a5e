import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenantFixture, startTestService, type TenantFixture, type TestService } from '../../helpers/service.ts';

// Discovery metadata (OpenID Connect Discovery §3, CIBA Core §4): cases 1-7 of the project's conformance checklist.
describe('conformance A: discovery metadata', () => {
  let svc: TestService;
  let fx: TenantFixture;
  let doc: Record<string, any>;
  let res: Response;

  beforeAll(async () => {
    svc = await startTestService();
    fx = await createTenantFixture(svc, 'disco');
    res = await fetch(`${fx.issuer}/.well-known/openid-configuration`);
    doc = await res.json();
  });
  afterAll(() => svc.stop());

  it('1: serves JSON whose issuer is byte-identical to the URL it was built from, with token_endpoint and jwks_uri', () => {
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(doc.issuer).toBe(fx.issuer);
    expect(doc.token_endpoint).toBe(`${fx.issuer}/oauth/token`);
    expect(doc.jwks_uri).toBe(`${fx.issuer}/.well-known/jwks.json`);
  });

  it('2: advertises the backchannel authentication endpoint as an absolute URL (https behind CIBA_PUBLIC_URL in production)', () => {
    expect(doc.backchannel_authentication_endpoint).toBe(`${fx.issuer}/bc-authorize`);
    expect(new URL(doc.backchannel_authentication_endpoint).pathname).toBe('/disco/bc-authorize');
  });

  it("3: lists only the tenant's delivery modes, all of them valid", async () => {
    expect(doc.backchannel_token_delivery_modes_supported).toEqual(['poll', 'ping']);
    await svc.admin('PUT', '/admin/tenants/disco', { delivery_modes: ['poll'] });
    const narrowed = await (await fetch(`${fx.issuer}/.well-known/openid-configuration`)).json();
    expect(narrowed.backchannel_token_delivery_modes_supported).toEqual(['poll']);
  });

  it('4: lists the CIBA grant type', () => {
    expect(doc.grant_types_supported).toContain('urn:openid:params:grant-type:ciba');
  });

  it('5: advertises only asymmetric request signing algorithms (no none, no HS*)', () => {
    expect(doc.backchannel_authentication_request_signing_alg_values_supported).toEqual(['PS256', 'ES256', 'RS256']);
    expect(doc.token_endpoint_auth_signing_alg_values_supported).not.toContain('none');
    // HS256 only for client_secret_jwt assertions (a derived secret), never for requests.
    expect(doc.token_endpoint_auth_signing_alg_values_supported.filter((a: string) => a.startsWith('HS'))).toEqual([
      'HS256',
    ]);
  });

  it('6: backchannel_user_code_parameter_supported is a JSON boolean', () => {
    expect(doc.backchannel_user_code_parameter_supported).toBe(true);
  });

  it('7: related metadata is coherent: auth methods, ID token algorithms, scopes, claims, subject and response types', () => {
    // No mTLS host on this tenant: the tls_client_auth methods are not offered (see strong-auth.test.ts).
    expect(doc.token_endpoint_auth_methods_supported).toEqual([
      'client_secret_basic',
      'client_secret_post',
      'client_secret_jwt',
      'private_key_jwt',
    ]);
    expect(doc.token_endpoint_auth_methods_supported).not.toContain('none');
    expect(doc.id_token_signing_alg_values_supported).toEqual(['ES256']);
    expect(doc.scopes_supported).toEqual(expect.arrayContaining(['openid', 'profile', 'email', 'phone', 'address']));
    expect(doc.claims_supported).toEqual(expect.arrayContaining(['sub', 'email', 'name']));
    expect(doc.subject_types_supported).toEqual(['public']);
    expect(doc.response_types_supported).toEqual([]);
    expect(doc.userinfo_endpoint).toBe(`${fx.issuer}/userinfo`);
  });

  it('publishes the signing key in the JWKS with its kid and algorithm, and no private part', async () => {
    const jwks = await (await fetch(doc.jwks_uri)).json();
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(jwks.keys[0].kid).toEqual(expect.any(String));
    expect(jwks.keys[0].d).toBeUndefined();
  });

  it('answers 404 not_found for an unknown tenant', async () => {
    const r = await fetch(`${svc.url}/nobody/.well-known/openid-configuration`);
    expect(r.status).toBe(404);
    expect(await r.json()).toEqual({ error: 'not_found', error_description: 'unknown tenant' });
  });
});
