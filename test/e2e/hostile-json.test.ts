/**
 * SECURITY.md hardening rule 4: no input produces a 5xx. JSON with the keys `__proto__`, `constructor` or `prototype`
 * anywhere, numbers beyond the double range (`1e400`), integers above 2^53 and numbers DynamoDB cannot keep, in every
 * place the service reads JSON (admin and device bodies, `authorization_details`, request objects, client `jwks`,
 * tenant settings, Web Push subscriptions), get the endpoint's 400 and change nothing: no item written (a Scan of
 * both tables before and after), no user rate budget, no pending slot, no enrollment ticket spent.
 */
import { CompactSign } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../helpers/expect-error.ts';
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
  TestDevice,
  type TestService,
} from '../helpers/service.ts';
import { type ClientKey, clientKey } from '../helpers/strong-auth.ts';
import { scanTables, tableDiff } from '../resilience/faults.ts';

/** Values JSON.parse would change silently, or that the store cannot keep. */
const HOSTILE_NUMBERS = ['1e400', '-1e400', '9007199254740993', '-9007199254740993', '1e300', '1e-400', '1e-200'];
const FORBIDDEN_KEYS = ['__proto__', 'constructor', 'prototype'];

/** Every hostile variant of a JSON template: a number for `@V` (a value position), a key for `@K`. */
const variants = (template: string): { label: string; text: string }[] => [
  ...(template.includes('@V') ? HOSTILE_NUMBERS : []).map((n) => ({
    label: `${template} with ${n}`,
    text: template.replace('@V', n).replace('@K', 'k'),
  })),
  ...(template.includes('@K') ? FORBIDDEN_KEYS : []).map((k) => ({
    label: `${template} with key ${k}`,
    text: template.replace('@V', '1').replace('@K', k),
  })),
];

// The budgets count in fixed minutes: every check runs in the first seconds of one.
let offset = 0;
const clock = { now: () => Date.now() + offset };
const startOfMinute = () => {
  offset += 60_000 - (clock.now() % 60_000) + 1_000;
};

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ clock });
});
afterAll(() => svc?.stop());

/**
 * Runs `send` and asserts that it changed nothing in either table. With `proofs`, a device proof may be spent (its
 * `jti` recorded on the device: RFC 9449 §11.1, a proof does not sign the body), and nothing else.
 */
