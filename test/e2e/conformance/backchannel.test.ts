import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../../helpers/expect-error.ts';
import {
  basicAuth,
  createTenantFixture,
  enrollDevice,
  nextTxn,
  postForm,
  reachableUsers,
  startTestService,
  type TenantFixture,
  type TestService,
} from '../../helpers/service.ts';

const CIBA = 'urn:openid:params:grant-type:ciba';

// The backchannel request (CIBA Core §7.1-§7.3, §13): shape and errors (cases 16-27), login hints (28-35),
// binding_message and user_code (36-40), requested_expiry (41-44); numbered as in the project's conformance checklist.
describe('conformance C-F: the backchannel authentication request', () => {
  let svc: TestService;
  let fx: TenantFixture;
  let bc: string;
  let valid: Record<string, string>;

  const post = (form: Record<string, string>, auth: TenantFixture['client'] | null = fx.client) =>
    postForm(bc, form, auth);

  beforeAll(async () => {
    svc = await startTestService();
    fx = await createTenantFixture(svc, 'bank', { user_rate_limit_per_minute: 1000 }, {}, { device: true });
    bc = `${fx.issuer}/bc-authorize`;
    valid = { scope: 'openid', login_hint: 'alice' };
  });
  afterAll(() => svc.stop());

  describe('C: shape and generic errors', () => {
    it('16: a valid request gets 200 JSON with a high-entropy auth_req_id, expires_in and interval as numbers, no-store', async () => {
      const res = await post(valid);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(Object.keys(res.body).sort()).toEqual(['auth_req_id', 'expires_in', 'interval']);
      expect(res.body.auth_req_id).toMatch(/^[A-Za-z0-9._-]+$/);
      // 22 + 27 base64url characters: 128 + 160 bits from the CSPRNG.
      expect(res.body.auth_req_id.length).toBeGreaterThanOrEqual(49);
      expect(res.body.expires_in).toBe(300);
      expect(res.body.interval).toBe(1);
    });

    it('17: two identical requests get two different auth_req_ids', async () => {
      const [a, b] = await Promise.all([post(valid), post(valid)]);
      expect(a.body.auth_req_id).not.toBe(b.body.auth_req_id);
    });

    it('18: accepts scopes in any order', async () => {
      expect((await post({ ...valid, scope: 'email openid' })).status).toBe(200);
    });

    it('19: GET is refused with 405 invalid_request, never 200', async () => {
      const res = await fetch(`${bc}?scope=openid&login_hint=alice`, {
        headers: { Authorization: basicAuth(fx.client.client_id, fx.client.client_secret) },
      });
      expect(res.status).toBe(405);
      expect((await res.json()).error).toBe('invalid_request');
    });

    it('20: a JSON body is invalid_request', async () => {
      const res = await fetch(bc, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Authorization: basicAuth(fx.client.client_id, fx.client.client_secret),
        },
        body: JSON.stringify(valid),
      });
      expect(res.status).toBe(400);
      expect((await res.json()).error).toBe('invalid_request');
    });

    it('21: a missing scope is invalid_request', async () => {
      expectError(await post({ login_hint: 'alice' }), 400, 'invalid_request');
    });

    it('22: a scope without openid is invalid_request', async () => {
      expectError(await post({ scope: 'email', login_hint: 'alice' }), 400, 'invalid_request');
    });

    it('23: an unknown scope is invalid_scope, not silently dropped', async () => {
      expectError(await post({ scope: 'openid nonexistent', login_hint: 'alice' }), 400, 'invalid_scope');
    });

    it('24: a repeated parameter is invalid_request', async () => {
      const res = await fetch(bc, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          Authorization: basicAuth(fx.client.client_id, fx.client.client_secret),
        },
        body: 'scope=openid&login_hint=alice&login_hint=bob',
      });
      expect(res.status).toBe(400);
      expect((await res.json()).error).toBe('invalid_request');
    });

    it('25: a client without the CIBA grant is unauthorized_client (registration requires it, so the store is edited directly)', async () => {
      const client = await svc.service.deps.clients.get('bank', fx.client.client_id);
      await svc.service.deps.clients.delete('bank', fx.client.client_id);
      await svc.service.deps.clients.create({ ...client!, grantTypes: ['authorization_code'] });
      try {
        expectError(await post(valid), 400, 'unauthorized_client');
      } finally {
        await svc.service.deps.clients.delete('bank', fx.client.client_id);
        await svc.service.deps.clients.create(client!);
      }
    });

    it('26: a request over the per-user rate limit is 403 access_denied with a reason, and no device is notified', async () => {
      const limited = await createTenantFixture(svc, 'limited', { user_rate_limit_per_minute: 2 });
      const device = await enrollDevice(svc, limited);
      const url = `${limited.issuer}/bc-authorize`;
      // The per-user budget counts in fixed minutes: a burst across a minute boundary would be admitted 3 or 4 times.
      // The service's clock stands in the middle of this minute while the burst is counted.
      const { clock } = svc.service.deps;
      const realNow = clock.now;
      const midMinute = Math.floor(Date.now() / 60_000) * 60_000 + 30_000;
      clock.now = () => midMinute;
      let results: Awaited<ReturnType<typeof postForm>>[];
      try {
        results = await Promise.all(Array.from({ length: 6 }, () => postForm(url, valid, limited.client)));
      } finally {
        clock.now = realNow;
      }
      expect(results.filter((r) => r.status === 200)).toHaveLength(2);
      const refused = results.filter((r) => r.status !== 200);
      for (const r of refused) expectError(r, 403, 'access_denied');
      expect(refused[0]!.body.error_description).toMatch(
        /too many authentication requests for this user: at most 2 per minute/,
      );
      expect((await device.pending()).body.transactions).toHaveLength(2);
    });

    it('27: request, request_uri and registration are invalid_request while signed requests are not enabled', async () => {
      for (const name of ['request', 'request_uri', 'registration']) {
        expectError(await post({ ...valid, [name]: 'x' }), 400, 'invalid_request');
      }
    });
  });

  describe('D: login hints', () => {
    it('28: no hint is invalid_request', async () => {
      expectError(await post({ scope: 'openid' }), 400, 'invalid_request');
    });

    it('29: more than one hint is invalid_request', async () => {
      expectError(await post({ ...valid, id_token_hint: 'x' }), 400, 'invalid_request');
      expectError(await post({ ...valid, login_hint_token: 'x' }), 400, 'invalid_request');
      expectError(await post({ ...valid, login_hint_token: 'x', id_token_hint: 'y' }), 400, 'invalid_request');
    });

    it('30: an unknown user is unknown_user_id, in every hint format', async () => {
      for (const hint of [
        'nobody',
        'sub:nobody',
        'email:nobody@example.com',
        'phone:+15555559999',
        'device:nope',
        JSON.stringify({ format: 'iss_sub', iss: fx.issuer, sub: 'nobody' }),
      ]) {
        expectError(await post({ scope: 'openid', login_hint: hint }), 400, 'unknown_user_id');
      }
    });

    it('resolves every login_hint format of docs/clients.md: sub, sub:, email: (case-insensitive), phone:, device:, and iss_sub JSON', async () => {
      const device = await enrollDevice(svc, fx);
      for (const hint of [
        'alice',
        'sub:alice',
        'email:ALICE@example.COM',
        'alice@example.com',
        'phone:+15555550100',
        `device:${device.deviceId}`,
        JSON.stringify({ format: 'iss_sub', iss: fx.issuer, sub: 'alice' }),
      ]) {
        const res = await post({ scope: 'openid', login_hint: hint });
        expect(res.status, hint).toBe(200);
      }
    });

    it("refuses an iss_sub hint naming another issuer as unknown_user_id (Auth0's format)", async () => {
      const hint = JSON.stringify({ format: 'iss_sub', iss: 'https://other.example/', sub: 'alice' });
      expectError(await post({ scope: 'openid', login_hint: hint }), 400, 'unknown_user_id');
    });

    it('refuses a phone hint that is not E.164 as invalid_request', async () => {
      expectError(await post({ scope: 'openid', login_hint: 'phone:555-0100' }), 400, 'invalid_request');
    });

    it('31-32: login_hint_token is refused with invalid_request until login_hint_token support lands (issue 4)', async () => {
      expectError(await post({ scope: 'openid', login_hint_token: 'eyJ.x.y' }), 400, 'invalid_request');
    });

    describe('33-35: id_token_hint', () => {
      let idToken: string;
      beforeAll(async () => {
        const device = await enrollDevice(svc, fx);
        const ack = await post(valid);
        const txn = await nextTxn(device);
        await device.decide(txn, 'approve');
        const tokens = await postForm(
          `${fx.issuer}/oauth/token`,
          { grant_type: CIBA, auth_req_id: ack.body.auth_req_id },
          fx.client,
        );
        idToken = tokens.body.id_token;
        // Leave no pending request behind for the other tests' devices.
        for (const t of (await device.pending()).body.transactions) await device.decide(t.txn, 'deny');
      });

      it('33: an ID token this tenant issued to this client names the user', async () => {
        expect((await post({ scope: 'openid', id_token_hint: idToken })).status).toBe(200);
      });

      it('34: an ID token for another client, from another issuer, or garbage is invalid_request', async () => {
        const other = await createTenantFixture(svc, 'other-bank');
        // Same user, other tenant: signed by another key and issuer.
        expectError(
          await postForm(`${other.issuer}/bc-authorize`, { scope: 'openid', id_token_hint: idToken }, other.client),
          400,
          'invalid_request',
        );
        const second = await svc.admin('POST', '/admin/tenants/bank/clients', {
          grant_types: [CIBA],
          backchannel_token_delivery_mode: 'poll',
        });
        expectError(
          await postForm(bc, { scope: 'openid', id_token_hint: idToken }, second.body),
          400,
          'invalid_request',
        );
        expectError(await post({ scope: 'openid', id_token_hint: 'garbage' }), 400, 'invalid_request');
        const [h, p] = idToken.split('.');
        expectError(await post({ scope: 'openid', id_token_hint: `${h}.${p}.AAAA` }), 400, 'invalid_request');
      });

      it('35: an expired ID token still names the user (its exp is not a reason to refuse the hint)', async () => {
        // The hint is checked by signature, iss and aud only; an hour later it is still accepted.
        const realNow = Date.now;
        const later = Date.now() + 2 * 3600_000;
        svc.service.deps.clock.now = () => later;
        try {
          expect((await post({ scope: 'openid', id_token_hint: idToken })).status).toBe(200);
        } finally {
          svc.service.deps.clock.now = () => realNow();
        }
      });
    });
  });

  describe('E: binding_message and user_code', () => {
    it('36: a simple binding message is accepted and shown to the device as sent', async () => {
      const device = await enrollDevice(svc, fx);
      expect((await post({ ...valid, binding_message: '1234' })).status).toBe(200);
      const txns = (await device.pending()).body.transactions;
      expect(txns.map((t: { binding_message?: string }) => t.binding_message)).toContain('1234');
      for (const t of txns) await device.decide(t.txn, 'deny');
    });

    it('37: Unicode messages are accepted NFC-normalized; too long or invisible/bidi characters are invalid_binding_message', async () => {
      expect((await post({ ...valid, binding_message: '1234 👍🏿 品川 Lor' })).status).toBe(200);
      expect((await post({ ...valid, binding_message: 'Café e\u0301' })).status).toBe(200);
      expectError(await post({ ...valid, binding_message: 'x'.repeat(65) }), 400, 'invalid_binding_message');
      expect((await post({ ...valid, binding_message: '👍🏿'.repeat(64) })).status).toBe(200);
      for (const bad of ['pay\u202Eevil', 'zero\u200Bwidth', 'line\nbreak', 'bell\u0007', 'private\uE000use', '   ']) {
        expectError(await post({ ...valid, binding_message: bad }), 400, 'invalid_binding_message');
      }
    });

    it('a tenant that requires a binding message refuses a request without one as invalid_request', async () => {
      const strict = await createTenantFixture(
        svc,
        'strict',
        { binding_message_required: true, binding_message_max_length: 10 },
        {},
        { device: true },
      );
      expectError(await postForm(`${strict.issuer}/bc-authorize`, valid, strict.client), 400, 'invalid_request');
      expectError(
        await postForm(`${strict.issuer}/bc-authorize`, { ...valid, binding_message: '12345678901' }, strict.client),
        400,
        'invalid_binding_message',
      );
      expect(
        (await postForm(`${strict.issuer}/bc-authorize`, { ...valid, binding_message: '1234567890' }, strict.client))
          .status,
      ).toBe(200);
    });

    describe('38-40: user_code', () => {
      let codeClient: TenantFixture['client'];
      beforeAll(async () => {
        await svc.admin('PUT', '/admin/tenants/bank/users/bob', { name: 'Bob', user_code: '4242' });
        await reachableUsers(svc, fx, 'bob');
        const c = await svc.admin('POST', '/admin/tenants/bank/clients', {
          grant_types: [CIBA],
          backchannel_token_delivery_mode: 'poll',
          backchannel_user_code_parameter: true,
        });
        expect(c.body.backchannel_user_code_parameter).toBe(true);
        codeClient = c.body;
      });

      it('38: a user-code client without user_code gets missing_user_code', async () => {
        expectError(await postForm(bc, { scope: 'openid', login_hint: 'bob' }, codeClient), 400, 'missing_user_code');
      });

      it('39: a wrong user_code is invalid_user_code; the right one is accepted', async () => {
        expectError(
          await postForm(bc, { scope: 'openid', login_hint: 'bob', user_code: '0000' }, codeClient),
          400,
          'invalid_user_code',
        );
        expect((await postForm(bc, { scope: 'openid', login_hint: 'bob', user_code: '4242' }, codeClient)).status).toBe(
          200,
        );
      });

      it('39b: a user without a user_code cannot satisfy a user-code client', async () => {
        expectError(
          await postForm(bc, { scope: 'openid', login_hint: 'alice', user_code: '4242' }, codeClient),
          400,
          'invalid_user_code',
        );
      });

      it('40: a client registered without backchannel_user_code_parameter has user_code ignored, never missing_user_code', async () => {
        expect((await post({ scope: 'openid', login_hint: 'bob', user_code: 'whatever' })).status).toBe(200);
        expect((await post({ scope: 'openid', login_hint: 'bob' })).status).toBe(200);
      });
    });
  });

  describe('F: requested_expiry', () => {
    it('41: requested_expiry is honoured up to the tenant maximum and the effective value returned', async () => {
      expect((await post({ ...valid, requested_expiry: '120' })).body.expires_in).toBe(120);
      expect((await post({ ...valid, requested_expiry: '300' })).body.expires_in).toBe(300);
      expect((await post({ ...valid, requested_expiry: '86400' })).body.expires_in).toBe(300);
    });

    it('42: 0, negative, non-numeric and fractional values are invalid_request', async () => {
      for (const value of ['0', '-5', 'abc', '1.5', '1e3']) {
        expectError(await post({ ...valid, requested_expiry: value }), 400, 'invalid_request');
      }
    });

    it('44: polling after expires_in is expired_token', async () => {
      const ack = await post({ ...valid, requested_expiry: '1' });
      await new Promise((r) => setTimeout(r, 1100));
      const res = await postForm(
        `${fx.issuer}/oauth/token`,
        { grant_type: CIBA, auth_req_id: ack.body.auth_req_id },
        fx.client,
      );
      expectError(res, 400, 'expired_token');
    });
  });
});
