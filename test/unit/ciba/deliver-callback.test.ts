import { describe, expect, it } from 'vitest';
import { backoffDelay, CALLBACK_LEASE_MS, deliverCallback } from '../../../lib/ciba/deliver-callback.ts';
import { openPushResponse } from '../../../lib/ciba/push-response.ts';
import { halfHash } from '../../../lib/oauth/tokens.ts';
import { AUTH_REQ_ID, fakeWorld, NOTIFICATION_TOKEN, T0, TXN } from '../../helpers/callback-fakes.ts';

const decided = { tenantId: 'acme', txn: TXN, attempt: 1, reason: 'decided' as const };
const retry = (attempt: number) => ({ tenantId: 'acme', txn: TXN, attempt, reason: 'retry' as const });
const expiry = { tenantId: 'acme', txn: TXN, attempt: 1, reason: 'expiry' as const };
const payload = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString());

describe('deliverCallback: ping mode (CIBA §10.2)', () => {
  it('pings the endpoint with the bearer token and a body of only the auth_req_id after approval', async () => {
    const w = fakeWorld({ mode: 'ping', status: 'approved' });
    expect(await deliverCallback(w.deps, decided)).toEqual({ outcome: 'delivered', attempt: 1, status: 204 });
    expect(w.posts).toEqual([
      {
        url: 'https://rp.example.com/cb',
        headers: { Authorization: `Bearer ${NOTIFICATION_TOKEN}` },
        body: { auth_req_id: AUTH_REQ_ID },
        allowPrivateNetwork: true,
      },
    ]);
    expect(w.signed).toHaveLength(0);
    // The grant stays for the token endpoint.
    expect((await w.store.requests.get(TXN))!.grantPending).toBe(true);
  });

  it('pings after denial too', async () => {
    const w = fakeWorld({ mode: 'ping', status: 'denied' });
    await deliverCallback(w.deps, decided);
    expect(w.posts.map((p) => p.body)).toEqual([{ auth_req_id: AUTH_REQ_ID }]);
  });

  it('does not ping when a request expires undecided', async () => {
    const w = fakeWorld({ mode: 'ping', status: 'pending' });
    w.clock.advance(400_000);
    expect((await deliverCallback(w.deps, expiry)).outcome).toBe('skipped');
    expect(w.posts).toHaveLength(0);
  });

  it('records the delivery and publishes CIBA Callback Delivered without secrets', async () => {
    const w = fakeWorld({ mode: 'ping' });
    await deliverCallback(w.deps, decided);
    const stored = (await w.store.requests.get(TXN))!;
    expect(stored.callback).toEqual({
      state: 'delivered',
      attempts: [{ attempt: 1, at: T0 + 10_000, status: 204 }],
      deliveredAt: T0 + 10_000,
    });
    expect(w.published).toEqual([
      {
        type: 'CIBA Callback Delivered',
        tenantId: 'acme',
        detail: {
          txn: TXN,
          client_id: 'rp',
          delivery_mode: 'ping',
          kind: 'ping',
          attempt: 1,
          status: 204,
          delivered_at: Math.floor((T0 + 10_000) / 1000),
        },
      },
    ]);
    expect(JSON.stringify([w.published, w.logs])).not.toContain(NOTIFICATION_TOKEN);
    expect(JSON.stringify([w.published, w.logs])).not.toContain(AUTH_REQ_ID);
  });
});

