/**
 * Property-based tests over every public route (issue 7): arbitrary methods, headers, content types, bodies
 * (random and repeated form fields, huge values, invalid UTF-8, nested JSON), tenants and ids, against the local
 * service. Invariants: never a 5xx; every refusal is JSON `{error, error_description?, error_uri?}` with an error
 * code this service defines (lib/errors.ts), without a stack or internal detail; and a refused request leaves
 * the store as it was, but for the writes a refusal is meant to make (`allowedWrite`).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES, type Route } from '../../lib/http/routes.ts';
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
import { scanTables, tableDiff } from './faults.ts';

/** Every `error` code the service can answer with: the ones lib/ defines, read from the source. */
const definedCodes = (): Set<string> => {
  const codes = new Set<string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts')) {
        const text = readFileSync(path, 'utf8');
        for (const m of text.matchAll(/static (?:override )?readonly code = '([a-z_]+)'/g)) codes.add(m[1]!);
      }
    }
  };
  walk(join(import.meta.dirname, '../../lib'));
  // The local server's own answers (404 route, 405, 413, malformed path) use these too.
  for (const code of ['not_found', 'invalid_request']) codes.add(code);
  codes.delete('server_error');
  codes.delete('temporarily_unavailable');
  return codes;
};
const CODES = definedCodes();

let svc: TestService;
let fx: TenantFixture;
let device: TestDevice;
let txn: string;
let authReqId: string;
/** An unused enrollment ticket: no refused enrollment may spend it. */
let ticket: string;

beforeAll(async () => {
  svc = await startTestService();
  fx = await createTenantFixture(svc, 'prop', {
    user_rate_limit_per_minute: 10_000,
    client_rate_limit_per_minute: 1_000_000,
    tenant_rate_limit_per_minute: 1_000_000,
    max_pending_requests: 1_000_000,
    delivery_modes: ['poll', 'ping'],
    authorization_details_types: { pay: { type: 'object' } },
  });
  // The operator console acts as the fixture's client, so its JSON calls get past the console check.
  await svc.admin('PUT', `/admin/tenants/${fx.tenant}`, { console_client_id: fx.client.client_id });
  device = await enrollDevice(svc, fx);
  ticket = (await svc.admin('POST', `/admin/tenants/${fx.tenant}/users/alice/enrollment-tickets`)).body.ticket;
  const ack = await postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice' }, fx.client);
  authReqId = ack.body.auth_req_id;
  txn = await nextTxn(device);
}, 60_000);
afterAll(() => svc?.stop());

// Generators

const printable = fc.string({
  unit: fc.constantFrom(...' !"#$%&\'()*+,-./0123456789:;<=>?@AZaz[\\]^_`{|}~'.split('')),
  maxLength: 40,
});
const anyText = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  printable,
);
/** encodeURIComponent, which throws on a lone surrogate: then the bytes of one, percent-encoded. */
const encode = (text: string): string => {
  try {
    return encodeURIComponent(text);
  } catch {
    return '%ED%A0%80';
  }
};
const huge = fc.integer({ min: 1_000, max: 70_000 }).map((n) => 'A'.repeat(n));

const tenantId = () =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constant(fx.tenant) },
    fc.constantFrom('unknown-t', 'admin', 'health', 'assets', 'UPPER', '-dash', 'a'.repeat(64), '%zz', '..', 'ténant'),
    anyText.map(encode),
  );
const id = () =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(txn, authReqId, fx.client.client_id, 'alice', device.deviceId) },
    fc.constantFrom('', '%', '%E0%A4%A', '..', '%2e%2e', 'x'.repeat(3000), `${txn}x`, encodeURIComponent(authReqId)),
    anyText.map(encode),
  );

/** A path: one of the route templates with its parameters filled in, or an arbitrary one. */
const path = () =>
  fc.oneof(
    {
      weight: 9,
      arbitrary: fc
        .tuple(fc.constantFrom(...ROUTES), tenantId(), id(), id(), fc.option(printable.map(encode)))
        .map(([route, tenant, a, b, query]) => {
          let used = 0;
          const filled = route.path.replace(/\{(\w+)\}/g, (_m, name: string) =>
            name === 'tenant' ? tenant : used++ === 0 ? a : b,
          );
          return query ? `${filled}?${query}=${query}` : filled;
        }),
    },
    anyText.map((p) => `/${encode(p)}`),
  );

