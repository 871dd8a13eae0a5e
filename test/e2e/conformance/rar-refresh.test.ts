import { createHash } from 'node:crypto';
import { decodeJwt } from 'jose';
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

const halfHash = (token: string) => {
  const d = createHash('sha256').update(token).digest();
  return d.subarray(0, 16).toString('base64url');
};

const PAYMENT_SCHEMA = {
  type: 'object',
  properties: {
    type: { const: 'payment_initiation' },
    instructedAmount: {
      type: 'object',
      properties: {
        currency: { type: 'string', pattern: '^[A-Z]{3}$' },
        amount: { type: 'string', pattern: '^[0-9]+(\\.[0-9]{1,2})?$' },
      },
      required: ['currency', 'amount'],
      additionalProperties: false,
    },
    creditorName: { type: 'string', maxLength: 70 },
  },
  required: ['type', 'instructedAmount'],
  additionalProperties: false,
};
const PAYMENT = {
  type: 'payment_initiation',
  instructedAmount: { currency: 'EUR', amount: '12.50' },
  creditorName: 'Merchant A',
};

// RAR (RFC 9396; checklist cases 114-116), refresh tokens (RFC 6749 §6; case 89), revocation (RFC 7009) and
// introspection (RFC 7662).
describe('conformance M and I 89: authorization_details, refresh tokens, revocation, introspection', () => {
  let svc: TestService;
  let fx: TenantFixture;
  let device: TestDevice;
  let rt: TenantFixture['client'];
  let other: TenantFixture['client'];
  let bc: string;
  let token: string;

  /** Starts a request as `client`, approves it and returns the token response. */
  const approved = async (form: Record<string, string>, client = rt) => {
    const ack = await postForm(bc, { login_hint: 'alice', ...form }, client);
    expect(ack.status).toBe(200);
    await device.decide(await nextTxn(device), 'approve');
    const res = await postForm(token, { grant_type: CIBA_GRANT, auth_req_id: ack.body.auth_req_id }, client);
    expect(res.status).toBe(200);
    return res.body;
  };
  const refresh = (refreshToken: string, client = rt, extra: Record<string, string> = {}) =>
    postForm(token, { grant_type: 'refresh_token', refresh_token: refreshToken, ...extra }, client);

  beforeAll(async () => {
    svc = await startTestService();
    fx = await createTenantFixture(svc, 'rar', {
      user_rate_limit_per_minute: 1000,
      authorization_details_types: { payment_initiation: PAYMENT_SCHEMA, account_information: { type: 'object' } },
    });
    bc = `${fx.issuer}/bc-authorize`;
    token = `${fx.issuer}/oauth/token`;
    device = await enrollDevice(svc, fx);
    const reg = async (body: Record<string, unknown> = {}) =>
      (
        await svc.admin('POST', '/admin/tenants/rar/clients', {
          grant_types: [CIBA_GRANT, 'refresh_token'],
          backchannel_token_delivery_mode: 'poll',
          ...body,
        })
      ).body;
    rt = await reg();
    other = await reg();
  });
  afterAll(() => svc.stop());

  it('refuses a tenant schema that cannot be enforced, or that is not an object schema', async () => {
    expectError(
      await svc.admin('PUT', '/admin/tenants/rar', {
        authorization_details_types: { x: { type: 'object', not: { required: ['a'] } } },
      }),
      400,
      'invalid_request',
    );
    expectError(
      await svc.admin('PUT', '/admin/tenants/rar', { authorization_details_types: { x: { type: 'string' } } }),
      400,
      'invalid_request',
    );
  });

  it('discovery lists the types, the refresh grant, offline_access and the revocation and introspection endpoints', async () => {
    const doc = await (await fetch(`${fx.issuer}/.well-known/openid-configuration`)).json();
    expect(doc.authorization_details_types_supported).toEqual(['payment_initiation', 'account_information']);
    expect(doc.grant_types_supported).toEqual(['urn:openid:params:grant-type:ciba', 'refresh_token']);
    expect(doc.scopes_supported).toContain('offline_access');
    expect(doc.revocation_endpoint).toBe(`${fx.issuer}/oauth/revoke`);
    expect(doc.introspection_endpoint).toBe(`${fx.issuer}/oauth/introspect`);
  });

  it('114: authorization_details are accepted, shown to the device, returned in the token response, the access token and introspection', async () => {
    const ack = await postForm(
      bc,
      { scope: 'openid', login_hint: 'alice', authorization_details: JSON.stringify([PAYMENT]) },
      rt,
    );
    expect(ack.status).toBe(200);
    const txn = await nextTxn(device);
    expect((await device.call('GET', `/device/transactions/${txn}`)).body.authorization_details).toEqual([PAYMENT]);
    await device.decide(txn, 'approve');
    const res = await postForm(token, { grant_type: CIBA_GRANT, auth_req_id: ack.body.auth_req_id }, rt);
    expect(res.body.authorization_details).toEqual([PAYMENT]);
    expect(decodeJwt(res.body.access_token).authorization_details).toEqual([PAYMENT]);
    const intro = await postForm(`${fx.issuer}/oauth/introspect`, { token: res.body.access_token }, rt);
    expect(intro.body).toMatchObject({
      active: true,
      client_id: rt.client_id,
      sub: 'alice',
      authorization_details: [PAYMENT],
    });
  });

  it('115: authorization_details that are not JSON, not an array, or with an element without a string type are refused', async () => {
    for (const raw of [
      'not json',
      '{"type":"payment_initiation"}',
      '[]',
      '[{"amount":"1"}]',
      '[{"type":5}]',
      '["x"]',
    ]) {
      expectError(
        await postForm(bc, { scope: 'openid', login_hint: 'alice', authorization_details: raw }, rt),
        400,
        'invalid_authorization_details',
      );
    }
  });

  it('116: unknown types, schema violations and types the client may not use are refused', async () => {
    const bad = [
      [{ type: 'unknown_type' }],
      [{ type: 'payment_initiation' }],
      [{ ...PAYMENT, instructedAmount: { currency: 'EUR', amount: 12.5 } }],
      [{ ...PAYMENT, instructedAmount: { currency: 'EUR', amount: 'twelve' } }],
      [{ ...PAYMENT, instructedAmount: { currency: 'EURO', amount: '1' } }],
      [{ ...PAYMENT, unexpected: true }],
    ];
    for (const details of bad) {
      expectError(
        await postForm(
          bc,
          { scope: 'openid', login_hint: 'alice', authorization_details: JSON.stringify(details) },
          rt,
        ),
        400,
        'invalid_authorization_details',
      );
    }
    const limited = (
      await svc.admin('POST', '/admin/tenants/rar/clients', {
        grant_types: [CIBA_GRANT],
        backchannel_token_delivery_mode: 'poll',
        authorization_details_types: ['account_information'],
      })
    ).body;
    expectError(
      await postForm(
        bc,
        { scope: 'openid', login_hint: 'alice', authorization_details: JSON.stringify([PAYMENT]) },
        limited,
      ),
      400,
      'invalid_authorization_details',
    );
  });

  it('89: with offline_access a refresh token is issued (rt_hash in the ID token) and rotates; another client gets invalid_grant', async () => {
    const tokens = await approved({ scope: 'openid offline_access' });
    expect(tokens.refresh_token).toEqual(expect.any(String));
    expect(decodeJwt(tokens.id_token)['urn:openid:params:jwt:claim:rt_hash']).toBe(halfHash(tokens.refresh_token));
    expectError(await refresh(tokens.refresh_token, other), 400, 'invalid_grant');
    const next = await refresh(tokens.refresh_token);
    expect(next.status).toBe(200);
    expect(next.headers.get('cache-control')).toBe('no-store');
    expect(next.body).toMatchObject({ token_type: 'Bearer', scope: 'openid offline_access' });
    expect(next.body.refresh_token).not.toBe(tokens.refresh_token);
    expect(decodeJwt(next.body.access_token)).toMatchObject({ sub: 'alice', client_id: rt.client_id });
    // A narrower scope narrows the access token only.
    const narrowed = await refresh(next.body.refresh_token, rt, { scope: 'openid' });
    expect(narrowed.body.scope).toBe('openid');
    expectError(await refresh(narrowed.body.refresh_token, rt, { scope: 'openid profile' }), 400, 'invalid_scope');
  });

  it('89: a replayed refresh token revokes the whole family', async () => {
    const tokens = await approved({ scope: 'openid offline_access' });
    const second = await refresh(tokens.refresh_token);
    expect(second.status).toBe(200);
    expectError(await refresh(tokens.refresh_token), 400, 'invalid_grant');
    // The legitimate holder's newer token died with the family.
    expectError(await refresh(second.body.refresh_token), 400, 'invalid_grant');
  });

  it('no refresh token without offline_access; offline_access needs the refresh_token grant', async () => {
    const tokens = await approved({ scope: 'openid' });
    expect(tokens.refresh_token).toBeUndefined();
    expectError(
      await postForm(bc, { scope: 'openid offline_access', login_hint: 'alice' }, fx.client),
      400,
      'invalid_scope',
    );
  });

  it('116: a refresh asking for more authorization_details than granted is refused', async () => {
    const tokens = await approved({ scope: 'openid offline_access', authorization_details: JSON.stringify([PAYMENT]) });
    const more = JSON.stringify([PAYMENT, { type: 'account_information' }]);
    expectError(
      await refresh(tokens.refresh_token, rt, { authorization_details: more }),
      400,
      'invalid_authorization_details',
    );
    const same = await refresh(tokens.refresh_token, rt, { authorization_details: JSON.stringify([PAYMENT]) });
    expect(same.body.authorization_details).toEqual([PAYMENT]);
  });

  it('RFC 7009 and RFC 7662: revocation of refresh and access tokens, introspection limited to the client', async () => {
    const revoke = `${fx.issuer}/oauth/revoke`;
    const introspect = `${fx.issuer}/oauth/introspect`;
    const tokens = await approved({ scope: 'openid profile offline_access' });
    expect((await postForm(introspect, { token: tokens.refresh_token }, rt)).body).toMatchObject({
      active: true,
      token_type: 'refresh_token',
      sub: 'alice',
    });
    expect((await postForm(introspect, { token: tokens.access_token }, other)).body).toEqual({ active: false });
    expect((await postForm(introspect, { token: 'garbage' }, rt)).body).toEqual({ active: false });
    expectError(
      await postForm(introspect, { token: tokens.access_token }, { ...rt, client_secret: 'wrong' }),
      401,
      'invalid_client',
    );

    // Another client cannot revoke it; the answer is the same 200.
    expect((await postForm(revoke, { token: tokens.refresh_token }, other)).status).toBe(200);
    expect((await postForm(revoke, { token: tokens.refresh_token, token_type_hint: 'refresh_token' }, rt)).status).toBe(
      200,
    );
    expectError(await refresh(tokens.refresh_token), 400, 'invalid_grant');
    expect((await postForm(introspect, { token: tokens.refresh_token }, rt)).body).toEqual({ active: false });

    const bearer = { Authorization: `Bearer ${tokens.access_token}` };
    expect((await fetch(`${fx.issuer}/userinfo`, { headers: bearer })).status).toBe(200);
    expect((await postForm(revoke, { token: tokens.access_token }, rt)).status).toBe(200);
    expect((await fetch(`${fx.issuer}/userinfo`, { headers: bearer })).status).toBe(401);
    expect((await postForm(introspect, { token: tokens.access_token }, rt)).body).toEqual({ active: false });
    expect((await postForm(revoke, { token: 'unknown' }, rt)).status).toBe(200);
    expectError(await postForm(revoke, {}, rt), 400, 'invalid_request');
  });
});