describe('deliverCallback: push mode (CIBA §10.3.1, §12)', () => {
  it('pushes a token response with the auth_req_id, minted once and bound to the request', async () => {
    const w = fakeWorld({ mode: 'push', status: 'approved' });
    expect((await deliverCallback(w.deps, decided)).outcome).toBe('delivered');
    const body = w.posts[0]!.body as Record<string, string>;
    expect(Object.keys(body).sort()).toEqual(
      ['access_token', 'auth_req_id', 'expires_in', 'id_token', 'scope', 'token_type'].sort(),
    );
    expect(body.auth_req_id).toBe(AUTH_REQ_ID);
    expect(body.token_type).toBe('Bearer');
    const idToken = payload(body.id_token!);
    expect(idToken['urn:openid:params:jwt:claim:auth_req_id']).toBe(AUTH_REQ_ID);
    expect(idToken.at_hash).toBe(halfHash(body.access_token!));
    expect(idToken.iss).toBe('https://ciba.example.com/acme');
    expect(w.posts[0]!.headers).toEqual({ Authorization: `Bearer ${NOTIFICATION_TOKEN}` });
    expect(w.published.map((e) => e.type)).toEqual(['CIBA Tokens Issued', 'CIBA Callback Delivered']);
    expect(w.published[0]!.detail).toEqual({ txn: TXN, client_id: 'rp', sub: 'alice', delivery_mode: 'push' });
  });

  it('drops the kept token response once it is delivered', async () => {
    const w = fakeWorld({ mode: 'push' });
    await deliverCallback(w.deps, decided);
    const stored = (await w.store.requests.get(TXN))!;
    expect(stored.sealedPushResponse).toBeUndefined();
    expect(stored.grantPending).toBeUndefined();
    expect(stored.redeemedAt).toBe(T0 + 10_000);
  });

  it('pushes access_denied after denial', async () => {
    const w = fakeWorld({ mode: 'push', status: 'denied' });
    await deliverCallback(w.deps, decided);
    expect(w.posts.map((p) => p.body)).toEqual([{ error: 'access_denied', auth_req_id: AUTH_REQ_ID }]);
    expect(w.signed).toHaveLength(0);
  });

  it('pushes expired_token when the expiry timer fires on an undecided request', async () => {
    const w = fakeWorld({ mode: 'push', status: 'pending' });
    w.clock.advance(290_000);
    expect((await deliverCallback(w.deps, expiry)).outcome).toBe('delivered');
    expect(w.posts.map((p) => p.body)).toEqual([{ error: 'expired_token', auth_req_id: AUTH_REQ_ID }]);
  });

  it('treats the expiry timer as a no-op for a request decided in time', async () => {
    const w = fakeWorld({ mode: 'push', status: 'approved' });
    w.clock.advance(400_000);
    expect(await deliverCallback(w.deps, expiry)).toEqual({ outcome: 'skipped', reason: 'decided before expiry' });
    expect(w.posts).toHaveLength(0);
  });

  it('sets an expiry timer that fired early again for the expiry time', async () => {
    const w = fakeWorld({ mode: 'push', status: 'pending' });
    await deliverCallback(w.deps, expiry);
    expect(w.posts).toHaveLength(0);
    expect(w.scheduled).toEqual([
      { at: T0 + 300_000, event: { type: 'CIBA Request Expiry', tenantId: 'acme', detail: { txn: TXN } } },
    ]);
  });

  it('resends the same tokens on a retry and never mints a second set', async () => {
    const w = fakeWorld({ mode: 'push' });
    w.answers = [{ status: 503 }, { status: 200 }];
    expect((await deliverCallback(w.deps, decided)).outcome).toBe('retry_scheduled');
    // Kept sealed (hardening rule 12): no token in the stored request, and it opens to what was posted.
    const kept = (await w.store.requests.get(TXN))!;
    expect(kept.sealedPushResponse).toMatch(/^eyJ[\w-]+\.\.[\w-]+\.[\w-]+\.[\w-]+$/);
    const body = w.posts[0]!.body as Record<string, string>;
    for (const token of [body.access_token!, body.id_token!]) expect(JSON.stringify(kept)).not.toContain(token);
    expect(await openPushResponse(w.deps.keys, kept, kept.sealedPushResponse!)).toEqual(body);
    w.clock.advance(2_000);
    expect((await deliverCallback(w.deps, retry(2))).outcome).toBe('delivered');
    expect(w.posts).toHaveLength(2);
    expect(w.posts[1]!.body).toEqual(w.posts[0]!.body);
    expect(w.signed).toHaveLength(2); // one access token + one ID token
    expect(w.published.filter((e) => e.type === 'CIBA Tokens Issued')).toHaveLength(1);
  });

  it('pushes transaction_failed for an approved request whose grant is gone without a kept response', async () => {
    const w = fakeWorld({ mode: 'push', request: { grantPending: undefined } });
    await deliverCallback(w.deps, decided);
    expect(w.posts.map((p) => p.body)).toEqual([{ error: 'transaction_failed', auth_req_id: AUTH_REQ_ID }]);
    expect(w.signed).toHaveLength(0);
  });

  it('drops the kept token response when the callback is dead-lettered', async () => {
    const w = fakeWorld({ mode: 'push' });
    w.answers = [{ status: 401 }];
    await deliverCallback(w.deps, decided);
    expect((await w.store.requests.get(TXN))!.sealedPushResponse).toBeUndefined();
    expect(JSON.stringify(w.deadLetters)).not.toContain('access_token');
  });
});

