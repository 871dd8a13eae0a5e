import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../../helpers/expect-error.ts';
import {
  CIBA_GRANT,
  createTenantFixture,
  enrollDevice,
  nextTxn,
  postForm,
  startTestService,
  type TenantFixture,
  type TestDevice,
  type TestService,
} from '../../helpers/service.ts';
import { clientKey } from '../../helpers/strong-auth.ts';
import { scanTables } from '../../resilience/faults.ts';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

// RFC 7523 / OIDC Core §9 client_secret_jwt with a secret derived from the tenant's HMAC key, never stored.
describe('client_secret_jwt (derived secret)', () => {
  let svc: TestService;
  let fx: TenantFixture;
  let device: TestDevice;
  let bc: string;
  let token: string;
  let secret: string;
  const clientId = 'hs-client';

  const register = (body: Record<string, unknown>) =>
    svc.admin('POST', `/admin/tenants/${fx.tenant}/clients`, {
      grant_types: [CIBA_GRANT],
      backchannel_token_delivery_mode: 'poll',
      ...body,
    });
  const assertion = (
    claims: Record<string, unknown> = {},
    opts: { key?: string; alg?: string; id?: string } = {},
  ): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    const id = opts.id ?? clientId;
    const payload: Record<string, unknown> = {
      iss: id,
      sub: id,
      aud: fx.issuer,
      iat: now,
      exp: now + 60,
      jti: randomUUID(),
      ...claims,
    };
    for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
    return new SignJWT(payload)
      .setProtectedHeader({ alg: opts.alg ?? 'HS256' })
      .sign(new TextEncoder().encode(opts.key ?? secret));
  };
  const bcWith = (clientAssertion: string) =>
    postForm(
      bc,
      {
        scope: 'openid',
        login_hint: 'alice',
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: clientAssertion,
      },
      null,
    );

  beforeAll(async () => {
    svc = await startTestService();
    fx = await createTenantFixture(svc, 'hsjwt', { user_rate_limit_per_minute: 1000 });
    bc = `${fx.issuer}/bc-authorize`;
    token = `${fx.issuer}/oauth/token`;
    device = await enrollDevice(svc, fx);
    const res = await register({ client_id: clientId, token_endpoint_auth_method: 'client_secret_jwt' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ token_endpoint_auth_method: 'client_secret_jwt', client_secret_expires_at: 0 });
    secret = res.body.client_secret;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
  afterAll(() => svc.stop());

  it('registration returns a distinct secret per client; HS256 only, never for FAPI clients', async () => {
    const other = await register({
      token_endpoint_auth_method: 'client_secret_jwt',
      token_endpoint_auth_signing_alg: 'HS256',
    });
    expect(other.status).toBe(201);
    expect(other.body.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(other.body.client_secret).not.toBe(secret);
    for (const bad of [
      { token_endpoint_auth_method: 'client_secret_jwt', token_endpoint_auth_signing_alg: 'RS256' },
      { token_endpoint_auth_method: 'client_secret_jwt', token_endpoint_auth_signing_alg: 'HS512' },
      { token_endpoint_auth_method: 'client_secret_jwt', fapi: true },
    ]) {
      expectError(await register(bad), 400, 'invalid_client_metadata');
    }
  });

  it('discovery advertises client_secret_jwt with HS256', async () => {
    const doc = await (await fetch(`${fx.issuer}/.well-known/openid-configuration`)).json();
    expect(doc.token_endpoint_auth_methods_supported).toContain('client_secret_jwt');
    expect(doc.token_endpoint_auth_signing_alg_values_supported).toContain('HS256');
  });

  it('openid-client v6 completes a CIBA flow with ClientSecretJwt', async () => {
    const config = await oidc.discovery(new URL(fx.issuer), clientId, undefined, oidc.ClientSecretJwt(secret), {
      execute: [oidc.allowInsecureRequests],
    });
    const ack = await oidc.initiateBackchannelAuthentication(config, { scope: 'openid profile', login_hint: 'alice' });
    await device.decide(await nextTxn(device), 'approve');
    const tokens = await oidc.pollBackchannelAuthenticationGrant(config, ack);
    expect(tokens.claims()).toMatchObject({ sub: 'alice', aud: clientId, name: 'Alice Example' });
  });

  it('accepts the token endpoint as aud', async () => {
    expect((await bcWith(await assertion({ aud: token }))).status).toBe(200);
  });

  it('a wrong secret, another alg (HS512, ES256, none) or the secret of another client is 401 invalid_client', async () => {
    const es = await clientKey('ES256');
    const now = Math.floor(Date.now() / 1000);
    const esSigned = await new SignJWT({ iss: clientId, sub: clientId, aud: fx.issuer, exp: now + 60, jti: 'es-1' })
      .setProtectedHeader({ alg: 'ES256', kid: es.kid })
      .sign(es.privateKey);
    const none = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(
      JSON.stringify({ iss: clientId, sub: clientId, aud: fx.issuer, exp: now + 60, jti: 'none-1' }),
    ).toString('base64url')}.`;
    for (const bad of [
      await assertion({}, { key: `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}` }),
      await assertion({}, { key: 'a-shared-secret-of-sufficient-length-0123456789' }),
      await assertion({}, { alg: 'HS512' }),
      esSigned,
      none,
    ]) {
      expectError(await bcWith(bad), 401, 'invalid_client');
    }
  });

  it('a wrong aud, an expired or missing exp, a missing jti, iss or sub other than the client or a future nbf is 401', async () => {
    const now = Math.floor(Date.now() / 1000);
    for (const claims of [
      { aud: 'https://other.example/token' },
      { exp: now - 600, iat: now - 660 },
      { exp: undefined },
      { jti: undefined },
      { iss: 'someone' },
      { sub: 'someone' },
      { nbf: now + 600 },
    ]) {
      expectError(await bcWith(await assertion(claims)), 401, 'invalid_client');
    }
  });

  it('a replayed assertion is refused, also at the token endpoint', async () => {
    const once = await assertion();
    expect((await bcWith(once)).status).toBe(200);
    expectError(await bcWith(once), 401, 'invalid_client');
    expectError(
      await postForm(
        token,
        { grant_type: CIBA_GRANT, auth_req_id: 'x', client_assertion_type: ASSERTION_TYPE, client_assertion: once },
        null,
      ),
      401,
      'invalid_client',
    );
  });

  it('the derived secret does not work as a client_secret_basic or client_secret_post secret', async () => {
    expectError(
      await postForm(bc, { scope: 'openid', login_hint: 'alice' }, { client_id: clientId, client_secret: secret }),
      401,
      'invalid_client',
    );
    expectError(
      await postForm(bc, { scope: 'openid', login_hint: 'alice', client_id: clientId, client_secret: secret }, null),
      401,
      'invalid_client',
    );
  });

  it('the secret is stored nowhere and logged nowhere; the JWKS never contains the HMAC key', async () => {
    const items = await scanTables(svc);
    const dump = JSON.stringify([...items.values()]);
    expect(dump).not.toContain(secret);
    const record = [...items.values()].find((i) => i.sk === `CLIENT#${clientId}`);
    expect(record?.secret_salt).toEqual(expect.any(String));
    expect(svc.logs.join('\n')).not.toContain(secret);

    const jwks = await (await fetch(`${fx.issuer}/.well-known/jwks.json`)).json();
    expect(jwks.keys.length).toBeGreaterThan(0);
    for (const k of jwks.keys) {
      expect(k.kty).not.toBe('oct');
      expect(k.k).toBeUndefined();
      expect(k.alg).not.toBe('HS256');
    }
    // The MAC key itself lives in the tenant's keyset (local mode keeps it unsealed, `plain:`), never in a response.
    const keyset = [...items.values()].find((i) => i.sk === 'KEYS' && i.tenant_id === fx.tenant);
    const macKeys = (keyset?.mac ?? []) as { sealed?: string }[];
    expect(macKeys.length).toBeGreaterThan(0);
    for (const { sealed } of macKeys) {
      expect(sealed).toMatch(/^plain:/);
      expect(JSON.stringify(jwks)).not.toContain(sealed!.slice('plain:'.length));
    }
  });
});
