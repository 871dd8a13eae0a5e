import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { callbackRulePattern } from '../../../lib/adapters/eventbridge-format.ts';
import { mayTake, type PutEventView } from '../../../lib/adapters/eventbridge-rules.ts';
import { matchesPattern } from '../../aws/event-pattern.ts';

const event = (type: string, detail: Record<string, unknown>): PutEventView => ({
  source: 'ciba',
  'detail-type': type,
  detail,
});

/** The event as EventBridge matches it: the put fields plus those EventBridge adds. */
const onBus = (e: PutEventView) => ({
  version: '0',
  id: '5f1c0000-0000-4000-8000-000000000000',
  account: '111122223333',
  time: '2026-12-03T10:00:00Z',
  region: 'eu-west-1',
  resources: [],
  ...e,
});

describe('mayTake', () => {
  it("reads the service's own callback rule exactly: decided ping and push requests, no poll request, no other event", () => {
    const pattern = callbackRulePattern();
    const decided = (mode: string) =>
      event('CIBA Request Decided', { tenant_id: 'acme', txn: 't', status: 'approved', delivery_mode: mode });
    expect(mayTake(pattern, decided('ping'))).toBe(true);
    expect(mayTake(pattern, decided('push'))).toBe(true);
    expect(mayTake(pattern, decided('poll'))).toBe(false);
    expect(mayTake(pattern, event('CIBA Request Created', { tenant_id: 'acme', delivery_mode: 'ping' }))).toBe(false);
    expect(mayTake(pattern, event('CIBA Tokens Issued', { tenant_id: 'acme', delivery_mode: 'ping' }))).toBe(false);
    // An event without the member takes no exact value of it.
    expect(mayTake(pattern, event('CIBA Request Decided', { tenant_id: 'acme' }))).toBe(false);
  });

  it('compares exact strings of source, detail-type and detail members at any depth', () => {
    const e = event('CIBA Request Created', { tenant_id: 'acme', nested: { a: 'x' } });
    expect(mayTake({ source: ['other'] }, e)).toBe(false);
    expect(mayTake({ source: ['ciba', 'other'] }, e)).toBe(true);
    expect(mayTake({ 'detail-type': ['CIBA Request Decided'] }, e)).toBe(false);
    expect(mayTake({ detail: { tenant_id: ['globex'] } }, e)).toBe(false);
    expect(mayTake({ detail: { tenant_id: ['acme'] } }, e)).toBe(true);
    expect(mayTake({ detail: { nested: { a: ['y'] } } }, e)).toBe(false);
    expect(mayTake({ detail: { nested: { a: ['x'] } } }, e)).toBe(true);
    expect(mayTake({ $or: [{ source: ['other'] }, { detail: { tenant_id: ['acme'] } }] }, e)).toBe(true);
    expect(mayTake({ $or: [{ source: ['other'] }, { detail: { tenant_id: ['globex'] } }] }, e)).toBe(false);
  });

  it('counts every filter, field or shape it does not read as a match', () => {
    const e = event('CIBA Request Created', { tenant_id: 'acme', n: 5, list: ['a'] });
    for (const pattern of [
      {},
      { source: [{ prefix: 'zz' }] },
      { 'detail-type': [{ 'anything-but': 'CIBA Request Created' }] },
      { account: ['999999999999'] },
      { region: ['us-east-1'] },
      { detail: { n: [6] } },
      { detail: { list: ['b'] } },
      { detail: { missing: [{ exists: false }] } },
      { detail: { tenant_id: { nested: ['x'] } } },
      { detail: { tenant_id: [null] } },
      'not an object',
    ])
      expect(mayTake(pattern, e), JSON.stringify(pattern)).toBe(true);
  });

  // The reading never starves a rule: whenever EventBridge's pattern language (the AWS-shape harness's full
  // implementation, test/aws/event-pattern.ts) matches, mayTake says so.
  it('says "may take" whenever the full pattern language matches (property)', () => {
    const word = fc.constantFrom('ciba', 'acme', 'globex', 'ping', 'poll', 'CIBA Request Decided', 'x', '');
    const scalar = fc.oneof(word, fc.integer({ min: -3, max: 3 }), fc.boolean(), fc.constant(null));
    const value = fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }));
    const filter = fc.oneof(
      scalar,
      word.map((w) => ({ prefix: w })),
      word.map((w) => ({ suffix: w })),
      word.map((w) => ({ 'equals-ignore-case': w })),
      fc.oneof(word, fc.array(word, { maxLength: 2 })).map((w) => ({ 'anything-but': w })),
      fc.boolean().map((b) => ({ exists: b })),
      fc.integer({ min: -3, max: 3 }).map((n) => ({ numeric: ['>=', n] })),
      word.map((w) => ({ wildcard: `${w}*` })),
    );
    const key = fc.constantFrom('tenant_id', 'delivery_mode', 'status', 'n');
    const detail = fc.dictionary(key, value, { maxKeys: 4 });
    const leaf = fc.array(filter, { minLength: 1, maxLength: 3 });
    const detailPattern = fc.dictionary(key, leaf, { maxKeys: 3 });
    const pattern = fc
      .record(
        {
          source: fc.array(fc.oneof(fc.constantFrom('ciba', 'other'), filter), { minLength: 1, maxLength: 2 }),
          'detail-type': fc.array(fc.oneof(fc.constantFrom('CIBA Request Decided', 'CIBA Tokens Issued'), filter), {
            minLength: 1,
            maxLength: 2,
          }),
          detail: detailPattern,
          account: fc.array(fc.constantFrom('111122223333', '999999999999'), { minLength: 1, maxLength: 1 }),
        },
        { requiredKeys: [] },
      )
      .chain((p) => fc.oneof(fc.constant(p as Record<string, unknown>), fc.constant({ $or: [p, { source: ['x'] }] })));
    fc.assert(
      fc.property(pattern, fc.constantFrom('CIBA Request Decided', 'CIBA Tokens Issued'), detail, (p, type, d) => {
        const e = event(type, d);
        let matches: boolean;
        try {
          matches = matchesPattern(p as never, onBus(e) as never);
        } catch {
          return; // a pattern EventBridge would refuse
        }
        if (matches) expect(mayTake(p, e)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
