import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Annotations, type App, Tags } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { EVENTS_PUT, type EventsPut, eventsPutOf } from '../lib/adapters/eventbridge-event-bus.ts';
import { TENANT_METRICS, type TenantMetrics, tenantMetricsOf } from '../lib/adapters/metrics-event-bus.ts';
import { LAMBDA_SYSTEM_LOG_LEVELS, type LambdaSystemLogLevel } from './ciba-function.ts';
import { ServiceStack, THROTTLE_DEFAULTS, type ThrottleConfig } from './service-stack.ts';
import { StatefulStack, type TableCapacity } from './stateful-stack.ts';
import { parseTenantsFile } from './tenants.ts';

/**
 * Context keys (cdk.json or `-c key=value`); every one is optional.
 * - `ciba:prefix`: names this deployment (stack names, bus, aliases, SNS apps); default `ciba`.
 * - `ciba:tenants`: the tenants file; default `infra/tenants.json`, else the example file (with a warning).
 * - `ciba:domainName`, `ciba:certificateArn`: custom domain (never asks for a client certificate).
 * - `ciba:mtlsDomainName`, `ciba:mtlsCertificateArn`, `ciba:truststoreUri` (`s3://bucket/key`), `ciba:truststoreVersion`,
 *   `ciba:mtlsOwnershipCertificateArn`: the second custom domain, for mutual-TLS clients (`mtls_endpoint_aliases`).
 * - `ciba:throttles`: JSON `{"<function or default>": {"rate": n, "burst": n}}`, per route of the group (requests/s);
 *   `THROTTLE_DEFAULTS` otherwise. `ciba:throttleRate`, `ciba:throttleBurst` (older): the default group's.
 * - `ciba:legacyKeys`: `keep` keeps the per-tenant KMS keys of deployments before keysets in the template for the
 *   deployment that upgrades (docs/deploy.md "Upgrading").
 * - `ciba:alarmTopicArn`: SNS topic for alarm notifications.
 * - `ciba:emailFrom`, `ciba:smsSenderId`: approval links by email (the verified SES identity's address; its domain
 *   must be a verified identity) and by SMS (an alphanumeric sender ID); docs/channels.md.
 * - `ciba:console`: `true` lets the web function serve the operator console (it then gets bc-authorize's and
 *   token's permissions); tenants opt in with `console_client_id`. Off by default.
 * - `ciba:tenantMetrics`: `dimension` (default) publishes the lifecycle metrics per tenant (the tenant a dimension: a
 *   metric per tenant, billed each); `logs` keeps only the deployment's totals, the tenant a field of each metric's log
 *   line (docs/deploy.md "Metrics").
 * - `ciba:events`: `matched` (default) puts on the bus only the lifecycle events that an enabled rule on it may take
 *   (the functions read the bus's rules every minute); `all` puts every event (docs/events.md).
 * - `ciba:callbackReservedConcurrency`: reserved concurrency of the callback function (a positive integer), so that
 *   callbacks to slow or hanging receivers never take the API's concurrency and always have their own; none by default
 *   (an account needs that much unreserved concurrency left; docs/deploy.md "Callbacks").
 * - `ciba:logRetentionDays`: default 90.
 * - `ciba:lambdaSystemLogLevel`: Lambda's system log level of every function, `WARN` (default: no START, END and
 *   REPORT lines), `INFO` (those lines back) or `DEBUG`; the format is JSON and the application level INFO either way.
 * - `ciba:bundling`: `stub` skips esbuild (template tests only; never deploy it).
 */
export interface CibaApp {
  stateful: StatefulStack;
  service: ServiceStack;
}

const PREFIX = /^[a-z][a-z0-9-]{0,20}$/;

