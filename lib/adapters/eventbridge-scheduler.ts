import { createHash } from 'node:crypto';
import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  ResourceNotFoundException,
  type SchedulerClient,
} from '@aws-sdk/client-scheduler';
import { timerIdentity } from '../events.ts';
import type { CibaEvent, Clock, Scheduler } from '../ports.ts';
import { toEventBridgeEvent } from './eventbridge-format.ts';

export interface EventBridgeSchedulerOptions {
  client: SchedulerClient;
  /** The deployment's schedule group. */
  groupName: string;
  /** The callback function, which receives the event exactly as an EventBridge rule would hand it over. */
  targetArn: string;
  /** The role EventBridge Scheduler assumes to invoke the target (and to send to the dead-letter queue). */
  roleArn: string;
  /**
   * The SQS queue that receives a schedule's event when every retry of the invocation failed: without it, Scheduler
   * drops the event (a push-mode expiry or a callback retry would vanish).
   */
  deadLetterArn?: string;
  clock?: Clock;
}

/** EventBridge Scheduler runs a one-time schedule within its minute; one in the past is moved to just ahead. */
const MIN_LEAD_MS = 5_000;

/**
 * Callback retries and push-mode expiry as one-time EventBridge Scheduler schedules that delete themselves
 * after running. The schedule name derives from the event, so scheduling the same event twice is a no-op
 * (`ConflictException`), not a second run.
 */
export class EventBridgeScheduler implements Scheduler {
  readonly #client: SchedulerClient;
  readonly #options: EventBridgeSchedulerOptions;
  readonly #clock: Clock;

  constructor(options: EventBridgeSchedulerOptions) {
    this.#client = options.client;
    this.#options = options;
    this.#clock = options.clock ?? { now: Date.now };
  }

  async schedule(at: number, event: CibaEvent): Promise<void> {
    const now = this.#clock.now();
    const when = Math.max(at, now + MIN_LEAD_MS);
    const name = scheduleName(event);
    try {
      await this.#client.send(
        new CreateScheduleCommand({
          Name: name,
          GroupName: this.#options.groupName,
          // at(yyyy-mm-ddThh:mm:ss), no fraction, no zone: the zone is the next field.
          ScheduleExpression: `at(${new Date(when).toISOString().slice(0, 19)})`,
          ScheduleExpressionTimezone: 'UTC',
          FlexibleTimeWindow: { Mode: 'OFF' },
          ActionAfterCompletion: 'DELETE',
          Target: {
            Arn: this.#options.targetArn,
            RoleArn: this.#options.roleArn,
            Input: JSON.stringify(toEventBridgeEvent(event, { id: name, time: when })),
            RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 3600 },
            ...(this.#options.deadLetterArn ? { DeadLetterConfig: { Arn: this.#options.deadLetterArn } } : {}),
          },
        }),
      );
    } catch (error) {
      if (error instanceof ConflictException || (error as { name?: string }).name === 'ConflictException') return;
      throw error;
    }
  }

  /** DeleteSchedule of the event's schedule; one that ran has deleted itself (`ActionAfterCompletion`). */
  async cancel(event: CibaEvent): Promise<boolean> {
    try {
      await this.#client.send(
        new DeleteScheduleCommand({ Name: scheduleName(event), GroupName: this.#options.groupName }),
      );
      return true;
    } catch (error) {
      if (
        error instanceof ResourceNotFoundException ||
        (error as { name?: string }).name === 'ResourceNotFoundException'
      ) {
        return false;
      }
      throw error;
    }
  }
}

/** `[0-9a-zA-Z-_.]{1,64}`: the event type in short, and a digest of the whole event. */
export const scheduleName = (event: CibaEvent): string => {
  const kind = event.type
    .replace(/^CIBA /, '')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .toLowerCase()
    .slice(0, 20);
  const digest = createHash('sha256')
    .update(timerIdentity(event))
    .digest('base64url')
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, 40);
  return `${kind}-${digest}`;
};
