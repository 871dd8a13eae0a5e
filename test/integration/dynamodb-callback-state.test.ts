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
  expect(await t.store.requests.create(r)).toBe('ok');
  return r;
};

describe('local dead letters', () => {
  it('keeps a dead letter on its request', async () => {
    const r = await request();
    await t.local.putDeadLetter({
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
    expect((await t.store.requests.get(r.txn))!.txn).toBe(r.txn);
  });
});

describe('openCallbacks (local mode sets its timers again from it)', () => {
  it('lists ping and push requests whose callback is not finished, with the claim, and nothing else', async () => {
    const fresh = await request({ status: 'pending' });
    const running = await request({ deliveryMode: 'ping' });
    await t.store.callbacks.claim(running.txn, { attempt: 1, now: NOW, leaseUntil: NOW + 30_000 });
    const failed = await request();
    await t.store.callbacks.claim(failed.txn, { attempt: 1, now: NOW, leaseUntil: NOW + 30_000 });
    await t.store.callbacks.record(failed.txn, { attempt: 1, at: NOW, status: 503 }, { state: 'pending' });
    const delivered = await request();
    await t.store.callbacks.claim(delivered.txn, { attempt: 1, now: NOW, leaseUntil: NOW + 30_000 });
    await t.store.callbacks.record(
      delivered.txn,
      { attempt: 1, at: NOW, status: 204 },
      { state: 'delivered', deliveredAt: NOW },
    );
    const poll = await request({ deliveryMode: 'poll', clientNotificationToken: undefined });

    const open = new Map<string, { claimed?: number; leaseUntil?: number }>();
    for await (const o of t.local.openCallbacks(NOW))
      open.set(o.request.txn, { claimed: o.claimed, leaseUntil: o.leaseUntil });
    expect(open.get(fresh.txn)).toEqual({ claimed: undefined, leaseUntil: undefined });
    expect(open.get(running.txn)).toEqual({ claimed: 1, leaseUntil: NOW + 30_000 });
    expect(open.get(failed.txn)).toEqual({ claimed: 1, leaseUntil: undefined });
    expect(open.has(delivered.txn)).toBe(false);
    expect(open.has(poll.txn)).toBe(false);
  });
});
