import { describe, expect, it } from 'vitest';
import { matchesPattern, selectPath, transformInput } from './event-pattern.ts';

const event = {
  source: 'ciba',
  'detail-type': 'CIBA Request Decided',
  detail: {
    tenant_id: 'acme',
    delivery_mode: 'ping',
    status: 'approved',
    attempt: 3,
    ip: '10.0.1.7',
    tags: ['a', 'b'],
  },
};

describe('EventBridge event patterns', () => {
  it.each([
    [{ source: ['ciba'] }, true],
    [{ source: ['other'] }, false],
    [{ detail: { tenant_id: ['acme'], delivery_mode: ['ping', 'push'] } }, true],
    [{ detail: { tenant_id: ['bank'] } }, false],
    [{ detail: { status: [{ prefix: 'appr' }] } }, true],
    [{ detail: { status: [{ suffix: 'oved' }] } }, true],
    [{ detail: { status: [{ 'equals-ignore-case': 'APPROVED' }] } }, true],
    [{ detail: { status: [{ 'anything-but': ['denied'] }] } }, true],
    [{ detail: { status: [{ 'anything-but': { prefix: 'app' } }] } }, false],
    [{ detail: { attempt: [{ numeric: ['>', 2, '<=', 3] }] } }, true],
    [{ detail: { attempt: [{ numeric: ['<', 3] }] } }, false],
    [{ detail: { missing: [{ exists: false }] } }, true],
    [{ detail: { status: [{ exists: false }] } }, false],
    [{ detail: { status: [{ wildcard: 'app*d' }] } }, true],
    [{ detail: { ip: [{ cidr: '10.0.0.0/16' }] } }, true],
    [{ detail: { ip: [{ cidr: '10.1.0.0/16' }] } }, false],
    [{ detail: { tags: ['b'] } }, true],
    [{ $or: [{ source: ['x'] }, { detail: { tenant_id: ['acme'] } }] }, true],
    [{ source: ['ciba'], detail: { tenant_id: ['acme'], status: ['denied'] } }, false],
  ])('%j matches: %s', (pattern, expected) => {
    expect(matchesPattern(pattern as never, event as never)).toBe(expected);
  });
});

describe('EventBridge input paths and transformers', () => {
  it('selects a path and renders a template with values inside and outside strings', () => {
    expect(selectPath(event as never, '$.detail.tags[1]')).toBe('b');
    const out = transformInput(
      {
        InputPathsMap: { tenant: '$.detail.tenant_id', attempt: '$.detail.attempt', none: '$.detail.nothing' },
        InputTemplate:
          '{"text": "tenant <tenant> try <attempt>", "attempt": <attempt>, "tenant": <tenant>, "none": <none>, "rule": "<aws.events.rule-name>"}',
      },
      event as never,
      { arn: 'arn:aws:events:eu-west-1:1:rule/b/r', name: 'r', ingestionTime: 't' },
    );
    expect(JSON.parse(out)).toEqual({ text: 'tenant acme try 3', attempt: 3, tenant: 'acme', none: null, rule: 'r' });
  });
});
