import { Logger as PowertoolsBaseLogger } from '@aws-lambda-powertools/logger';
import { CreatePlatformEndpointCommand, InternalErrorException, PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { marshall } from '@aws-sdk/util-dynamodb';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHandler as eventsHandler } from '../../functions/events/handler.ts';
import { buildCibaApp } from '../../infra/ciba-app.ts';
import { requestItem } from '../../lib/adapters/dynamodb/items.ts';
import { PowertoolsLogger } from '../../lib/adapters/powertools-logger.ts';
import { SnsDeviceNotifier } from '../../lib/adapters/sns-device-notifier.ts';
import { admitClientRequest } from '../../lib/ciba/abuse-limits.ts';
import { sendApprovalLink } from '../../lib/ciba/approval-links.ts';
import { deliverCallback } from '../../lib/ciba/deliver-callback.ts';
import type { AuthRequest, Client, Tenant, User } from '../../lib/model.ts';
import { fakeWorld, T0, TXN } from '../helpers/callback-fakes.ts';

/**
 * The deployment's log metric filters and Contributor Insights rules match literal messages and fields of the log
 * lines. Each is run here, as the template has it, over the lines the real code paths write through the Powertools
 * logger the functions use (and over API Gateway's access log line, in the stage's format): a reworded message, a
 * renamed field or a line without its tenant fails here, not silently in CloudWatch.
 */

type Line = Record<string, unknown>;

/** What a metric filter pattern of the template says, for the only form the deployment writes: `$.field = "text"`, or-ed. */
const metricFilterMatches = (pattern: string, line: Line): boolean => {
  const body = /^\{ (.*) \}$/.exec(pattern)?.[1];
  if (!body) throw new Error(`unsupported filter pattern ${pattern}`);
  const terms = body.includes(' || ') ? body.split(' || ').map((t) => /^\((.*)\)$/.exec(t)?.[1]) : [body];
  return terms.some((term) => {
    const m = term && /^\$\.([A-Za-z_]+) = "([^"*]*)"$/.exec(term);
    if (!m) throw new Error(`unsupported filter term ${term} in ${pattern}`);
    return line[m[1]!] === m[2];
  });
};

type Rule = {
  LogFormat: string;
  Contribution: { Keys: string[]; Filters: { Match: string; In?: string[]; StartsWith?: string[] }[] };
};

/** A Contributor Insights rule over one line: the key it counts the line under, or undefined when it skips it. */
const contributorOf = (rule: Rule, line: Line): string | undefined => {
  const field = (path: string) => {
    const m = /^\$\.([A-Za-z_]+)$/.exec(path);
    if (!m) throw new Error(`unsupported path ${path}`);
    return line[m[1]!];
  };
  const matched = rule.Contribution.Filters.every((f) => {
    const known = Object.keys(f).filter((k) => k !== 'Match');
    if (known.some((k) => k !== 'In' && k !== 'StartsWith')) throw new Error(`unsupported filter ${JSON.stringify(f)}`);
    const value = field(f.Match);
    if (typeof value !== 'string') return false;
    return (f.In ?? []).includes(value) || (f.StartsWith ?? []).some((s) => value.startsWith(s));
  });
  if (!matched) return undefined;
  const key = field(rule.Contribution.Keys[0]!);
  return typeof key === 'string' ? key : undefined;
};

/** The template's JSON, with each reference (a log group's name) as a placeholder. */
const joined = (value: unknown): string => {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
  return join[1].map((p) => (typeof p === 'string' ? p : 'log-group')).join(join[0]);
};

let filters: { metric: string; pattern: string }[];
let rules: Map<string, Rule>;
let accessLogFormat: string;

beforeAll(() => {
  const app = buildCibaApp(
    new App({ context: { 'ciba:bundling': 'stub', 'ciba:tenants': 'test/fixtures/infra-tenants.json' } }),
  );
  const template = Template.fromStack(app.service);
  filters = Object.values(template.findResources('AWS::Logs::MetricFilter')).map((f) => ({
    metric: (f.Properties.MetricTransformations as { MetricName: string }[])[0]!.MetricName,
    pattern: f.Properties.FilterPattern as string,
  }));
  rules = new Map(
    Object.values(template.findResources('AWS::CloudWatch::InsightRule')).map((r) => [
      (r.Properties.RuleName as string).replace(/^ciba-/, ''),
      JSON.parse(joined(r.Properties.RuleBody)) as Rule,
    ]),
  );
  const stage = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'))[0]!;
  accessLogFormat = (stage.Properties.AccessLogSettings as { Format: string }).Format;
});

