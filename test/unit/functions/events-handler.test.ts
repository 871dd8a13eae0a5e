import { marshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import { createHandler } from '../../../functions/events/handler.ts';
import { requestItem } from '../../../lib/adapters/dynamodb/items.ts';
import { DECISION_STREAM_FILTER, decisionOf } from '../../../lib/adapters/dynamodb/stream.ts';
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

const world = (fail: { bus?: boolean; scheduler?: boolean } = {}) => {
  const published: CibaEvent[] = [];
  const scheduled: CibaEvent[] = [];
  const errors: string[] = [];
  const deps = {
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
    },
    clock: { now: () => T0 + 2_000 },
    logger: { ...silent, error: (message: string) => void errors.push(message) },
  };
  return { deps: deps as never, published, scheduled, errors };
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

  it('starts the callback through the scheduler when the bus fails', async () => {
    const w = world({ bus: true });
    const a = request('AAAAAAAAAAAAAAAAAAAAAK');
    expect(await invoke(createHandler(w.deps), [record(a, decided(a, 'approved'))])).toEqual({
      batchItemFailures: [],
    });
    expect(w.scheduled.map((e) => e.detail.txn)).toEqual([a.txn]);
  });

  it('reports the first decision it could not publish (bus and scheduler failing) and stops there', async () => {
    const w = world({ bus: true, scheduler: true });
    const a = request('AAAAAAAAAAAAAAAAAAAAAL', 'poll');
    const b = request('AAAAAAAAAAAAAAAAAAAAAM');
    const c = request('AAAAAAAAAAAAAAAAAAAAAN');
    const failing = record(b, decided(b, 'approved'));
    const out = await invoke(createHandler(w.deps), [
      record(a, decided(a, 'approved')),
      failing,
      record(c, decided(c, 'approved')),
    ]);
    // The poll request's event is a lifecycle event only (logged); the ping request's is the callback's start.
    expect(out).toEqual({ batchItemFailures: [{ itemIdentifier: failing.dynamodb.SequenceNumber }] });
    expect(w.errors).toContain('decision not published, the stream retries it');
  });
});