const FIELDS = [
  'scope',
  'login_hint',
  'id_token_hint',
  'login_hint_token',
  'binding_message',
  'user_code',
  'requested_expiry',
  'client_notification_token',
  'acr_values',
  'authorization_details',
  'request',
  'grant_type',
  'auth_req_id',
  'refresh_token',
  'client_id',
  'client_secret',
  'client_assertion',
  'client_assertion_type',
  'token',
  'decision',
  'ticket',
];
const fieldValue = () =>
  fc.oneof(
    fc.constantFrom(
      'openid',
      'openid profile email',
      'alice',
      'email:alice@example.com',
      'urn:openid:params:grant-type:ciba',
      'refresh_token',
      'approve',
      '{"format":"iss_sub"}',
      '[{"type":"x"}]',
      '0',
      '-1',
      '99999999999',
    ),
    fc.constant(authReqId),
    fc.constant(fx.client.client_id),
    anyText,
    huge,
  );

const formBody = () =>
  fc
    .array(fc.tuple(fc.oneof(fc.constantFrom(...FIELDS), anyText), fieldValue()), { maxLength: 8 })
    .map((pairs) => new URLSearchParams(pairs).toString());
const jsonBody = () =>
  fc.oneof(
    fc.jsonValue({ maxDepth: 5 }).map((v) => JSON.stringify(v)),
    fc
      .dictionary(
        fc.oneof(
          fc.constantFrom('decision', 'ticket', 'name', 'push', 'email', 'user_code', 'grant_types', 'client_name'),
          anyText,
        ),
        fc.jsonValue({ maxDepth: 4 }),
        { maxKeys: 6 },
      )
      .map((v) => JSON.stringify(v)),
    fc.integer({ min: 10, max: 5_000 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth)),
  );
const bytes = (text: string) => new Uint8Array(Buffer.from(text, 'utf8'));
const body = () =>
  fc.oneof(
    fc.constant(undefined),
    formBody().map(bytes),
    jsonBody().map(bytes),
    fc.uint8Array({ maxLength: 200 }).map((b) => new Uint8Array(b)),
    fc
      .tuple(formBody(), fc.constantFrom([0xff], [0xc3, 0x28], [0xe2, 0x82], [0xed, 0xa0, 0x80]))
      .map(([text, bad]) => new Uint8Array(Buffer.concat([Buffer.from(text), Buffer.from(bad)]))),
    huge.map(bytes),
  );

const CONTENT_TYPES = [
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=utf-8',
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'text/plain',
  'multipart/form-data; boundary=x',
  'application/jwt',
  '',
];

type Auth = 'none' | 'basic' | 'basic-wrong' | 'admin' | 'admin-wrong' | 'bearer-garbage' | 'garbage';
const authHeader = (auth: Auth): Record<string, string> => {
  switch (auth) {
    case 'basic':
      return { Authorization: basicAuth(fx.client.client_id, fx.client.client_secret) };
    case 'basic-wrong':
      return { Authorization: basicAuth(fx.client.client_id, 'wrong') };
    case 'admin':
      return { Authorization: `Bearer ${ADMIN_TOKEN}` };
    case 'admin-wrong':
      return { Authorization: `Bearer ${ADMIN_TOKEN}x` };
    case 'bearer-garbage':
      return { Authorization: 'Bearer eyJhbGciOiJub25lIn0.e30.' };
    case 'garbage':
      return { Authorization: 'Basic %%%' };
    default:
      return {};
  }
};

interface Fuzzed {
  method: string;
  path: string;
  contentType: string | null;
  auth: Auth;
  dpop: 'none' | 'valid' | 'garbage' | 'repeated';
  extraHeaders: [string, string][];
  body: Uint8Array<ArrayBuffer> | undefined;
}

