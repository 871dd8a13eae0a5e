import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, rawRequest } from '../helpers/expect-error.ts';
import {
  ADMIN_TOKEN,
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

const POLL_CLIENT = { grant_types: [CIBA_GRANT], backchannel_token_delivery_mode: 'poll' };

describe('the admin API (docs/admin-api.md, local mode)', () => {
  let svc: TestService;
  let fx: TenantFixture;

  beforeAll(async () => {
    svc = await startTestService();
    fx = await createTenantFixture(svc, 'adm', { user_rate_limit_per_minute: 1000 }, {}, { device: true });
  });
  afterAll(() => svc.stop());

  describe('authentication', () => {
    const cases: [string, Record<string, string>][] = [
      ['no Authorization header', {}],
      ['a wrong bearer token', { Authorization: 'Bearer not-the-admin-token' }],
      ['the admin token with another scheme', { Authorization: `Basic ${ADMIN_TOKEN}` }],
      ['an empty bearer', { Authorization: 'Bearer ' }],
      ['the admin token with a suffix', { Authorization: `Bearer ${ADMIN_TOKEN}x` }],
    ];
    for (const [label, headers] of cases) {
      it(`answers 401 JSON with WWW-Authenticate to ${label}, and changes nothing`, async () => {
        for (const [method, path, body] of [
          ['GET', '/admin/tenants/adm', undefined],
          ['PUT', '/admin/tenants/intruder', '{}'],
          ['PUT', '/admin/tenants/adm', '{"display_name":"hacked"}'],
          ['DELETE', '/admin/tenants/adm', undefined],
          ['POST', '/admin/tenants/adm/clients', JSON.stringify(POLL_CLIENT)],
        ] as const) {
          const res = await rawRequest(`${svc.url}${path}`, {
            method,
            headers: { ...headers, ...(body ? { 'Content-Type': 'application/json' } : {}) },
            ...(body ? { body } : {}),
          });
          expectError(res, 401, 'invalid_token', `${method} ${path}`);
          expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
        }
        expect((await svc.admin('GET', '/admin/tenants/intruder')).status).toBe(404);
        const adm = await svc.admin('GET', '/admin/tenants/adm');
        expect(adm.status).toBe(200);
        expect(adm.body.display_name).not.toBe('hacked');
      });
    }
  });

  describe('tenants', () => {
    it('creates a tenant with 201, then merges an update with 200; both answers include the issuer', async () => {
      const created = await svc.admin('PUT', '/admin/tenants/t-merge', {
        display_name: 'First',
        backchannel_expires_in: 120,
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        tenant: 't-merge',
        issuer: `${svc.url}/t-merge`,
        display_name: 'First',
        backchannel_expires_in: 120,
        backchannel_max_expires_in: 300,
        backchannel_polling_interval: 5,
        user_rate_limit_per_minute: 5,
        binding_message_required: false,
        binding_message_max_length: 64,
        delivery_modes: ['poll', 'ping'],
        signing_alg: 'ES256',
        fapi: false,
        development_mode: false,
      });

      const updated = await svc.admin('PUT', '/admin/tenants/t-merge', { backchannel_polling_interval: 2 });
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({
        issuer: `${svc.url}/t-merge`,
        display_name: 'First',
        backchannel_expires_in: 120,
        backchannel_polling_interval: 2,
      });
      const read = await svc.admin('GET', '/admin/tenants/t-merge');
      expect(read.status).toBe(200);
      expect(read.body).toEqual(updated.body);

      const discovery = await fetch(`${svc.url}/t-merge/.well-known/openid-configuration`);
      expect((await discovery.json()).issuer).toBe(`${svc.url}/t-merge`);
    });

    it('refuses unknown fields, invalid values and a maximum below the default lifetime with 400 invalid_request, changing nothing', async () => {
      await svc.admin('PUT', '/admin/tenants/t-strict', { display_name: 'Strict', backchannel_expires_in: 100 });
      const before = await svc.admin('GET', '/admin/tenants/t-strict');
      const bad: Record<string, unknown>[] = [
        { unknown_field: 1 },
        { display_name: 'ok', color: 'blue' },
        { backchannel_expires_in: 0 },
        { backchannel_expires_in: -5 },
        { backchannel_expires_in: 1.5 },
        { backchannel_expires_in: '300' },
        { backchannel_expires_in: null },
        { backchannel_polling_interval: 0 },
        { user_rate_limit_per_minute: 'many' },
        { binding_message_required: 'yes' },
        { binding_message_max_length: 0 },
        { delivery_modes: [] },
        { delivery_modes: ['poll', 'fax'] },
        { delivery_modes: ['poll', 'poll'] },
        { delivery_modes: 'poll' },
        { signing_alg: 'HS256' },
        { signing_alg: 'none' },
        { display_name: 42 },
        { display_name: { nested: 'object' } },
        { development_mode: 1 },
        { backchannel_max_expires_in: 50 },
        { backchannel_expires_in: 200, backchannel_max_expires_in: 150 },
        { display_name: 'Changed', backchannel_expires_in: 400 },
      ];
      for (const body of bad) {
        const res = await svc.admin('PUT', '/admin/tenants/t-strict', body);
        expectError(res, 400, 'invalid_request', JSON.stringify(body));
        expect(res.body.error_description, JSON.stringify(body)).toBeTruthy();
      }
      expect(await svc.admin('GET', '/admin/tenants/t-strict')).toMatchObject({ status: 200, body: before.body });
    });

    it('accepts backchannel_max_expires_in equal to backchannel_expires_in', async () => {
      const res = await svc.admin('PUT', '/admin/tenants/t-equal', {
        backchannel_expires_in: 60,
        backchannel_max_expires_in: 60,
      });
      expect(res.status).toBe(201);
    });

    it('refuses invalid tenant ids and the reserved words, and creates nothing', async () => {
      for (const id of [
        'admin',
        'health',
        'assets',
        'UPPER',
        'Mixed',
        'a'.repeat(64),
        '-lead',
        'under_score',
        'dot.ted',
        'sp%20ace',
      ]) {
        const put = await svc.admin('PUT', `/admin/tenants/${id}`, { display_name: 'x' });
        expect(put.status, id).toBe(400);
        expect(put.body.error, id).toBe('invalid_request');
        expect(put.body.error_description, id).toMatch(/reserved/);
        expect((await svc.admin('GET', `/admin/tenants/${id}`)).status, id).toBe(404);
      }
      const longest = 'a'.repeat(63);
      expect((await svc.admin('PUT', `/admin/tenants/${longest}`, {})).status).toBe(201);
      expect((await svc.admin('PUT', '/admin/tenants/0-digit-first', {})).status).toBe(201);
    });

    it('answers 404 for an unknown tenant', async () => {
      expectError(await svc.admin('GET', '/admin/tenants/never-created'), 404, 'not_found');
      expectError(await svc.admin('DELETE', '/admin/tenants/never-created'), 404, 'not_found');
      expectError(await svc.admin('POST', '/admin/tenants/never-created/clients', POLL_CLIENT), 404, 'not_found');
      expectError(await svc.admin('PUT', '/admin/tenants/never-created/users/bob', { name: 'Bob' }), 404, 'not_found');
    });

    it('deletes a tenant with its clients and users: recreated, it has none of them', async () => {
      const gone = await createTenantFixture(svc, 't-gone');
      expect((await svc.admin('DELETE', '/admin/tenants/t-gone')).status).toBe(204);
      expectError(await svc.admin('GET', '/admin/tenants/t-gone'), 404, 'not_found');
      expectError(await svc.admin('DELETE', '/admin/tenants/t-gone'), 404, 'not_found');
      const bc = await postForm(`${gone.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice' }, gone.client);
      expectError(bc, 404, 'not_found');

      expect((await svc.admin('PUT', '/admin/tenants/t-gone', {})).status).toBe(201);
      expectError(await svc.admin('GET', `/admin/tenants/t-gone/clients/${gone.client.client_id}`), 404, 'not_found');
      expectError(await svc.admin('GET', '/admin/tenants/t-gone/users/alice'), 404, 'not_found');
      const again = await postForm(
        `${gone.issuer}/bc-authorize`,
        { scope: 'openid', login_hint: 'alice' },
        gone.client,
      );
      expectError(again, 401, 'invalid_client');
    });
  });

  describe('clients (RFC 7591)', () => {
    it('registers a client with 201, a client_id, a secret shown once, client_secret_expires_at 0, and the defaults', async () => {
      const res = await svc.admin('POST', '/admin/tenants/adm/clients', { client_name: 'Call center', ...POLL_CLIENT });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({
        client_name: 'Call center',
        grant_types: [CIBA_GRANT],
        token_endpoint_auth_method: 'client_secret_basic',
        backchannel_token_delivery_mode: 'poll',
        backchannel_user_code_parameter: false,
        client_secret_expires_at: 0,
      });
      expect(res.body.client_id).toMatch(/^[A-Za-z0-9._~-]+$/);
      // A high-entropy secret: at least 256 bits in base64url.
      expect(res.body.client_secret).toMatch(/^[A-Za-z0-9_-]{43,}$/);
      expect(Number.isInteger(res.body.client_id_issued_at)).toBe(true);

      const works = await postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice' }, res.body);
      expect(works.status).toBe(200);
    });

    it('defaults grant_types to the CIBA grant and keeps a chosen client_id', async () => {
      const res = await svc.admin('POST', '/admin/tenants/adm/clients', {
        client_id: 'pos-terminal.1',
        backchannel_token_delivery_mode: 'poll',
        token_endpoint_auth_method: 'client_secret_post',
      });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({
        client_id: 'pos-terminal.1',
        grant_types: [CIBA_GRANT],
        token_endpoint_auth_method: 'client_secret_post',
      });
    });

    it('refuses invalid metadata with 400 invalid_client_metadata and registers nothing', async () => {
      const bad: Record<string, unknown>[] = [
        { ...POLL_CLIENT, client_id: 'bad-1', token_endpoint_auth_method: 'none' },
        { ...POLL_CLIENT, client_id: 'bad-2', token_endpoint_auth_method: 'private_key_jwt_typo' },
        { client_id: 'bad-3', grant_types: [CIBA_GRANT] },
        { client_id: 'bad-4', grant_types: ['authorization_code'], backchannel_token_delivery_mode: 'poll' },
        { client_id: 'bad-5', grant_types: [], backchannel_token_delivery_mode: 'poll' },
        { ...POLL_CLIENT, client_id: 'bad-6', backchannel_user_code_parameter: 'yes' },
        { ...POLL_CLIENT, client_id: 'bad-7', grant_types: CIBA_GRANT },
        { ...POLL_CLIENT, client_id: 'bad-8', client_name: 42 },
        { ...POLL_CLIENT, client_id: 'bad-9', backchannel_token_delivery_mode: 'carrier-pigeon' },
        { ...POLL_CLIENT, client_id: 'bad-10', unknown_member: true },
        { ...POLL_CLIENT, client_id: 'bad-11', scope: 'openid launch_missiles' },
        { ...POLL_CLIENT, client_id: 'bad-12', response_types: ['code'] },
        { ...POLL_CLIENT, client_id: 'x' },
        { ...POLL_CLIENT, client_id: 'bad 14' },
      ];
      for (const body of bad) {
        const res = await svc.admin('POST', '/admin/tenants/adm/clients', body);
        expectError(res, 400, 'invalid_client_metadata', JSON.stringify(body));
        if (typeof body.client_id === 'string') {
          expect(
            (await svc.admin('GET', `/admin/tenants/adm/clients/${encodeURIComponent(body.client_id)}`)).status,
          ).toBe(404);
        }
      }
    });

    it('shows a registered client without its secret or the secret hash', async () => {
      const created = await svc.admin('POST', '/admin/tenants/adm/clients', { client_id: 'shown', ...POLL_CLIENT });
      const res = await svc.admin('GET', '/admin/tenants/adm/clients/shown');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ client_id: 'shown', backchannel_token_delivery_mode: 'poll' });
      expect(Object.keys(res.body).filter((k) => /secret|hash/i.test(k))).toEqual([]);
      const text = JSON.stringify(res.body);
      expect(text).not.toContain(created.body.client_secret);
      const stored = await svc.service.deps.clients.get('adm', 'shown');
      expect(text).not.toContain(stored!.secretHash);
    });

    it('deletes a client with 204; it is then 404 and its credentials are invalid_client', async () => {
      const created = await svc.admin('POST', '/admin/tenants/adm/clients', { client_id: 'doomed', ...POLL_CLIENT });
      expect((await svc.admin('DELETE', '/admin/tenants/adm/clients/doomed')).status).toBe(204);
      expectError(await svc.admin('GET', '/admin/tenants/adm/clients/doomed'), 404, 'not_found');
      expectError(await svc.admin('DELETE', '/admin/tenants/adm/clients/doomed'), 404, 'not_found');
      const bc = await postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice' }, created.body);
      expectError(bc, 401, 'invalid_client');
    });

    it('refuses a duplicate client_id with 409 and keeps the first secret valid', async () => {
      const first = await svc.admin('POST', '/admin/tenants/adm/clients', { client_id: 'twice', ...POLL_CLIENT });
      expect(first.status).toBe(201);
      const second = await svc.admin('POST', '/admin/tenants/adm/clients', { client_id: 'twice', ...POLL_CLIENT });
      expectError(second, 409, 'conflict');
      const bc = await postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice' }, first.body);
      expect(bc.status).toBe(200);
    });

    it('answers 404 for an unknown client', async () => {
      expectError(await svc.admin('GET', '/admin/tenants/adm/clients/nobody-here'), 404, 'not_found');
    });
  });

  describe('users', () => {
    it('creates a user with 201 and merges an update with 200', async () => {
      const created = await svc.admin('PUT', '/admin/tenants/adm/users/bob', {
        name: 'Bob Builder',
        email: 'bob@example.com',
        phone_number: '+447700900123',
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        sub: 'bob',
        name: 'Bob Builder',
        email: 'bob@example.com',
        phone_number: '+447700900123',
        has_user_code: false,
      });
      const updated = await svc.admin('PUT', '/admin/tenants/adm/users/bob', {
        given_name: 'Bob',
        email_verified: true,
      });
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({
        name: 'Bob Builder',
        email: 'bob@example.com',
        given_name: 'Bob',
        email_verified: true,
      });
      expect((await svc.admin('GET', '/admin/tenants/adm/users/bob')).body).toMatchObject({
        name: 'Bob Builder',
        given_name: 'Bob',
      });
    });

    it('refuses an invalid email, a phone number not in E.164 and unknown claims with 400 invalid_request, changing nothing', async () => {
      await svc.admin('PUT', '/admin/tenants/adm/users/carol', { name: 'Carol', email: 'carol@example.com' });
      const before = await svc.admin('GET', '/admin/tenants/adm/users/carol');
      const bad: Record<string, unknown>[] = [
        { email: 'not-an-email' },
        { email: 42 },
        { phone_number: '555-0100' },
        { phone_number: '+0123' },
        { phone_number: '0044 7700 900123' },
        { favourite_color: 'blue' },
        { name: 'ok', sub: 'someone-else' },
        { email_verified: 'yes' },
        { birthdate: '31/12/1999' },
        { address: { street_address: { nested: true } } },
        { user_code: 'abc' },
        { user_code: 1234 },
        { name: '' },
        { name: 'x'.repeat(300) },
      ];
      for (const body of bad) {
        expectError(
          await svc.admin('PUT', '/admin/tenants/adm/users/carol', body),
          400,
          'invalid_request',
          JSON.stringify(body),
        );
      }
      expect((await svc.admin('GET', '/admin/tenants/adm/users/carol')).body).toEqual(before.body);
    });

    it('sets a user_code (has_user_code true) and removes it with null', async () => {
      await svc.admin('PUT', '/admin/tenants/adm/users/dave', { name: 'Dave' });
      const set = await svc.admin('PUT', '/admin/tenants/adm/users/dave', { user_code: '4F22-secret' });
      expect(set.body.has_user_code).toBe(true);
      expect(JSON.stringify(set.body)).not.toContain('4F22-secret');
      const kept = await svc.admin('PUT', '/admin/tenants/adm/users/dave', { name: 'Dave D.' });
      expect(kept.body.has_user_code).toBe(true);
      const removed = await svc.admin('PUT', '/admin/tenants/adm/users/dave', { user_code: null });
      expect(removed.body.has_user_code).toBe(false);
      expect((await svc.admin('GET', '/admin/tenants/adm/users/dave')).body.has_user_code).toBe(false);
    });

    it('answers 404 for an unknown user and 400 for an invalid sub', async () => {
      expectError(await svc.admin('GET', '/admin/tenants/adm/users/nobody'), 404, 'not_found');
      expectError(
        await svc.admin('PUT', `/admin/tenants/adm/users/${'s'.repeat(129)}`, { name: 'x' }),
        400,
        'invalid_request',
      );
      expectError(
        await svc.admin('PUT', '/admin/tenants/adm/users/has%20space', { name: 'x' }),
        400,
        'invalid_request',
      );
    });
  });

  describe('enrollment tickets and devices', () => {
    it('issues a ticket with 201 {ticket, expires_in, enrollment_uri} for an existing user', async () => {
      const res = await svc.admin('POST', '/admin/tenants/adm/users/alice/enrollment-tickets');
      expect(res.status).toBe(201);
      expect(Object.keys(res.body)).toEqual(expect.arrayContaining(['ticket', 'expires_in', 'enrollment_uri']));
      expect(res.body.ticket).toMatch(/^[A-Za-z0-9_-]{22,}$/);
      expect(res.body.expires_in).toBeGreaterThan(0);
      expect(res.body.enrollment_uri.startsWith(`${fx.issuer}/authenticator`)).toBe(true);
      expect(res.body.enrollment_uri).toContain(res.body.ticket);
    });

    it('answers 404 to a ticket request for an unknown user', async () => {
      expectError(await svc.admin('POST', '/admin/tenants/adm/users/nobody/enrollment-tickets'), 404, 'not_found');
    });

    it('lists enrolled devices as {devices: [{device_id, name, created_at, push}]}', async () => {
      await svc.admin('PUT', '/admin/tenants/adm/users/erin', { name: 'Erin' });
      expect((await svc.admin('GET', '/admin/tenants/adm/users/erin/devices')).body).toEqual({ devices: [] });
      const ticket = await svc.admin('POST', '/admin/tenants/adm/users/erin/enrollment-tickets');
      const device = await TestDevice.create(fx.issuer);
      const before = Math.floor(Date.now() / 1000);
      const enrolled = await device.enroll(ticket.body.ticket, {
        name: 'Erin phone',
        push: { type: 'webhook', url: 'https://hooks.example.com/ciba' },
      });
      expect(enrolled.status).toBe(201);
      expect(enrolled.body).toEqual({ device_id: device.deviceId });

      const res = await svc.admin('GET', '/admin/tenants/adm/users/erin/devices');
      expect(res.status).toBe(200);
      expect(res.body.devices).toHaveLength(1);
      const [listed] = res.body.devices;
      expect(Object.keys(listed).sort()).toEqual(['created_at', 'device_id', 'name', 'push']);
      expect(listed).toMatchObject({ device_id: device.deviceId, name: 'Erin phone' });
      expect(listed.created_at).toBeGreaterThanOrEqual(before - 1);
      expect(listed.push).toMatchObject({ type: 'webhook' });
      expect((await svc.admin('GET', '/admin/tenants/adm/users/erin')).body.devices).toBe(1);
      expectError(await svc.admin('GET', '/admin/tenants/adm/users/nobody/devices'), 404, 'not_found');
    });

    it('revokes a device with 204: its proofs are then 401 invalid_dpop_proof, and a second revocation is 404', async () => {
      await svc.admin('PUT', '/admin/tenants/adm/users/frank', { name: 'Frank' });
      const device = await enrollDevice(svc, fx, 'frank');
      expect((await device.pending()).status).toBe(200);

      const path = `/admin/tenants/adm/users/frank/devices/${device.deviceId}`;
      expect((await svc.admin('DELETE', path)).status).toBe(204);
      const refused = await device.pending();
      expectError(refused, 401, 'invalid_dpop_proof');
      expect(refused.headers.get('www-authenticate')).toBe('DPoP error="invalid_dpop_proof"');
      expect((await svc.admin('GET', '/admin/tenants/adm/users/frank/devices')).body).toEqual({ devices: [] });
      expectError(await svc.admin('DELETE', path), 404, 'not_found');
      // Another user's device id under this user is not found either.
      const alices = await enrollDevice(svc, fx, 'alice');
      expectError(
        await svc.admin('DELETE', `/admin/tenants/adm/users/frank/devices/${alices.deviceId}`),
        404,
        'not_found',
      );
      expect((await alices.pending()).status).toBe(200);
    });
  });

  describe('requests', () => {
    it('shows a request pending, then approved with the signed evidence, then redeemed; never a token or secret', async () => {
      await svc.admin('PUT', '/admin/tenants/adm/users/gina', { name: 'Gina', email: 'gina@example.com' });
      const device = await enrollDevice(svc, fx, 'gina');
      const ack = await postForm(
        `${fx.issuer}/bc-authorize`,
        {
          scope: 'openid email',
          login_hint: 'gina',
          binding_message: 'Code 7Q',
          acr_values: 'urn:ciba-service:acr:device-key',
          client_notification_token: 'notification-token-that-must-not-show-0123456789',
        },
        fx.client,
      );
      expect(ack.status).toBe(200);
      const path = `/admin/tenants/adm/requests/${ack.body.auth_req_id}`;

      const pending = await svc.admin('GET', path);
      expect(pending.status).toBe(200);
      expect(pending.body).toMatchObject({
        state: 'pending',
        client_id: fx.client.client_id,
        sub: 'gina',
        scope: 'openid email',
        binding_message: 'Code 7Q',
        delivery_mode: 'poll',
      });
      expect(pending.body.evidence).toBeUndefined();

      const txn = await nextTxn(device);
      expect(pending.body.txn).toBe(txn);
      expect((await device.decide(txn, 'approve')).status).toBe(200);
      const approved = await svc.admin('GET', path);
      expect(approved.body.state).toBe('approved');
      expect(approved.body.evidence).toMatchObject({ device_id: device.deviceId, decision: 'approve' });
      expect(decodeJwt(approved.body.evidence.signed_proof)).toMatchObject({ txn, decision: 'approve', htm: 'POST' });
      expect(typeof approved.body.decided_at).toBe('number');

      const tokens = await postForm(
        `${fx.issuer}/oauth/token`,
        { grant_type: CIBA_GRANT, auth_req_id: ack.body.auth_req_id },
        fx.client,
      );
      expect(tokens.status).toBe(200);
      const redeemed = await svc.admin('GET', path);
      expect(redeemed.body.state).toBe('redeemed');

      for (const res of [pending, approved, redeemed]) {
        const text = JSON.stringify(res.body);
        for (const secret of [
          tokens.body.access_token,
          tokens.body.id_token,
          fx.client.client_secret,
          'notification-token-that-must-not-show-0123456789',
        ]) {
          expect(text).not.toContain(secret);
        }
        expect(Object.keys(res.body).filter((k) => /token|secret/i.test(k))).toEqual([]);
      }
    });

    it('shows a denied request as denied', async () => {
      await svc.admin('PUT', '/admin/tenants/adm/users/hank', { name: 'Hank' });
      const device = await enrollDevice(svc, fx, 'hank');
      const ack = await postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'hank' }, fx.client);
      await device.decide(await nextTxn(device), 'deny');
      const res = await svc.admin('GET', `/admin/tenants/adm/requests/${ack.body.auth_req_id}`);
      expect(res.body).toMatchObject({ state: 'denied', evidence: { decision: 'deny', device_id: device.deviceId } });
    });

    it('answers 404 for an unknown, a malformed and a tampered auth_req_id', async () => {
      const ack = await postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice' }, fx.client);
      const [txn] = ack.body.auth_req_id.split('.');
      for (const id of [
        'unknown',
        `${'A'.repeat(22)}.${'B'.repeat(27)}`,
        `${txn}.${'C'.repeat(27)}`,
        'B'.repeat(22),
        'x'.repeat(2000),
      ]) {
        expectError(await svc.admin('GET', `/admin/tenants/adm/requests/${id}`), 404, 'not_found', id.slice(0, 40));
      }
    });

    it('finds a request by its txn too (what logs and device pending show), within its tenant only', async () => {
      const ack = await postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice' }, fx.client);
      const [txn] = ack.body.auth_req_id.split('.');
      const byTxn = await svc.admin('GET', `/admin/tenants/adm/requests/${txn}`);
      expect(byTxn.status).toBe(200);
      expect(byTxn.body).toEqual((await svc.admin('GET', `/admin/tenants/adm/requests/${ack.body.auth_req_id}`)).body);
      expect(byTxn.body).toMatchObject({ txn, state: 'pending' });
      expect(JSON.stringify(byTxn.body)).not.toContain(ack.body.auth_req_id);
      await createTenantFixture(svc, 'adm-other');
      expectError(await svc.admin('GET', `/admin/tenants/adm-other/requests/${txn}`), 404, 'not_found');
    });
  });
});
