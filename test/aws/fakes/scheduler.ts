import { randomUUID } from 'node:crypto';
import type { Caller, PolicyDocument } from '../iam.ts';
import { classifyInvokeError, type LambdaRuntime, LambdaServiceError } from '../lambda.ts';
import {
  AwsError,
  authorize,
  type Core,
  type Endpoint,
  type FakeRequest,
  type FakeResponse,
  startEndpoint,
} from './endpoint.ts';
import type { FakeSqs } from './sqs.ts';

/**
 * EventBridge Scheduler (REST-JSON): one-time `at()` schedules in the template's schedule groups (and `default`).
 * CreateSchedule is authorized on the schedule's ARN and, as AWS does, `iam:PassRole` on the target role with
 * `iam:PassedToService`. A schedule fires when the harness clock reaches its time: Scheduler assumes the target role
 * (its trust policy must allow `scheduler.amazonaws.com`) and invokes the Lambda target asynchronously with that
 * role's permissions; a throttled invocation is retried within the retry policy; what still fails goes to the
 * target's dead-letter queue, sent with the same role, with Scheduler's message attributes, or is lost without one.
 * `ActionAfterCompletion: DELETE` deletes the schedule after it ran.
 *
 * Not covered: `rate()` and `cron()` schedules (accepted, never fired), time zones other than UTC, flexible windows,
 * targets other than Lambda functions.
 */

export interface RoleInfo {
  arn: string;
  name: string;
  trust: PolicyDocument;
  policies: { name: string; document: PolicyDocument }[];
}

export interface FakeSchedule {
  name: string;
  group: string;
  arn: string;
  expression: string;
  at?: number;
  input: Record<string, unknown>;
  createdBy: string;
}

export interface LostSchedule {
  schedule: string;
  errorCode: string;
  input: string;
}

const SERVICE: Caller = { arn: 'scheduler.amazonaws.com', policies: [] };

export class FakeScheduler {
  readonly groups = new Set(['default']);
  readonly schedules = new Map<string, FakeSchedule>();
  /** Schedules that ran out of retries with no dead-letter queue (or one that refused them). */
  readonly lost: LostSchedule[] = [];
  readonly fired: { schedule: string; at: number }[] = [];
  endpoint?: Endpoint;
  /** While set, CreateSchedule fails with this error (an outage or throttling). */
  outage?: AwsError;

  constructor(
    readonly core: Core,
    readonly lambda: LambdaRuntime,
    readonly sqs: FakeSqs,
    readonly roleByArn: (arn: string) => RoleInfo | undefined,
  ) {}

  async start(): Promise<void> {
    this.endpoint = await startEndpoint(this.core, {
      signingName: 'scheduler',
      protocol: 'rest-json',
      handle: (request) => this.#handle(request),
    });
  }