/** Every line the Powertools logger writes meanwhile (warnings and errors go to stderr), parsed. */
const captured = async (run: (logger: PowertoolsLogger) => Promise<unknown>): Promise<Line[]> => {
  const lines: string[] = [];
  const keep = (chunk: unknown) => {
    lines.push(String(chunk));
    return true;
  };
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(keep);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(keep);
  try {
    await run(new PowertoolsLogger(new PowertoolsBaseLogger({ serviceName: 'ciba-test', logLevel: 'INFO' })));
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  return lines
    .flatMap((l) => l.split('\n'))
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line);
};

afterEach(() => vi.restoreAllMocks());

const tenant = (settings: Partial<Tenant['settings']> = {}): Tenant => {
  const w = fakeWorld({ settings });
  return w.state.tenants.get('acme')!;
};
const client: Client = fakeWorld().state.clients.get('acme\u0000rp')!;
const request = (): AuthRequest => ({ ...fakeWorld({ status: 'pending' }).state.requests.get(TXN)! });
const user: User = {
  tenantId: 'acme',
  sub: 'alice',
  claims: { phone_number: '+14155550100', email: 'alice@example.com' },
  devices: [],
  createdAt: T0,
  updatedAt: T0,
};

/** The code paths behind each logged problem, each writing its lines through the functions' logger. */
const scenarios: Record<string, () => Promise<Line[]>> = {
  'a callback that fails and is retried': () =>
    captured(async (logger) => {
      const w = fakeWorld({ mode: 'ping' });
      w.answers = [{ status: 500 }];
      await deliverCallback({ ...w.deps, logger }, { tenantId: 'acme', txn: TXN, attempt: 1, reason: 'decided' });
    }),
  'a callback dead-lettered': () =>
    captured(async (logger) => {
      const w = fakeWorld({ mode: 'ping' });
      w.answers = [{ error: 'destination refused: 10.0.0.1 is a private or reserved address', permanent: true }];
      await deliverCallback({ ...w.deps, logger }, { tenantId: 'acme', txn: TXN, attempt: 1, reason: 'decided' });
    }),
  'a backchannel request over its client limit': () =>
    captured(async (logger) => {
      const w = fakeWorld();
      const over = tenant({ clientRateLimitPerMinute: 1 });
      const deps = { admission: w.store.admission, logger };
      await admitClientRequest(deps, { tenant: over, client, now: T0 });
      await admitClientRequest(deps, { tenant: over, client, now: T0 + 1 }).catch(() => undefined);
    }),
  'a push SNS refuses': () =>
    captured(async (logger) => {
      const sns = mockClient(SNSClient);
      sns.on(PublishCommand).rejects(new InternalErrorException({ message: 'throttled', $metadata: {} }));
      sns
        .on(CreatePlatformEndpointCommand)
        .rejects(new InternalErrorException({ message: 'throttled', $metadata: {} }));
      const notifier = new SnsDeviceNotifier({
        client: new SNSClient({ region: 'eu-west-1' }),
        platformApplicationArnTemplate: 'arn:aws:sns:eu-west-1:111122223333:app/{platform}/ciba-{tenant}',
        logger,
      });
      const endpointArn = 'arn:aws:sns:eu-west-1:111122223333:endpoint/GCM/ciba-acme/1';
      await notifier.notify(
        { deviceId: 'dev-1', name: 'Phone', createdAt: T0, push: { type: 'fcm', token: 't', endpointArn } },
        { tenantId: 'acme', txn: TXN, title: 'Approve?', body: 'Open', expiresAt: Date.now() + 60_000 },
      );
      await notifier.register('acme', 'dev-2', { type: 'fcm', token: 't2' }).catch(() => undefined);
      sns.restore();
    }),
  'an SMS held back by the daily limit': () =>
    captured(async (logger) => {
      const w = fakeWorld();
      const capped = tenant({ smsDailyLimit: 1 });
      const deps = { links: w.store.links, sender: { send: async () => {} }, clock: w.clock, logger };
      for (const txn of [TXN, `${TXN.slice(0, -1)}B`]) {
        await sendApprovalLink(deps, { tenant: capped, client, user, request: { ...request(), txn }, channel: 'sms' });
      }
    }),
  'an approval link SNS refuses': () =>
    captured(async (logger) => {
      const w = fakeWorld();
      const deps = {
        links: w.store.links,
        sender: { send: async () => Promise.reject(new InternalErrorException({ message: 'spend', $metadata: {} })) },
        clock: w.clock,
        logger,
      };
      await sendApprovalLink(deps, { tenant: tenant(), client, user, request: request(), channel: 'sms' });
    }),
  'a decision the events function cannot publish': () =>
    captured(async (logger) => {
      const before = request();
      const after: AuthRequest = { ...before, status: 'approved', decidedAt: T0 + 1_000, authTime: T0 + 1_000 };
      const image = (r: AuthRequest) =>
        marshall({ pk: `REQ#${r.txn}`, ...requestItem.toItem(r) }, { removeUndefinedValues: true });
      const down = async () => Promise.reject(new Error('down'));
      const handler = eventsHandler({
        events: { publish: down },
        scheduler: { schedule: down },
        clock: { now: () => T0 + 2_000 },
        logger,
      } as never);
      await handler(
        {
          Records: [
            {
              eventName: 'MODIFY',
              dynamodb: { NewImage: image(after), OldImage: image(before), SequenceNumber: '1' },
            },
          ],
        } as never,
        { functionName: 'events' } as never,
      );
    }),
};