const request = (): fc.Arbitrary<Fuzzed> =>
  fc.record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
    path: path(),
    contentType: fc.option(fc.constantFrom(...CONTENT_TYPES)),
    auth: fc.constantFrom<Auth>('none', 'basic', 'basic-wrong', 'admin', 'admin-wrong', 'bearer-garbage', 'garbage'),
    dpop: fc.constantFrom<Fuzzed['dpop']>('none', 'valid', 'valid', 'garbage', 'repeated'),
    extraHeaders: fc.array(
      fc.tuple(
        fc.constantFrom('Origin', 'X-Forwarded-For', 'Accept', 'X-Ciba-Console', 'Content-Encoding', 'If-None-Match'),
        printable,
      ),
      { maxLength: 3 },
    ),
    body: body(),
  });

// Every route that reads a JSON body, with what a valid body looks like (hostile members are put into those)

const routeOf = (method: string, path: string) => ROUTES.find((r) => r.method === method && r.path === path)!;

interface JsonTarget {
  route: Route;
  path: () => string;
  auth: Auth;
  headers: () => [string, string][];
  /** Valid bodies (JSON text), or none for a route that reads no body. */
  valid: () => string[];
  /** The route's 400 error code for refused JSON content. */
  error: string;
  send: (text: string) => Promise<{ status: number; text: string }>;
}

const sendJson = async (target: Omit<JsonTarget, 'send'>, text: string) => {
  const url = `${svc.url}${target.path()}`;
  const headers: Record<string, string> = { 'Content-Type': 'application/json', ...authHeader(target.auth) };
  for (const [name, value] of target.headers()) headers[name] = value;
  if (target.auth === 'none') headers.DPoP = await device.proof(target.route.method, url);
  const res = await fetch(url, { method: target.route.method, headers, body: text });
  return { status: res.status, text: await res.text() };
};

const jsonTarget = (
  method: string,
  path: string,
  t: Partial<Omit<JsonTarget, 'route' | 'send'>> & Pick<JsonTarget, 'path'>,
): JsonTarget => {
  const target = {
    route: routeOf(method, path),
    auth: path.startsWith('/admin') ? ('admin' as Auth) : ('none' as Auth),
    headers: () => [],
    valid: () => [],
    error: 'invalid_request',
    ...t,
  };
  return { ...target, send: (text) => sendJson(target, text) };
};

const SUBSCRIPTION = {
  endpoint: 'https://fcm.googleapis.com/fcm/send/abc',
  expirationTime: 1_700_000_000_000,
  keys: {
    p256dh: 'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM',
    auth: 'tBHItJI5svbpez7KI4CCXg',
  },
};
const CONSOLE_HEADERS = (): [string, string][] => [
  ['X-Ciba-Console', '1'],
  ['Origin', new URL(svc.url).origin],
];

