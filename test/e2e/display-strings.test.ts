import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../helpers/expect-error.ts';
import {
  CIBA_GRANT,
  createTenantFixture,
  postForm,
  startTestService,
  type TenantFixture,
  TestDevice,
  type TestService,
} from '../helpers/service.ts';

/** Text that hides, forges or covers: refused in every display string (hardening rules 5 and 10). */
const HOSTILE: [string, string][] = [
  ['480 combining marks on one character', `Pay 10 EUR x${'\u0301'.repeat(480)}`],
  ['five combining marks on one character', `x\u0301\u0302\u0303\u0304\u0305`],
  ['Hangul fillers', 'Approve\u3164\u3164\u3164'],
  ['a halfwidth Hangul filler', 'Approve\uffa0it'],
  ['braille pattern blank', 'Approve\u2800it'],
  ['a combining grapheme joiner', 'Appro\u034fve'],
  ['a variation selector after a letter', 'Approve\ufe0f'],
  ['two spaces in a row', 'Approve  it'],
  ['a line feed and an escape sequence (log forging)', 'x\n23:59:59 error FORGED\u001b[31m'],
  ['a right-to-left override', 'pay \u202e01 EUR'],
];

/** Real-world text that still passes everywhere. */
const REAL_WORLD = ['ログイン　確認', 'Xác nhận ở Hà Nội', 'पुष्टि करें क्षत्रिय', '👨‍👩‍👧‍👦 🧑🏽‍💻 👍🏽', '🇯🇵 🏳️‍🌈 1️⃣'];

describe('hardening rules 5 and 10: display strings are safe to show, through the public interfaces', () => {
  let svc: TestService;
  let fx: TenantFixture;

  beforeAll(async () => {
    svc = await startTestService();
    fx = await createTenantFixture(svc, 'display', { user_rate_limit_per_minute: 3, binding_message_max_length: 64 });
  });
  afterAll(() => svc?.stop());

  const start = (form: Record<string, string>) =>
    postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice', ...form }, fx.client);

  it.each(HOSTILE)(
    'refuses a binding message with %s (invalid_binding_message), spending no budget',
    async (_l, text) => {
      expectError(await start({ binding_message: text }), 400, 'invalid_binding_message');
    },
  );

  it.each([
    ['11 values', Array.from({ length: 11 }, (_, i) => `urn:acr:${i}`).join(' ')],
    ['a value of 256 characters', `urn:${'x'.repeat(252)}`],
    ['non-ASCII', 'urn:acr:élevé'],
    ['a control character', 'urn:acr:a\nurn:acr:b'],
    ['two spaces', 'urn:acr:a  urn:acr:b'],
  ])('refuses acr_values with %s (invalid_request)', async (_l, acr) => {
    expectError(await start({ acr_values: acr }), 400, 'invalid_request');
  });

  it('refuses a display template that would render a bidi override (invalid_authorization_details), spending nothing', async () => {
    const put = await svc.admin('PUT', `/admin/tenants/${fx.tenant}`, {
      authorization_details_types: {
        payment_initiation: {
          type: 'object',
          required: ['type', 'creditorName'],
          properties: { type: { const: 'payment_initiation' }, creditorName: { type: 'string' } },
          display: { title: 'Pay {creditorName}', fields: [{ label: 'To', value: '{creditorName}' }] },
        },
      },
    });
    expect(put.status).toBe(200);
    const details = (creditorName: string) => JSON.stringify([{ type: 'payment_initiation', creditorName }]);
    // The schema takes any string: the rendered title is what breaks the display-string rules.
    const refused = await start({ authorization_details: details('ACME \u202eRUE 0001') });
    expectError(refused, 400, 'invalid_authorization_details');
    expect(refused.body.error_description).toMatch(/title/);
  });

  it('still has the whole per-user budget after every refusal, and accepts real-world text', async () => {
    // user_rate_limit_per_minute is 3: the refusals above spent nothing.
    const device = await TestDevice.create(fx.issuer);
    const ticket = await svc.admin('POST', `/admin/tenants/${fx.tenant}/users/alice/enrollment-tickets`);
    expect((await device.enroll(ticket.body.ticket)).status).toBe(201);
    for (const text of REAL_WORLD.slice(0, 3)) {
      const ack = await start({ binding_message: text, acr_values: 'urn:ciba-service:acr:device-key' });
      expect(ack.status, text).toBe(200);
    }
    expect(
      (await device.pending()).body.transactions.map((t: { binding_message: string }) => t.binding_message),
    ).toEqual(REAL_WORLD.slice(0, 3).reverse());
  });

  it.each(HOSTILE)('refuses a device name with %s at enrollment (400), keeping the ticket', async (_l, name) => {
    const ticket = (await svc.admin('POST', `/admin/tenants/${fx.tenant}/users/alice/enrollment-tickets`)).body.ticket;
    const device = await TestDevice.create(fx.issuer);
    expectError(await device.enroll(ticket, { name }), 400, 'invalid_request');
    expect((await device.enroll(ticket, { name: REAL_WORLD[0] })).status).toBe(201);
    await svc.admin('DELETE', `/admin/tenants/${fx.tenant}/users/alice/devices/${device.deviceId}`);
  });

  it.each(HOSTILE)('refuses a client name with %s (invalid_client_metadata)', async (_l, name) => {
    const res = await svc.admin('POST', `/admin/tenants/${fx.tenant}/clients`, {
      client_name: name.slice(0, 100),
      grant_types: [CIBA_GRANT],
      backchannel_token_delivery_mode: 'poll',
    });
    expectError(res, 400, 'invalid_client_metadata');
  });

  it.each(HOSTILE)('refuses a tenant display_name and a user name with %s (invalid_request)', async (_l, text) => {
    expectError(
      await svc.admin('PUT', `/admin/tenants/${fx.tenant}`, { display_name: text.slice(0, 100) }),
      400,
      'invalid_request',
    );
    expectError(
      await svc.admin('PUT', `/admin/tenants/${fx.tenant}/users/alice`, { name: text }),
      400,
      'invalid_request',
    );
  });

  it('accepts real-world names everywhere', async () => {
    for (const text of REAL_WORLD) {
      expect((await svc.admin('PUT', `/admin/tenants/${fx.tenant}`, { display_name: text })).status, text).toBe(200);
      expect((await svc.admin('PUT', `/admin/tenants/${fx.tenant}/users/alice`, { name: text })).status, text).toBe(
        200,
      );
      const client = await svc.admin('POST', `/admin/tenants/${fx.tenant}/clients`, {
        client_name: text,
        grant_types: [CIBA_GRANT],
        backchannel_token_delivery_mode: 'poll',
      });
      expect(client.status, text).toBe(201);
      expect(client.body.client_name).toBe(text);
    }
  });
});