  #arn(group: string, name: string) {
    return `arn:aws:scheduler:${this.core.region}:${this.core.account}:schedule/${group}/${name}`;
  }

  async #handle(request: FakeRequest): Promise<FakeResponse> {
    const m = /^\/schedules\/([^/]+)$/.exec(request.path);
    if (!m)
      throw new AwsError(
        'UnknownOperationException',
        `harness: Scheduler ${request.method} ${request.path} is not implemented`,
        404,
      );
    const name = decodeURIComponent(m[1]!);
    const query = new URLSearchParams(request.query);
    const denied = { code: 'AccessDeniedException', status: 403 };
    if (request.method === 'POST') {
      const input = JSON.parse(request.body.toString('utf8') || '{}') as Record<string, unknown>;
      const group = String(input.GroupName ?? 'default');
      const arn = this.#arn(group, name);
      await authorize(this.core, 'scheduler', denied, request.caller, 'scheduler:CreateSchedule', arn);
      const target = (input.Target ?? {}) as Record<string, unknown>;
      // Creating a schedule hands the target role to Scheduler: iam:PassRole on it, for that service.
      await authorize(this.core, 'iam', denied, request.caller, 'iam:PassRole', String(target.RoleArn ?? ''), {
        context: { 'iam:PassedToService': 'scheduler.amazonaws.com' },
      });
      if (this.outage) throw this.outage;
      if (!/^[0-9a-zA-Z-_.]{1,64}$/.test(name)) throw new AwsError('ValidationException', 'Invalid schedule name', 400);
      if (!this.groups.has(group))
        throw new AwsError('ResourceNotFoundException', `Schedule group ${group} does not exist.`, 404);
      if (!input.FlexibleTimeWindow || !target.Arn || !target.RoleArn) {
        throw new AwsError(
          'ValidationException',
          'FlexibleTimeWindow, Target.Arn and Target.RoleArn are required',
          400,
        );
      }
      const key = `${group}/${name}`;
      if (this.schedules.has(key)) throw new AwsError('ConflictException', `Schedule ${name} already exists.`, 409);
      const expression = String(input.ScheduleExpression ?? '');
      const at = /^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$/.exec(expression);
      if (!at && !/^(rate|cron)\(.+\)$/.test(expression))
        throw new AwsError('ValidationException', `Invalid Schedule Expression ${expression}.`, 400);
      const timezone = String(input.ScheduleExpressionTimezone ?? 'UTC');
      if (timezone !== 'UTC')
        throw new AwsError('ValidationException', `harness: time zone ${timezone} is not supported`, 400);
      const schedule: FakeSchedule = {
        name,
        group,
        arn,
        expression,
        ...(at ? { at: Date.parse(`${at[1]}Z`) } : {}),
        input,
        createdBy: request.caller.functionName ?? request.caller.arn,
      };
      this.schedules.set(key, schedule);
      if (schedule.at !== undefined) {
        this.core.clock.at(schedule.at, `schedule ${key}`, () => this.#fire(schedule, 0));
      }
      return {
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ScheduleArn: arn }),
      };
    }
    const group = query.get('groupName') ?? 'default';
    const key = `${group}/${name}`;
    const schedule = this.schedules.get(key);
    if (request.method === 'GET' || request.method === 'DELETE') {
      await authorize(
        this.core,
        'scheduler',
        denied,
        request.caller,
        `scheduler:${request.method === 'GET' ? 'GetSchedule' : 'DeleteSchedule'}`,
        this.#arn(group, name),
      );
      if (!schedule) throw new AwsError('ResourceNotFoundException', `Schedule ${name} does not exist.`, 404);
      if (request.method === 'DELETE') this.schedules.delete(key);
      return {
        status: 200,
        headers: { 'content-type': 'application/json' },
        body:
          request.method === 'DELETE'
            ? '{}'
            : JSON.stringify({
                Arn: schedule.arn,
                Name: name,
                GroupName: group,
                ScheduleExpression: schedule.expression,
                Target: schedule.input.Target,
              }),
      };
    }
    throw new AwsError('UnknownOperationException', `harness: Scheduler ${request.method} is not implemented`, 404);
  }

  async #fire(schedule: FakeSchedule, retries: number): Promise<void> {
    const key = `${schedule.group}/${schedule.name}`;
    if (this.schedules.get(key) !== schedule) return; // deleted meanwhile
    this.fired.push({ schedule: key, at: this.core.clock.now() });
    const target = schedule.input.Target as {
      Arn: string;
      RoleArn: string;
      Input?: string;
      RetryPolicy?: { MaximumRetryAttempts?: number; MaximumEventAgeInSeconds?: number };
      DeadLetterConfig?: { Arn: string };
    };
    const role = this.roleByArn(target.RoleArn);
    const session: Caller | undefined = role && {
      arn: `arn:aws:sts::${this.core.account}:assumed-role/${role.name}/${randomUUID().replaceAll('-', '').slice(0, 32)}`,
      roleArn: role.arn,
      policies: role.policies,
    };
    let error: { code: string; message: string; retryable: boolean } | undefined;
    try {
      if (!role || !session)
        throw new AwsError('AccessDeniedException', `Scheduler cannot assume ${target.RoleArn}: no such role`);
      await authorize(
        this.core,
        'sts',
        { code: 'AccessDeniedException', status: 403 },
        SERVICE,
        'sts:AssumeRole',
        role.arn,
        {
          resourcePolicy: role.trust,
          context: { 'aws:SourceAccount': this.core.account, 'aws:SourceArn': schedule.arn },
        },
      );
      const fn = this.lambda.find(target.Arn);
      if (!fn) throw new LambdaServiceError('ResourceNotFoundException', `Function not found: ${target.Arn}`, false);
      await authorize(
        this.core,
        'lambda',
        { code: 'AccessDeniedException', status: 403 },
        session,
        'lambda:InvokeFunction',
        fn.arn,
      );
      this.lambda.invokeAsync(fn.arn, JSON.parse(target.Input ?? '{}'));
    } catch (e) {
      error = classifyInvokeError(e, (x): x is AwsError => x instanceof AwsError);
    }
    const maxRetries = target.RetryPolicy?.MaximumRetryAttempts ?? 185;
    const maxAge = (target.RetryPolicy?.MaximumEventAgeInSeconds ?? 86_400) * 1000;
    if (error?.retryable && retries < maxRetries) {
      const delay = Math.min(1000 * 2 ** retries, 300_000);
      if (this.core.clock.now() + delay - schedule.at! <= maxAge) {
        this.core.clock.at(this.core.clock.now() + delay, `scheduler retry of ${key}`, () =>
          this.#fire(schedule, retries + 1),
        );
        return;
      }
    }
    if (error) {
      const letter = { schedule: schedule.arn, errorCode: error.code, input: target.Input ?? '' };
      if (target.DeadLetterConfig && session) {
        try {
          await this.sqs.sendAs(session, target.DeadLetterConfig.Arn, target.Input ?? '{}', {
            ERROR_CODE: { DataType: 'String', StringValue: error.code },
            ERROR_MESSAGE: { DataType: 'String', StringValue: error.message },
            EXECUTION_ID: { DataType: 'String', StringValue: randomUUID() },
            EXHAUSTED_RETRY_CONDITION: {
              DataType: 'String',
              StringValue: retries >= maxRetries ? 'MaximumRetryAttempts' : 'MaximumEventAgeInSeconds',
            },
            RETRY_ATTEMPTS: { DataType: 'Number', StringValue: String(retries) },
            SCHEDULE_ARN: { DataType: 'String', StringValue: schedule.arn },
            TARGET_ARN: { DataType: 'String', StringValue: target.Arn },
          });
        } catch {
          this.lost.push(letter);
        }
      } else this.lost.push(letter);
    }
    if (schedule.input.ActionAfterCompletion === 'DELETE') this.schedules.delete(key);
  }

  async stop(): Promise<void> {
    await this.endpoint?.close();
  }
}