const JSON_TARGETS: JsonTarget[] = [
  jsonTarget('POST', '/{tenant}/device/enrollments', {
    path: () => `/${fx.tenant}/device/enrollments`,
    valid: () => [
      JSON.stringify({ ticket, name: 'Phone', push: { type: 'webpush', subscription: SUBSCRIPTION } }),
      JSON.stringify({ ticket, push: { type: 'webhook', url: 'http://127.0.0.1:9/hook' } }),
    ],
  }),
  jsonTarget('PUT', '/{tenant}/device/push', {
    path: () => `/${fx.tenant}/device/push`,
    valid: () => [JSON.stringify({ push: { type: 'webpush', subscription: SUBSCRIPTION } })],
  }),
  jsonTarget('POST', '/{tenant}/device/passkey/registration-options', {
    path: () => `/${fx.tenant}/device/passkey/registration-options`,
  }),
  jsonTarget('POST', '/{tenant}/device/passkey', {
    path: () => `/${fx.tenant}/device/passkey`,
    valid: () => [JSON.stringify({ response: { id: 'abc', rawId: 'abc', type: 'public-key', response: {} } })],
  }),
  jsonTarget('POST', '/{tenant}/device/transactions/{txn}', {
    path: () => `/${fx.tenant}/device/transactions/${txn}`,
    valid: () => [
      JSON.stringify({ decision: 'deny' }),
      JSON.stringify({ decision: 'approve', binding_code: '1234', webauthn: { id: 'x', response: {} } }),
    ],
  }),
  jsonTarget('POST', '/{tenant}/console/requests', {
    path: () => `/${fx.tenant}/console/requests`,
    headers: CONSOLE_HEADERS,
    valid: () => [JSON.stringify({ login_hint: 'alice', binding_message: 'Hello', scope: 'openid' })],
  }),
  jsonTarget('POST', '/{tenant}/console/poll', {
    path: () => `/${fx.tenant}/console/poll`,
    headers: CONSOLE_HEADERS,
    valid: () => [JSON.stringify({ auth_req_id: authReqId })],
  }),
  jsonTarget('POST', '/{tenant}/console/cancel', {
    path: () => `/${fx.tenant}/console/cancel`,
    headers: CONSOLE_HEADERS,
    // Not a request of this console's: a body that gets through changes nothing either.
    valid: () => [JSON.stringify({ auth_req_id: 'not-a-request.of-this-console' })],
  }),
  // An approval link's calls: an unknown link, so a body that gets through is 404 and changes nothing either.
  jsonTarget('POST', '/{tenant}/approve/view', {
    path: () => `/${fx.tenant}/approve/view`,
    valid: () => [JSON.stringify({ link: 'A'.repeat(43) })],
  }),
  jsonTarget('POST', '/{tenant}/approve/decide', {
    path: () => `/${fx.tenant}/approve/decide`,
    valid: () => [JSON.stringify({ link: 'A'.repeat(43), decision: 'approve', binding_code: '1234' })],
  }),
  jsonTarget('PUT', '/admin/tenants/{tenant}', {
    path: () => `/admin/tenants/${fx.tenant}`,
    valid: () => [
      JSON.stringify({ display_name: 'Prop', backchannel_polling_interval: 1 }),
      JSON.stringify({
        authorization_details_types: { pay: { type: 'object', properties: { amount: { type: 'number' } } } },
        login_hint_token_issuers: [
          { issuer: 'https://idp.example', jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }] } },
        ],
      }),
    ],
  }),
  jsonTarget('POST', '/admin/tenants/{tenant}/clients', {
    path: () => `/admin/tenants/${fx.tenant}/clients`,
    error: 'invalid_client_metadata',
    valid: () => [
      JSON.stringify({
        client_name: 'Prop',
        grant_types: [CIBA_GRANT],
        backchannel_token_delivery_mode: 'poll',
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: {
          keys: [
            {
              kty: 'EC',
              crv: 'P-256',
              x: 'WKn-ZIGevcwGIyyrzFoZNBdaq9_TsqzGl96oc0CWuis',
              y: 'y77t-RvAHRKTsSGdIYUfweuOvwrvDD-Q3Hv5J0fSKbE',
            },
          ],
        },
      }),
    ],
  }),
  jsonTarget('PUT', '/admin/tenants/{tenant}/users/{sub}', {
    path: () => `/admin/tenants/${fx.tenant}/users/alice`,
    valid: () => [JSON.stringify({ name: 'Alice', address: { country: 'FR' }, email_verified: true })],
  }),
  jsonTarget('POST', '/admin/tenants/{tenant}/users/{sub}/enrollment-tickets', {
    path: () => `/admin/tenants/${fx.tenant}/users/alice/enrollment-tickets`,
  }),
];

/** bc-authorize's `authorization_details`: JSON inside a form. */
const AUTHORIZATION_DETAILS_TARGET: JsonTarget = {
  ...jsonTarget('POST', '/{tenant}/bc-authorize', { path: () => `/${fx.tenant}/bc-authorize`, auth: 'basic' }),
  valid: () => [JSON.stringify([{ type: 'pay', amount: 12.5, creditor: { name: 'Shop', iban: 'FR76' } }])],
  error: 'invalid_authorization_details',
  send: async (text) => {
    const res = await postForm(
      `${svc.url}/${fx.tenant}/bc-authorize`,
      { scope: 'openid', login_hint: 'alice', authorization_details: text },
      fx.client,
    );
    return { status: res.status, text: JSON.stringify(res.body) };
  },
};

const HOSTILE_NUMBERS = [
  '1e400',
  '-1e400',
  '9007199254740993',
  '-9007199254740993',
  '1e300',
  '1e-400',
  '2e-300',
  '12345678901234567890123',
];
const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype'];

/**
 * Puts one hostile member into a JSON text: into a random object (a forbidden key with any value, or a hostile number
 * under a new key) or in place of a random number or string.
 */
