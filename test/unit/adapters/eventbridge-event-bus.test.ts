import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
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
