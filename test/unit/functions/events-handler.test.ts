import { marshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import { createHandler } from '../../../functions/events/handler.ts';
import { requestItem } from '../../../lib/adapters/dynamodb/items.ts';
import { DECISION_STREAM_FILTER, decisionOf } from '../../../lib/adapters/dynamodb/stream.ts';
import { decisionLetter, eventOfLetter } from '../../../lib/adapters/sqs-decision-retries.ts';
import { requestDecidedEvent } from '../../../lib/events.ts';
import type { AuthRequest } from '../../../lib/model.ts';
import type { CibaEvent, Logger } from '../../../lib/ports.ts';
import { matchesPattern } from '../../aws/event-pattern.ts';

const T0 = Date.UTC(2026, 0, 1, 12);
const b64url = (value: string | Buffer) => Buffer.from(value).toString('base64url');
/** A compact JWS as a device's DPoP proof is (the adapter stores it as bytes). */
const PROOF = `${b64url(JSON.stringify({ alg: 'ES256', typ: 'dpop+jwt', kid: 'k' }))}.${b64url(JSON.stringify({ htm: 'POST', iat: 1 }))}.${b64url(Buffer.alloc(64, 7))}`;

const request = (txn: string, deliveryMode: AuthRequest['deliveryMode'] = 'ping'): AuthRequest => ({
  txn,
  authReqId: `${txn}.secret`,
  tenantId: 'acme',
  clientId: 'client-1',
  sub: 'alice',
  claims: {},
  scope: 'openid',
  deliveryMode,
  clientNotificationToken: 'notify-0123456789abcdef',
  status: 'pending',
  createdAt: T0,
  expiresAt: T0 + 300_000,
  interval: 5,
});

/** An item as the ledger stores it, in Lambda's JSON of a stream record (binary values as base64 text). */
const image = (r: AuthRequest): Record<string, unknown> => {
  const json = (value: unknown): unknown => {
    if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
    if (Array.isArray(value)) return value.map(json);
    if (value && typeof value === 'object')
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, json(v)]));
    return value;
  };
  return json(marshall({ pk: `REQ#${r.txn}`, ...requestItem.toItem(r) }, { removeUndefinedValues: true })) as Record<
    string,
    unknown
  >;
};

let sequence = 100;
const record = (before: AuthRequest | undefined, after: AuthRequest | undefined) => ({
  eventName: !before ? 'INSERT' : !after ? 'REMOVE' : 'MODIFY',
  dynamodb: {
    Keys: { pk: { S: `REQ#${(after ?? before)!.txn}` } },
    ...(after ? { NewImage: image(after) } : {}),
    ...(before ? { OldImage: image(before) } : {}),
    SequenceNumber: String(sequence++),
    ApproximateCreationDateTime: Math.floor(T0 / 1000) + 2,
  },
});

const decided = (r: AuthRequest, status: 'approved' | 'denied' | 'reported'): AuthRequest => ({
  ...r,
  status,
  decidedAt: T0 + 1_000,
  authTime: T0 + 1_000,
  evidence: { proof: PROOF, deviceId: 'dev-1', decision: 'approve', receivedAt: T0 + 1_000 },
  ...(status === 'approved' ? { grantPending: true } : {}),
});

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

const world = (fail: { bus?: boolean; scheduler?: boolean; retries?: boolean; cancel?: boolean } = {}) => {
  const published: CibaEvent[] = [];
  const scheduled: CibaEvent[] = [];
  const withdrawn: CibaEvent[] = [];
  const warnings: Record<string, unknown>[] = [];
  const handed: CibaEvent[] = [];
  const errors: string[] = [];
  const deps = {
    retries: {
      async hand(event: CibaEvent) {
        if (fail.retries) throw new Error('queue down');
        handed.push(event);
      },
    },
    events: {
      async publish(events: CibaEvent[]) {
        if (fail.bus) throw new Error('bus down');
        published.push(...events);
      },
    },
    scheduler: {
      async schedule(_at: number, event: CibaEvent) {
        if (fail.scheduler) throw new Error('scheduler down');
        scheduled.push(event);
      },
      async cancel(event: CibaEvent) {
        if (fail.cancel) throw new Error('scheduler down');
        withdrawn.push(event);
        return true;
      },
    },
    clock: { now: () => T0 + 2_000 },
    logger: {
      ...silent,
      warn: (message: string, fields?: Record<string, unknown>) => void warnings.push({ message, ...fields }),
      error: (message: string) => void errors.push(message),
    },
  };
  return { deps: deps as never, published, scheduled, withdrawn, warnings, handed, errors };
};