const injection = (): fc.Arbitrary<(template: string) => string> =>
  fc
    .tuple(
      fc.nat(),
      fc.constantFrom<'key' | 'member' | 'replace'>('key', 'member', 'replace'),
      fc.constantFrom(...HOSTILE_KEYS),
      fc.constantFrom(...HOSTILE_NUMBERS),
      fc.jsonValue({ maxDepth: 2 }),
    )
    .map(([pick, how, key, number, value]) => (template: string) => {
      const MARK = JSON.stringify('\u0000hostile');
      const root = JSON.parse(template) as unknown;
      const objects: Record<string, unknown>[] = [];
      const leaves: [Record<string, unknown> | unknown[], string | number][] = [];
      const walk = (node: unknown) => {
        if (Array.isArray(node)) {
          node.forEach((item, i) => {
            if (item === null || typeof item !== 'object') leaves.push([node, i]);
            else walk(item);
          });
        } else if (node && typeof node === 'object') {
          objects.push(node as Record<string, unknown>);
          for (const [k, item] of Object.entries(node)) {
            if (item === null || typeof item !== 'object') {
              if (k !== 'type' && k !== 'decision') leaves.push([node as Record<string, unknown>, k]);
            } else walk(item);
          }
        }
      };
      walk(root);
      if (how === 'replace' && leaves.length > 0) {
        const [parent, k] = leaves[pick % leaves.length]!;
        (parent as Record<string, unknown>)[k] = '\u0000hostile';
        return JSON.stringify(root).replace(MARK, number);
      }
      const target = objects[pick % objects.length]!;
      if (how === 'key') {
        target['\u0000hostile'] = value;
        return JSON.stringify(root).replace(MARK, JSON.stringify(key));
      }
      target.hostile = '\u0000hostile';
      return JSON.stringify(root).replace(MARK, number);
    });

/** Arbitrary JSON with hostile keys and numbers at any depth (text JSON.stringify cannot produce). */
const hostileBody = () =>
  fc
    .letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.jsonValue({ maxDepth: 0 }).map((v) => JSON.stringify(v)),
        fc.constantFrom(...HOSTILE_NUMBERS),
        tie('array') as fc.Arbitrary<string>,
        tie('object') as fc.Arbitrary<string>,
      ),
      array: fc.array(tie('value') as fc.Arbitrary<string>, { maxLength: 4 }).map((items) => `[${items.join(',')}]`),
      object: fc
        .array(
          fc.tuple(
            fc.oneof(
              fc.constantFrom(...HOSTILE_KEYS),
              fc.constantFrom('decision', 'ticket', 'push', 'name'),
              fc.string(),
            ),
            tie('value') as fc.Arbitrary<string>,
          ),
          { maxLength: 5 },
        )
        .map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`),
    }))
    .object.map(bytes);

// The property

/**
 * Writes a refused request may make, and why:
 * - `JTI#` and a device's `jtis` (where a device's proofs are recorded): a DPoP proof that verified is spent
 *   whatever the body (RFC 9449 §11.1): a proof does not sign the body, so an unspent proof of a refused request
 *   could be replayed with another body;
 * - `QUOTA#` and the user's `rl_*` counters: the request budgets count requests that got past client
 *   authentication, refused or not (counting only successes would let a client probe users or guess user codes
 *   for free), and a wrong user_code counts towards the user's lockout;
 * - the live request's `last_polled_at` and `interval`: a token poll is recorded whatever it answers (slow_down
 *   is computed from it, CIBA §11).
 */