/** `ciba:throttles` (JSON, by route group) over the older `ciba:throttleRate` / `ciba:throttleBurst` (the default). */
const parseThrottles = (json: string | undefined, older: { rate?: number; burst?: number }): ThrottleConfig => {
  const out: ThrottleConfig = {};
  const groups = new Set<string>(Object.keys(THROTTLE_DEFAULTS));
  if (older.rate !== undefined || older.burst !== undefined) {
    out.default = {
      rateLimit: older.rate ?? THROTTLE_DEFAULTS.default.rateLimit,
      burstLimit: older.burst ?? THROTTLE_DEFAULTS.default.burstLimit,
    };
  }
  if (json === undefined) return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new Error('context ciba:throttles must be JSON');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new Error('context ciba:throttles must be an object');
  for (const [group, value] of Object.entries(parsed)) {
    if (!groups.has(group)) {
      throw new Error(`context ciba:throttles: unknown route group ${group} (one of ${[...groups].join(', ')})`);
    }
    const { rate, burst } = (value ?? {}) as { rate?: unknown; burst?: unknown };
    const positive = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v > 0;
    if (!positive(rate) || !positive(burst)) {
      throw new Error(`context ciba:throttles.${group} must be {"rate": n, "burst": n} with positive integers`);
    }
    out[group as keyof ThrottleConfig] = { rateLimit: rate as number, burstLimit: burst as number };
  }
  return out;
};

/**
 * The ledger's pending-by-user projection: ALL (the default, so that a deployment made before INCLUDE updates without
 * a failed stack update: CloudFormation cannot change an existing index's projection) or INCLUDE, opt-in and
 * recommended for new deployments (polls then do not write the index: docs/deploy.md, docs/performance.md).
 */
const pendingIndexProjection = (value: string | undefined): 'INCLUDE' | 'ALL' => {
  if (value === undefined || value === 'INCLUDE' || value === 'ALL') return value ?? 'ALL';
  throw new Error('context ciba:pendingIndexProjection must be INCLUDE or ALL');
};

/**
 * `ciba:tableCapacity`: `on-demand` (the default) or `provisioned:{min}-{max}`, the tables and their indexes on
 * provisioned capacity, each one's reads and writes auto scaled between min and max units at 70 % use
 * (docs/deploy.md "Table capacity").
 */
const tableCapacity = (value: string | undefined): TableCapacity => {
  if (value === undefined || value === 'on-demand') return { mode: 'on-demand' };
  const bounds = /^provisioned:([1-9]\d{0,5})-([1-9]\d{0,5})$/.exec(value);
  if (bounds && Number(bounds[1]) <= Number(bounds[2])) {
    return { mode: 'provisioned', min: Number(bounds[1]), max: Number(bounds[2]) };
  }
  throw new Error(
    `context ciba:tableCapacity must be on-demand or provisioned:{min}-{max} (units, 1 ≤ min ≤ max ≤ 999999), not "${value}"`,
  );
};

/** `ciba:lambdaSystemLogLevel`: WARN unless set. */
const lambdaSystemLogLevel = (value: string | undefined): LambdaSystemLogLevel => {
  if (value === undefined) return 'WARN';
  const level = LAMBDA_SYSTEM_LOG_LEVELS.find((l) => l === value);
  if (level) return level;
  throw new Error(`context ciba:lambdaSystemLogLevel must be one of ${LAMBDA_SYSTEM_LOG_LEVELS.join(', ')}`);
};

/** `ciba:events`: `matched` unless set. */
const eventsPut = (value: string | undefined): EventsPut => {
  const known = eventsPutOf(value);
  if (known) return known;
  throw new Error(`context ciba:events must be one of ${EVENTS_PUT.join(', ')}`);
};

/** `ciba:tenantMetrics`: `dimension` unless set. */
const tenantMetrics = (value: string | undefined): TenantMetrics => {
  const known = tenantMetricsOf(value);
  if (known) return known;
  throw new Error(`context ciba:tenantMetrics must be one of ${TENANT_METRICS.join(', ')}`);
};

/**
 * cdk.json's context: the feature flags (and defaults) that the CDK CLI adds to every synthesis. The app run alone,
 * the stacks tests and the AWS-shape harness add them too, so that they synthesize what `cdk deploy` does.
 */
