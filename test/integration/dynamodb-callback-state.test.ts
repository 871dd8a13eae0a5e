import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthRequest } from '../../lib/model.ts';
import { startTestStore, type TestStore } from '../helpers/dynalite.ts';

const NOW = 1_750_000_000_000;
let t: TestStore;

beforeAll(async () => {
  t = await startTestStore();
});
afterAll(async () => {
  await t?.stop();
});

const request = async (overrides: Partial<AuthRequest> = {}): Promise<AuthRequest> => {
  const txn = randomBytes(16).toString('base64url');
  const r: AuthRequest = {
    txn,
    authReqId: `${txn}.${randomBytes(20).toString('base64url')}`,
    tenantId: 'acme',
    clientId: 'rp',
    sub: 'alice',
    claims: {},
    scope: 'openid',
    deliveryMode: 'push',
    clientNotificationToken: 'tok',
    status: 'approved',
    grantPending: true,
    createdAt: NOW,
    expiresAt: NOW + 300_000,
    interval: 5,
    issuer: 'https://ciba.example.com/acme',
    ...overrides,
  };
  expect(await t.store.createRequest(r)).toBe('ok');
  return r;
};

describe('DynamoDbStore: callback state on dynalite', () => {
  it('keeps the issuer and the notification token of a request', async () => {
    const r = await request();
    expect(await t.store.getRequest(r.txn)).toMatchObject({ issuer: r.issuer, clientNotificationToken: 'tok' });
  });

  it('claims attempt 1 once, starting an empty pending history', async () => {
    const r = await request();
    const claimed = await t.store.claimCallbackAttempt(r.txn, 1, NOW, NOW + 60_000);
    expect(claimed).toMatchObject({ txn: r.txn, callback: { state: 'pending', attempts: [] } });
    expect(await t.store.claimCallbackAttempt(r.txn, 1, NOW, NOW + 60_000)).toBe('conflict');
    expect(await t.store.claimCallbackAttempt(r.txn, 2, NOW, NOW + 60_000)).toBe('conflict');
  });

  it('lets exactly one of many concurrent claims win', async () => {
    const r = await request();
    const results = await Promise.all(
      Array.from({ length: 16 }, () => t.store.claimCallbackAttempt(r.txn, 1, NOW, NOW + 60_000)),
    );
    expect(results.filter((x) => x !== 'conflict')).toHaveLength(1);
  });

  it('frees attempt n+1 once attempt n is recorded, and retakes an attempt whose lease ran out', async () => {
    const r = await request({ deliveryMode: 'ping' });
    await t.store.claimCallbackAttempt(r.txn, 1, NOW, NOW + 60_000);
    expect(await t.store.claimCallbackAttempt(r.txn, 1, NOW + 60_001, NOW + 120_000)).not.toBe('conflict');
    expect(await t.store.recordCallbackAttempt(r.txn, { attempt: 1, at: NOW, status: 500 }, { state: 'pending' })).toBe(
      'ok',
    );
    expect(await t.store.claimCallbackAttempt(r.txn, 1, NOW + 200_000, NOW + 260_000)).toBe('conflict');
    expect(await t.store.claimCallbackAttempt(r.txn, 2, NOW + 1_000, NOW + 61_000)).not.toBe('conflict');
    // A record by an attempt that no longer holds the claim is refused.
    expect(await t.store.recordCallbackAttempt(r.txn, { attempt: 1, at: NOW, status: 500 }, { state: 'pending' })).toBe(
      'conflict',
    );
    expect(
      await t.store.recordCallbackAttempt(
        r.txn,
        { attempt: 2, at: NOW + 1_000, status: 204 },
        {
          state: 'delivered',
          deliveredAt: NOW + 1_000,
        },
      ),
    ).toBe('ok');
    expect((await t.store.getRequest(r.txn))!.callback).toEqual({
      state: 'delivered',
      attempts: [
        { attempt: 1, at: NOW, status: 500 },
        { attempt: 2, at: NOW + 1_000, status: 204 },
      ],
      deliveredAt: NOW + 1_000,
    });
    expect(await t.store.claimCallbackAttempt(r.txn, 3, NOW + 2_000, NOW + 62_000)).toBe('conflict');
  });

  it('redeems the grant and keeps the push response exactly once, then drops it when finished', async () => {
    const r = await request();
    await t.store.claimCallbackAttempt(r.txn, 1, NOW, NOW + 60_000);
    const sealed = 'eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..iv.ciphertext.tag';
    const saved = await t.store.savePushResponse(r.txn, sealed, NOW);
    expect(saved).toMatchObject({ sealedPushResponse: sealed, redeemedAt: NOW });
    expect((saved as AuthRequest).grantPending).toBeUndefined();
    expect(await t.store.savePushResponse(r.txn, 'other', NOW)).toBe('conflict');
    expect((await t.store.getRequest(r.txn))!.sealedPushResponse).toEqual(sealed);
    await t.store.recordCallbackAttempt(
      r.txn,
      { attempt: 1, at: NOW, error: 'x' },
      {
        state: 'dead_lettered',
        deadLetterReason: 'x',
      },
    );
    const after = (await t.store.getRequest(r.txn))!;
    expect(after.sealedPushResponse).toBeUndefined();
    expect(after.callback).toMatchObject({ state: 'dead_lettered', deadLetterReason: 'x' });
  });

  it('keeps a dead letter on its request', async () => {
    const r = await request();
    await t.store.putDeadLetter({
      tenantId: 'acme',
      txn: r.txn,
      clientId: 'rp',
      deliveryMode: 'push',
      kind: 'tokens',
      endpoint: 'https://rp.example.com/cb',
      reason: 'HTTP 401: not retried',
      attempts: [{ attempt: 1, at: NOW, status: 401 }],
      failedAt: NOW,
    });
    // Not part of the AuthRequest model; the request itself is unchanged.
    expect((await t.store.getRequest(r.txn))!.txn).toBe(r.txn);
  });
});

describe('DynamoDbStore.openCallbacks (local mode sets its timers again from it)', () => {
  it('lists ping and push requests whose callback is not finished, with the claim, and nothing else', async () => {
    const fresh = await request({ status: 'pending' });
    const running = await request({ deliveryMode: 'ping' });
    await t.store.claimCallbackAttempt(running.txn, 1, NOW, NOW + 30_000);
    const failed = await request();
    await t.store.claimCallbackAttempt(failed.txn, 1, NOW, NOW + 30_000);
    await t.store.recordCallbackAttempt(failed.txn, { attempt: 1, at: NOW, status: 503 }, { state: 'pending' });
    const delivered = await request();
    await t.store.claimCallbackAttempt(delivered.txn, 1, NOW, NOW + 30_000);
    await t.store.recordCallbackAttempt(
      delivered.txn,
      { attempt: 1, at: NOW, status: 204 },
      { state: 'delivered', deliveredAt: NOW },
    );
    const poll = await request({ deliveryMode: 'poll', clientNotificationToken: undefined });

    const open = new Map<string, { claimed?: number; leaseUntil?: number }>();
    for await (const o of t.store.openCallbacks(NOW))
      open.set(o.request.txn, { claimed: o.claimed, leaseUntil: o.leaseUntil });
    expect(open.get(fresh.txn)).toEqual({ claimed: undefined, leaseUntil: undefined });
    expect(open.get(running.txn)).toEqual({ claimed: 1, leaseUntil: NOW + 30_000 });
    expect(open.get(failed.txn)).toEqual({ claimed: 1, leaseUntil: undefined });
    expect(open.has(delivered.txn)).toBe(false);
    expect(open.has(poll.txn)).toBe(false);
  });
});