const allowedWrite = (key: string, before?: Record<string, unknown>, after?: Record<string, unknown>): boolean => {
  if (/\|(JTI|QUOTA)#/.test(key)) return true;
  if (!before || !after) return false;
  const volatile = key.includes('|USER#')
    ? ['rl_minute', 'rl_count', 'rl_sum']
    : key.includes('|REQ#')
      ? ['last_polled_at', 'interval']
      : key.includes('|DEVICE#')
        ? ['jtis']
        : [];
  const strip = (item: Record<string, unknown>) =>
    JSON.stringify(Object.fromEntries(Object.entries(item).filter(([k]) => !volatile.includes(k))));
  return volatile.length > 0 && strip(before) === strip(after);
};

/**
 * A ledger item past its `ttl`, which the embedded store's sweep (DynamoDB TTL's stand-in, every minute of real time)
 * may delete at any moment: its removal during a check is not the request's doing. The DPoP jtis of enrollments live
 * 2 minutes, so a run longer than that on a slow machine meets the sweep inside a check.
 */
const expired = (item: Record<string, unknown> | undefined) =>
  typeof item?.ttl === 'number' && item.ttl * 1000 <= Date.now();

/**
 * The sweep's own bookkeeping (lib/local/embedded-dynamodb.ts): its first run, a minute of real time after the start,
 * writes where it got to, so a run longer than that on a loaded machine sees the cursor appear inside a check.
 */
const sweepCursor = (k: string) => k.endsWith('|SWEEP#cursor|');

const send = async (r: Fuzzed) => {
  const url = `${svc.url}${r.path}`;
  const headers: Record<string, string> = { ...authHeader(r.auth) };
  for (const [name, value] of r.extraHeaders) headers[name] = value;
  if (r.contentType !== null) headers['Content-Type'] = r.contentType;
  const htu = url.split('?')[0]!;
  if (r.dpop === 'valid') headers.DPoP = await device.proof(r.method, htu);
  if (r.dpop === 'garbage') headers.DPoP = 'eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.AAAA';
  if (r.dpop === 'repeated')
    headers.DPoP = `${await device.proof(r.method, htu)}, ${await device.proof(r.method, htu)}`;
  const withBody = r.method !== 'GET' && r.method !== 'HEAD' && r.body !== undefined;
  const res = await fetch(url, { method: r.method, headers, ...(withBody ? { body: r.body } : {}) });
  return { status: res.status, headers: res.headers, text: await res.text() };
};

const check = async (r: Fuzzed) => {
  const before = await scanTables(svc);
  const res = await send(r);
  const where = `${r.method} ${r.path.slice(0, 120)} auth=${r.auth} dpop=${r.dpop} -> ${res.status} ${res.text.slice(0, 200)}`;
  expect(res.status, where).toBeLessThan(500);
  expect(res.headers.get('x-content-type-options'), where).toBe('nosniff');
  if (res.status < 400) return;
  if (r.method !== 'HEAD') {
    expect(res.headers.get('content-type'), where).toMatch(/^application\/json/);
    const parsed = JSON.parse(res.text) as Record<string, unknown>;
    expect(CODES.has(String(parsed.error)), `${where}: unknown error code`).toBe(true);
    expect(
      Object.keys(parsed).filter((k) => !['error', 'error_description', 'error_uri'].includes(k)),
      where,
    ).toEqual([]);
    if (parsed.error_description !== undefined) {
      expect(parsed.error_description, where).toMatch(/^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/);
    }
    expect(res.text, where).not.toMatch(/stack|Exception|node_modules|\/work\/|\.ts:\d|at async|TypeError|RangeError/);
  }
  const after = await scanTables(svc);
  const diff = tableDiff(before, after);
  const unexpected = [
    ...diff.added.filter((k) => !allowedWrite(k) && !sweepCursor(k)),
    ...diff.removed.filter((k) => !expired(before.get(k))),
    ...diff.changed.filter((k) => !allowedWrite(k, before.get(k), after.get(k)) && !sweepCursor(k)),
  ];
  expect(unexpected, `${where}: a refused request changed the store`).toEqual([]);
};

describe('arbitrary requests to every route', () => {
  it('never answer 5xx, always answer a spec error as JSON, and change nothing when refused', async () => {
    await fc.assert(
      fc.asyncProperty(request(), async (r) => {
        // Deleting the fixture with the real admin token is an accepted request that ends the experiment.
        fc.pre(!(r.method === 'DELETE' && r.auth === 'admin'));
        await check(r);
      }),
      { numRuns: 400, endOnFailure: true },
    );
  }, 240_000);

  it('hold for authenticated clients sending arbitrary forms to the backchannel and token endpoints', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('bc-authorize', 'oauth/token', 'oauth/revoke', 'oauth/introspect'),
        fc.oneof(formBody().map(bytes), body()),
        fc.option(fc.constantFrom(...CONTENT_TYPES), { freq: 5 }),
        async (endpoint, payload, contentType) => {
          await check({
            method: 'POST',
            path: `/${fx.tenant}/${endpoint}`,
            contentType: contentType ?? 'application/x-www-form-urlencoded',
            auth: 'basic',
            dpop: 'none',
            extraHeaders: [],
            body: payload,
          });
        },
      ),
      { numRuns: 250, endOnFailure: true },
    );
  }, 240_000);

  it('hold for signed devices, the console and the admin sending arbitrary JSON to every JSON route', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...JSON_TARGETS),
        fc.oneof({ weight: 4, arbitrary: jsonBody().map(bytes) }, { weight: 2, arbitrary: hostileBody() }, body()),
        fc.option(fc.constantFrom(...CONTENT_TYPES), { freq: 5 }),
        async (target, payload, contentType) => {
          await check({
            method: target.route.method,
            path: target.path(),
            contentType: contentType ?? 'application/json',
            auth: target.auth,
            dpop: target.auth === 'none' ? 'valid' : 'none',
            extraHeaders: target.headers(),
            body: payload,
          });
        },
      ),
      { numRuns: 300, endOnFailure: true },
    );
  }, 240_000);
});

