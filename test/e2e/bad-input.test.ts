import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, rawRequest } from '../helpers/expect-error.ts';
import {
  ADMIN_TOKEN,
  basicAuth,
  CIBA_GRANT,
  createTenantFixture,
  enrollDevice,
  nextTxn,
  postForm,
  startTestService,
  type TenantFixture,
  type TestDevice,
  type TestService,
} from '../helpers/service.ts';

/** One bad request: where it goes, what it carries, and (when it is fixed) the answer it gets. */
interface Case {
  label: string;
  method: string;
  /** Relative to the service URL. */
  path: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array<ArrayBuffer>;
  /** Sign the request with the enrolled device (a fresh DPoP proof for this method and URL). */
  dpop?: boolean;
  status?: number;
  error?: string;
}

const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };
const JSON_TYPE = { 'Content-Type': 'application/json' };
const bytes = (...parts: (string | number[])[]) =>
  new Uint8Array(Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p)))));
const INVALID_UTF8 = [0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82];
const KB = 1024;

describe('bad input: every answer is a 4xx JSON error, never a 5xx, and changes nothing', () => {
  let svc: TestService;
  let fx: TenantFixture;
  let device: TestDevice;
  let auth: Record<string, string>;
  let admin: Record<string, string>;
  let authReqId: string;
  let txn: string;

  /** Everything a bad request could have changed, as the admin and the device see it. */
  const snapshot = async () => {
    const t = fx.tenant;
    const pending = await device.pending();
    const request = await svc.admin('GET', `/admin/tenants/${t}/requests/${authReqId}`);
    const { last_polled_at: _ignored, ...requestState } = request.body;
    return {
      tenant: (await svc.admin('GET', `/admin/tenants/${t}`)).body,
      client: (await svc.admin('GET', `/admin/tenants/${t}/clients/${fx.client.client_id}`)).body,
      user: (await svc.admin('GET', `/admin/tenants/${t}/users/alice`)).body,
      devices: (await svc.admin('GET', `/admin/tenants/${t}/users/alice/devices`)).body,
      other: (await svc.admin('GET', '/admin/tenants/other-t')).status,
      pending: pending.body,
      request: requestState,
    };
  };

  beforeAll(async () => {
    svc = await startTestService();
    fx = await createTenantFixture(svc, 'bad', { user_rate_limit_per_minute: 10_000 });
    device = await enrollDevice(svc, fx);
    auth = { Authorization: basicAuth(fx.client.client_id, fx.client.client_secret) };
    admin = { Authorization: `Bearer ${ADMIN_TOKEN}` };
    const ack = await postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice' }, fx.client);
    authReqId = ack.body.auth_req_id;
    txn = await nextTxn(device);
  });
  afterAll(() => svc.stop());

  const run = async (c: Case) => {
    const url = `${svc.url}${c.path}`;
    const headers = { ...c.headers, ...(c.dpop ? { DPoP: await device.proof(c.method, url.split('?')[0]!) } : {}) };
    return rawRequest(url, { method: c.method, headers, ...(c.body !== undefined ? { body: c.body } : {}) });
  };

  const expectRefused = (c: Case, res: Awaited<ReturnType<typeof run>>) => {
    const label = `${c.label}: ${res.status} ${res.text.slice(0, 200)}`;
    expect(res.status, label).toBeGreaterThanOrEqual(400);
    expect(res.status, label).toBeLessThan(500);
    expect(res.headers.get('content-type'), label).toMatch(/^application\/json/);
    expect(typeof res.body?.error, label).toBe('string');
    expect(
      Object.keys(res.body).filter((k) => !['error', 'error_description', 'error_uri'].includes(k)),
      label,
    ).toEqual([]);
    if (res.body.error_description !== undefined) {
      expect(res.body.error_description, label).toMatch(/^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/);
    }
    if (c.status !== undefined) expect(res.status, label).toBe(c.status);
    if (c.error !== undefined) expect(res.body.error, label).toBe(c.error);
  };

  const table = (cases: () => Case[]) => async () => {
    const before = await snapshot();
    const failures: string[] = [];
    for (const c of cases()) {
      try {
        expectRefused(c, await run(c));
      } catch (error) {
        failures.push((error as Error).message.split('\n')[0]!);
      }
    }
    expect(failures).toEqual([]);
    expect(await snapshot()).toEqual(before);
  };

  it(
    'refuses malformed bodies at the backchannel endpoint',
    table(() => {
      const bc = `/${fx.tenant}/bc-authorize`;
      const post = (label: string, body: string | Uint8Array<ArrayBuffer>, extra: Partial<Case> = {}): Case => ({
        label,
        method: 'POST',
        path: bc,
        headers: { ...FORM, ...auth },
        body,
        ...extra,
      });
      return [
        post('invalid UTF-8 bytes', bytes('scope=openid&login_hint=', INVALID_UTF8), {
          status: 400,
          error: 'invalid_request',
        }),
        post(
          'invalid UTF-8 in binding_message',
          bytes('scope=openid&login_hint=alice&binding_message=', INVALID_UTF8),
          {
            status: 400,
          },
        ),
        post('truncated percent-encoding in the hint', 'scope=openid&login_hint=alice%E2%8'),
        post('truncated percent-encoding in the scope', 'scope=openid%2'),
        post('a lone percent sign', 'scope=openid&login_hint=%'),
        post('percent-encoded invalid UTF-8', 'scope=openid&login_hint=%FF%FE'),
        post('a JSON body', '{"scope":"openid","login_hint":"alice"}', {
          headers: { ...JSON_TYPE, ...auth },
          error: 'invalid_request',
        }),
        post('a JSON array', '["openid"]', { headers: { ...JSON_TYPE, ...auth } }),
        post('no content type', 'scope=openid&login_hint=alice', { headers: auth, error: 'invalid_request' }),
        post('an empty body', '', { error: 'invalid_request' }),
        post('a 70 KB body', `scope=openid&login_hint=alice&binding_message=${'a'.repeat(70 * KB)}`, {
          status: 413,
          error: 'invalid_request',
        }),
        post('a huge login_hint', `scope=openid&login_hint=${'a'.repeat(60 * KB)}`),
        post('a huge sub: hint', `scope=openid&login_hint=sub:${'a'.repeat(60 * KB)}`),
        post('a huge email: hint', `scope=openid&login_hint=email:${'a'.repeat(30 * KB)}@example.com`),
        post('a huge bare email hint', `scope=openid&login_hint=${'a'.repeat(30 * KB)}@example.com`),
        post('a huge phone: hint', `scope=openid&login_hint=phone:+1${'5'.repeat(30 * KB)}`),
        post('a huge device: hint', `scope=openid&login_hint=device:${'a'.repeat(30 * KB)}`),
        post(
          'a huge iss_sub hint',
          `scope=openid&login_hint=${encodeURIComponent(JSON.stringify({ format: 'iss_sub', iss: `${fx.issuer}`, sub: 'a'.repeat(30 * KB) }))}`,
        ),
        post('a huge id_token_hint', `scope=openid&id_token_hint=${'a'.repeat(60 * KB)}`),
        post('a huge scope', `scope=openid+${'x'.repeat(60 * KB)}&login_hint=alice`, { error: 'invalid_scope' }),
        post('a huge binding_message', `scope=openid&login_hint=alice&binding_message=${'b'.repeat(60 * KB)}`, {
          error: 'invalid_binding_message',
        }),
        post('a huge requested_expiry', `scope=openid&login_hint=alice&requested_expiry=${'9'.repeat(1000)}`, {
          error: 'invalid_request',
        }),
        post('a negative requested_expiry', 'scope=openid&login_hint=alice&requested_expiry=-1', {
          error: 'invalid_request',
        }),
        post('a fractional requested_expiry', 'scope=openid&login_hint=alice&requested_expiry=1.5', {
          error: 'invalid_request',
        }),
        post(
          'a huge client_id with client_secret_post',
          `scope=openid&login_hint=alice&client_id=${'c'.repeat(30 * KB)}&client_secret=x`,
          {
            headers: FORM,
            status: 401,
            error: 'invalid_client',
          },
        ),
        post('a huge client_id in Basic', 'scope=openid&login_hint=alice', {
          headers: { ...FORM, Authorization: basicAuth('c'.repeat(6 * KB), 'x') },
          status: 401,
          error: 'invalid_client',
        }),
        post('garbage Basic credentials', 'scope=openid&login_hint=alice', {
          headers: { ...FORM, Authorization: 'Basic !!!not-base64!!!' },
          status: 401,
          error: 'invalid_client',
        }),
        post('Basic without a colon', 'scope=openid&login_hint=alice', {
          headers: { ...FORM, Authorization: `Basic ${Buffer.from('no-colon').toString('base64')}` },
          status: 401,
          error: 'invalid_client',
        }),
        post('Basic with malformed percent-encoding', 'scope=openid&login_hint=alice', {
          headers: { ...FORM, Authorization: `Basic ${Buffer.from('%E2%8:%').toString('base64')}` },
          status: 401,
          error: 'invalid_client',
        }),
        post('a control character in the hint', 'scope=openid&login_hint=alice%00'),
      ];
    }),
  );

  it(
    'refuses malformed bodies and garbage auth_req_ids at the token endpoint',
    table(() => {
      const token = `/${fx.tenant}/oauth/token`;
      const post = (label: string, body: string | Uint8Array<ArrayBuffer>, extra: Partial<Case> = {}): Case => ({
        label,
        method: 'POST',
        path: token,
        headers: { ...FORM, ...auth },
        body,
        ...extra,
      });
      const grant = (id: string) =>
        `grant_type=${encodeURIComponent(CIBA_GRANT)}&auth_req_id=${encodeURIComponent(id)}`;
      const [txnPart, secret] = authReqId.split('.');
      return [
        post('invalid UTF-8 bytes', bytes(`${grant('x')}`, INVALID_UTF8), { status: 400, error: 'invalid_request' }),
        post('a JSON body', JSON.stringify({ grant_type: CIBA_GRANT, auth_req_id: authReqId }), {
          headers: { ...JSON_TYPE, ...auth },
          error: 'invalid_request',
        }),
        post('a 70 KB body', `${grant(authReqId)}&pad=${'p'.repeat(70 * KB)}`, {
          status: 413,
          error: 'invalid_request',
        }),
        post('no grant_type', `auth_req_id=${authReqId}`, { error: 'invalid_request' }),
        post('an unknown grant_type', 'grant_type=password&username=a&password=b', { error: 'unsupported_grant_type' }),
        post('no auth_req_id', grant('').replace('&auth_req_id=', ''), { error: 'invalid_request' }),
        post('a random auth_req_id', grant('random'), { error: 'invalid_grant' }),
        post('a huge auth_req_id', grant('a'.repeat(60 * KB)), { error: 'invalid_grant' }),
        post('the txn alone', grant(txnPart!), { error: 'invalid_grant' }),
        post('the secret alone', grant(secret!), { error: 'invalid_grant' }),
        post('a tampered secret', grant(`${txnPart}.${'A'.repeat(27)}`), { error: 'invalid_grant' }),
        post('the auth_req_id with a suffix', grant(`${authReqId}x`), { error: 'invalid_grant' }),
        post('unicode in the auth_req_id', grant(`${txnPart}.é${secret!.slice(1)}`), { error: 'invalid_grant' }),
        post('a repeated auth_req_id', `${grant(authReqId)}&auth_req_id=${authReqId}`, { error: 'invalid_request' }),
        post('truncated percent-encoding', `grant_type=urn%3Aopenid%3&auth_req_id=${authReqId}`),
      ];
    }),
  );

  it('refuses garbage bearer tokens at userinfo with 401 invalid_token and WWW-Authenticate', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const foreignToken = await new SignJWT({ sub: 'alice', scope: 'openid', client_id: 'x' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'nope' })
      .setIssuer(fx.issuer)
      .setAudience(fx.issuer)
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(privateKey);
    const hs = await new SignJWT({ sub: 'alice', scope: 'openid' })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .sign(new TextEncoder().encode('x'.repeat(32)));
    const path = `/${fx.tenant}/userinfo`;
    for (const authorization of [
      undefined,
      'Bearer',
      'Bearer ',
      'Bearer garbage',
      'Bearer a.b.c',
      `Bearer ${'a'.repeat(8 * KB)}`,
      'Bearer "quoted"',
      `Bearer ${foreignToken}`,
      `Bearer ${hs}`,
      `Bearer ${foreignToken.replace(/\.[^.]+$/, '.')}`,
      `Basic ${Buffer.from('a:b').toString('base64')}`,
      `DPoP ${foreignToken}`,
      `Bearer ${authReqId}`,
      `Bearer ${fx.client.client_secret}`,
    ]) {
      for (const method of ['GET', 'POST']) {
        const res = await rawRequest(`${svc.url}${path}`, {
          method,
          headers: authorization === undefined ? {} : { Authorization: authorization },
        });
        const label = `${method} ${String(authorization).slice(0, 40)}`;
        expectError(res, 401, 'invalid_token', label);
        expect(res.headers.get('www-authenticate'), label).toMatch(/^Bearer/);
      }
    }
  });

  it(
    'refuses garbage DPoP headers at every device endpoint with 401',
    table(() => {
      const cases: Case[] = [];
      for (const dpop of ['garbage', 'a.b.c', '....', 'x'.repeat(8 * KB), 'eyJhbGciOiJub25lIn0.e30.', 'Bearer x']) {
        for (const [method, path, body] of [
          ['GET', `/${fx.tenant}/device/transactions`, undefined],
          ['GET', `/${fx.tenant}/device/transactions/${txn}`, undefined],
          ['POST', `/${fx.tenant}/device/transactions/${txn}`, '{"decision":"approve"}'],
          ['POST', `/${fx.tenant}/device/enrollments`, '{"ticket":"t"}'],
        ] as const) {
          cases.push({
            label: `${method} ${path} DPoP ${dpop.slice(0, 20)}`,
            method,
            path,
            headers: { DPoP: dpop, ...(body ? JSON_TYPE : {}) },
            ...(body ? { body } : {}),
            status: 401,
            error: 'invalid_dpop_proof',
          });
        }
      }
      return cases;
    }),
  );

  it(
    'refuses malformed JSON bodies at the device API with a valid proof',
    table(() => {
      const decide = `/${fx.tenant}/device/transactions/${txn}`;
      const enroll = `/${fx.tenant}/device/enrollments`;
      const cases: Case[] = [];
      const bodies: [string, string | Uint8Array<ArrayBuffer>, number?][] = [
        ['a JSON array', '["approve"]'],
        ['a JSON string', '"approve"'],
        ['a JSON number', '1'],
        ['JSON null', 'null'],
        ['JSON true', 'true'],
        ['a nested object', '{"decision":{"approve":true}}'],
        ['a nested array', '{"decision":["approve"]}'],
        ['truncated JSON', '{"decision":"appro'],
        ['not JSON at all', 'decision=approve'],
        ['invalid UTF-8 inside a string', bytes('{"decision":"approve","x":"', INVALID_UTF8, '"}')],
        ['invalid UTF-8 as the value', bytes('{"decision":"', INVALID_UTF8, '"}')],
        ['a byte order mark and garbage', bytes([0xef, 0xbb, 0xbf], '{{')],
        ['a 70 KB body', `{"decision":"approve","pad":"${'p'.repeat(70 * KB)}"}`, 413],
        ['a huge value', `{"decision":"${'a'.repeat(60 * KB)}"}`],
        ['the right decision and an unknown member', '{"decision":"approve","auth_req_id":"x"}'],
        ['a duplicate key with a bad value last', '{"decision":"approve","decision":7}'],
      ];
      for (const [label, body, status] of bodies) {
        cases.push({
          label: `decision: ${label}`,
          method: 'POST',
          path: decide,
          headers: JSON_TYPE,
          body,
          dpop: true,
          ...(status ? { status } : { status: 400 }),
        });
        cases.push({
          label: `enrollment: ${label}`,
          method: 'POST',
          path: enroll,
          headers: JSON_TYPE,
          body,
          dpop: true,
        });
      }
      cases.push({
        label: 'decision as text/plain',
        method: 'POST',
        path: decide,
        headers: { 'Content-Type': 'text/plain' },
        body: '{"decision":"approve"}',
        dpop: true,
        status: 400,
      });
      cases.push({ label: 'decision without a body', method: 'POST', path: decide, dpop: true, status: 400 });
      cases.push({
        label: 'a huge txn',
        method: 'GET',
        path: `/${fx.tenant}/device/transactions/${'t'.repeat(4 * KB)}`,
        dpop: true,
        status: 404,
        error: 'not_found',
      });
      cases.push({
        label: 'the auth_req_id as txn',
        method: 'GET',
        path: `/${fx.tenant}/device/transactions/${authReqId}`,
        dpop: true,
        status: 404,
        error: 'not_found',
      });
      cases.push({
        label: 'a malformed path encoding',
        method: 'GET',
        path: `/${fx.tenant}/device/transactions/%E2%8`,
        dpop: true,
      });
      return cases;
    }),
  );

  it(
    'refuses malformed bodies, wrong types and huge values at the admin API',
    table(() => {
      const t = `/admin/tenants/${fx.tenant}`;
      const cases: Case[] = [];
      const jsonCase = (
        label: string,
        method: string,
        path: string,
        body: string | Uint8Array<ArrayBuffer>,
        extra: Partial<Case> = {},
      ): Case => ({
        label,
        method,
        path,
        headers: { ...JSON_TYPE, ...admin },
        body,
        ...extra,
      });
      for (const [label, body] of [
        ['a JSON array', '[]'],
        ['a JSON string', '"x"'],
        ['a JSON number', '42'],
        ['JSON null', 'null'],
        ['truncated JSON', '{"name":'],
        ['invalid UTF-8 inside a string', bytes('{"name":"', INVALID_UTF8, '"}')],
        ['invalid UTF-8 outside strings', bytes('{', INVALID_UTF8, '}')],
      ] as const) {
        cases.push(jsonCase(`tenant: ${label}`, 'PUT', t, body, { status: 400, error: 'invalid_request' }));
        cases.push(
          jsonCase(`user: ${label}`, 'PUT', `${t}/users/alice`, body, { status: 400, error: 'invalid_request' }),
        );
        cases.push(
          jsonCase(`new tenant: ${label}`, 'PUT', '/admin/tenants/other-t', body, {
            status: 400,
            error: 'invalid_request',
          }),
        );
        cases.push(jsonCase(`client: ${label}`, 'POST', `${t}/clients`, body, { status: 400 }));
      }
      cases.push(
        jsonCase('tenant: a 70 KB body', 'PUT', t, `{"display_name":"${'d'.repeat(70 * KB)}"}`, {
          status: 413,
          error: 'invalid_request',
        }),
        jsonCase('tenant: a huge display_name', 'PUT', t, `{"display_name":"${'d'.repeat(60 * KB)}"}`, {
          status: 400,
          error: 'invalid_request',
        }),
        jsonCase('tenant: a nested object', 'PUT', t, '{"delivery_modes":{"poll":true}}', {
          status: 400,
          error: 'invalid_request',
        }),
        jsonCase('tenant: a number as a string', 'PUT', t, '{"backchannel_polling_interval":"5"}', {
          status: 400,
          error: 'invalid_request',
        }),
        jsonCase('tenant: a huge number', 'PUT', t, `{"backchannel_polling_interval":1${'0'.repeat(400)}}`, {
          status: 400,
          error: 'invalid_request',
        }),
        jsonCase('tenant: text/plain', 'PUT', t, '{}', {
          headers: { 'Content-Type': 'text/plain', ...admin },
          status: 400,
        }),
        jsonCase('user: a huge name', 'PUT', `${t}/users/alice`, `{"name":"${'n'.repeat(60 * KB)}"}`, {
          status: 400,
          error: 'invalid_request',
        }),
        jsonCase(
          'user: a huge address',
          'PUT',
          `${t}/users/alice`,
          JSON.stringify({ address: { street_address: 's'.repeat(60 * KB) } }),
          { status: 400 },
        ),
        jsonCase('user: a nested address', 'PUT', `${t}/users/alice`, '{"address":{"street":{"no":1}}}', {
          status: 400,
        }),
        jsonCase('user: an array claim', 'PUT', `${t}/users/alice`, '{"name":["Alice"]}', { status: 400 }),
        jsonCase('new user with a huge sub', 'PUT', `${t}/users/${'s'.repeat(4 * KB)}`, '{"name":"x"}', {
          status: 400,
        }),
        jsonCase(
          'client: a huge client_id',
          'POST',
          `${t}/clients`,
          JSON.stringify({ client_id: 'c'.repeat(60 * KB), backchannel_token_delivery_mode: 'poll' }),
          { status: 400, error: 'invalid_client_metadata' },
        ),
        jsonCase(
          'client: a huge client_name',
          'POST',
          `${t}/clients`,
          JSON.stringify({ client_name: 'c'.repeat(60 * KB), backchannel_token_delivery_mode: 'poll' }),
          { status: 400, error: 'invalid_client_metadata' },
        ),
        jsonCase(
          'client: grant_types as an object',
          'POST',
          `${t}/clients`,
          JSON.stringify({ grant_types: { a: CIBA_GRANT }, backchannel_token_delivery_mode: 'poll' }),
          { status: 400, error: 'invalid_client_metadata' },
        ),
      );
      for (const [method, path, status] of [
        ['GET', `${t}/clients/${'c'.repeat(4 * KB)}`, 404],
        ['DELETE', `${t}/clients/${'c'.repeat(4 * KB)}`, 404],
        ['GET', `${t}/clients/%E2%8`, 400],
        ['GET', `${t}/users/${'u'.repeat(4 * KB)}`, 400],
        ['GET', `${t}/users/${'u'.repeat(4 * KB)}/devices`, 400],
        ['POST', `${t}/users/${'u'.repeat(4 * KB)}/enrollment-tickets`, 400],
        ['DELETE', `${t}/users/alice/devices/${'d'.repeat(4 * KB)}`, 404],
        ['DELETE', `${t}/users/alice/devices/not-a-device`, 404],
        ['GET', `${t}/requests/${'r'.repeat(4 * KB)}`, 404],
        ['GET', `${t}/requests/${authReqId}x`, 404],
        ['GET', `${t}/requests/%00`, 404],
      ] as const) {
        cases.push({ label: `${method} ${path.slice(0, 60)}`, method, path, headers: admin, status });
      }
      return cases;
    }),
  );

  it(
    'answers unknown tenants with 404 everywhere',
    table(() => {
      const cases: Case[] = [];
      for (const tenant of ['nope', 'UPPER', 'admin', 'health', 'assets', 'a'.repeat(64), '-x', 'x_y', '%E2%8', '..']) {
        cases.push(
          { label: `${tenant} discovery`, method: 'GET', path: `/${tenant}/.well-known/openid-configuration` },
          { label: `${tenant} jwks`, method: 'GET', path: `/${tenant}/.well-known/jwks.json` },
          {
            label: `${tenant} bc-authorize`,
            method: 'POST',
            path: `/${tenant}/bc-authorize`,
            headers: { ...FORM, ...auth },
            body: 'scope=openid&login_hint=alice',
          },
          {
            label: `${tenant} token`,
            method: 'POST',
            path: `/${tenant}/oauth/token`,
            headers: { ...FORM, ...auth },
            body: `grant_type=${CIBA_GRANT}&auth_req_id=${authReqId}`,
          },
          {
            label: `${tenant} userinfo`,
            method: 'GET',
            path: `/${tenant}/userinfo`,
            headers: { Authorization: 'Bearer x' },
          },
          { label: `${tenant} device`, method: 'GET', path: `/${tenant}/device/transactions`, dpop: true },
          { label: `${tenant} admin GET`, method: 'GET', path: `/admin/tenants/${tenant}`, headers: admin },
          {
            label: `${tenant} admin clients`,
            method: 'POST',
            path: `/admin/tenants/${tenant}/clients`,
            headers: { ...JSON_TYPE, ...admin },
            body: JSON.stringify({ backchannel_token_delivery_mode: 'poll' }),
          },
        );
      }
      // `..` is resolved by the URL, and a malformed encoding is 400: any 4xx; every other case is 404.
      return cases.map((c) => (/\/\.\.|%E2%8(\/|$)/.test(c.path) ? c : { ...c, status: 404 }));
    }),
  );

  it(
    'answers unknown routes with 404 JSON and wrong methods with 405 JSON',
    table(() => {
      const t = fx.tenant;
      const notFound: Case[] = [
        '/',
        '/favicon.ico',
        `/${t}`,
        `/${t}/`,
        `/${t}/unknown`,
        `/${t}/oauth/token/extra`,
        `/${t}/oauth`,
        `/${t}/devices`,
        `/${t}/device/transactions/a/b`,
        '/admin',
        '/admin/tenants',
        `/admin/tenants/${t}/unknown`,
        `/admin/tenants/${t}/users`,
        `/${t}/.well-known/other`,
      ].map((path) => ({ label: `GET ${path}`, method: 'GET', path, headers: admin, status: 404 }));
      const wrongMethod: Case[] = (
        [
          ['GET', `/${t}/bc-authorize`],
          ['PUT', `/${t}/bc-authorize`],
          ['GET', `/${t}/oauth/token`],
          ['DELETE', `/${t}/oauth/token`],
          ['POST', `/${t}/.well-known/openid-configuration`],
          ['POST', `/${t}/.well-known/jwks.json`],
          ['DELETE', `/${t}/userinfo`],
          ['DELETE', `/${t}/device/transactions`],
          ['PUT', `/${t}/device/transactions/${txn}`],
          ['GET', `/${t}/device/enrollments`],
          ['PATCH', `/admin/tenants/${t}`],
          ['POST', `/admin/tenants/${t}`],
          ['GET', `/admin/tenants/${t}/clients`],
          ['PUT', `/admin/tenants/${t}/clients/${fx.client.client_id}`],
          ['PATCH', `/admin/tenants/${t}/users/alice`],
          ['GET', `/admin/tenants/${t}/users/alice/enrollment-tickets`],
          ['DELETE', `/admin/tenants/${t}/requests/${authReqId}`],
        ] as const
      ).map(([method, path]) => ({
        label: `${method} ${path}`,
        method,
        path,
        headers: { ...admin, ...auth },
        status: 405,
        error: 'invalid_request',
      }));
      return [...notFound, ...wrongMethod];
    }),
  );

  it('answers a request line or headers over 16 KB, which Node refuses before any route, with 431 JSON and the security headers', async () => {
    const before = await snapshot();
    for (const init of [
      { path: `/${fx.tenant}/device/transactions/${'x'.repeat(20_000)}`, headers: {} },
      { path: `/${fx.tenant}/bc-authorize`, headers: { ...auth, 'X-Padding': 'p'.repeat(20_000) } },
    ]) {
      const res = await fetch(`${svc.url}${init.path}`, { method: 'POST', headers: init.headers });
      expect(res.status).toBe(431);
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(await res.json()).toEqual({
        error: 'invalid_request',
        error_description: 'request line and headers exceed 16 KB',
      });
    }
    expect(await snapshot()).toEqual(before);
  });

  it('leaves the pending request decidable and redeemable after all of this', async () => {
    expect((await device.decide(txn, 'approve')).status).toBe(200);
    const tokens = await postForm(
      `${fx.issuer}/oauth/token`,
      { grant_type: CIBA_GRANT, auth_req_id: authReqId },
      fx.client,
    );
    expect(tokens.status).toBe(200);
  });
});