const invoke = (handler: ReturnType<typeof createHandler>, records: unknown[]) =>
  handler({ Records: records } as never, { functionName: 'events' } as never);

describe('decisions in the ledger stream', () => {
  it('reads a decision as the adapter maps the item: the request, its status and time, the proof bytes as text', () => {
    const before = request('AAAAAAAAAAAAAAAAAAAAAA');
    const after = decided(before, 'approved');
    expect(decisionOf(record(before, after))).toEqual({ request: after, status: 'approved', decidedAt: T0 + 1_000 });
  });

  it.each([
    ['a new request', record(undefined, request('AAAAAAAAAAAAAAAAAAAAAB'))],
    [
      'a poll of a pending request',
      record(request('AAAAAAAAAAAAAAAAAAAAAC'), { ...request('AAAAAAAAAAAAAAAAAAAAAC'), lastPolledAt: T0 }),
    ],
    [
      'the redeeming poll of an approved request',
      record(decided(request('AAAAAAAAAAAAAAAAAAAAAD'), 'approved'), {
        ...decided(request('AAAAAAAAAAAAAAAAAAAAAD'), 'approved'),
        grantPending: undefined,
      }),
    ],
    ['a request removed', record(request('AAAAAAAAAAAAAAAAAAAAAE'), undefined)],
  ])('is nothing for %s, and the mapping filter agrees', (_name, r) => {
    expect(decisionOf(r)).toBeUndefined();
    expect(matchesPattern(DECISION_STREAM_FILTER as never, r as never)).toBe(false);
  });

  it.each(['approved', 'denied', 'reported'] as const)('passes the filter for %s', (status) => {
    const before = request('AAAAAAAAAAAAAAAAAAAAAF');
    const r = record(before, decided(before, status));
    expect(matchesPattern(DECISION_STREAM_FILTER as never, r as never)).toBe(true);
    expect(decisionOf(r)?.status).toBe(status);
  });

  it('is nothing for another item whose status went from pending to approved', () => {
    const r = record(request('AAAAAAAAAAAAAAAAAAAAAG'), decided(request('AAAAAAAAAAAAAAAAAAAAAG'), 'approved'));
    const other = {
      ...r,
      dynamodb: {
        ...r.dynamodb,
        Keys: { pk: { S: 'USER#x' } },
        NewImage: { ...r.dynamodb.NewImage, pk: { S: 'USER#x' } },
        OldImage: { ...r.dynamodb.OldImage, pk: { S: 'USER#x' } },
      },
    };
    expect(decisionOf(other)).toBeUndefined();
    expect(matchesPattern(DECISION_STREAM_FILTER as never, other as never)).toBe(false);
  });
});

