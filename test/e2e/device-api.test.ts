import { randomUUID } from 'node:crypto';
import { base64url, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, type HttpAnswer, rawRequest } from '../helpers/expect-error.ts';
import {
  CIBA_GRANT,
  createTenantFixture,
  enrollDevice,
  postForm,
  reachableUsers,
  startTestService,
  type TenantFixture,
  TestDevice,
  type TestService,
} from '../helpers/service.ts';

const DOCUMENTED_FIELDS = [
  'txn',
  'client_id',
  'client_name',
  'binding_message',
  'scope',
  'acr_values',
  'authorization_details',
  'kind',
  'display',
  'created_at',
  'expires_at',
];

const expectDpopError = (res: HttpAnswer, label = '') => {
  expectError(res, 401, 'invalid_dpop_proof', label);
  expect(res.headers.get('www-authenticate'), label).toBe('DPoP error="invalid_dpop_proof"');
};

describe('the device API (docs/device-api.md)', () => {
  let svc: TestService;
  let fx: TenantFixture;
  let device: TestDevice;

  /** Starts a request for `sub` and returns its auth_req_id. */
  const start = async (form: Record<string, string> = {}, sub = 'alice') => {
    const res = await postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: sub, ...form }, fx.client);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.auth_req_id as string;
  };
  const txnOf = (authReqId: string) => authReqId.split('.')[0]!;
  const poll = (authReqId: string) =>
    postForm(`${fx.issuer}/oauth/token`, { grant_type: CIBA_GRANT, auth_req_id: authReqId }, fx.client);

  beforeAll(async () => {
    svc = await startTestService();
    fx = await createTenantFixture(svc, 'dev', { user_rate_limit_per_minute: 10_000 });
    device = await enrollDevice(svc, fx);
  });
  afterAll(() => svc.stop());

  describe('DPoP proofs: every failure is 401 invalid_dpop_proof with WWW-Authenticate', () => {
    const listUrl = () => `${fx.issuer}/device/transactions`;
    const callWith = (dpop: string | undefined, url = listUrl(), method = 'GET') =>
      rawRequest(url, { method, headers: dpop === undefined ? {} : { DPoP: dpop } });

    /** An enrolled key held by the test itself, to sign proofs with any header and payload. */
    let own: { privateKey: CryptoKey; jwk: Record<string, unknown> };
    const sign = (payload: Record<string, unknown>, header: Record<string, unknown> = {}, key = own.privateKey) =>
      new SignJWT({ htm: 'GET', htu: listUrl(), jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...payload })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: own.jwk, ...header })
        .sign(key);

    beforeAll(async () => {
      const { privateKey, publicKey } = await generateKeyPair('ES256');
      const { kty, crv, x, y } = await exportJWK(publicKey);
      own = { privateKey, jwk: { kty, crv, x, y } };
      const ticket = await svc.admin('POST', `/admin/tenants/${fx.tenant}/users/alice/enrollment-tickets`);
      const url = `${fx.issuer}/device/enrollments`;
      const res = await rawRequest(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', DPoP: await sign({ htm: 'POST', htu: url }) },
        body: JSON.stringify({ ticket: ticket.body.ticket }),
      });
      expect(res.status).toBe(201);
      expect((await callWith(await sign({}))).status).toBe(200);
    });

    it('accepts a valid proof by the enrolled key (the baseline for the refusals below)', async () => {
      const res = await callWith(await device.proof('GET', listUrl()));
      expect(res.status).toBe(200);
    });

    it('refuses a missing proof', async () => {
      expectDpopError(await callWith(undefined));
      expectDpopError(await callWith(''));
    });

    it('refuses malformed proofs', async () => {
      const valid = await device.proof('GET', listUrl());
      const [h, p, s] = valid.split('.');
      for (const proof of [
        'garbage',
        'a.b.c',
        `${h}.${p}`,
        `${h}.${p}.`,
        `${h}.${p}.${s!.slice(0, -4)}AAAA`,
        `${h}.${base64url.encode(JSON.stringify({ htm: 'GET', htu: listUrl(), jti: randomUUID(), iat: 1 }))}.${s}`,
        `${valid}, ${valid}`,
        `Bearer ${valid}`,
        `${base64url.encode('{"alg":"ES256"')}.${p}.${s}`,
      ]) {
        expectDpopError(await callWith(proof), proof.slice(0, 30));
      }
    });

    it('refuses a proof with a wrong or missing typ, even signed by the enrolled key', async () => {
      for (const typ of ['JWT', 'at+jwt', 'DPOP+JWT ', undefined]) {
        expectDpopError(await callWith(await sign({}, { typ })), String(typ));
      }
    });

    it('refuses alg HS256 and alg none', async () => {
      const payload = { htm: 'GET', htu: listUrl(), jti: randomUUID(), iat: Math.floor(Date.now() / 1000) };
      const hs = await new SignJWT(payload)
        .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: own.jwk })
        .sign(new TextEncoder().encode('a-shared-secret-of-at-least-32-bytes!!'));
      expectDpopError(await callWith(hs), 'HS256');
      const none = `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'dpop+jwt', jwk: own.jwk }))}.${base64url.encode(JSON.stringify(payload))}.`;
      expectDpopError(await callWith(none), 'none');
    });

    it('refuses a valid proof by a key that is not enrolled', async () => {
      const stranger = await TestDevice.create(fx.issuer);
      expectDpopError(await stranger.pending());
      const { privateKey, publicKey } = await generateKeyPair('ES256');
      const { kty, crv, x, y } = await exportJWK(publicKey);
      expectDpopError(await callWith(await sign({}, { jwk: { kty, crv, x, y } }, privateKey)));
      // The enrolled public key in the header, signed by another key.
      expectDpopError(await callWith(await sign({}, {}, privateKey)));
    });

    it('refuses a proof carrying a private key or a key of another curve', async () => {
      const { privateKey } = await generateKeyPair('ES256', { extractable: true });
      const priv = await exportJWK(privateKey);
      expectDpopError(await callWith(await sign({}, { jwk: priv }, privateKey)), 'private jwk');
      const rsa = await generateKeyPair('RS256');
      const rsaJwk = await exportJWK(rsa.publicKey);
      const rsaProof = await new SignJWT({ htm: 'GET', htu: listUrl(), jti: randomUUID() })
        .setProtectedHeader({ alg: 'RS256', typ: 'dpop+jwt', jwk: rsaJwk })
        .setIssuedAt()
        .sign(rsa.privateKey);
      expectDpopError(await callWith(rsaProof), 'RS256');
    });

    it('refuses an htm that does not match the method', async () => {
      for (const htm of ['POST', 'get', 'PUT', '']) {
        expectDpopError(await callWith(await device.proof(htm, listUrl())), htm);
      }
    });

    it('refuses an htu that does not match the URL: another path, another host, with a query string or a fragment', async () => {
      const url = new URL(listUrl());
      const otherHost = `http://localhost:${url.port}${url.pathname}`;
      for (const htu of [
        `${fx.issuer}/device/transactions/other`,
        `${fx.issuer}/device/enrollments`,
        `${svc.url}/other-tenant/device/transactions`,
        otherHost,
        `https://${url.host}${url.pathname}`,
        `${listUrl()}?x=1`,
        `${listUrl()}#frag`,
        `${listUrl()}/`,
        url.pathname,
      ]) {
        expectDpopError(await callWith(await device.proof('GET', htu)), htu);
      }
    });

    it('checks htu without the query of the request URL', async () => {
      const res = await callWith(await device.proof('GET', listUrl()), `${listUrl()}?page=2`);
      expect(res.status).toBe(200);
    });

    it('refuses an iat 61 s in the past or the future, or missing, and accepts 50 s', async () => {
      // Whole seconds rounded away from the server's clock, so the distance is at least 61 s when the proof is
      // checked: Math.floor(now) + 61 can be only 60.01 s ahead.
      expectDpopError(
        await callWith(await device.proof('GET', listUrl(), {}, Math.floor(Date.now() / 1000) - 61)),
        'past',
      );
      expectDpopError(
        await callWith(await device.proof('GET', listUrl(), {}, Math.ceil(Date.now() / 1000) + 61)),
        'future',
      );
      const now = Math.floor(Date.now() / 1000);
      expectDpopError(await callWith(await sign({ iat: String(now) })), 'string iat');
      expectDpopError(await callWith(await sign({ iat: undefined })), 'no iat');
      expect((await callWith(await device.proof('GET', listUrl(), {}, now - 50))).status).toBe(200);
      expect((await callWith(await device.proof('GET', listUrl(), {}, now + 50))).status).toBe(200);
    });

    it('refuses a missing or malformed jti', async () => {
      expectDpopError(await callWith(await sign({ jti: undefined })), 'no jti');
      expectDpopError(await callWith(await sign({ jti: 42 })), 'numeric jti');
      expectDpopError(await callWith(await sign({ jti: 'short' })), 'short jti');
      expectDpopError(await callWith(await sign({ jti: 'j'.repeat(129) })), 'long jti');
    });

    it('refuses a replayed proof (the same jti twice), also when replayed in parallel', async () => {
      const proof = await device.proof('GET', listUrl());
      expect((await callWith(proof)).status).toBe(200);
      expectDpopError(await callWith(proof));

      const fresh = await device.proof('GET', listUrl());
      const results = await Promise.all(Array.from({ length: 10 }, () => callWith(fresh)));
      expect(results.filter((r) => r.status === 200)).toHaveLength(1);
      for (const r of results.filter((r) => r.status !== 200)) expectDpopError(r);
    });

    it('applies the same checks to consent details, decisions and enrollment', async () => {
      const txn = txnOf(await start());
      const detailsUrl = `${fx.issuer}/device/transactions/${txn}`;
      expectDpopError(await rawRequest(detailsUrl));
      expectDpopError(await callWith(await device.proof('GET', listUrl()), detailsUrl));
      expectDpopError(
        await rawRequest(detailsUrl, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: '{"decision":"approve"}',
        }),
      );
      const enrollUrl = `${fx.issuer}/device/enrollments`;
      expectDpopError(
        await rawRequest(enrollUrl, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: '{"ticket":"x"}',
        }),
      );
      // The request is untouched by all of this.
      expect((await device.call('GET', `/device/transactions/${txn}`)).body.status).toBe('pending');
    });
  });

  describe('enrollment', () => {
    const ticketFor = async (tenant = fx.tenant, sub = 'alice') =>
      (await svc.admin('POST', `/admin/tenants/${tenant}/users/${sub}/enrollment-tickets`)).body.ticket as string;

    it('enrolls a key once per ticket: a second enrollment with the same ticket by another key is 400', async () => {
      const ticket = await ticketFor();
      const first = await TestDevice.create(fx.issuer);
      const res = await first.enroll(ticket);
      expect(res.status).toBe(201);
      expect(res.body).toEqual({ device_id: first.deviceId });
      expect(first.deviceId).toMatch(/^[A-Za-z0-9_-]{43}$/);

      const second = await TestDevice.create(fx.issuer);
      expectError(await second.enroll(ticket), 400, 'invalid_request');
      expectDpopError(await second.pending());
    });

    it('lets exactly one of 10 parallel enrollments with one ticket succeed', async () => {
      await svc.admin('PUT', `/admin/tenants/${fx.tenant}/users/racer`, { name: 'Racer' });
      const ticket = await ticketFor(fx.tenant, 'racer');
      const devices = await Promise.all(Array.from({ length: 10 }, () => TestDevice.create(fx.issuer)));
      const results = await Promise.all(devices.map((d) => d.enroll(ticket)));
      expect(results.filter((r) => r.status === 201)).toHaveLength(1);
      for (const r of results.filter((r) => r.status !== 201)) expectError(r, 400, 'invalid_request');
      const listed = await svc.admin('GET', `/admin/tenants/${fx.tenant}/users/racer/devices`);
      expect(listed.body.devices).toHaveLength(1);
    });

    it("refuses tenant A's ticket at tenant B, and the ticket still works at A", async () => {
      const other = await createTenantFixture(svc, 'dev-b');
      const ticket = await ticketFor();
      const atB = await TestDevice.create(other.issuer);
      const refused = await atB.enroll(ticket);
      expect(refused.status).toBe(400);
      expectError(refused, 400, 'invalid_request');
      expect((await svc.admin('GET', '/admin/tenants/dev-b/users/alice/devices')).body.devices).toEqual([]);

      const atA = await TestDevice.create(fx.issuer);
      expect((await atA.enroll(ticket)).status).toBe(201);
    });

    it('refuses to enroll the same key twice with 409, without burning the second ticket', async () => {
      const key = await TestDevice.create(fx.issuer);
      expect((await key.enroll(await ticketFor())).status).toBe(201);
      const second = await ticketFor();
      expectError(await key.enroll(second), 409, 'conflict');
      const fresh = await TestDevice.create(fx.issuer);
      expect((await fresh.enroll(second)).status).toBe(201);
    });

    it('refuses unknown tickets and invalid enrollment bodies with 400', async () => {
      const d = await TestDevice.create(fx.issuer);
      expectError(await d.enroll('no-such-ticket'), 400, 'invalid_request');
      const ticket = await ticketFor();
      for (const extra of [
        { unknown: 1 },
        { name: 42 },
        { name: '' },
        { name: 'x'.repeat(65) },
        { push: { type: 'carrier-pigeon' } },
        { push: { type: 'webhook', url: 'ftp://example.com/' } },
        { push: { type: 'fcm' } },
        { ticket: 42 },
      ]) {
        const fresh = await TestDevice.create(fx.issuer);
        expectError(await fresh.enroll(ticket, extra), 400, 'invalid_request', JSON.stringify(extra));
      }
      // None of the invalid bodies consumed the ticket.
      expect((await d.enroll(ticket)).status).toBe(201);
    });
  });

  describe('transactions', () => {
    let bob: TestDevice;

    beforeAll(async () => {
      await svc.admin('PUT', `/admin/tenants/${fx.tenant}/users/bob`, { name: 'Bob' });
      bob = await enrollDevice(svc, fx, 'bob');
    });

    it('lists pending transactions newest first with exactly the documented fields, and never an auth_req_id', async () => {
      const first = await start({ binding_message: 'First 1', acr_values: 'urn:ciba-service:acr:device-key' }, 'bob');
      await new Promise((r) => setTimeout(r, 20));
      const second = await start({ scope: 'openid email profile' }, 'bob');
      await new Promise((r) => setTimeout(r, 20));
      const third = await start({ binding_message: 'Third 3' }, 'bob');

      let res = await bob.pending();
      for (let i = 0; i < 20 && res.body.transactions.length < 3; i++) {
        await new Promise((r) => setTimeout(r, 50));
        res = await bob.pending();
      }
      expect(res.status).toBe(200);
      expect(Object.keys(res.body)).toEqual(['transactions']);
      const txns = res.body.transactions;
      expect(txns.map((t: { txn: string }) => t.txn)).toEqual([third, second, first].map(txnOf));
      for (const t of txns) {
        expect(Object.keys(t).filter((k) => !DOCUMENTED_FIELDS.includes(k))).toEqual([]);
        expect(t).toMatchObject({ client_id: fx.client.client_id, client_name: 'Test Console' });
        expect(Number.isInteger(t.created_at)).toBe(true);
        expect(t.expires_at - t.created_at).toBe(300);
      }
      expect(txns[2]).toEqual({
        txn: txnOf(first),
        client_id: fx.client.client_id,
        client_name: 'Test Console',
        binding_message: 'First 1',
        scope: 'openid',
        acr_values: 'urn:ciba-service:acr:device-key',
        kind: 'identity_check',
        created_at: txns[2].created_at,
        expires_at: txns[2].expires_at,
      });
      expect(txns[1].scope).toBe('openid email profile');
      expect(txns[1].binding_message).toBeUndefined();

      const raw = await rawRequest(`${fx.issuer}/device/transactions`, {
        headers: { DPoP: await bob.proof('GET', `${fx.issuer}/device/transactions`) },
      });
      for (const id of [first, second, third]) {
        expect(raw.text).not.toContain(id);
        expect(raw.text).not.toContain(id.split('.')[1]);
      }
      for (const t of txns) await bob.decide(t.txn, 'deny');
      expect((await bob.pending()).body.transactions).toEqual([]);
    });

    it('shows consent details of a transaction, without its auth_req_id', async () => {
      const id = await start({ binding_message: 'Pay 12 EUR', scope: 'openid email' }, 'bob');
      const txn = txnOf(id);
      const url = `${fx.issuer}/device/transactions/${txn}`;
      const raw = await rawRequest(url, { headers: { DPoP: await bob.proof('GET', url) } });
      expect(raw.status).toBe(200);
      expect(raw.body).toMatchObject({
        txn,
        client_id: fx.client.client_id,
        client_name: 'Test Console',
        binding_message: 'Pay 12 EUR',
        scope: 'openid email',
      });
      expect(Object.keys(raw.body).filter((k) => ![...DOCUMENTED_FIELDS, 'status'].includes(k))).toEqual([]);
      expect(raw.text).not.toContain(id);
      expect(raw.text).not.toContain(id.split('.')[1]);
      await bob.decide(txn, 'deny');
    });

    it('answers a decision with 200 {txn, status}; the same decision again answers the same; another is 409', async () => {
      const txn = txnOf(await start({}, 'bob'));
      const approve = await bob.decide(txn, 'approve');
      expect(approve.status).toBe(200);
      expect(approve.body).toEqual({ txn, status: 'approved' });
      expect(await bob.decide(txn, 'approve')).toMatchObject({ status: 200, body: { txn, status: 'approved' } });
      expectError(await bob.decide(txn, 'deny'), 409, 'request_not_pending');
      expect((await bob.call('GET', `/device/transactions/${txn}`)).body.status).toBe('approved');

      const denied = txnOf(await start({}, 'bob'));
      expect(await bob.decide(denied, 'deny')).toMatchObject({ status: 200, body: { txn: denied, status: 'denied' } });
      expect(await bob.decide(denied, 'deny')).toMatchObject({ status: 200, body: { txn: denied, status: 'denied' } });
      expectError(await bob.decide(denied, 'approve'), 409, 'request_not_pending');
    });

    it('refuses a decision on a redeemed request with 409 after its tokens were issued', async () => {
      const id = await start({}, 'bob');
      await bob.decide(txnOf(id), 'approve');
      expect((await poll(id)).status).toBe(200);
      expectError(await bob.decide(txnOf(id), 'deny'), 409, 'request_not_pending');
    });

    it('refuses a decision on an expired request with 409, and the poll says expired_token', async () => {
      const id = await start({ requested_expiry: '1' }, 'bob');
      await new Promise((r) => setTimeout(r, 1200));
      expectError(await bob.decide(txnOf(id), 'approve'), 409, 'request_not_pending');
      expectError(await poll(id), 400, 'expired_token');
      expect((await bob.pending()).body.transactions.map((t: { txn: string }) => t.txn)).not.toContain(txnOf(id));
    });

    it('answers 404 not_found for an unknown txn, for details and decisions alike', async () => {
      for (const txn of ['A'.repeat(22), 'unknown', 'x'.repeat(500), 'dots.and~tilde']) {
        expectError(await bob.call('GET', `/device/transactions/${txn}`), 404, 'not_found', txn);
        expectError(await bob.decide(txn, 'approve'), 404, 'not_found', txn);
      }
    });

    it("answers 404 for another user's txn, identical to an unknown one, and leaves it pending", async () => {
      const txn = txnOf(await start({}, 'alice'));
      const foreign = await bob.call('GET', `/device/transactions/${txn}`);
      const unknown = await bob.call('GET', `/device/transactions/${'Z'.repeat(22)}`);
      expect(foreign).toMatchObject({ status: 404, body: unknown.body });
      expect(await bob.decide(txn, 'approve')).toMatchObject({ status: 404, body: unknown.body });
      expect((await device.call('GET', `/device/transactions/${txn}`)).body.status).toBe('pending');
      await device.decide(txn, 'deny');
    });

    it('refuses a decision whose proof names another decision or another txn with 401, and records nothing', async () => {
      const txn = txnOf(await start({}, 'bob'));
      const other = txnOf(await start({}, 'bob'));
      const url = `${fx.issuer}/device/transactions/${txn}`;
      const wrongDecision = await bob.call(
        'POST',
        `/device/transactions/${txn}`,
        { decision: 'approve' },
        await bob.proof('POST', url, { txn, decision: 'deny' }),
      );
      expectDpopError(wrongDecision, 'decision');
      const wrongTxn = await bob.call(
        'POST',
        `/device/transactions/${txn}`,
        { decision: 'approve' },
        await bob.proof('POST', url, { txn: other, decision: 'approve' }),
      );
      expectDpopError(wrongTxn, 'txn');
      expect((await bob.call('GET', `/device/transactions/${txn}`)).body.status).toBe('pending');
      expect((await bob.decide(txn, 'deny')).body).toEqual({ txn, status: 'denied' });
      await bob.decide(other, 'deny');
    });

    it('a replayed decision proof changes nothing: the same answer, the first proof stays the evidence, another body is 401', async () => {
      const id = await start({ binding_message: 'replay' }, 'bob');
      const txn = txnOf(id);
      const url = `${fx.issuer}/device/transactions/${txn}`;
      const proof = await bob.proof('POST', url, { txn, decision: 'approve' });
      const send = (decision: string) => bob.call('POST', `/device/transactions/${txn}`, { decision }, proof);
      expect(await send('approve')).toMatchObject({ status: 200, body: { txn, status: 'approved' } });
      const view = async () => (await svc.admin('GET', `/admin/tenants/${fx.tenant}/requests/${id}`)).body;
      const first = await view();
      expect(first.evidence.signed_proof).toBe(proof);
      // Replayed, also in parallel: what the same decision again answers, and nothing stored changes.
      const replays = await Promise.all(Array.from({ length: 5 }, () => send('approve')));
      for (const r of replays) expect(r).toMatchObject({ status: 200, body: { txn, status: 'approved' } });
      // With another body the proof's decision claim no longer matches.
      expectDpopError(await send('deny'), 'replayed with another decision');
      expect(await view()).toEqual(first);
      expect((await poll(id)).status).toBe(200);
    });

    it('refuses the decision of a device removed a moment ago (its record is read, strongly consistent)', async () => {
      const [carol] = (await reachableUsers(svc, fx, 'carol')) as [TestDevice];
      const id = await start({}, 'carol');
      const txn = txnOf(id);
      const proof = await carol.proof('POST', `${fx.issuer}/device/transactions/${txn}`, { txn, decision: 'approve' });
      const removed = await svc.admin('DELETE', `/admin/tenants/${fx.tenant}/users/carol/devices/${carol.deviceId}`);
      expect(removed.status).toBe(204);
      expectDpopError(await carol.call('POST', `/device/transactions/${txn}`, { decision: 'approve' }, proof));
      expect((await svc.admin('GET', `/admin/tenants/${fx.tenant}/requests/${id}`)).body.state).toBe('pending');
    });

    it('spends the proof of a decision that carries a binding code: its replay is 401, whatever the body', async () => {
      const coded = await createTenantFixture(svc, 'dev-coded', {
        binding_code_confirmation: true,
        user_rate_limit_per_minute: 10_000,
      });
      const [dana] = (await reachableUsers(svc, coded, 'dana')) as [TestDevice];
      const ack = await postForm(
        `${coded.issuer}/bc-authorize`,
        { scope: 'openid', login_hint: 'dana', binding_message: 'K7' },
        coded.client,
      );
      const txn = txnOf(ack.body.auth_req_id);
      const proof = await dana.proof('POST', `${coded.issuer}/device/transactions/${txn}`, {
        txn,
        decision: 'approve',
      });
      const send = (code: string) =>
        dana.call('POST', `/device/transactions/${txn}`, { decision: 'approve', binding_code: code }, proof);
      expect(await send('ZZ')).toMatchObject({
        status: 400,
        body: { error: 'invalid_binding_code', attempts_left: 2 },
      });
      // Replayed with other codes, the proof counts nothing more: the request is still pending with attempts left.
      expectDpopError(await send('ZY'), 'replayed with another code');
      expectDpopError(await send('K7'), 'replayed with the right code');
      expect((await dana.call('GET', `/device/transactions/${txn}`)).body.status).toBe('pending');
      expect(await dana.decide(txn, 'deny')).toMatchObject({ status: 200, body: { txn, status: 'denied' } });
    });

    it('hardening rule 11: refuses a decision whose proof lacks the txn or decision claim with 401, and records nothing', async () => {
      const txn = txnOf(await start({}, 'bob'));
      const url = `${fx.issuer}/device/transactions/${txn}`;
      for (const [label, claims] of [
        ['neither claim', {}],
        ['no txn claim', { decision: 'approve' }],
        ['no decision claim', { txn }],
        ['a txn claim that is not a string', { txn: [txn], decision: 'approve' }],
      ] as const) {
        const answer = await bob.call(
          'POST',
          `/device/transactions/${txn}`,
          { decision: 'approve' },
          await bob.proof('POST', url, claims),
        );
        expectDpopError(answer, label);
      }
      expect((await bob.call('GET', `/device/transactions/${txn}`)).body.status).toBe('pending');
      expect((await bob.decide(txn, 'approve')).body).toEqual({ txn, status: 'approved' });
    });

    it('refuses invalid decision bodies with 400 and leaves the request pending', async () => {
      const txn = txnOf(await start({}, 'bob'));
      for (const body of [
        {},
        { decision: 'maybe' },
        { decision: 'APPROVE' },
        { decision: true },
        { decision: 'approve', extra: 1 },
        [],
      ]) {
        expectError(
          await bob.call('POST', `/device/transactions/${txn}`, body),
          400,
          'invalid_request',
          JSON.stringify(body),
        );
      }
      expect((await bob.call('GET', `/device/transactions/${txn}`)).body.status).toBe('pending');
      await bob.decide(txn, 'deny');
    });

    it('lets exactly one of approve and deny win when they race, and the token endpoint agrees with the winner', async () => {
      const outcomes = { approved: 0, denied: 0 };
      for (let round = 0; round < 20; round++) {
        const id = await start({}, 'bob');
        const txn = txnOf(id);
        const [approve, deny] = await Promise.all([bob.decide(txn, 'approve'), bob.decide(txn, 'deny')]);
        const statuses = [approve.status, deny.status].sort();
        expect(statuses, `round ${round}`).toEqual([200, 409]);
        const winner = approve.status === 200 ? approve : deny;
        const loser = approve.status === 200 ? deny : approve;
        expectError(loser, 409, 'request_not_pending');
        outcomes[winner.body.status as 'approved' | 'denied']++;

        const token = await poll(id);
        if (winner.body.status === 'approved') {
          expect(token.status, `round ${round}`).toBe(200);
        } else {
          expectError(token, 400, 'access_denied', `round ${round}`);
        }
        const state = await svc.admin('GET', `/admin/tenants/${fx.tenant}/requests/${id}`);
        expect(state.body.evidence.decision).toBe(winner.body.status === 'approved' ? 'approve' : 'deny');
      }
      expect(outcomes.approved + outcomes.denied).toBe(20);
    });
  });
});
