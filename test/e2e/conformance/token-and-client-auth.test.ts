import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../../helpers/expect-error.ts';
import {
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
} from '../../helpers/service.ts';

// Client authentication (RFC 6749 §2.3, §5.2; CIBA Core §7.1, §13) and the token endpoint (CIBA Core §10.1, §11).
describe('conformance G and I: client authentication and the token endpoint', () => {
  let svc: TestService;
  let fx: TenantFixture;
  let device: TestDevice;
  let postClient: TenantFixture['client'];
  /** Registered for private_key_jwt (it has no secret). */
  let keyClient: TenantFixture['client'];
  let bc: string;
  let token: string;
  /** When set, the service's clock stands still at this time (test 77). */
  let frozenAt: number | undefined;
  const clock = { now: () => frozenAt ?? Date.now() };
  const start = async (auth: TenantFixture['client'] = fx.client) =>
    (await postForm(bc, { scope: 'openid', login_hint: 'alice' }, auth)).body.auth_req_id as string;
  const poll = (authReqId: string | undefined, auth: TenantFixture['client'] | null = fx.client) =>
    postForm(token, { grant_type: CIBA_GRANT, ...(authReqId !== undefined ? { auth_req_id: authReqId } : {}) }, auth);
  const approveNext = async (decision: 'approve' | 'deny' = 'approve') =>
    device.decide(await nextTxn(device), decision);

  beforeAll(async () => {
    svc = await startTestService({ clock });
    fx = await createTenantFixture(svc, 'tok', { user_rate_limit_per_minute: 1000 });
    bc = `${fx.issuer}/bc-authorize`;
    token = `${fx.issuer}/oauth/token`;
    device = await enrollDevice(svc, fx);
    const c = await svc.admin('POST', '/admin/tenants/tok/clients', {
      grant_types: [CIBA_GRANT],
      backchannel_token_delivery_mode: 'poll',
      token_endpoint_auth_method: 'client_secret_post',
    });
    postClient = c.body;
    const { publicKey } = await generateKeyPair('ES256');
    const k = await svc.admin('POST', '/admin/tenants/tok/clients', {
      grant_types: [CIBA_GRANT],
      backchannel_token_delivery_mode: 'poll',
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [{ ...(await exportJWK(publicKey)), alg: 'ES256', use: 'sig' }] },
    });
    keyClient = { client_id: k.body.client_id, client_secret: 'not-a-secret-client' };
  });
  afterAll(() => svc.stop());

  const postWithBody = (
    url: string,
    form: Record<string, string>,
    client: TenantFixture['client'],
    secret = client.client_secret,
  ) => postForm(url, { ...form, client_id: client.client_id, client_secret: secret }, null);

  describe('G: client_secret_basic and client_secret_post', () => {
    it('45: client_secret_basic is accepted at the backchannel and token endpoints', async () => {
      const id = await start();
      expect(id).toEqual(expect.any(String));
      expectError(await poll(id), 400, 'authorization_pending');
    });

    it('46: a wrong Basic secret or unknown client is 401 invalid_client with WWW-Authenticate, at both endpoints', async () => {
      for (const auth of [
        { client_id: fx.client.client_id, client_secret: 'wrong' },
        { client_id: 'nobody', client_secret: 'x' },
      ]) {
        const a = await postForm(bc, { scope: 'openid', login_hint: 'alice' }, auth);
        expectError(a, 401, 'invalid_client');
        expect(a.headers.get('www-authenticate')).toMatch(/^Basic/);
        const t = await poll('x', auth);
        expectError(t, 401, 'invalid_client');
        expect(t.headers.get('www-authenticate')).toMatch(/^Basic/);
      }
    });

    it('47: client_id alone (a public client) is 401 invalid_client', async () => {
      expectError(
        await postForm(bc, { scope: 'openid', login_hint: 'alice', client_id: fx.client.client_id }, null),
        401,
        'invalid_client',
      );
      expectError(
        await postForm(token, { grant_type: CIBA_GRANT, auth_req_id: 'x', client_id: fx.client.client_id }, null),
        401,
        'invalid_client',
      );
    });

    it('48: client_secret_post works with the right secret and is 401 invalid_client with a wrong one', async () => {
      const ack = await postWithBody(bc, { scope: 'openid', login_hint: 'alice' }, postClient);
      expect(ack.status).toBe(200);
      expectError(
        await postWithBody(token, { grant_type: CIBA_GRANT, auth_req_id: ack.body.auth_req_id }, postClient),
        400,
        'authorization_pending',
      );
      expectError(
        await postWithBody(bc, { scope: 'openid', login_hint: 'alice' }, postClient, 'wrong'),
        401,
        'invalid_client',
      );
      expectError(
        await postWithBody(token, { grant_type: CIBA_GRANT, auth_req_id: 'x' }, postClient, 'wrong'),
        401,
        'invalid_client',
      );
    });

    it('48b: a client registered for one secret method may send its secret the other way (RFC 6749 §2.3.1)', async () => {
      // fx.client is registered for client_secret_basic, postClient for client_secret_post.
      const viaPost = await postWithBody(bc, { scope: 'openid', login_hint: 'alice' }, fx.client);
      expect(viaPost.status).toBe(200);
      const viaBasic = await postForm(bc, { scope: 'openid', login_hint: 'alice' }, postClient);
      expect(viaBasic.status).toBe(200);
      const polled = await postWithBody(
        token,
        { grant_type: CIBA_GRANT, auth_req_id: viaBasic.body.auth_req_id },
        postClient,
      );
      expectError(polled, 400, 'authorization_pending');
    });

    it('49: a secret from a client registered for private_key_jwt is 401 invalid_client, naming its method', async () => {
      const basic = await postForm(bc, { scope: 'openid', login_hint: 'alice' }, keyClient);
      expectError(basic, 401, 'invalid_client');
      expect(basic.body.error_description).toBe(
        'client authentication failed: this client is registered for private_key_jwt (token_endpoint_auth_method)',
      );
      expect(basic.headers.get('www-authenticate')).toMatch(/^Basic/);
      const post = await postWithBody(token, { grant_type: CIBA_GRANT, auth_req_id: 'x' }, keyClient);
      expectError(post, 401, 'invalid_client');
      expect(post.body.error_description).toContain('registered for private_key_jwt');
      expect(svc.logs.join('\n')).not.toContain('not-a-secret-client');
      expect(svc.logs.some((l) => l.includes('"registered_method":"private_key_jwt"'))).toBe(true);
    });

    it('50: two methods at once is invalid_request', async () => {
      const res = await postForm(
        bc,
        { scope: 'openid', login_hint: 'alice', client_secret: fx.client.client_secret },
        fx.client,
      );
      expectError(res, 400, 'invalid_request');
      const assertion = await postForm(
        bc,
        { scope: 'openid', login_hint: 'alice', client_assertion: 'x.y.z' },
        fx.client,
      );
      expectError(assertion, 400, 'invalid_request');
    });

    it('accepts Basic credentials whose id and secret are form-urlencoded (RFC 6749 §2.3.1)', async () => {
      const c = await svc.admin('POST', '/admin/tenants/tok/clients', {
        client_id: 'odd~id.x',
        grant_types: [CIBA_GRANT],
        backchannel_token_delivery_mode: 'poll',
      });
      const raw = `${encodeURIComponent('odd~id.x').replace('~', '%7E')}:${encodeURIComponent(c.body.client_secret)}`;
      const res = await fetch(bc, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          Authorization: `Basic ${Buffer.from(raw).toString('base64')}`,
        },
        body: 'scope=openid&login_hint=alice',
      });
      expect(res.status).toBe(200);
      expect(basicAuth('a', 'b')).toBe(`Basic ${Buffer.from('a:b').toString('base64')}`);
    });
  });

  describe('I: the CIBA grant', () => {
    it('76: polling before the user acts is 400 authorization_pending', async () => {
      expectError(await poll(await start()), 400, 'authorization_pending');
    });

    it('77: a second poll inside the interval is slow_down with Retry-After, and the interval grows by 5 s; the first poll is never slow_down', async () => {
      const id = await start();
      // The service's clock stands still, then moves on 1.2 s: on a slow machine two polls sent back to back can be
      // more than the 0.75 s apart (1 s interval less 0.25 s grace) that makes the second one too fast.
      frozenAt = Date.now();
      try {
        expectError(await poll(id), 400, 'authorization_pending');
        const fast = await poll(id);
        expectError(fast, 400, 'slow_down');
        expect(fast.headers.get('retry-after')).toBe('6');
        const described = await svc.admin('GET', `/admin/tenants/tok/requests/${id}`);
        expect(described.body.interval).toBe(6);
        frozenAt += 1200;
        // 1.2 s is past the tenant's 1 s but inside the raised 6 s interval.
        expectError(await poll(id), 400, 'slow_down');
      } finally {
        frozenAt = undefined;
      }
    });

    it('78-79: success is 200 no-store with tokens; the ID token has iss, aud, sub, exp, iat, kid, auth_req_id and a correct at_hash', async () => {
      const id = await start();
      await approveNext();
      const res = await poll(id);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('pragma')).toBe('no-cache');
      expect(res.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'openid' });
      const [h, p] = res.body.id_token.split('.');
      const header = JSON.parse(Buffer.from(h, 'base64url').toString());
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
      expect(header).toMatchObject({ alg: 'ES256', kid: expect.any(String) });
      expect(claims).toMatchObject({
        iss: fx.issuer,
        aud: fx.client.client_id,
        sub: 'alice',
        'urn:openid:params:jwt:claim:auth_req_id': id,
      });
      expect(claims.exp).toBeGreaterThan(claims.iat);
      const { createHash } = await import('node:crypto');
      const digest = createHash('sha256').update(res.body.access_token).digest();
      expect(claims.at_hash).toBe(digest.subarray(0, 16).toString('base64url'));
      expect(claims.acr).toBeUndefined();
    });

    it('80: redeeming the same auth_req_id again is invalid_grant', async () => {
      const id = await start();
      await approveNext();
      expect((await poll(id)).status).toBe(200);
      expectError(await poll(id), 400, 'invalid_grant');
    });

    it('81: an unknown or garbled auth_req_id is invalid_grant', async () => {
      const real = await start();
      for (const id of ['nope', `${real.slice(0, 23)}${'A'.repeat(27)}`, `${real}x`, '../../etc']) {
        expectError(await poll(id), 400, 'invalid_grant');
      }
    });

    it("82: another client's auth_req_id is invalid_grant, and its owner can still redeem it", async () => {
      const id = await start();
      await approveNext();
      expectError(
        await postWithBody(token, { grant_type: CIBA_GRANT, auth_req_id: id }, postClient),
        400,
        'invalid_grant',
      );
      expect((await poll(id)).status).toBe(200);
    });

    it('83: a missing auth_req_id is invalid_request', async () => {
      expectError(await poll(undefined), 400, 'invalid_request');
    });

    it('84: after the user denies, the poll is 400 access_denied (not 403)', async () => {
      const id = await start();
      await approveNext('deny');
      expectError(await poll(id), 400, 'access_denied');
    });

    it('85: polling after expires_in is expired_token', async () => {
      const id = (await postForm(bc, { scope: 'openid', login_hint: 'alice', requested_expiry: '1' }, fx.client)).body
        .auth_req_id;
      await new Promise((r) => setTimeout(r, 1100));
      expectError(await poll(id), 400, 'expired_token');
    });

    it('85b: an approval that arrives after expiry is refused and the poll says expired_token', async () => {
      const id = (await postForm(bc, { scope: 'openid', login_hint: 'alice', requested_expiry: '1' }, fx.client)).body
        .auth_req_id;
      // The txn is the part before the dot. (The device's newest pending one could be an older request by the time
      // the list is read: this one expires after 1 s and then leaves the list.)
      const txn = id.split('.')[0]!;
      await new Promise((r) => setTimeout(r, 1100));
      expect((await device.decide(txn, 'approve')).status).toBe(409);
      expectError(await poll(id), 400, 'expired_token');
    });

    it('86: a push-mode client at the token endpoint is unauthorized_client (push clients are registered with issue 3)', async () => {
      const client = await svc.service.deps.clients.get('tok', fx.client.client_id);
      await svc.service.deps.clients.delete('tok', fx.client.client_id);
      await svc.service.deps.clients.create({ ...client!, backchannelTokenDeliveryMode: 'push' });
      try {
        expectError(await poll('x'), 400, 'unauthorized_client');
      } finally {
        await svc.service.deps.clients.delete('tok', fx.client.client_id);
        await svc.service.deps.clients.create(client!);
      }
    });

    it('87: an unsupported grant_type is unsupported_grant_type; a missing one invalid_request', async () => {
      expectError(
        await postForm(token, { grant_type: 'authorization_code', code: 'x' }, fx.client),
        400,
        'unsupported_grant_type',
      );
      expectError(await postForm(token, { auth_req_id: 'x' }, fx.client), 400, 'invalid_request');
    });

    it('87b: a client without the CIBA grant using it is unauthorized_client', async () => {
      const client = await svc.service.deps.clients.get('tok', fx.client.client_id);
      await svc.service.deps.clients.delete('tok', fx.client.client_id);
      await svc.service.deps.clients.create({ ...client!, grantTypes: ['authorization_code'] });
      try {
        expectError(await poll('x'), 400, 'unauthorized_client');
      } finally {
        await svc.service.deps.clients.delete('tok', fx.client.client_id);
        await svc.service.deps.clients.create(client!);
      }
    });

    it('88: a wrong Basic secret at the token endpoint is 401 invalid_client with WWW-Authenticate, and no-store', async () => {
      const res = await poll('x', { client_id: fx.client.client_id, client_secret: 'bad' });
      expectError(res, 401, 'invalid_client');
      expect(res.headers.get('www-authenticate')).toBe('Basic realm="ciba"');
      expect(res.headers.get('cache-control')).toBe('no-store');
    });
  });
});