/**
 * SECURITY.md hardening rule 4, as a property: an otherwise valid body of every JSON route (and the JSON of
 * `authorization_details` at bc-authorize) with a hostile member put anywhere in it — a `__proto__`, `constructor`
 * or `prototype` key, a number beyond a double, above 2^53 or too small to keep — is the route's 400, with the route's
 * error code, and changes nothing: no rate budget, no pending slot, no ticket, no write at all but the device proof a
 * signed call spends.
 */
describe('hostile JSON anywhere in a valid body', () => {
  it('covers every route that reads a JSON body', () => {
    const formRoutes = ['/bc-authorize', '/oauth/token', '/oauth/revoke', '/oauth/introspect', '/userinfo'];
    // A key rotation is an action on the tenant: its handler reads no body.
    const noBodyRoutes = ['/admin/tenants/{tenant}/keys/rotate'];
    const jsonRoutes = ROUTES.filter(
      (r) =>
        (r.method === 'POST' || r.method === 'PUT') &&
        !formRoutes.some((f) => r.path.endsWith(f)) &&
        !noBodyRoutes.includes(r.path),
    );
    expect(
      jsonRoutes.filter((r) => !JSON_TARGETS.some((t) => t.route === r)).map((r) => `${r.method} ${r.path}`),
    ).toEqual([]);
  });

  it("is the route's 400 and changes nothing", async () => {
    const targets = [...JSON_TARGETS.filter((t) => t.valid().length > 0), AUTHORIZATION_DETAILS_TARGET];
    await fc.assert(
      fc.asyncProperty(
        fc
          .constantFrom(...targets)
          .chain((target) => fc.tuple(fc.constant(target), fc.constantFrom(...target.valid()), injection())),
        async ([target, template, inject]) => {
          const text = inject(template);
          const before = await scanTables(svc);
          const res = await target.send(text);
          const where = `${target.route.method} ${target.route.path} ${text.slice(0, 300)} -> ${res.status} ${res.text.slice(0, 200)}`;
          expect(res.status, where).toBe(400);
          expect((JSON.parse(res.text) as { error: string }).error, where).toBe(target.error);
          const after = await scanTables(svc);
          const diff = tableDiff(before, after);
          // Only a device proof may be spent (RFC 9449 §11.1: a proof does not sign the body).
          const proofOnly = (k: string) =>
            k.includes('|DEVICE#') &&
            JSON.stringify({ ...before.get(k), jtis: 0 }) === JSON.stringify({ ...after.get(k), jtis: 0 });
          const unexpected = [
            ...diff.added.filter((k) => !sweepCursor(k)),
            ...diff.removed.filter((k) => !expired(before.get(k))),
            ...diff.changed.filter((k) => !proofOnly(k) && !sweepCursor(k)),
          ];
          expect(unexpected, `${where}: a refused request changed the store`).toEqual([]);
        },
      ),
      { numRuns: 250, endOnFailure: true },
    );
  }, 240_000);
});