/** API Gateway's access log line for a request, in the stage's format. */
const accessLine = (status: string, path: string): Line =>
  JSON.parse(
    accessLogFormat
      .replaceAll('$context.status', status)
      .replaceAll('$context.path', path)
      .replaceAll(/\$context\.[A-Za-z.]+/g, '-'),
  ) as Line;

/** Each logged problem: the scenario whose lines it must count (once per line), its metric and its rule. */
const EXPECTED: { metric?: string; rule?: string; scenario: string; lines: number }[] = [
  { rule: 'CallbackFailuresByTenant', scenario: 'a callback that fails and is retried', lines: 1 },
  { rule: 'CallbackFailuresByTenant', scenario: 'a callback dead-lettered', lines: 1 },
  {
    metric: 'CapacityRefusals',
    rule: 'RefusedRequestsByTenant',
    scenario: 'a backchannel request over its client limit',
    lines: 1,
  },
  { metric: 'PushNotificationsFailed', rule: 'PushFailuresByTenant', scenario: 'a push SNS refuses', lines: 2 },
  {
    metric: 'SmsDailyLimitReached',
    rule: 'SmsDailyLimitByTenant',
    scenario: 'an SMS held back by the daily limit',
    lines: 1,
  },
  {
    metric: 'ApprovalLinksNotSent',
    rule: 'LinkSendFailuresByTenant',
    scenario: 'an approval link SNS refuses',
    lines: 1,
  },
  {
    metric: 'DecisionsNotPublished',
    rule: 'DecisionPublishFailuresByTenant',
    scenario: 'a decision the events function cannot publish',
    lines: 1,
  },
];

describe('log metric filters and Contributor Insights rules, over the lines the code writes', () => {
  let lines: Record<string, Line[]>;
  beforeAll(async () => {
    lines = {};
    for (const [name, run] of Object.entries(scenarios)) lines[name] = await run();
  });

  it('cover every filter and rule of the template', () => {
    expect(new Set(filters.map((f) => f.metric))).toEqual(
      new Set([...EXPECTED.flatMap((e) => (e.metric ? [e.metric] : [])), 'ApiThrottledRequests']),
    );
    expect(new Set(rules.keys())).toEqual(
      new Set([...EXPECTED.flatMap((e) => (e.rule ? [e.rule] : [])), 'ThrottledRequestsByPath']),
    );
  });

  it.each(EXPECTED)(
    '$scenario: counted by its metric filter and by tenant in its rule',
    ({ metric, rule, scenario, lines: n }) => {
      const written = lines[scenario]!;
      if (metric) {
        for (const { pattern } of filters.filter((f) => f.metric === metric)) {
          expect(written.filter((l) => metricFilterMatches(pattern, l)).length, `${metric}: ${pattern}`).toBe(n);
          // Nothing of the other scenarios counts in it.
          for (const [other, otherLines] of Object.entries(lines)) {
            if (EXPECTED.some((e) => e.scenario === other && e.metric === metric)) continue;
            expect(
              otherLines.filter((l) => metricFilterMatches(pattern, l)),
              `${metric} on ${other}`,
            ).toEqual([]);
          }
        }
      }
      if (rule) {
        const body = rules.get(rule)!;
        expect(body.Contribution.Keys).toEqual(['$.tenant']);
        expect(written.map((l) => contributorOf(body, l)).filter((k) => k !== undefined)).toEqual(
          Array(n).fill('acme'),
        );
      }
    },
  );

  it("counts API Gateway's 429s from the access log by path, which starts with the tenant", () => {
    const [pattern] = filters.filter((f) => f.metric === 'ApiThrottledRequests').map((f) => f.pattern);
    const throttled = accessLine('429', '/acme/bc-authorize');
    expect(metricFilterMatches(pattern!, throttled)).toBe(true);
    expect(metricFilterMatches(pattern!, accessLine('200', '/acme/bc-authorize'))).toBe(false);
    expect(contributorOf(rules.get('ThrottledRequestsByPath')!, throttled)).toBe('/acme/bc-authorize');
    expect(contributorOf(rules.get('ThrottledRequestsByPath')!, accessLine('503', '/acme/bc-authorize'))).toBe(
      undefined,
    );
  });
});