const unchanged = async (send: () => Promise<unknown>, proofs = false) => {
  const before = await scanTables(svc);
  await send();
  const after = await scanTables(svc);
  const diff = tableDiff(before, after);
  const withoutJtis = (item: Record<string, unknown> | undefined) => JSON.stringify({ ...item, jtis: undefined });
  const changed = [
    ...diff.added.filter((k) => !(proofs && /\|JTI#/.test(k))),
    ...diff.removed,
    ...diff.changed.filter((k) => !(proofs && withoutJtis(before.get(k)) === withoutJtis(after.get(k)))),
  ];
  expect(changed, 'a refused request changed the store').toEqual([]);
};

const rawJson = async (method: string, url: string, text: string, headers: Record<string, string>) => {
  const res = await fetch(url, { method, headers: { 'Content-Type': 'application/json', ...headers }, body: text });
  const body = await res.text();
  return { status: res.status, body: body ? JSON.parse(body) : undefined, headers: res.headers };
};
const admin = (method: string, path: string, text: string) =>
  rawJson(method, `${svc.url}${path}`, text, { Authorization: `Bearer ${ADMIN_TOKEN}` });

/** A request object signed over exactly `payload` (JSON text that JSON.stringify could not produce). */
const signedRequestObject = (key: ClientKey, payload: string) =>
  new CompactSign(new TextEncoder().encode(payload))
    .setProtectedHeader({ alg: key.alg, kid: key.kid })
    .sign(key.privateKey);

describe('hardening rule 4: hostile JSON is a 400 that changes and spends nothing', () => {
  describe('bc-authorize: authorization_details and request objects', () => {
    let fx: TenantFixture;
    let key: ClientKey;
    const BUDGET = 3;

    beforeAll(async () => {
      fx = await createTenantFixture(
        svc,
        'hostile-rar',
        {
          user_rate_limit_per_minute: BUDGET,
          max_pending_requests: BUDGET,
          authorization_details_types: { pay: { type: 'object' } },
        },
        {},
        { device: true },
      );
      key = await clientKey('ES256');
    });

    it('answers invalid_authorization_details for every hostile shape, then leaves the user the full budget', async () => {
      startOfMinute();
      for (const template of [
        '[{"type":"pay","amount":@V}]',
        '[{"type":"pay","nested":{"deep":[1,{"x":@V}]}}]',
        '[{"type":"pay","@K":{"x":1}}]',
        '[{"type":"pay","nested":{"@K":1}}]',
      ]) {
        for (const { label, text } of variants(template)) {
          await unchanged(async () => {
            const res = await postForm(
              `${fx.issuer}/bc-authorize`,
              { scope: 'openid', login_hint: 'alice', authorization_details: text },
              fx.client,
            );
            expectError(res, 400, 'invalid_authorization_details', label);
          });
        }
      }
      // Nothing was spent: the whole per-user budget and every pending slot (as many as the budget) are still there.
      for (let i = 0; i < BUDGET; i++) {
        const ok = await postForm(
          `${fx.issuer}/bc-authorize`,
          { scope: 'openid', login_hint: 'alice', authorization_details: '[{"type":"pay","amount":12.5}]' },
          fx.client,
        );
        expect(ok.status, JSON.stringify(ok.body)).toBe(200);
      }
    });

    it('answers invalid_request for hostile claims in a signed request object, spending nothing', async () => {
      const tenant = await createTenantFixture(
        svc,
        'hostile-ro',
        {
          user_rate_limit_per_minute: BUDGET,
          max_pending_requests: BUDGET,
          authorization_details_types: { pay: { type: 'object' } },
        },
        {},
        { device: true },
      );
      const registered = await svc.admin('POST', `/admin/tenants/${tenant.tenant}/clients`, {
        client_name: 'Signer',
        grant_types: [CIBA_GRANT],
        backchannel_token_delivery_mode: 'poll',
        jwks: { keys: [key.publicJwk] },
        backchannel_authentication_request_signing_alg: 'ES256',
      });
      expect(registered.status, JSON.stringify(registered.body)).toBe(201);
      const client = { client_id: registered.body.client_id, client_secret: registered.body.client_secret };
      const claims = (extra: string) => {
        const now = Math.floor(clock.now() / 1000);
        return `{"iss":"${client.client_id}","aud":"${tenant.issuer}","iat":${now},"nbf":${now},"exp":${now + 300},"jti":"${crypto.randomUUID()}","scope":"openid","login_hint":"alice"${extra}}`;
      };
      startOfMinute();
      for (const template of [
        ',"authorization_details":[{"type":"pay","amount":@V}]',
        ',"requested_expiry":@V',
        ',"authorization_details":[{"type":"pay","@K":{"x":1}}]',
        ',"@K":{"x":1}',
      ]) {
        for (const { label, text } of variants(template)) {
          const jwt = await signedRequestObject(key, claims(text));
          await unchanged(async () => {
            const res = await postForm(`${tenant.issuer}/bc-authorize`, { request: jwt }, client);
            expectError(res, 400, 'invalid_request', label);
          });
        }
      }
      for (let i = 0; i < BUDGET; i++) {
        const jwt = await signedRequestObject(key, claims(',"authorization_details":[{"type":"pay","amount":1}]'));
        const ok = await postForm(`${tenant.issuer}/bc-authorize`, { request: jwt }, client);
        expect(ok.status, JSON.stringify(ok.body)).toBe(200);
      }
    });
  });

  describe('admin API', () => {
    let fx: TenantFixture;
    beforeAll(async () => {
      fx = await createTenantFixture(svc, 'hostile-admin');
    });

    it('answers invalid_request for hostile tenant settings, for an existing and a new tenant', async () => {
      for (const template of [
        '{"authorization_details_types":{"pay":{"type":"object","properties":{"amount":{"type":"number","maximum":@V}}}}}',
        '{"authorization_details_types":{"pay":{"type":"object","properties":{"@K":{"type":"string"}}}}}',
        '{"login_hint_token_issuers":[{"issuer":"https://idp.example","jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"x","y":"y","n":@V}]}}]}',
        '{"display_name":"Bank","@K":{"x":1}}',
        '{"backchannel_polling_interval":@V}',
      ]) {
        for (const { label, text } of variants(template)) {
          await unchanged(async () => {
            expectError(await admin('PUT', `/admin/tenants/${fx.tenant}`, text), 400, 'invalid_request', label);
            expectError(await admin('PUT', '/admin/tenants/hostile-new', text), 400, 'invalid_request', label);
          });
        }
      }
      expect((await svc.admin('GET', '/admin/tenants/hostile-new')).status).toBe(404);
    });

    it('answers invalid_client_metadata for hostile client metadata (jwks) and registers nothing', async () => {
      for (const template of [
        '{"client_id":"hostile-client","grant_types":["urn:openid:params:grant-type:ciba"],"backchannel_token_delivery_mode":"poll","jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA","ext":@V}]}}',
        '{"client_id":"hostile-client","grant_types":["urn:openid:params:grant-type:ciba"],"backchannel_token_delivery_mode":"poll","jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA","@K":{"x":1}}]}}',
      ]) {
        for (const { label, text } of variants(template)) {
          await unchanged(async () => {
            expectError(
              await admin('POST', `/admin/tenants/${fx.tenant}/clients`, text),
              400,
              'invalid_client_metadata',
              label,
            );
          });
        }
      }
      expect((await svc.admin('GET', `/admin/tenants/${fx.tenant}/clients/hostile-client`)).status).toBe(404);
    });

    it('answers invalid_request for hostile user bodies and keeps the user as it was', async () => {
      for (const template of [
        '{"name":"Alice","address":{"@K":"x"}}',
        '{"name":"Alice","@K":{"x":1}}',
        '{"name":"Alice","updated_at":@V}',
      ]) {
        for (const { label, text } of variants(template)) {
          await unchanged(async () => {
            expectError(
              await admin('PUT', `/admin/tenants/${fx.tenant}/users/alice`, text),
              400,
              'invalid_request',
              label,
            );
            expectError(
              await admin('PUT', `/admin/tenants/${fx.tenant}/users/bob`, text),
              400,
              'invalid_request',
              label,
            );
          });
        }
      }
    });
  });

  describe('device API', () => {
    let fx: TenantFixture;
    const subscription = (value: string) =>
      `{"endpoint":"https://fcm.googleapis.com/fcm/send/abc","expirationTime":${value},"keys":{"p256dh":"BNc","auth":"k"}}`;

    beforeAll(async () => {
      // Device proofs carry the real time: the service's clock goes back to it.
      offset = 0;
      fx = await createTenantFixture(svc, 'hostile-device');
    });

    it('refuses hostile enrollment bodies without spending the ticket', async () => {
      const ticket = await svc.admin('POST', `/admin/tenants/${fx.tenant}/users/alice/enrollment-tickets`);
      expect(ticket.status).toBe(201);
      const device = await TestDevice.create(fx.issuer);
      const enroll = async (text: string) =>
        rawJson('POST', `${fx.issuer}/device/enrollments`, text, {
          DPoP: await device.proof('POST', `${fx.issuer}/device/enrollments`, {}, Math.floor(clock.now() / 1000)),
        });
      for (const template of [
        `{"ticket":"${ticket.body.ticket}","name":"Phone","push":{"type":"webpush","subscription":${subscription('@V')}}}`,
        `{"ticket":"${ticket.body.ticket}","name":"Phone","push":{"type":"webpush","subscription":{"endpoint":"https://fcm.googleapis.com/fcm/send/abc","keys":{"p256dh":"BNc","auth":"k","@K":"x"}}}}`,
        `{"ticket":"${ticket.body.ticket}","@K":{"name":"x"}}`,
      ]) {
        for (const { label, text } of variants(template)) {
          await unchanged(async () => expectError(await enroll(text), 400, 'invalid_request', label), true);
        }
      }
      // The ticket was never spent: it still enrolls the device.
      const res = await enroll(`{"ticket":"${ticket.body.ticket}","name":"Phone"}`);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    });

    it('refuses hostile push channels and decisions, and the transaction can still be decided', async () => {
      const device = await enrollDevice(svc, fx);
      const call = async (method: string, path: string, text: string) =>
        rawJson(method, `${fx.issuer}${path}`, text, {
          DPoP: await device.proof(method, `${fx.issuer}${path}`, {}, Math.floor(clock.now() / 1000)),
        });
      for (const { label, text } of variants(`{"push":{"type":"webpush","subscription":${subscription('@V')}}}`)) {
        await unchanged(
          async () => expectError(await call('PUT', '/device/push', text), 400, 'invalid_request', label),
          true,
        );
      }
      const ack = await postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice' }, fx.client);
      expect(ack.status).toBe(200);
      const txn = await nextTxn(device);
      for (const template of [
        '{"decision":"approve","webauthn":{"@K":{"x":1}}}',
        '{"decision":"approve","webauthn":{"n":@V}}',
      ]) {
        for (const { label, text } of variants(template)) {
          await unchanged(
            async () =>
              expectError(await call('POST', `/device/transactions/${txn}`, text), 400, 'invalid_request', label),
            true,
          );
        }
      }
      for (const { label, text } of variants('{"response":{"id":"x","n":@V,"@K":1}}')) {
        await unchanged(
          async () => expectError(await call('POST', '/device/passkey', text), 400, 'invalid_request', label),
          true,
        );
      }
      expect((await device.decide(txn, 'approve')).status).toBe(200);
      const tokens = await postForm(
        `${fx.issuer}/oauth/token`,
        { grant_type: CIBA_GRANT, auth_req_id: ack.body.auth_req_id },
        null,
        { Authorization: basicAuth(fx.client.client_id, fx.client.client_secret) },
      );
      expect(tokens.status).toBe(200);
    });
  });
});