export const cdkJsonContext = (): Record<string, unknown> =>
  (JSON.parse(readFileSync(new URL('../cdk.json', import.meta.url), 'utf8')) as { context?: Record<string, unknown> })
    .context ?? {};

export interface CibaAppOptions {
  /**
   * `false`: read no tenants file, every tenant is a `CibaTenant` in code (docs/deploy.md "Tenants in CDK code").
   * Default: the tenants file (`ciba:tenants`, `infra/tenants.json`, else the example file); constructs add to it.
   */
  tenantsFile?: boolean;
}

export const buildCibaApp = (app: App, options: CibaAppOptions = {}): CibaApp => {
  const ctx = (key: string): string | undefined => {
    const value = app.node.tryGetContext(`ciba:${key}`);
    return value === undefined || value === null || value === '' ? undefined : String(value);
  };
  const number = (key: string, fallback: number): number => {
    const raw = ctx(key);
    const value = raw === undefined ? fallback : Number(raw);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`context ciba:${key} must be a positive number`);
    return value;
  };

  const prefix = ctx('prefix') ?? 'ciba';
  if (!PREFIX.test(prefix)) throw new Error('context ciba:prefix must match [a-z][a-z0-9-]{0,20}');

  const tenantsFile = options.tenantsFile ?? true;
  if (!tenantsFile && ctx('tenants'))
    throw new Error('context ciba:tenants is set, but this app reads no tenants file');
  const tenantsPath = !tenantsFile
    ? undefined
    : (ctx('tenants') ?? (existsSync('infra/tenants.json') ? 'infra/tenants.json' : 'infra/tenants.example.json'));
  const tenants = tenantsPath
    ? parseTenantsFile(JSON.parse(readFileSync(resolve(tenantsPath), 'utf8')), { prefix })
    : [];

  const domainName = ctx('domainName');
  const certificateArn = ctx('certificateArn');
  if ((domainName === undefined) !== (certificateArn === undefined)) {
    throw new Error('context ciba:domainName and ciba:certificateArn go together');
  }
  const mtlsDomainName = ctx('mtlsDomainName');
  const mtlsCertificateArn = ctx('mtlsCertificateArn');
  const truststoreUri = ctx('truststoreUri');
  const truststore = truststoreUri ? /^s3:\/\/([^/]+)\/(.+)$/.exec(truststoreUri) : undefined;
  if (truststoreUri && !truststore) throw new Error('context ciba:truststoreUri must look like s3://bucket/key');
  if (mtlsDomainName || mtlsCertificateArn || truststoreUri) {
    if (!mtlsDomainName || !mtlsCertificateArn || !truststore) {
      throw new Error(
        'mutual TLS has its own custom domain: ciba:mtlsDomainName, ciba:mtlsCertificateArn and ciba:truststoreUri go together (the main domain never asks for a client certificate)',
      );
    }
    if (!domainName) throw new Error('the mutual-TLS domain (ciba:mtlsDomainName) needs the main custom domain too');
    if (mtlsDomainName === domainName) throw new Error('ciba:mtlsDomainName must differ from ciba:domainName');
  }
  const throttles = parseThrottles(ctx('throttles'), {
    rate: ctx('throttleRate') ? number('throttleRate', 0) : undefined,
    burst: ctx('throttleBurst') ? number('throttleBurst', 0) : undefined,
  });

  const retention = number('logRetentionDays', 90);
  if (!Object.values(logs.RetentionDays).includes(retention)) {
    throw new Error(`context ciba:logRetentionDays must be one of CloudWatch's retention periods, not ${retention}`);
  }
  const bundling = ctx('bundling') === 'stub' ? 'stub' : 'esbuild';
  const callbackReservedConcurrency = ctx('callbackReservedConcurrency');
  if (callbackReservedConcurrency !== undefined && !/^[1-9]\d{0,5}$/.test(callbackReservedConcurrency)) {
    throw new Error('context ciba:callbackReservedConcurrency must be a positive integer');
  }
  const systemLogLevel = lambdaSystemLogLevel(ctx('lambdaSystemLogLevel'));

  const env = { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION };
  const stateful = new StatefulStack(app, `${prefix}-stateful`, {
    env,
    description: 'ciba-service: tables, event bus, the key that seals tenant keys (retained)',
    prefix,
    tenants,
    terminationProtection: true,
    bundling,
    logRetention: retention as logs.RetentionDays,
    lambdaSystemLogLevel: systemLogLevel,
    keepLegacyKeys: ctx('legacyKeys') === 'keep',
    pendingIndexProjection: pendingIndexProjection(ctx('pendingIndexProjection')),
    tableCapacity: tableCapacity(ctx('tableCapacity')),
  });
  const truststoreVersion = ctx('truststoreVersion');
  const service = new ServiceStack(app, `${prefix}-service`, {
    env,
    description: 'ciba-service: functions, HTTP API, callback rule, tenant provisioning, alarms',
    prefix,
    tenants,
    directoryTable: stateful.directoryTable,
    ledgerTable: stateful.ledgerTable,
    eventBus: stateful.eventBus,
    keySealingKey: stateful.keySealingKey,
    keySealingAlias: stateful.keySealingAlias,
    bundling,
    throttles,
    logRetention: retention as logs.RetentionDays,
    lambdaSystemLogLevel: systemLogLevel,
    ...(domainName && certificateArn ? { customDomain: { domainName, certificateArn } } : {}),
    ...(mtlsDomainName && mtlsCertificateArn && truststore
      ? {
          mtlsDomain: {
            domainName: mtlsDomainName,
            certificateArn: mtlsCertificateArn,
            truststore: {
              bucketName: truststore[1]!,
              key: truststore[2]!,
              ...(truststoreVersion ? { version: truststoreVersion } : {}),
            },
            ...(ctx('mtlsOwnershipCertificateArn')
              ? { ownershipCertificateArn: ctx('mtlsOwnershipCertificateArn')! }
              : {}),
          },
        }
      : {}),
    ...(ctx('alarmTopicArn') ? { alarmTopicArn: ctx('alarmTopicArn')! } : {}),
    console: ctx('console') === 'true',
    tenantMetrics: tenantMetrics(ctx('tenantMetrics')),
    events: eventsPut(ctx('events')),
    ...(ctx('emailFrom') ? { emailFrom: ctx('emailFrom')! } : {}),
    ...(ctx('smsSenderId') ? { smsSenderId: ctx('smsSenderId')! } : {}),
    ...(callbackReservedConcurrency ? { callbackReservedConcurrency: Number(callbackReservedConcurrency) } : {}),
  });
  service.addStackDependency(stateful);

  if (tenantsPath?.endsWith('tenants.example.json')) {
    // On a stack, not the App: the CDK CLI prints the annotations of the stacks it synthesizes, never the App's.
    Annotations.of(service).addWarningV2(
      'ciba:example-tenants',
      'Synthesized with infra/tenants.example.json: copy it to infra/tenants.json (or pass -c ciba:tenants=...) and edit it before deploying.',
    );
  }
  if (bundling === 'stub') {
    Annotations.of(service).addWarningV2('ciba:stub-bundling', 'ciba:bundling=stub: the functions are placeholders.');
  }
  if (ctx('pendingIndexProjection') === undefined) {
    // The projection is chosen once, at the first deployment: say so while it can still be chosen.
    Annotations.of(stateful).addWarningV2(
      'ciba:pending-index-projection',
      'ciba:pendingIndexProjection is not set, so the pending-by-user index projects ALL and every pending poll writes it too (one write unit more). A first deployment should set "ciba:pendingIndexProjection": "INCLUDE" in cdk.json; a deployment made before sets "ALL" to keep its index (a projection cannot change in place). docs/deploy.md "The pending-by-user index".',
    );
  }
  Tags.of(app).add('service', 'ciba');
  Tags.of(app).add('ciba:deployment', prefix);
  return { stateful, service };
};