describe('deliverCallback: hardening rule 7', () => {
  it('pushes nothing to a client registered again under the client_id of the one that asked', async () => {
    // The request was made by an earlier registration (generation g1); the client now registered is g2.
    const w = fakeWorld({ mode: 'push', request: { clientGeneration: 'g1' } });
    w.state.clients.get('acme\u0000rp')!.generation = 'g2';
    const outcome = await deliverCallback(w.deps, decided);
    expect(outcome).toMatchObject({ outcome: 'dead_lettered', reason: 'the client is no longer registered' });
    expect(w.posts).toHaveLength(0);
    expect(w.signed).toHaveLength(0);
  });

  it('pings nothing for a request of a tenant deleted and created again', async () => {
    const w = fakeWorld({ mode: 'ping', request: { tenantGeneration: 'old' } });
    expect(await deliverCallback(w.deps, decided)).toMatchObject({ outcome: 'dead_lettered' });
    expect(w.posts).toHaveLength(0);
  });
});

describe('deliverCallback: at least once, never twice', () => {
  it('sends nothing and mints nothing for a redelivered decision event', async () => {
    const w = fakeWorld({ mode: 'push' });
    await deliverCallback(w.deps, decided);
    expect(await deliverCallback(w.deps, decided)).toMatchObject({ outcome: 'skipped' });
    expect(w.posts).toHaveLength(1);
    expect(w.signed).toHaveLength(2);
  });

  it('sends one callback when the same event arrives twice at once', async () => {
    const w = fakeWorld({ mode: 'push' });
    const outcomes = await Promise.all([deliverCallback(w.deps, decided), deliverCallback(w.deps, decided)]);
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(['delivered', 'skipped']);
    expect(w.posts).toHaveLength(1);
    expect(w.signed).toHaveLength(2);
  });

  it('ignores a duplicate of a retry that already ran', async () => {
    const w = fakeWorld({ mode: 'ping' });
    w.answers = [{ status: 500 }, { status: 500 }, { status: 204 }];
    await deliverCallback(w.deps, decided);
    await deliverCallback(w.deps, retry(2));
    expect((await deliverCallback(w.deps, retry(2))).outcome).toBe('skipped');
    expect(w.posts).toHaveLength(2);
  });

  it('lets a redelivered event take over an attempt whose worker died, once the lease ran out', async () => {
    const w = fakeWorld({ mode: 'ping' });
    await w.store.callbacks.claim(TXN, {
      attempt: 1,
      now: w.clock.now(),
      leaseUntil: w.clock.now() + CALLBACK_LEASE_MS,
    });
    expect((await deliverCallback(w.deps, decided)).outcome).toBe('skipped');
    w.clock.advance(CALLBACK_LEASE_MS + 1);
    expect((await deliverCallback(w.deps, decided)).outcome).toBe('delivered');
    expect(w.posts).toHaveLength(1);
  });

  it('keeps the attempt retakeable when scheduling the retry fails, so the event redelivery retries it', async () => {
    const w = fakeWorld({ mode: 'ping' });
    w.answers = [{ status: 500 }, { status: 204 }];
    w.failSchedule = true;
    await expect(deliverCallback(w.deps, decided)).rejects.toThrow('scheduler unavailable');
    w.failSchedule = false;
    w.clock.advance(CALLBACK_LEASE_MS + 1);
    expect((await deliverCallback(w.deps, decided)).outcome).toBe('delivered');
  });

  it('ignores poll requests, unknown requests, requests of another tenant and undecided ones, saying which', async () => {
    const w = fakeWorld({ mode: 'ping', request: { deliveryMode: 'poll' } });
    expect(await deliverCallback(w.deps, decided)).toEqual({ outcome: 'skipped', reason: 'poll mode request' });
    expect(await deliverCallback(w.deps, { ...decided, txn: 'CCCCCCCCCCCCCCCCCCCCCC' })).toEqual({
      outcome: 'skipped',
      reason: 'unknown request',
    });
    const v = fakeWorld({ mode: 'ping' });
    expect(await deliverCallback(v.deps, { ...decided, tenantId: 'other' })).toEqual({
      outcome: 'skipped',
      reason: 'unknown request',
    });
    const u = fakeWorld({ mode: 'ping', status: 'pending' });
    expect(await deliverCallback(u.deps, decided)).toEqual({ outcome: 'skipped', reason: 'nothing to deliver' });
    expect([...w.posts, ...v.posts, ...u.posts]).toHaveLength(0);
    // None of them was claimed.
    for (const world of [w, v, u]) expect((await world.store.requests.get(TXN))?.callback).toBeUndefined();
  });

  it("starts the decision's attempt with its claim, reading the request only when the claim is refused", async () => {
    const w = fakeWorld({ mode: 'ping' });
    let reads = 0;
    const get = w.deps.requests.get;
    w.deps.requests = {
      get: (txn) => {
        reads++;
        return get(txn);
      },
    };
    expect((await deliverCallback(w.deps, decided)).outcome).toBe('delivered');
    expect(reads).toBe(0);
    expect(await deliverCallback(w.deps, decided)).toEqual({ outcome: 'skipped', reason: 'callback delivered' });
    expect(reads).toBe(1);
    // A retry or an expiry timer reads first, as before.
    await deliverCallback(w.deps, retry(2));
    expect(reads).toBe(2);
  });
});

