import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Annotations, type App, Tags } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { ServiceStack } from './service-stack.ts';
import { StatefulStack } from './stateful-stack.ts';
import { parseTenantsFile } from './tenants.ts';

/**
 * Context keys (cdk.json or `-c key=value`); every one is optional.
 * - `ciba:prefix`: names this deployment (stack names, bus, aliases, SNS apps); default `ciba`.
 * - `ciba:tenants`: the tenants file; default `infra/tenants.json`, else the example file (with a warning).
 * - `ciba:domainName`, `ciba:certificateArn`: custom domain; `ciba:truststoreUri` (`s3://bucket/key`) and
 *   `ciba:truststoreVersion` add mutual TLS.
 * - `ciba:throttleRate`, `ciba:throttleBurst`: stage throttling (requests/s); default 100 and 200.
 * - `ciba:alarmTopicArn`: SNS topic for alarm notifications.
 * - `ciba:console`: `true` lets the web function serve the operator console (it then gets bc-authorize's and
 *   token's permissions); tenants opt in with `console_client_id`. Off by default.
 * - `ciba:logRetentionDays`: default 90.
 * - `ciba:bundling`: `stub` skips esbuild (template tests only; never deploy it).
 */
export interface CibaApp {
  stateful: StatefulStack;
  service: ServiceStack;
}

const PREFIX = /^[a-z][a-z0-9-]{0,20}$/;

export const buildCibaApp = (app: App): CibaApp => {
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

  const tenantsPath =
    ctx('tenants') ?? (existsSync('infra/tenants.json') ? 'infra/tenants.json' : 'infra/tenants.example.json');
  const tenants = parseTenantsFile(JSON.parse(readFileSync(resolve(tenantsPath), 'utf8')));

  const domainName = ctx('domainName');
  const certificateArn = ctx('certificateArn');
  if ((domainName === undefined) !== (certificateArn === undefined)) {
    throw new Error('context ciba:domainName and ciba:certificateArn go together');
  }
  const truststoreUri = ctx('truststoreUri');
  const truststore = truststoreUri ? /^s3:\/\/([^/]+)\/(.+)$/.exec(truststoreUri) : undefined;
  if (truststoreUri && !truststore) throw new Error('context ciba:truststoreUri must look like s3://bucket/key');
  if (truststoreUri && !domainName) throw new Error('mutual TLS (ciba:truststoreUri) needs a custom domain');

  const retention = number('logRetentionDays', 90);
  if (!Object.values(logs.RetentionDays).includes(retention)) {
    throw new Error(`context ciba:logRetentionDays must be one of CloudWatch's retention periods, not ${retention}`);
  }
  const bundling = ctx('bundling') === 'stub' ? 'stub' : 'esbuild';

  const env = { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION };
  const stateful = new StatefulStack(app, `${prefix}-stateful`, {
    env,
    description: 'ciba-service: tables, event bus, tenant signing keys (retained)',
    prefix,
    tenants,
    terminationProtection: true,
  });
  const truststoreVersion = ctx('truststoreVersion');
  const service = new ServiceStack(app, `${prefix}-service`, {
    env,
    description: 'ciba-service: functions, HTTP API, per-tenant rules and settings, alarms',
    prefix,
    tenants,
    directoryTable: stateful.directoryTable,
    ledgerTable: stateful.ledgerTable,
    eventBus: stateful.eventBus,
    kmsAliasPrefix: stateful.kmsAliasPrefix,
    bundling,
    throttle: { rateLimit: number('throttleRate', 100), burstLimit: number('throttleBurst', 200) },
    logRetention: retention as logs.RetentionDays,
    ...(domainName && certificateArn
      ? {
          customDomain: {
            domainName,
            certificateArn,
            ...(truststore
              ? {
                  truststore: {
                    bucketName: truststore[1]!,
                    key: truststore[2]!,
                    ...(truststoreVersion ? { version: truststoreVersion } : {}),
                  },
                }
              : {}),
          },
        }
      : {}),
    ...(ctx('alarmTopicArn') ? { alarmTopicArn: ctx('alarmTopicArn')! } : {}),
    console: ctx('console') === 'true',
  });
  service.addStackDependency(stateful);

  if (tenantsPath.endsWith('tenants.example.json')) {
    // On a stack, not the App: the CDK CLI prints the annotations of the stacks it synthesizes, never the App's.
    Annotations.of(service).addWarningV2(
      'ciba:example-tenants',
      'Synthesized with infra/tenants.example.json: copy it to infra/tenants.json (or pass -c ciba:tenants=...) and edit it before deploying.',
    );
  }
  if (bundling === 'stub') {
    Annotations.of(service).addWarningV2('ciba:stub-bundling', 'ciba:bundling=stub: the functions are placeholders.');
  }
  Tags.of(app).add('service', 'ciba');
  Tags.of(app).add('ciba:deployment', prefix);
  return { stateful, service };
};
