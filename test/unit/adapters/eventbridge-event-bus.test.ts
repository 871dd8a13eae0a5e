import { EventBridgeClient, ListRulesCommand, PutEventsCommand, type RuleState } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { EventBridgeEventBus } from '../../../lib/adapters/eventbridge-event-bus.ts';
import type { CibaEvent } from '../../../lib/ports.ts';

const eventbridge = mockClient(EventBridgeClient);
const sleeps: number[] = [];

const bus = (maxAttempts = 3) =>
  new EventBridgeEventBus({
    client: new EventBridgeClient({ region: 'eu-west-1' }),
    eventBusName: 'ciba-events',
    maxAttempts,
    baseDelayMs: 100,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 1,
  });

const event = (n: number, tenantId = 'acme'): CibaEvent => ({
  type: 'CIBA Request Decided',
  tenantId,
  detail: { txn: `txn-${n}`, status: 'approved' },
});

beforeEach(() => {
  eventbridge.reset();
  sleeps.length = 0;
});

describe('EventBridgeEventBus', () => {
  it('puts each event with source ciba, the event type as detail-type and the tenant in the detail', async () => {
    eventbridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });

    await bus().publish([event(1)]);

    expect(eventbridge.commandCalls(PutEventsCommand)[0]!.args[0].input).toEqual({
      Entries: [
        {
          EventBusName: 'ciba-events',
          Source: 'ciba',
          DetailType: 'CIBA Request Decided',
          Detail: JSON.stringify({ txn: 'txn-1', status: 'approved', tenant_id: 'acme' }),
        },
      ],
    });
  });

  it('takes the tenant from the event even if the detail names another', async () => {
    eventbridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
    await bus().publish([{ type: 'X', tenantId: 'acme', detail: { tenant_id: 'other' } }]);
    const detail = eventbridge.commandCalls(PutEventsCommand)[0]!.args[0].input.Entries![0]!.Detail!;
    expect(JSON.parse(detail)).toEqual({ tenant_id: 'acme' });
  });

  it('sends at most 10 entries per call', async () => {
    eventbridge.on(PutEventsCommand).callsFake((input) => ({
      FailedEntryCount: 0,
      Entries: input.Entries.map((_: unknown, i: number) => ({ EventId: `e-${i}` })),
    }));

    await bus().publish(Array.from({ length: 23 }, (_, i) => event(i)));

    const sizes = eventbridge.commandCalls(PutEventsCommand).map((c) => c.args[0].input.Entries!.length);
    expect(sizes).toEqual([10, 10, 3]);
  });

  it('does nothing for no events', async () => {
    await bus().publish([]);
    expect(eventbridge.calls()).toHaveLength(0);
  });

  it('retries only the failed entries, with growing backoff', async () => {
    eventbridge
      .on(PutEventsCommand)
      .resolvesOnce({
        FailedEntryCount: 2,
        Entries: [
          { ErrorCode: 'ThrottlingException', ErrorMessage: 'slow down' },
          { EventId: 'e-2' },
          { ErrorCode: 'InternalFailure', ErrorMessage: 'oops' },
        ],
      })
      .resolvesOnce({ FailedEntryCount: 1, Entries: [{ EventId: 'e-1' }, { ErrorCode: 'InternalFailure' }] })
      .resolvesOnce({ FailedEntryCount: 0, Entries: [{ EventId: 'e-3' }] });

    await bus().publish([event(1), event(2), event(3)]);

    const sent = eventbridge
      .commandCalls(PutEventsCommand)
      .map((c) => c.args[0].input.Entries!.map((e) => JSON.parse(e.Detail!).txn));
    expect(sent).toEqual([['txn-1', 'txn-2', 'txn-3'], ['txn-1', 'txn-3'], ['txn-3']]);
    expect(sleeps).toEqual([100, 200]);
  });

  it('throws when entries still fail after the last attempt', async () => {
    eventbridge
      .on(PutEventsCommand)
      .resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'oops' }] });

    await expect(bus(2).publish([event(1)])).rejects.toThrow(
      'EventBridge PutEvents failed for 1 event(s): InternalFailure',
    );
    expect(eventbridge.commandCalls(PutEventsCommand)).toHaveLength(2);
  });

  it('lets a failed call (the SDK already retried it) surface', async () => {
    eventbridge.on(PutEventsCommand).rejects(new Error('AccessDeniedException'));
    await expect(bus().publish([event(1)])).rejects.toThrow('AccessDeniedException');
  });
});