describe('deliverCallback: retries and dead letters', () => {
  it('schedules the next attempt with exponential backoff and full jitter after a 500', async () => {
    const w = fakeWorld({ mode: 'ping' });
    w.answers = [{ status: 500 }];
    const now = w.clock.now();
    expect(await deliverCallback(w.deps, decided)).toEqual({
      outcome: 'retry_scheduled',
      attempt: 1,
      nextAttemptAt: now + 1_000,
    });
    expect(w.scheduled).toEqual([
      { at: now + 1_000, event: { type: 'CIBA Callback Retry', tenantId: 'acme', detail: { txn: TXN, attempt: 2 } } },
    ]);
    expect((await w.store.requests.get(TXN))!.callback).toEqual({
      state: 'pending',
      attempts: [{ attempt: 1, at: now, status: 500 }],
    });
  });

  it('computes delays as random up to min(cap, base * 2^(n-1))', () => {
    const backoff = { baseMs: 1_000, capMs: 60_000 };
    expect([1, 2, 3, 7, 8, 20].map((n) => backoffDelay(n, backoff, () => 1))).toEqual([
      1_000, 2_000, 4_000, 60_000, 60_000, 60_000,
    ]);
    expect(backoffDelay(5, backoff, () => 0)).toBe(0);
    expect(backoffDelay(5, backoff, () => 0.5)).toBe(8_000);
  });

  it.each([[400], [401], [403], [404], [410]])(
    'stops at once and dead-letters when the endpoint answers %i',
    async (status) => {
      const w = fakeWorld({ mode: 'ping' });
      w.answers = [{ status }];
      expect(await deliverCallback(w.deps, decided)).toEqual({
        outcome: 'dead_lettered',
        attempt: 1,
        reason: `HTTP ${status}: not retried`,
      });
      expect(w.scheduled).toHaveLength(0);
      expect(w.deadLetters).toEqual([
        {
          tenantId: 'acme',
          txn: TXN,
          clientId: 'rp',
          deliveryMode: 'ping',
          kind: 'ping',
          endpoint: 'https://rp.example.com/cb',
          reason: `HTTP ${status}: not retried`,
          attempts: [{ attempt: 1, at: w.clock.now(), status }],
          failedAt: w.clock.now(),
        },
      ]);
      expect(w.published.map((e) => e.type)).toEqual(['CIBA Callback Failed']);
    },
  );

  it.each([[301], [302], [307], [308], [429], [500], [502]])(
    'counts an answer of %i as a failure to retry',
    async (status) => {
      const w = fakeWorld({ mode: 'ping' });
      w.answers = [{ status }];
      expect((await deliverCallback(w.deps, decided)).outcome).toBe('retry_scheduled');
    },
  );

  it('retries timeouts and connection errors', async () => {
    const w = fakeWorld({ mode: 'ping' });
    w.answers = [{ error: 'response timeout: no answer within 5000 ms' }, { error: 'connection failed: ECONNREFUSED' }];
    expect((await deliverCallback(w.deps, decided)).outcome).toBe('retry_scheduled');
    expect((await deliverCallback(w.deps, retry(2))).outcome).toBe('retry_scheduled');
    expect((await w.store.requests.get(TXN))!.callback!.attempts.map((a) => a.error)).toEqual([
      'response timeout: no answer within 5000 ms',
      'connection failed: ECONNREFUSED',
    ]);
  });

  it('dead-letters a refused destination at once', async () => {
    const w = fakeWorld({ mode: 'ping' });
    w.answers = [{ error: 'destination refused: 10.0.0.1 is a private or reserved address', permanent: true }];
    expect((await deliverCallback(w.deps, decided)).outcome).toBe('dead_lettered');
    expect(w.deadLetters[0]!.reason).toBe(
      'destination refused: 10.0.0.1 is a private or reserved address: not retried',
    );
  });

  it('gives up after callback_max_attempts and says why, on the request and in the Callback Failed event', async () => {
    const w = fakeWorld({ mode: 'ping', settings: { callbackMaxAttempts: 3 } });
    w.answers = [{ status: 500 }];
    await deliverCallback(w.deps, decided);
    await deliverCallback(w.deps, retry(2));
    expect(await deliverCallback(w.deps, retry(3))).toEqual({
      outcome: 'dead_lettered',
      attempt: 3,
      reason: 'HTTP 500: gave up after 3 attempts',
    });
    const callback = (await w.store.requests.get(TXN))!.callback!;
    expect(callback.state).toBe('dead_lettered');
    expect(callback.deadLetterReason).toBe('HTTP 500: gave up after 3 attempts');
    expect(callback.attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
    expect(w.deadLetters[0]!.attempts).toHaveLength(3);
    expect(w.published.at(-1)).toEqual({
      type: 'CIBA Callback Failed',
      tenantId: 'acme',
      detail: {
        txn: TXN,
        client_id: 'rp',
        delivery_mode: 'ping',
        kind: 'ping',
        attempts: 3,
        reason: 'HTTP 500: gave up after 3 attempts',
        failed_at: Math.floor(w.clock.now() / 1000),
      },
    });
    expect((await deliverCallback(w.deps, retry(4))).outcome).toBe('skipped');
    expect(w.posts).toHaveLength(3);
  });

  it('gives up when the next attempt would start later than callback_max_age_seconds after the first', async () => {
    const w = fakeWorld({ mode: 'ping', settings: { callbackMaxAgeSeconds: 10 } });
    w.answers = [{ status: 500 }];
    await deliverCallback(w.deps, decided); // next at +1 s
    w.clock.advance(1_000);
    await deliverCallback(w.deps, retry(2)); // next at +2 s
    w.clock.advance(2_000);
    await deliverCallback(w.deps, retry(3)); // next at +4 s: 7 s after the first
    w.clock.advance(4_000);
    const last = await deliverCallback(w.deps, retry(4)); // next would be 15 s after the first
    expect(last).toEqual({
      outcome: 'dead_lettered',
      attempt: 4,
      reason: 'HTTP 500: gave up after 7 s (maximum age 10 s)',
    });
  });

  it('dead-letters a callback whose client was removed', async () => {
    const w = fakeWorld({ mode: 'ping' });
    w.state.clients.clear();
    expect(await deliverCallback(w.deps, decided)).toMatchObject({
      outcome: 'dead_lettered',
      reason: 'the client is no longer registered',
    });
    expect(w.posts).toHaveLength(0);
  });

  it('allows private destinations only when the tenant is in development mode', async () => {
    const w = fakeWorld({ mode: 'ping', settings: { developmentMode: false } });
    await deliverCallback(w.deps, decided);
    expect(w.posts[0]!.allowPrivateNetwork).toBe(false);
  });
});
