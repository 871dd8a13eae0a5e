import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  ResourceNotFoundException,
  SchedulerClient,
} from '@aws-sdk/client-scheduler';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { EventBridgeScheduler, scheduleName } from '../../../lib/adapters/eventbridge-scheduler.ts';
import type { CibaEvent } from '../../../lib/ports.ts';

const scheduler = mockClient(SchedulerClient);
const NOW = Date.UTC(2025, 5, 15, 12, 0, 0);
const FN = 'arn:aws:lambda:eu-west-1:111122223333:function:ciba-callback';
const ROLE = 'arn:aws:iam::111122223333:role/ciba-scheduler';
const DLQ = 'arn:aws:sqs:eu-west-1:111122223333:ciba-schedule-dead-letters';

const adapter = () =>
  new EventBridgeScheduler({
    client: new SchedulerClient({ region: 'eu-west-1' }),
    groupName: 'ciba',
    targetArn: FN,
    roleArn: ROLE,
    deadLetterArn: DLQ,
    clock: { now: () => NOW },
  });

const retry: CibaEvent = { type: 'CIBA Callback Retry', tenantId: 'acme', detail: { txn: 'txn-1', attempt: 2 } };

beforeEach(() => scheduler.reset());

describe('EventBridgeScheduler', () => {
  it('creates a one-time, self-deleting schedule that hands the callback function an EventBridge-shaped event', async () => {
    scheduler.on(CreateScheduleCommand).resolves({ ScheduleArn: 'arn:schedule' });

    await adapter().schedule(NOW + 90_000, retry);

    const input = scheduler.commandCalls(CreateScheduleCommand)[0]!.args[0].input;
    expect(input).toEqual({
      Name: scheduleName(retry),
      GroupName: 'ciba',
      ScheduleExpression: 'at(2025-06-15T12:01:30)',
      ScheduleExpressionTimezone: 'UTC',
      FlexibleTimeWindow: { Mode: 'OFF' },
      ActionAfterCompletion: 'DELETE',
      Target: {
        Arn: FN,
        RoleArn: ROLE,
        Input: expect.any(String),
        RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 3600 },
        // After the retries, the event goes to the dead-letter queue instead of vanishing.
        DeadLetterConfig: { Arn: DLQ },
      },
    });
    expect(JSON.parse(input.Target!.Input!)).toMatchObject({
      'detail-type': 'CIBA Callback Retry',
      source: 'ciba',
      detail: { txn: 'txn-1', attempt: 2, tenant_id: 'acme' },
    });
    expect(input.Name).toMatch(/^[0-9a-zA-Z-_.]{1,64}$/);
  });

  it('moves a time in the past to just ahead', async () => {
    scheduler.on(CreateScheduleCommand).resolves({});
    await adapter().schedule(NOW - 60_000, retry);
    expect(scheduler.commandCalls(CreateScheduleCommand)[0]!.args[0].input.ScheduleExpression).toBe(
      'at(2025-06-15T12:00:05)',
    );
  });

  it('treats an existing schedule for the same event as done', async () => {
    scheduler
      .on(CreateScheduleCommand)
      .rejects(new ConflictException({ message: 'exists', Message: 'exists', $metadata: {} }));
    await expect(adapter().schedule(NOW + 1000, retry)).resolves.toBeUndefined();
  });

  it('withdraws an event by deleting the schedule of its name: false when there is none, other errors thrown', async () => {
    scheduler
      .on(DeleteScheduleCommand)
      .resolvesOnce({})
      .rejectsOnce(new ResourceNotFoundException({ message: 'gone', Message: 'gone', $metadata: {} }));
    expect(await adapter().cancel(retry)).toBe(true);
    expect(await adapter().cancel(retry)).toBe(false);
    expect(scheduler.commandCalls(DeleteScheduleCommand).map((c) => c.args[0].input)).toEqual([
      { Name: scheduleName(retry), GroupName: 'ciba' },
      { Name: scheduleName(retry), GroupName: 'ciba' },
    ]);
    scheduler.on(DeleteScheduleCommand).rejects(new Error('throttled'));
    await expect(adapter().cancel(retry)).rejects.toThrow('throttled');
  });

  it('names different events differently and the same event the same', () => {
    expect(scheduleName(retry)).toBe(scheduleName({ ...retry, detail: { txn: 'txn-1', attempt: 2 } }));
    expect(scheduleName(retry)).not.toBe(scheduleName({ ...retry, detail: { txn: 'txn-1', attempt: 3 } }));
    expect(scheduleName({ type: 'CIBA Request Expiry', tenantId: 'acme', detail: { txn: 't' } })).toMatch(
      /^request-expiry-/,
    );
  });
});