describe('EventBridgeEventBus: only the events a rule on the bus may take (ciba:events matched)', () => {
  let now = 0;
  const warnings: unknown[] = [];
  const matched = () =>
    new EventBridgeEventBus({
      client: new EventBridgeClient({ region: 'eu-west-1' }),
      eventBusName: 'ciba-events',
      put: 'matched',
      now: () => now,
      logger: { warn: (message, fields) => warnings.push({ message, ...fields }) },
    });
  const rule = (name: string, pattern: unknown, state: RuleState = 'ENABLED') => ({
    Name: name,
    EventPattern: JSON.stringify(pattern),
    State: state,
  });
  const callbacks = rule('callback', {
    source: ['ciba'],
    'detail-type': ['CIBA Request Decided'],
    detail: { delivery_mode: ['ping', 'push'] },
  });
  const decided = (txn: string, mode: string): CibaEvent => ({
    type: 'CIBA Request Decided',
    tenantId: 'acme',
    detail: { txn, status: 'approved', delivery_mode: mode },
  });
  const created: CibaEvent = { type: 'CIBA Request Created', tenantId: 'acme', detail: { txn: 'c' } };
  const putTxns = () =>
    eventbridge
      .commandCalls(PutEventsCommand)
      .flatMap((c) => c.args[0].input.Entries!.map((e) => JSON.parse(e.Detail!).txn));

  beforeEach(() => {
    now = 1_000_000;
    warnings.length = 0;
    eventbridge.on(PutEventsCommand).callsFake((input) => ({
      FailedEntryCount: 0,
      Entries: input.Entries.map((_: unknown, i: number) => ({ EventId: `e-${i}` })),
    }));
  });

  it('puts only the events an enabled rule may take, and nothing when none may', async () => {
    eventbridge
      .on(ListRulesCommand)
      .resolves({ Rules: [callbacks, rule('off', { source: ['ciba'] }, 'DISABLED'), { Name: 'schedule' }] });
    const bus = matched();

    await bus.publish([decided('poll-1', 'poll'), decided('ping-1', 'ping'), created]);
    await bus.publish([decided('poll-2', 'poll')]);

    expect(putTxns()).toEqual(['ping-1']);
    expect(eventbridge.commandCalls(PutEventsCommand)).toHaveLength(1);
    expect(eventbridge.commandCalls(ListRulesCommand)[0]!.args[0].input).toEqual({ EventBusName: 'ciba-events' });
  });

  it('reads the rules once a minute: a rule created on the bus takes events within that minute', async () => {
    eventbridge.on(ListRulesCommand).resolvesOnce({ Rules: [callbacks] });
    const bus = matched();
    await bus.publish([created]);
    eventbridge.on(ListRulesCommand).resolves({ Rules: [callbacks, rule('audit', { source: ['ciba'] })] });
    now += 59_999;
    await bus.publish([created]);
    expect(putTxns()).toEqual([]);
    now += 1;
    await bus.publish([created]);
    expect(putTxns()).toEqual(['c']);
    expect(eventbridge.commandCalls(ListRulesCommand)).toHaveLength(2);
  });

  it('reads every page of rules; concurrent publishes share one reading', async () => {
    eventbridge
      .on(ListRulesCommand)
      .resolvesOnce({ Rules: [callbacks], NextToken: 'p2' })
      .resolvesOnce({ Rules: [rule('audit', { 'detail-type': ['CIBA Request Created'] })] });
    const bus = matched();
    await Promise.all([bus.publish([created]), bus.publish([decided('poll-1', 'poll')])]);
    expect(putTxns()).toEqual(['c']);
    expect(eventbridge.commandCalls(ListRulesCommand).map((c) => c.args[0].input.NextToken)).toEqual([undefined, 'p2']);
  });

  it('puts every event when the rules cannot be read, says so, and reads them again a minute later', async () => {
    eventbridge
      .on(ListRulesCommand)
      .rejectsOnce(new Error('AccessDeniedException'))
      .resolves({ Rules: [callbacks] });
    const bus = matched();
    await bus.publish([created, decided('poll-1', 'poll')]);
    await bus.publish([created]);
    expect(putTxns()).toEqual(['c', 'poll-1', 'c']);
    expect(warnings).toEqual([
      { message: 'event bus rules unreadable: every event is put', bus: 'ciba-events', error: 'AccessDeniedException' },
    ]);
    now += 60_000;
    await bus.publish([created]);
    expect(putTxns()).toEqual(['c', 'poll-1', 'c']);
    expect(eventbridge.commandCalls(ListRulesCommand)).toHaveLength(2);
  });

  it('puts every event when the bus has more rules than it reads (10 pages)', async () => {
    eventbridge.on(ListRulesCommand).resolves({ Rules: [callbacks], NextToken: 'more' });
    await matched().publish([created]);
    expect(putTxns()).toEqual(['c']);
    expect(eventbridge.commandCalls(ListRulesCommand)).toHaveLength(10);
  });

  it('reads no rules with ciba:events all', async () => {
    await bus().publish([created]);
    expect(putTxns()).toEqual(['c']);
    expect(eventbridge.commandCalls(ListRulesCommand)).toHaveLength(0);
  });
});