describe('the events function', () => {
  it('puts CIBA Request Decided on the bus for each decision of the batch, and reports no failure', async () => {
    const w = world();
    const a = request('AAAAAAAAAAAAAAAAAAAAAH');
    const b = request('AAAAAAAAAAAAAAAAAAAAAI', 'poll');
    const out = await invoke(createHandler(w.deps), [
      record(a, decided(a, 'approved')),
      record(undefined, request('AAAAAAAAAAAAAAAAAAAAAJ')),
      record(b, decided(b, 'denied')),
    ]);
    expect(out).toEqual({ batchItemFailures: [] });
    expect(w.published.map((e) => [e.type, e.detail.txn, e.detail.status, e.detail.delivery_mode])).toEqual([
      ['CIBA Request Decided', a.txn, 'approved', 'ping'],
      ['CIBA Request Decided', b.txn, 'denied', 'poll'],
    ]);
    expect(w.published[0]!.detail.decided_at).toBe(Math.floor((T0 + 1_000) / 1000));
  });

  it("withdraws a decided request's timers that have nothing left to do, beside its publish", async () => {
    const w = world();
    const push = request('AAAAAAAAAAAAAAAAAAAAAR', 'push');
    const fallback = { ...request('AAAAAAAAAAAAAAAAAAAAAS', 'poll'), fallbackAt: T0 + 60_000 };
    const fallenBack = { ...request('AAAAAAAAAAAAAAAAAAAAAT', 'poll'), fallbackAt: T0 + 1_000 };
    const ping = request('AAAAAAAAAAAAAAAAAAAAAU', 'ping');
    expect(
      await invoke(createHandler(w.deps), [
        record(push, decided(push, 'approved')),
        record(fallback, decided(fallback, 'denied')),
        record(fallenBack, decided(fallenBack, 'approved')),
        record(ping, decided(ping, 'approved')),
      ]),
    ).toEqual({ batchItemFailures: [] });
    // The push request's expiry timer, and the fallback still ahead; a fallback past has run, a ping request has none.
    expect(w.withdrawn).toEqual([
      { type: 'CIBA Request Expiry', tenantId: 'acme', detail: { txn: push.txn } },
      { type: 'CIBA Channel Fallback', tenantId: 'acme', detail: { txn: fallback.txn } },
    ]);
    expect(w.published.map((e) => e.detail.txn)).toEqual([push.txn, fallback.txn, fallenBack.txn, ping.txn]);
  });

  it('publishes all the same when a timer cannot be withdrawn, and says so in a warning', async () => {
    const w = world({ cancel: true });
    const push = request('AAAAAAAAAAAAAAAAAAAAAV', 'push');
    expect(await invoke(createHandler(w.deps), [record(push, decided(push, 'approved'))])).toEqual({
      batchItemFailures: [],
    });
    expect(w.published.map((e) => e.detail.txn)).toEqual([push.txn]);
    expect(w.warnings).toEqual([
      expect.objectContaining({ message: 'timer not withdrawn', txn: push.txn, type: 'CIBA Request Expiry' }),
    ]);
  });

  it('starts the callback through the scheduler when the bus fails', async () => {
    const w = world({ bus: true });
    const a = request('AAAAAAAAAAAAAAAAAAAAAK');
    expect(await invoke(createHandler(w.deps), [record(a, decided(a, 'approved'))])).toEqual({
      batchItemFailures: [],
    });
    expect(w.scheduled.map((e) => e.detail.txn)).toEqual([a.txn]);
  });

  it('hands a decision it could not publish (bus and scheduler failing) to the retries queue and goes on with the batch', async () => {
    const w = world({ bus: true, scheduler: true });
    const a = request('AAAAAAAAAAAAAAAAAAAAAL', 'poll');
    const b = request('AAAAAAAAAAAAAAAAAAAAAM');
    const c = request('AAAAAAAAAAAAAAAAAAAAAN', 'push');
    const out = await invoke(createHandler(w.deps), [
      record(a, decided(a, 'approved')),
      record(b, decided(b, 'approved')),
      record(c, decided(c, 'denied')),
    ]);
    // The poll request's event is a lifecycle event only (logged); the ping and push requests' start callbacks.
    expect(out).toEqual({ batchItemFailures: [] });
    expect(w.handed.map((e) => [e.tenantId, e.type, e.detail.txn, e.detail.status, e.detail.delivery_mode])).toEqual([
      ['acme', 'CIBA Request Decided', b.txn, 'approved', 'ping'],
      ['acme', 'CIBA Request Decided', c.txn, 'denied', 'push'],
    ]);
    expect(w.errors.filter((e) => e === 'decision not published, tried again')).toHaveLength(2);
  });

  it('reports the first decision the retries queue refused too, and stops there: the stream retries from it', async () => {
    const w = world({ bus: true, scheduler: true, retries: true });
    const a = request('AAAAAAAAAAAAAAAAAAAAAO', 'poll');
    const b = request('AAAAAAAAAAAAAAAAAAAAAP');
    const c = request('AAAAAAAAAAAAAAAAAAAAAQ');
    const failing = record(b, decided(b, 'approved'));
    const out = await invoke(createHandler(w.deps), [
      record(a, decided(a, 'approved')),
      failing,
      record(c, decided(c, 'approved')),
    ]);
    expect(out).toEqual({ batchItemFailures: [{ itemIdentifier: failing.dynamodb.SequenceNumber }] });
    expect(w.errors).toEqual([
      'event publish failed',
      'event publish failed',
      'decision not published, tried again',
      'decision not handed to the retries queue, the stream retries it',
    ]);
  });
});

