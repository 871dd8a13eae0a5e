import { AsyncLocalStorage } from 'node:async_hooks';
import { describe, expect, it } from 'vitest';
import { DecisionFeed, type StoredDecision, withDecisionFeed } from '../../../lib/local/decision-feed.ts';
import { InFlight } from '../../../lib/local/in-flight.ts';
import type { AuthRequest } from '../../../lib/model.ts';
import type { DecisionStore } from '../../../lib/persistence.ts';
import type { Logger } from '../../../lib/ports.ts';

const NOW = 1_800_000_000_000;
const decision = (txn: string): StoredDecision => ({
  request: { txn, tenantId: 'acme', sub: 'alice', clientId: 'c1', deliveryMode: 'ping' } as AuthRequest,
  status: 'approved',
  decidedAt: NOW,
});

const recordingLogger = () => {
  const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    void lines.push({ level, message, ...(fields ? { fields } : {}) });
  const logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } as unknown as Logger;
  return { logger, lines };
};

/** A promise and its resolver. */
const gate = () => {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
};

describe('DecisionFeed: the stored decisions, published off the deciding request', () => {
  it('publishes in the order the decisions were taken, one at a time', async () => {
    const { logger } = recordingLogger();
    const seen: string[] = [];
    let running = 0;
    const first = gate();
    const feed = new DecisionFeed(async (d) => {
      running++;
      expect(running).toBe(1);
      if (d.request.txn === 'a') await first.opened;
      seen.push(d.request.txn);
      running--;
    }, logger);
    feed.start();
    const handedOver = ['a', 'b', 'c'].map((txn) => feed.push(decision(txn)));
    // The first publish is held: nothing overtakes it.
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual([]);
    expect(feed.size).toBe(2);
    first.open();
    await Promise.all(handedOver);
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(feed.size).toBe(0);
  });

  it('logs a publish that fails and goes on with the next decision', async () => {
    const { logger, lines } = recordingLogger();
    const seen: string[] = [];
    const feed = new DecisionFeed(async (d) => {
      if (d.request.txn === 'lost') throw new Error('bus and scheduler down');
      seen.push(d.request.txn);
    }, logger);
    feed.start();
    await expect(Promise.all([feed.push(decision('lost')), feed.push(decision('next'))])).resolves.toBeDefined();
    expect(seen).toEqual(['next']);
    expect(lines).toEqual([
      {
        level: 'error',
        message: 'decision event could not be published',
        fields: expect.objectContaining({ txn: 'lost', tenant: 'acme', status: 'approved', error: expect.any(Error) }),
      },
    ]);
  });

  it("publishes in the context it was started in, never in the pushing request's", async () => {
    const { logger } = recordingLogger();
    const request = new AsyncLocalStorage<string>();
    const contexts: (string | undefined)[] = [];
    const feed = new DecisionFeed(async () => {
      contexts.push(request.getStore());
      await Promise.resolve();
      contexts.push(request.getStore());
    }, logger);
    feed.start();
    // Pushed by a request (the first while the loop waits, the second while it publishes the first).
    await request.run('a request', () => Promise.all([feed.push(decision('a')), feed.push(decision('b'))]));
    expect(contexts).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('lets a stop wait for the queued decisions (InFlight), and logs what comes after the close', async () => {
    const { logger, lines } = recordingLogger();
    const inFlight = new InFlight();
    const seen: string[] = [];
    const held = gate();
    const feed = new DecisionFeed(async (d) => {
      await held.opened;
      seen.push(d.request.txn);
    }, logger);
    feed.start();
    for (const txn of ['a', 'b']) void inFlight.add(feed.push(decision(txn)));
    // Held: not settled by a deadline already passed.
    expect(await inFlight.settled(Date.now())).toBe(false);
    held.open();
    expect(await inFlight.settled(Date.now() + 10_000)).toBe(true);
    expect(seen).toEqual(['a', 'b']);
    feed.close();
    await feed.push(decision('late'));
    expect(seen).toEqual(['a', 'b']);
    expect(lines.map((l) => [l.message, l.fields?.txn])).toEqual([
      ['decision not published: the service is stopping', 'late'],
    ]);
  });
});

describe('withDecisionFeed: the decision store with the feed behind it', () => {
  const store = (answer: AuthRequest | 'conflict'): DecisionStore => ({
    decide: async () => answer,
    countBindingCodeMismatch: async () => answer,
  });

  it('hands over each decision the store took, with its status and time', async () => {
    const fed: StoredDecision[] = [];
    const decided = { txn: 't1', status: 'denied' } as AuthRequest;
    const decisions = withDecisionFeed(store(decided), (d) => fed.push(d));
    const owner = { tenantId: 'acme', sub: 'alice' };
    expect(await decisions.decide('t1', owner, 'denied', { decision: 'deny', receivedAt: NOW }, NOW)).toBe(decided);
    expect(fed).toEqual([{ request: decided, status: 'denied', decidedAt: NOW }]);
  });

  it('hands over nothing for a conflict, nor for a counted binding code', async () => {
    const fed: StoredDecision[] = [];
    const owner = { tenantId: 'acme', sub: 'alice' };
    const conflicted = withDecisionFeed(store('conflict'), (d) => fed.push(d));
    expect(await conflicted.decide('t1', owner, 'approved', { decision: 'approve', receivedAt: NOW }, NOW)).toBe(
      'conflict',
    );
    const counted = withDecisionFeed(store({ txn: 't1', status: 'pending' } as AuthRequest), (d) => fed.push(d));
    await counted.countBindingCodeMismatch('t1', owner, NOW);
    expect(fed).toEqual([]);
  });
});