/** A message of the decision-retries queue as Lambda hands it over. */
const sqsRecord = (messageId: string, body: string, receiveCount = 1) => ({
  messageId,
  receiptHandle: messageId,
  body,
  attributes: { ApproximateReceiveCount: String(receiveCount) },
  messageAttributes: {},
  eventSource: 'aws:sqs',
  eventSourceARN: 'arn:aws:sqs:eu-west-1:123456789012:DecisionRetries',
});

describe('the events function on the decision-retries queue', () => {
  const letterOf = (r: AuthRequest, status: 'approved' | 'denied') =>
    JSON.stringify(decisionLetter(requestDecidedEvent(r, status, T0 + 1_000)));

  it('a letter carries the tenant, the request and the event detail, never a token; it reads back as the same event', () => {
    const r = request('AAAAAAAAAAAAAAAAAAAAAR');
    const event = requestDecidedEvent(r, 'approved', T0 + 1_000);
    const letter = JSON.parse(letterOf(r, 'approved'));
    expect(letter).toEqual({
      detail_type: 'CIBA Request Decided',
      tenant_id: 'acme',
      txn: r.txn,
      status: 'approved',
      delivery_mode: 'ping',
      detail: {
        tenant_id: 'acme',
        txn: r.txn,
        client_id: 'client-1',
        sub: 'alice',
        status: 'approved',
        delivery_mode: 'ping',
        decided_at: Math.floor((T0 + 1_000) / 1000),
      },
    });
    expect(JSON.stringify(letter)).not.toContain('notify-0123456789abcdef');
    expect(JSON.stringify(letter)).not.toContain(r.authReqId);
    expect(eventOfLetter(JSON.stringify(letter))).toEqual(event);
  });

  it.each([
    ['not JSON', 'nope'],
    ['a Lambda failure record', JSON.stringify({ requestContext: {}, DDBStreamBatchInfo: { batchSize: 1 } })],
    ['another event', JSON.stringify({ detail_type: 'CIBA Request Created', tenant_id: 'acme', detail: { txn: 'x' } })],
  ])('is no event for %s', (_name, body) => {
    expect(eventOfLetter(body)).toBeUndefined();
  });

  it('publishes each letter again and reports only those that fail again, each on its own', async () => {
    const w = world();
    const a = request('AAAAAAAAAAAAAAAAAAAAAS');
    const b = request('AAAAAAAAAAAAAAAAAAAAAT');
    const out = await invoke(createHandler(w.deps), [
      sqsRecord('m-1', letterOf(a, 'approved'), 3),
      sqsRecord('m-2', 'not a letter'),
      sqsRecord('m-3', letterOf(b, 'denied')),
    ]);
    expect(out).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-2' }] });
    expect(w.published).toEqual([
      requestDecidedEvent(a, 'approved', T0 + 1_000),
      requestDecidedEvent(b, 'denied', T0 + 1_000),
    ]);
    expect(w.handed).toEqual([]);

    const down = world({ bus: true, scheduler: true });
    expect(await invoke(createHandler(down.deps), [sqsRecord('m-4', letterOf(a, 'approved'), 2)])).toEqual({
      batchItemFailures: [{ itemIdentifier: 'm-4' }],
    });
    // Never handed on again from the queue: SQS brings it back, then moves it to the decision-failures queue.
    expect(down.handed).toEqual([]);
    expect(down.errors).toContain('decision not published, tried again');
  });
});
