import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { LAMBDA_FUNCTIONS } from '../../infra/bundling.ts';
import { buildCibaApp, type CibaApp, cdkJsonContext } from '../../infra/ciba-app.ts';
import { CibaTenant } from '../../infra/ciba-tenant.ts';
import { declareTenants } from '../../infra/examples/tenants-in-code.ts';
import { TABLE_TARGET_UTILIZATION_PERCENT } from '../../infra/stateful-stack.ts';
import { InvalidTenantsFile } from '../../infra/tenants.ts';
import { PENDING_VIEW_ATTRIBUTES } from '../../lib/adapters/dynamodb-schema.ts';
import { ROUTES } from '../../lib/http/routes.ts';
import { ASSUMPTIONS } from '../bench/cost-model.ts';

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;
type Statement = { Sid?: string; Action: string | string[]; Resource: unknown; Condition?: unknown };

const build = (context: Record<string, string> = {}): CibaApp =>
  buildCibaApp(
    new App({
      context: {
        // The feature flags the CDK CLI adds, so that these templates are the ones `cdk deploy` makes.
        ...cdkJsonContext(),
        'ciba:bundling': 'stub',
        'ciba:tenants': 'test/fixtures/infra-tenants.json',
        ...context,
      },
    }),
  );

let app: CibaApp;
let stateful: Template;
let service: Template;

beforeAll(() => {
  app = build();
  stateful = Template.fromStack(app.stateful);
  service = Template.fromStack(app.service);
});

/** The policy statements of the role of the function whose description names it, in a template. */
const statementsIn = (t: Template, name: string): Statement[] => {
  const resources = t.toJSON().Resources as Resources;
  const [fnId] = Object.entries(resources).find(
    ([id, r]) => r.Type === 'AWS::Lambda::Function' && id.toLowerCase().includes(name.replaceAll('-', '')),
  )!;
  const roleId = (resources[fnId]!.Properties.Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0];
  return Object.values(resources)
    .filter(
      (r) => r.Type === 'AWS::IAM::Policy' && (r.Properties.Roles as { Ref: string }[]).some((x) => x.Ref === roleId),
    )
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
};

/** The policy statements attached to the role of one function (by its functions/<name> directory). */
const statementsOf = (name: string): Statement[] => {
  const fnLogicalId = app.service.getLogicalId(app.service.functions[name]!.function.node.defaultChild as never);
  const roleRef = (service.toJSON().Resources as Resources)[fnLogicalId]!.Properties.Role as { 'Fn::GetAtt': string[] };
  const roleId = roleRef['Fn::GetAtt'][0];
  const policies = Object.values(service.toJSON().Resources as Resources).filter(
    (r) => r.Type === 'AWS::IAM::Policy' && (r.Properties.Roles as { Ref: string }[]).some((x) => x.Ref === roleId),
  );
  return policies.flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
};
const actionsOf = (name: string): string[] =>
  statementsOf(name)
    .flatMap((s) => [s.Action].flat())
    .sort();

describe('stateful stack', () => {
  it('has the directory table: pk/sk, on demand, PITR, deletion protection, encryption, retained, the two GSIs', () => {
    stateful.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
        SSESpecification: { SSEEnabled: true },
        GlobalSecondaryIndexes: [
          Match.objectLike({
            IndexName: 'by-email',
            KeySchema: [{ AttributeName: 'email_key', KeyType: 'HASH' }],
            Projection: { ProjectionType: 'KEYS_ONLY' },
          }),
          Match.objectLike({
            IndexName: 'by-phone',
            KeySchema: [{ AttributeName: 'phone_key', KeyType: 'HASH' }],
            Projection: { ProjectionType: 'KEYS_ONLY' },
          }),
        ],
      }),
    });
  });

  it('has the ledger table with TTL on `ttl` and the pending-by-user index', () => {
    stateful.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
        GlobalSecondaryIndexes: [
          Match.objectLike({
            IndexName: 'pending-by-user',
            KeySchema: [
              { AttributeName: 'pending_key', KeyType: 'HASH' },
              { AttributeName: 'created_at', KeyType: 'RANGE' },
            ],
            // ALL by default: a deployment made with it updates without a failed stack update.
            Projection: { ProjectionType: 'ALL' },
          }),
        ],
      }),
    });
    stateful.resourceCountIs('AWS::DynamoDB::Table', 2);
  });

  it('projects only the pending view with ciba:pendingIndexProjection=INCLUDE (opt-in), and says what else is wrong', () => {
    const include = Template.fromStack(build({ 'ciba:pendingIndexProjection': 'INCLUDE' }).stateful);
    include.hasResourceProperties('AWS::DynamoDB::Table', {
      GlobalSecondaryIndexes: [
        Match.objectLike({
          IndexName: 'pending-by-user',
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: PENDING_VIEW_ATTRIBUTES },
        }),
      ],
    });
    const kept = Template.fromStack(build({ 'ciba:pendingIndexProjection': 'ALL' }).stateful);
    kept.hasResourceProperties('AWS::DynamoDB::Table', {
      GlobalSecondaryIndexes: [
        Match.objectLike({ IndexName: 'pending-by-user', Projection: { ProjectionType: 'ALL' } }),
      ],
    });
    expect(() => build({ 'ciba:pendingIndexProjection': 'KEYS_ONLY' })).toThrow(/INCLUDE or ALL/);
  });

  it('warns at synthesis while the pending index projection is left to its default, and not once it is chosen', () => {
    const projectionWarning = (app: CibaApp) =>
      Annotations.fromStack(app.stateful).findWarning('*', Match.stringLikeRegexp('ciba:pendingIndexProjection'));
    const unset = projectionWarning(build());
    expect(unset).toHaveLength(1);
    expect(String(unset[0]!.entry.data)).toContain('"ciba:pendingIndexProjection": "INCLUDE" in cdk.json');
    expect(projectionWarning(build({ 'ciba:pendingIndexProjection': 'INCLUDE' }))).toEqual([]);
    expect(projectionWarning(build({ 'ciba:pendingIndexProjection': 'ALL' }))).toEqual([]);
  });

  it("gives the functions whose writes come in bulk at deployment, and only them, the SDK's adaptive retries", () => {
    const bulk = [
      'ciba: provisions the tenants file at deployment',
      'ciba: imports the per-tenant KMS keys of deployments before keysets',
    ];
    const functions = [stateful, service].flatMap((t) => Object.values(t.findResources('AWS::Lambda::Function')));
    const retries = (f: (typeof functions)[number]) => {
      const vars = (f.Properties.Environment as { Variables?: Record<string, string> } | undefined)?.Variables ?? {};
      return { mode: vars.AWS_RETRY_MODE, attempts: vars.AWS_MAX_ATTEMPTS };
    };
    const withBulk = functions.filter((f) => bulk.includes(f.Properties.Description as string));
    expect(withBulk).toHaveLength(2);
    for (const f of withBulk) expect(retries(f)).toEqual({ mode: 'adaptive', attempts: '10' });
    for (const f of functions.filter((f) => !withBulk.includes(f))) {
      expect(retries(f), f.Properties.Description as string).toEqual({ mode: undefined, attempts: undefined });
    }
  });

  it('keeps the tables on demand unless ciba:tableCapacity asks for provisioned capacity, auto scaled at 70 % use', () => {
    for (const [name, t] of Object.entries(stateful.findResources('AWS::DynamoDB::Table'))) {
      expect(t.Properties.BillingMode, name).toBe('PAY_PER_REQUEST');
      expect(t.Properties.ProvisionedThroughput, name).toBeUndefined();
    }
    stateful.resourceCountIs('AWS::ApplicationAutoScaling::ScalableTarget', 0);
    expect(Template.fromStack(build({ 'ciba:tableCapacity': 'on-demand' }).stateful).toJSON()).toEqual(
      stateful.toJSON(),
    );

    const provisioned = Template.fromStack(build({ 'ciba:tableCapacity': 'provisioned:5-400' }).stateful);
    const tables = Object.values(provisioned.findResources('AWS::DynamoDB::Table'));
    expect(tables).toHaveLength(2);
    const indexes = tables.flatMap(
      (t) => (t.Properties.GlobalSecondaryIndexes ?? []) as { IndexName: string; ProvisionedThroughput: unknown }[],
    );
    for (const t of tables) {
      expect(t.Properties.BillingMode ?? 'PROVISIONED').toBe('PROVISIONED');
      expect(t.Properties.ProvisionedThroughput).toEqual({ ReadCapacityUnits: 5, WriteCapacityUnits: 5 });
    }
    for (const index of indexes) {
      expect(index.ProvisionedThroughput, index.IndexName).toEqual({ ReadCapacityUnits: 5, WriteCapacityUnits: 5 });
    }
    // Reads and writes of every table and every index, each between the bounds, each tracking 70 % use.
    const targets = Object.values(provisioned.findResources('AWS::ApplicationAutoScaling::ScalableTarget'));
    expect(targets).toHaveLength(2 * (tables.length + indexes.length));
    expect(targets.map((t) => t.Properties.ScalableDimension).sort()).toEqual(
      [
        ...Array(tables.length).fill('dynamodb:table:ReadCapacityUnits'),
        ...Array(tables.length).fill('dynamodb:table:WriteCapacityUnits'),
        ...Array(indexes.length).fill('dynamodb:index:ReadCapacityUnits'),
        ...Array(indexes.length).fill('dynamodb:index:WriteCapacityUnits'),
      ].sort(),
    );
    for (const t of targets) expect(t.Properties).toMatchObject({ MinCapacity: 5, MaxCapacity: 400 });
    const policies = Object.values(provisioned.findResources('AWS::ApplicationAutoScaling::ScalingPolicy'));
    expect(policies).toHaveLength(targets.length);
    for (const p of policies) {
      expect(p.Properties).toMatchObject({
        PolicyType: 'TargetTrackingScaling',
        TargetTrackingScalingPolicyConfiguration: { TargetValue: 70 },
      });
    }
    // The cost model prices provisioned units at the use the policies track (test/bench/cost-model.ts).
    expect(ASSUMPTIONS.provisionedUtilization * 100).toBe(TABLE_TARGET_UTILIZATION_PERCENT);

    for (const bad of ['provisioned', 'provisioned:0-10', 'provisioned:10-5', 'provisioned:5', 'PAY_PER_REQUEST']) {
      expect(() => build({ 'ciba:tableCapacity': bad }), bad).toThrow(
        /ciba:tableCapacity must be on-demand or provisioned/,
      );
    }
  });

  it('has the named event bus', () => {
    stateful.hasResourceProperties('AWS::Events::EventBus', { Name: 'ciba-events' });
  });

  it('has one KMS key for the whole deployment, retained and rotated, that seals the tenants keys', () => {
    stateful.resourceCountIs('AWS::KMS::Key', 1);
    stateful.hasResource('AWS::KMS::Key', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({ EnableKeyRotation: true, PendingWindowInDays: 30 }),
    });
    stateful.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/ciba-tenant-keys' });
    stateful.resourceCountIs('AWS::KMS::Alias', 1);
  });

  it('imports the per-tenant keys of deployments before keysets, reading only their aliases', () => {
    stateful.hasResourceProperties('Custom::CibaLegacyKeys', { AliasPrefix: 'alias/ciba/' });
    const statements = statementsIn(stateful, 'legacy-key-import');
    expect(statements.find((st) => st.Sid === 'ListAliases')).toMatchObject({
      Action: 'kms:ListAliases',
      Resource: '*',
    });
    expect(statements.find((st) => st.Sid === 'LegacyTenantKeys')).toMatchObject({
      Action: 'kms:GetPublicKey',
      Condition: { 'ForAnyValue:StringLike': { 'kms:ResourceAliases': 'alias/ciba/*' } },
    });
  });

  it('keeps the per-tenant keys and aliases of deployments before keysets with ciba:legacyKeys=keep, unchanged', () => {
    const kept = Template.fromStack(build({ 'ciba:legacyKeys': 'keep' }).stateful);
    kept.hasResourceProperties('AWS::KMS::Key', { KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' });
    kept.hasResourceProperties('AWS::KMS::Key', { KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' });
    kept.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/ciba/acme' });
    kept.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/ciba/bank/hmac' });
    // Two signing keys, two HMAC keys, and the sealing key; the logical ids of the template before keysets.
    kept.resourceCountIs('AWS::KMS::Key', 5);
    expect(Object.keys(kept.findResources('AWS::KMS::Key'))).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^SigningKeyacmeV1/),
        expect.stringMatching(/^SigningKeyacmeHmac/),
      ]),
    );
    const rotated = Template.fromStack(
      build({ 'ciba:legacyKeys': 'keep', 'ciba:tenants': 'test/fixtures/infra-tenants-rotated.json' }).stateful,
    );
    rotated.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/ciba/acme/previous' });
  });
});

describe('service stack: functions', () => {
  it('has one arm64 function per handler, on the nodejs24.x runtime, each with its own log group', () => {
    const fns = Object.values(service.findResources('AWS::Lambda::Function')).filter((r) =>
      String((r.Properties as { Description?: string }).Description ?? '').startsWith('ciba'),
    );
    expect(fns).toHaveLength(LAMBDA_FUNCTIONS.length);
    for (const fn of fns) {
      expect(fn.Properties).toMatchObject({
        Architectures: ['arm64'],
        Runtime: 'nodejs24.x',
        // JSON lines, the application's at INFO, Lambda's own at WARN: no START/END/REPORT lines per invocation.
        LoggingConfig: {
          LogGroup: expect.anything(),
          LogFormat: 'JSON',
          ApplicationLogLevel: 'INFO',
          SystemLogLevel: 'WARN',
        },
      });
    }
    expect(Object.keys(app.service.functions).sort()).toEqual([...LAMBDA_FUNCTIONS].sort());
  });

  it("brings Lambda's START/END/REPORT lines back with ciba:lambdaSystemLogLevel=INFO, in both stacks", () => {
    const built = build({ 'ciba:lambdaSystemLogLevel': 'INFO', 'ciba:legacyKeys': 'keep' });
    const ciba = (t: Template) =>
      Object.values(t.findResources('AWS::Lambda::Function')).filter((r) =>
        String((r.Properties as { Description?: string }).Description ?? '').startsWith('ciba'),
      );
    const fns = [...ciba(Template.fromStack(built.service)), ...ciba(Template.fromStack(built.stateful))];
    expect(fns).toHaveLength(LAMBDA_FUNCTIONS.length + 1); // and the legacy key import
    for (const fn of fns) {
      expect(fn.Properties).toMatchObject({
        LoggingConfig: { LogFormat: 'JSON', ApplicationLogLevel: 'INFO', SystemLogLevel: 'INFO' },
      });
    }
    expect(() => build({ 'ciba:lambdaSystemLogLevel': 'ERROR' })).toThrow(/WARN, INFO, DEBUG/);
  });

  it('reserves concurrency for the callback function only with ciba:callbackReservedConcurrency (none by default)', () => {
    const reserved = (built: CibaApp) =>
      Object.fromEntries(
        Object.entries(built.service.functions).map(([name, fn]) => [
          name,
          (fn.function.node.defaultChild as { reservedConcurrentExecutions?: number }).reservedConcurrentExecutions,
        ]),
      );
    expect(Object.values(reserved(app)).filter((r) => r !== undefined)).toEqual([]);
    const built = build({ 'ciba:callbackReservedConcurrency': '50' });
    const fns = Template.fromStack(built.service).findResources('AWS::Lambda::Function', {
      Properties: { ReservedConcurrentExecutions: 50 },
    });
    expect(Object.keys(fns)).toEqual([
      built.service.getLogicalId(built.service.functions.callback!.function.node.defaultChild as never),
    ]);
    expect(Object.entries(reserved(built)).filter(([, r]) => r !== undefined)).toEqual([['callback', 50]]);
    for (const bad of ['0', '-1', '1.5', 'many'])
      expect(() => build({ 'ciba:callbackReservedConcurrency': bad })).toThrow(/positive integer/);
  });

  it('gives every request-serving function the same environment', () => {
    const fnLogicalId = app.service.getLogicalId(app.service.functions.token!.function.node.defaultChild as never);
    const env = (service.toJSON().Resources as Resources)[fnLogicalId]!.Properties.Environment as {
      Variables: Record<string, unknown>;
    };
    expect(Object.keys(env.Variables).sort()).toEqual(
      [
        'CIBA_DEAD_LETTER_QUEUE_URL',
        'CIBA_DEPLOYMENT',
        'CIBA_DIRECTORY_TABLE',
        'CIBA_EVENT_BUS_NAME',
        'CIBA_KEY_SEALING_KEY',
        'CIBA_LEDGER_TABLE',
        'CIBA_PUBLIC_URL',
        'CIBA_SCHEDULER_DEAD_LETTER_ARN',
        'CIBA_SCHEDULER_GROUP',
        'CIBA_SCHEDULER_ROLE_ARN',
        'CIBA_SCHEDULER_TARGET_ARN',
        'CIBA_SNS_PLATFORM_APP_ARN',
        'NODE_OPTIONS',
        'POWERTOOLS_METRICS_NAMESPACE',
        'POWERTOOLS_SERVICE_NAME',
      ].sort(),
    );
    expect(env.Variables.CIBA_KEY_SEALING_KEY).toBe('alias/ciba-tenant-keys');
    expect(env.Variables.CIBA_DEPLOYMENT).toBe('ciba');
    expect(JSON.stringify(env.Variables.CIBA_SNS_PLATFORM_APP_ARN)).toContain(':app/{platform}/ciba-{tenant}');
  });

  it('sets log retention on every log group', () => {
    for (const group of Object.values(service.findResources('AWS::Logs::LogGroup'))) {
      expect((group.Properties as { RetentionInDays?: number }).RetentionInDays).toBe(90);
    }
  });
});

describe('service stack: API', () => {
  const routeKeysOf = (t: Template) =>
    Object.values(t.findResources('AWS::ApiGatewayV2::Route')).map(
      (r) => (r.Properties as { RouteKey: string }).RouteKey,
    );

  it('has one route per ROUTES entry but the console, admin routes IAM authorized and the others open to the function', () => {
    const routes = Object.values(service.findResources('AWS::ApiGatewayV2::Route')).map(
      (r) => r.Properties as { RouteKey: string; AuthorizationType?: string },
    );
    expect(routes.map((r) => r.RouteKey).sort()).toEqual(
      ROUTES.filter((r) => !r.console)
        .map((r) => `${r.method} ${r.path}`)
        .sort(),
    );
    for (const route of ROUTES.filter((r) => !r.console)) {
      const found = routes.find((r) => r.RouteKey === `${route.method} ${route.path}`)!;
      expect([route.path, found.AuthorizationType ?? 'NONE']).toEqual([route.path, route.admin ? 'AWS_IAM' : 'NONE']);
    }
  });

  it('has the console routes only with the console flag, and then gives the web function what the console runs', () => {
    const consoleRoutes = ROUTES.filter((r) => r.console).map((r) => `${r.method} ${r.path}`);
    expect(consoleRoutes.length).toBeGreaterThan(0);
    expect(routeKeysOf(service).filter((k) => consoleRoutes.includes(k))).toEqual([]);
    const withConsole = build({ 'ciba:console': 'true' });
    expect(
      routeKeysOf(Template.fromStack(withConsole.service))
        .filter((k) => consoleRoutes.includes(k))
        .sort(),
    ).toEqual([...consoleRoutes].sort());
  });

  it('sends each route to the function named in ROUTES', () => {
    const resources = service.toJSON().Resources as Resources;
    for (const route of ROUTES.filter((r) => !r.console)) {
      const [, r] = Object.entries(resources).find(
        ([, x]) => x.Type === 'AWS::ApiGatewayV2::Route' && x.Properties.RouteKey === `${route.method} ${route.path}`,
      )!;
      const integrationId = JSON.stringify(r.Properties.Target).match(/"Ref":"([^"]+)"/)![1]!;
      const uri = JSON.stringify(resources[integrationId]!.Properties.IntegrationUri);
      const fnId = app.service.getLogicalId(app.service.functions[route.fn]!.function.node.defaultChild as never);
      expect([route.path, uri]).toEqual([route.path, expect.stringContaining(fnId)]);
    }
  });

  it('throttles every route by its group (defaults), logs the stage, and keeps the execute-api endpoint without a custom domain', () => {
    service.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 500, ThrottlingBurstLimit: 1000 },
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') },
    });
    const stage = Object.values(service.findResources('AWS::ApiGatewayV2::Stage'))[0]!.Properties as {
      RouteSettings: Record<string, { ThrottlingRateLimit: number; ThrottlingBurstLimit: number }>;
    };
    expect(stage.RouteSettings['POST /{tenant}/oauth/token']).toEqual({
      ThrottlingRateLimit: 2000,
      ThrottlingBurstLimit: 4000,
    });
    expect(stage.RouteSettings['POST /{tenant}/bc-authorize']).toEqual({
      ThrottlingRateLimit: 500,
      ThrottlingBurstLimit: 1000,
    });
    expect(stage.RouteSettings['PUT /admin/tenants/{tenant}']).toEqual({
      ThrottlingRateLimit: 50,
      ThrottlingBurstLimit: 100,
    });
    expect(Object.keys(stage.RouteSettings).sort()).toEqual(routeKeysOf(service).sort());
    service.hasResourceProperties('AWS::ApiGatewayV2::Api', { DisableExecuteApiEndpoint: false });
    service.resourceCountIs('AWS::ApiGatewayV2::DomainName', 0);
  });

  it('takes route throttles per group from ciba:throttles (and the older ciba:throttleRate for the default), and refuses bad ones', () => {
    const t = Template.fromStack(
      build({ 'ciba:throttles': JSON.stringify({ token: { rate: 90, burst: 180 } }), 'ciba:throttleRate': '50' })
        .service,
    );
    const stage = Object.values(t.findResources('AWS::ApiGatewayV2::Stage'))[0]!.Properties as {
      DefaultRouteSettings: unknown;
      RouteSettings: Record<string, unknown>;
    };
    expect(stage.DefaultRouteSettings).toEqual({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 1000 });
    expect(stage.RouteSettings['POST /{tenant}/oauth/token']).toEqual({
      ThrottlingRateLimit: 90,
      ThrottlingBurstLimit: 180,
    });
    expect(() => build({ 'ciba:throttles': JSON.stringify({ tokens: { rate: 1, burst: 1 } }) })).toThrow(
      /unknown route group tokens/,
    );
    expect(() => build({ 'ciba:throttles': JSON.stringify({ token: { rate: 0, burst: 1 } }) })).toThrow(/positive/);
  });

  it('with a custom domain: no client certificate asked, the default endpoint disabled, one issuer URL', () => {
    const withDomain = build({
      'ciba:domainName': 'id.example.com',
      'ciba:certificateArn': 'arn:aws:acm:eu-west-1:111122223333:certificate/abc',
    });
    const t = Template.fromStack(withDomain.service);
    t.hasResourceProperties('AWS::ApiGatewayV2::DomainName', {
      DomainName: 'id.example.com',
      MutualTlsAuthentication: Match.absent(),
    });
    t.hasResourceProperties('AWS::ApiGatewayV2::ApiMapping', { DomainName: Match.anyValue() });
    t.hasResourceProperties('AWS::ApiGatewayV2::Api', { DisableExecuteApiEndpoint: true });
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ CIBA_PUBLIC_URL: 'https://id.example.com' }) },
    });
  });

  it('puts mutual TLS on a second domain of its own (mtls_endpoint_aliases), with an ownership certificate when asked', () => {
    const withMtls = build({
      'ciba:domainName': 'id.example.com',
      'ciba:certificateArn': 'arn:aws:acm:eu-west-1:111122223333:certificate/abc',
      'ciba:mtlsDomainName': 'mtls.id.example.com',
      'ciba:mtlsCertificateArn': 'arn:aws:acm:eu-west-1:111122223333:certificate/private-ca',
      'ciba:mtlsOwnershipCertificateArn': 'arn:aws:acm:eu-west-1:111122223333:certificate/public',
      'ciba:truststoreUri': 's3://acme-truststore/ciba/truststore.pem',
      'ciba:truststoreVersion': 'v7',
    });
    const t = Template.fromStack(withMtls.service);
    t.resourceCountIs('AWS::ApiGatewayV2::DomainName', 2);
    t.resourceCountIs('AWS::ApiGatewayV2::ApiMapping', 2);
    t.hasResourceProperties('AWS::ApiGatewayV2::DomainName', {
      DomainName: 'id.example.com',
      MutualTlsAuthentication: Match.absent(),
    });
    t.hasResourceProperties('AWS::ApiGatewayV2::DomainName', {
      DomainName: 'mtls.id.example.com',
      DomainNameConfigurations: [
        Match.objectLike({
          CertificateArn: 'arn:aws:acm:eu-west-1:111122223333:certificate/private-ca',
          OwnershipVerificationCertificateArn: 'arn:aws:acm:eu-west-1:111122223333:certificate/public',
        }),
      ],
      MutualTlsAuthentication: {
        TruststoreUri: 's3://acme-truststore/ciba/truststore.pem',
        TruststoreVersion: 'v7',
      },
    });
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          CIBA_PUBLIC_URL: 'https://id.example.com',
          CIBA_MTLS_BASE_URL: 'https://mtls.id.example.com',
        }),
      },
    });
  });

  it('refuses mutual TLS on the main domain (the configuration of deployments before the mTLS domain)', () => {
    expect(() =>
      build({
        'ciba:domainName': 'id.example.com',
        'ciba:certificateArn': 'arn:aws:acm:eu-west-1:111122223333:certificate/abc',
        'ciba:truststoreUri': 's3://acme-truststore/ciba/truststore.pem',
      }),
    ).toThrow(/mutual TLS has its own custom domain/);
  });
});

describe('tenants in CDK code (CibaTenant, docs/deploy.md "Tenants in CDK code")', () => {
  const resourcesOf = (t: Template) => Object.values(t.toJSON().Resources as Resources);
  const batchesOf = (t: Template) =>
    resourcesOf(t)
      .filter((r) => r.Type === 'Custom::CibaTenants')
      .map((r) => (JSON.parse(r.Properties.Tenants as string) as { id: string }[]).map((e) => e.id));

  it("joins the file's batch: the example's constructs add tenants, not resources, checked as the file is", () => {
    const built = build();
    const declared = declareTenants(built.service);
    expect(declared.map((t) => t.tenant.id)).toEqual(['bank-retail', 'bank-wealth', 'bank-insurance', 'payments']);
    // Parsed and completed as the file's entries are (the defaults, the key mode).
    expect(declared[3]!.tenant.settings).toMatchObject({ signingAlg: 'PS256', keyMode: 'kms', fapi: true });

    // Invalid input throws at once, naming the construct or tenant and the field; nothing is added.
    const invalid: [Record<string, unknown>, RegExp][] = [
      [{ id: 'Bad_Id' }, /^CibaTenant ciba-service\/Invalid0\.id must match \[a-z0-9\]\[a-z0-9-\]\{0,62\}/],
      [{ id: 'admin' }, /^CibaTenant ciba-service\/Invalid1\.id must match .* not be reserved/],
      [{ id: 'typo', colour: 'red' }, /^tenant typo: unknown field colour$/],
      [{ id: 'dev', settings: { development_mode: true } }, /^tenant dev\.settings.*development_mode/],
      [
        { id: 'slow', settings: { backchannel_polling_interval: 'fast' } },
        /^tenant slow\.settings.*backchannel_polling_interval/,
      ],
      [
        { id: 'push', push: { fcm: { secret: 'other/fcm' } } },
        /^tenant push\.push\.fcm\.secret must be named ciba\/\.\.\. \(the deployment reads only its own secrets\)$/,
      ],
      [
        { id: 'acme' },
        /^tenant acme is defined twice \(in the tenants file and a CibaTenant, or in two CibaTenants\)$/,
      ],
      [{ id: 'payments' }, /^tenant payments is defined twice/],
      [{ id: 'gone', on_delete: 'purge' }, /^tenant gone\.on_delete must be "retain" or "destroy"$/],
    ];
    for (const [i, [props, message]] of invalid.entries()) {
      let error: unknown;
      try {
        new CibaTenant(built.service, `Invalid${i}`, props as never);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(InvalidTenantsFile);
      expect((error as Error).message).toMatch(message);
    }
    // Only the service stack provisions tenants.
    expect(() => new CibaTenant(built.stateful, 'Elsewhere', { id: 'elsewhere' })).toThrow(
      /^CibaTenant ciba-stateful\/Elsewhere: create it in the ciba service stack \(buildCibaApp\(app\)\.service\)/,
    );

    const template = Template.fromStack(built.service);
    expect(batchesOf(template)).toEqual([['acme', 'bank', 'bank-insurance', 'bank-retail', 'bank-wealth', 'payments']]);
    template.hasResourceProperties('Custom::CibaTenantsIndex', {
      TenantIds: 'acme,bank,bank-insurance,bank-retail,bank-wealth,payments',
      Destroy: '',
    });
    template.hasResourceProperties('Custom::CibaTenants', {
      Tenants: Match.serializedJson(
        Match.arrayWith([
          {
            id: 'payments',
            settings: { display_name: 'Payments', signing_alg: 'PS256', key_mode: 'kms', fapi: true },
            signing_key_version: 1,
          },
        ]),
      ),
    });
    // The same resources as the file's two tenants alone (the stack of beforeAll).
    expect(resourcesOf(template).length).toBe(resourcesOf(service).length);
    // Once synthesized, a tenant can no longer join.
    expect(() => new CibaTenant(built.service, 'Late', { id: 'late' })).toThrow(
      /^tenant late was added after the tenants were synthesized$/,
    );
  });

  it('shows in docs/deploy.md exactly the example files the tests build', () => {
    const docs = readFileSync('docs/deploy.md', 'utf8');
    const blocks = [...docs.matchAll(/```ts\n\/\/ (infra\/examples\/[\w-]+\.ts)\n([\s\S]*?)```\n/g)];
    expect(blocks.map((b) => b[1])).toEqual([
      'infra/examples/app-with-tenants.ts',
      'infra/examples/tenants-in-code.ts',
    ]);
    for (const [, path, body] of blocks) expect(body).toBe(readFileSync(path!, 'utf8'));
  });

  it('keeps its size with 250 constructs and no tenants file: one batch resource per 100 tenants, nothing per tenant', () => {
    const app = new App({ context: { 'ciba:bundling': 'stub' } });
    const built = buildCibaApp(app, { tenantsFile: false });
    for (let i = 0; i < 250; i++) {
      new CibaTenant(built.service, `Unit${i}`, { id: `unit-${String(i).padStart(3, '0')}`, on_delete: 'destroy' });
    }
    const template = Template.fromStack(built.service);
    const batches = batchesOf(template);
    expect(batches).toHaveLength(3);
    expect(batches.flat().sort()).toEqual(Array.from({ length: 250 }, (_, i) => `unit-${String(i).padStart(3, '0')}`));
    // The file's two tenants in one batch (beforeAll) against 250 tenants in three: two resources more, no other.
    expect(resourcesOf(template).length - resourcesOf(service).length).toBe(2);
    const index = resourcesOf(template).find((r) => r.Type === 'Custom::CibaTenantsIndex')!;
    expect((index.Properties.Destroy as string).split(',')).toHaveLength(250);
    // No tenants file read: no example tenants, no warning about them.
    expect(
      Annotations.fromStack(built.service).findWarning('*', Match.stringLikeRegexp('tenants.example.json')),
    ).toEqual([]);
    expect(() => buildCibaApp(new App({ context: { 'ciba:tenants': 'x.json' } }), { tenantsFile: false })).toThrow(
      /ciba:tenants is set, but this app reads no tenants file/,
    );
  });
});

describe('service stack: tenants', () => {
  it('provisions the tenants through one batch resource per 100 tenants and the index, naming secrets only', () => {
    service.resourceCountIs('Custom::CibaTenants', 1);
    service.hasResourceProperties('Custom::CibaTenants', {
      Tenants: Match.serializedJson([
        {
          id: 'acme',
          settings: Match.objectLike({
            display_name: 'ACME support',
            delivery_modes: ['poll', 'ping', 'push'],
            push_credentials: {
              apns: { secret: 'ciba/acme/apns', version: '1', sandbox: false },
              fcm: { secret: 'ciba/acme/fcm', version: '1' },
            },
          }),
          web_push: { subject: 'mailto:ops@acme.example', secret: 'ciba/acme/webpush', version: '1' },
          signing_key_version: 1,
        },
        Match.objectLike({ id: 'bank' }),
      ]),
    });
    service.hasResourceProperties('Custom::CibaTenantsIndex', { TenantIds: 'acme,bank', Destroy: '' });
    const index = Object.values(service.findResources('Custom::CibaTenantsIndex'))[0] as { DependsOn: string[] };
    expect(index.DependsOn).toEqual(Object.keys(service.findResources('Custom::CibaTenants')));
    // Nothing per tenant: no settings resource, rule, queue, platform application or KMS key of its own.
    for (const type of ['Custom::CibaTenantSettings', 'Custom::CibaPushPlatform', 'AWS::KMS::Key']) {
      service.resourceCountIs(type, 0);
    }
  });

  it('keeps its size with the tenants: 1,000 tenants in 10 batches, under 450 resources and 1 MB per template', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ciba-tenants-'));
    const file = (n: number) => {
      const path = join(dir, `${n}.json`);
      const tenants = Array.from({ length: n }, (_, i) => ({
        id: `tenant-${String(i).padStart(4, '0')}`,
        settings: {
          display_name: `Tenant ${i}`,
          delivery_modes: ['poll', 'ping'],
          binding_message_required: i % 2 === 0,
        },
        on_delete: i % 10 === 0 ? 'destroy' : 'retain',
      }));
      writeFileSync(path, JSON.stringify({ tenants }));
      return path;
    };
    const sizes = [1, 1000].map((n) => {
      const built = build({ 'ciba:tenants': file(n) });
      return [built.stateful, built.service].map((stack) => {
        const template = Template.fromStack(stack).toJSON() as { Resources: Record<string, { Type: string }> };
        return {
          resources: Object.keys(template.Resources).length,
          // As the CDK writes it to cdk.out and uploads it (one-space indentation): what CloudFormation's 1 MB counts.
          bytes: Buffer.byteLength(JSON.stringify(template, undefined, 1)),
          batches: Object.values(template.Resources).filter((r) => r.Type === 'Custom::CibaTenants').length,
        };
      });
    });
    const [one, thousand] = sizes as [(typeof sizes)[0], (typeof sizes)[0]];
    for (const stack of [...one, ...thousand]) {
      expect(stack.resources).toBeLessThan(450);
      expect(stack.bytes).toBeLessThan(1_000_000);
    }
    expect(thousand[1]!.batches).toBe(10);
    const total = (stacks: typeof one) => stacks.reduce((sum, s) => sum + s.resources, 0);
    expect(total(thousand) - total(one)).toBeLessThanOrEqual(10);

    // docs/deploy.md states these figures twice (its opening and "Capacity"): they must be the synthesized ones. The
    // resource counts exactly; the sizes (measured on a full synth, whose asset metadata adds about 1 KB to these
    // stub-bundled templates) within 2 %; the tenants at which the service template reaches 1 MB within 5 %.
    const docs = readFileSync('docs/deploy.md', 'utf8').replaceAll(/\s+/g, ' ');
    const service = { one: one[1]!, thousand: thousand[1]! };
    const opening = /the service stack: (\d+) resources with one tenant, (\d+) with 1,000/.exec(docs);
    const capacity =
      /the service stack holds (\d+) resources and (\d+) KB of template with one tenant, (\d+) resources and (\d+) KB with 1,000/.exec(
        docs,
      );
    expect(opening?.slice(1).map(Number)).toEqual([service.one.resources, service.thousand.resources]);
    expect(capacity?.slice(1).map(Number)).toEqual([
      service.one.resources,
      expect.any(Number),
      service.thousand.resources,
      expect.any(Number),
    ]);
    const kb = (bytes: number) => bytes / 1000;
    expect(Math.abs(Number(capacity![2]) / kb(service.one.bytes) - 1)).toBeLessThan(0.02);
    expect(Math.abs(Number(capacity![4]) / kb(service.thousand.bytes) - 1)).toBeLessThan(0.02);
    expect(docs).toContain(`(${capacity![2]} KB with one tenant, ${capacity![4]} KB with 1,000)`);
    const perTenant = (service.thousand.bytes - service.one.bytes) / 999;
    const ceiling = 1 + (1_000_000 - service.one.bytes) / perTenant;
    for (const stated of [...docs.matchAll(/1 MB (?:template )?limit comes near ([\d,]+) such tenants/g)]) {
      expect(Math.abs(Number(stated[1]!.replaceAll(',', '')) / ceiling - 1)).toBeLessThan(0.05);
    }
    expect([...docs.matchAll(/1 MB (?:template )?limit comes near/g)]).toHaveLength(2);
    const bytesPerTenant = [...docs.matchAll(/about (\d+) bytes (?:for a tenant )?with a few settings/g)];
    expect(bytesPerTenant).toHaveLength(2);
    for (const stated of bytesPerTenant) expect(Math.abs(Number(stated[1]) / perTenant - 1)).toBeLessThan(0.05);
  });

  it('routes decided ping/push events of every tenant to the callback with one rule, retry policy and DLQ', () => {
    service.resourceCountIs('AWS::Events::Rule', 1);
    service.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['ciba'],
        'detail-type': ['CIBA Request Decided'],
        detail: { delivery_mode: ['ping', 'push'] },
      },
      Targets: [
        Match.objectLike({
          RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 },
          DeadLetterConfig: { Arn: Match.anyValue() },
        }),
      ],
    });
    // One invoke permission for EventBridge, whatever the tenant count (API Gateway's route permissions are apart).
    expect(
      Object.keys(
        service.findResources('AWS::Lambda::Permission', { Properties: { Principal: 'events.amazonaws.com' } }),
      ),
    ).toHaveLength(1);
    service.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
  });

  it('lets only the callback function send dead letters, to the failures queue, and the events function to its own', () => {
    const who = LAMBDA_FUNCTIONS.filter((name) => actionsOf(name).includes('sqs:SendMessage'));
    expect(who).toEqual(['callback', 'events']);
    const queueOf = (name: string) =>
      statementsOf(name)
        .filter((s) => [s.Action].flat().includes('sqs:SendMessage'))
        .map((s) => s.Resource);
    const ref = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
    expect(queueOf('callback')).toEqual([
      ref(app.service.getLogicalId(app.service.callbackFailures.node.defaultChild as never)),
    ]);
    expect(queueOf('events')).toEqual([
      ref(app.service.getLogicalId(app.service.decisionFailures.node.defaultChild as never)),
      ref(app.service.getLogicalId(app.service.decisionRetries.node.defaultChild as never)),
    ]);
  });

  it('lets the scheduling functions create schedules in the deployment group and pass only the scheduler role', () => {
    service.hasResourceProperties('AWS::Scheduler::ScheduleGroup', { Name: 'ciba' });
    // The device function too: a decided ping/push request whose event the bus refused starts its callback through
    // a schedule (publishDecision).
    for (const name of ['bc-authorize', 'callback', 'device']) {
      const statements = statementsOf(name);
      const create = statements.find((s) => s.Sid === 'OneTimeSchedules')!;
      expect(JSON.stringify(create.Resource)).toContain(':schedule/ciba/*');
      const pass = statements.find((s) => s.Sid === 'PassSchedulerRole')!;
      expect(pass.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } });
    }
    expect(statementsOf('token').some((s) => s.Sid === 'OneTimeSchedules')).toBe(false);
  });

  it('gives runtime schedules a dead-letter queue the scheduler role may send to', () => {
    const resources = service.toJSON().Resources as Resources;
    const queueId = app.service.getLogicalId(app.service.scheduleDeadLetters.node.defaultChild as never);
    const roleId = app.service.getLogicalId(app.service.schedulerRole.node.defaultChild as never);
    const fnId = app.service.getLogicalId(app.service.functions.callback!.function.node.defaultChild as never);
    const env = (resources[fnId]!.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(env.CIBA_SCHEDULER_DEAD_LETTER_ARN).toEqual({ 'Fn::GetAtt': [queueId, 'Arn'] });
    const sends = Object.values(resources)
      .filter(
        (r) => r.Type === 'AWS::IAM::Policy' && (r.Properties.Roles as { Ref: string }[]).some((x) => x.Ref === roleId),
      )
      .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
      .filter((st) => [st.Action].flat().includes('sqs:SendMessage'));
    expect(sends.map((st) => st.Resource)).toEqual([{ 'Fn::GetAtt': [queueId, 'Arn'] }]);
  });

  it('lets the provisioner and the admin API read only the deployment own secrets (push credentials, VAPID keys)', () => {
    for (const name of ['tenant-provisioner', 'admin']) {
      const reads = statementsOf(name).filter((st) => [st.Action].flat().includes('secretsmanager:GetSecretValue'));
      expect(JSON.stringify(reads.map((st) => st.Resource))).toContain(':secret:ciba/*');
    }
    expect(LAMBDA_FUNCTIONS.filter((name) => actionsOf(name).includes('secretsmanager:GetSecretValue')).sort()).toEqual(
      ['admin', 'tenant-provisioner'],
    );
  });

  it('refuses push secrets outside the deployment name (it may not read them)', async () => {
    const { parseTenantsFile } = await import('../../infra/tenants.ts');
    const file = { tenants: [{ id: 'acme', push: { fcm: { secret: 'other/acme/fcm' } } }] };
    expect(() => parseTenantsFile(file, { prefix: 'ciba' })).toThrow(/push.fcm.secret must be named ciba\/\.\.\./);
    expect(() =>
      parseTenantsFile(
        {
          tenants: [
            {
              id: 'acme',
              push: { fcm: { secret: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:ciba/acme/fcm-AbCdEf' } },
            },
          ],
        },
        { prefix: 'ciba' },
      ),
    ).not.toThrow();
  });

  it('retries failed callbacks in Lambda and keeps what still fails in a queue', () => {
    service.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 21600,
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
    });
  });

  it('keeps the providers of deployments before batches, answered by the provisioner (their resources are released)', () => {
    const resources = service.toJSON().Resources as Resources;
    const provisionerId = app.service.getLogicalId(
      app.service.functions['tenant-provisioner']!.function.node.defaultChild as never,
    );
    const frameworks = Object.entries(resources).filter(
      ([id, r]) => r.Type === 'AWS::Lambda::Function' && /^(TenantSettings|PushPlatforms)Providerframework/.test(id),
    );
    expect(frameworks).toHaveLength(2);
    for (const [, fn] of frameworks) {
      expect(JSON.stringify(fn.Properties.Environment)).toContain(provisionerId);
    }
  });
});

describe('service stack: least privilege', () => {
  it.each([
    ['discovery', ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:Query']],
    ['web', ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:Query']],
    [
      'token',
      [
        'dynamodb:BatchGetItem',
        'dynamodb:BatchWriteItem',
        'dynamodb:DeleteItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:Query',
        'dynamodb:UpdateItem',
        'events:ListRules',
        'events:PutEvents',
        'kms:Decrypt',
        'kms:GenerateMac',
        'kms:Sign',
      ],
    ],
  ])('grants %s exactly what it needs', (name, expected) => {
    const dataActions = [...new Set(actionsOf(name))].filter((a) => !a.startsWith('logs:'));
    expect(dataActions.sort()).toEqual([...expected].sort());
  });

  it('never grants a wildcard action and never a wildcard resource on data', () => {
    for (const name of LAMBDA_FUNCTIONS) {
      for (const s of statementsOf(name)) {
        for (const action of [s.Action].flat()) expect(action).not.toMatch(/\*/);
        const resources = JSON.stringify(s.Resource);
        // ListStreams (the decision stream's mapping) reads no data and supports no resource-level permissions.
        if ([s.Action].flat().some((a) => a.startsWith('dynamodb:') && a !== 'dynamodb:ListStreams'))
          expect(resources).not.toContain('*');
        if (resources === '"*"') {
          // Only actions that support no resource-level permissions: SNS mobile-push management, Publish of text
          // messages (approval links by SMS: a phone number has no ARN), CreateKey (with TagResource) only for
          // keys tagged with the deployment, and ListRules (which events a rule on the bus may take).
          const unscoped =
            /^sns:(Create|Set|Get|Delete)Platform|^sns:(Get|Set)EndpointAttributes$|^kms:(CreateKey|TagResource)$|^dynamodb:ListStreams$|^events:ListRules$/;
          for (const action of [s.Action].flat()) {
            if (s.Sid === 'SendApprovalLinkTexts') expect(action).toBe('sns:Publish');
            else expect(action).toMatch(unscoped);
          }
          if ([s.Action].flat().includes('kms:CreateKey')) {
            expect(s.Condition).toEqual({
              StringEquals: { 'aws:RequestTag/ciba:deployment': 'ciba' },
              'ForAllValues:StringEquals': { 'aws:TagKeys': ['ciba:deployment', 'ciba:tenant'] },
            });
          }
        }
      }
    }
  });

  it('opens wrapped keys only for the uses a function has, and uses KMS keys only of this deployment', () => {
    const open = (name: string) => statementsOf(name).find((st) => st.Sid === 'OpenTenantKeys');
    expect(open('token')).toMatchObject({
      Action: 'kms:Decrypt',
      Condition: { StringEquals: { 'kms:EncryptionContext:key_use': ['signing', 'mac'] } },
    });
    expect(open('bc-authorize')?.Condition).toEqual({ StringEquals: { 'kms:EncryptionContext:key_use': ['mac'] } });
    for (const name of ['discovery', 'userinfo', 'web', 'device']) expect(open(name)).toBeUndefined();
    const own = statementsOf('token').find((st) => st.Sid === 'TenantKmsKeys')!;
    expect(own.Condition).toEqual({ StringEquals: { 'aws:ResourceTag/ciba:deployment': 'ciba' } });
    expect(JSON.stringify(own.Resource)).toContain(':key/*');
    const seal = statementsOf('admin').find((st) => st.Sid === 'SealTenantKeys')!;
    expect(seal).toMatchObject({
      Action: 'kms:Encrypt',
      Condition: { StringEquals: { 'kms:EncryptionContext:key_use': ['signing', 'mac'] } },
    });
  });

  it('lets only the functions that authenticate or register clients, check user codes or seal push responses use the tenant MAC keys', () => {
    const opens = (name: string) =>
      statementsOf(name).some((st) => st.Sid === 'OpenTenantKeys' && JSON.stringify(st.Condition).includes('"mac"'));
    // callback: hardening rule 12, the push response waiting for a retry is sealed under a key derived from it.
    expect(LAMBDA_FUNCTIONS.filter(opens).sort()).toEqual([
      'admin',
      'bc-authorize',
      'callback',
      'tenant-provisioner',
      'token',
    ]);
    expect(LAMBDA_FUNCTIONS.filter((name) => actionsOf(name).includes('kms:GenerateMac')).sort()).toEqual([
      'admin',
      'bc-authorize',
      'callback',
      'tenant-provisioner',
      'token',
    ]);
  });

  it('scopes DynamoDB to the table and its named indexes, and gives the ledger only to those that use it', () => {
    const dynamo = statementsOf('device').filter((s) => [s.Action].flat().some((a) => a.startsWith('dynamodb:')));
    const text = JSON.stringify(dynamo.map((s) => s.Resource));
    expect(text).toContain('/index/by-email');
    expect(text).toContain('/index/pending-by-user');
    expect(statementsOf('discovery').some((s) => s.Sid?.startsWith('Ledger'))).toBe(false);
    expect(actionsOf('discovery')).not.toContain('kms:Sign');
    expect(actionsOf('userinfo')).not.toContain('dynamodb:PutItem');
  });

  it('splits the device API: consent retrieval reads and only updates (its DPoP replay records), responses write, publish and schedule', () => {
    const consent = actionsOf('consent');
    expect(consent).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem']));
    for (const action of ['dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem']) {
      expect(consent).not.toContain(action);
    }
    expect(
      consent.filter((a) => !a.startsWith('dynamodb:') && !a.startsWith('logs:') && !a.startsWith('xray:')),
    ).toEqual([]);
    const ledger = statementsOf('consent').filter((s) => s.Sid?.startsWith('Ledger'));
    expect(ledger.map((s) => s.Sid)).toEqual(['LedgerRead']);
    const device = actionsOf('device');
    for (const action of [
      'dynamodb:PutItem',
      'events:PutEvents',
      'scheduler:CreateSchedule',
      'sns:CreatePlatformEndpoint',
    ]) {
      expect(device).toContain(action);
    }
  });

  it('lets only bc-authorize publish pushes and only the device API create endpoints', () => {
    const who = (action: string) => LAMBDA_FUNCTIONS.filter((name) => actionsOf(name).includes(action));
    // Pushes to device endpoints: bc-authorize only. Text messages (approval links): bc-authorize, and callback for
    // the channel fallback (docs/channels.md).
    const pushers = LAMBDA_FUNCTIONS.filter((name) =>
      statementsOf(name).some((st) => st.Sid === 'PushToDeviceEndpoints'),
    );
    expect(pushers).toEqual(['bc-authorize']);
    const texters = LAMBDA_FUNCTIONS.filter((name) =>
      statementsOf(name).some((st) => st.Sid === 'SendApprovalLinkTexts'),
    );
    expect(texters.sort()).toEqual(['bc-authorize', 'callback']);
    expect(who('sns:Publish').sort()).toEqual(['bc-authorize', 'callback']);
    expect(who('sns:CreatePlatformEndpoint')).toEqual(['device']);
    expect(who('sns:CreatePlatformApplication').sort()).toEqual(['admin', 'tenant-provisioner']);
    expect(who('kms:Sign').sort()).toEqual(['callback', 'token']);
    expect(who('kms:CreateKey').sort()).toEqual(['admin', 'tenant-provisioner']);
    expect(who('kms:Encrypt').sort()).toEqual(['admin', 'tenant-provisioner']);
    // Schedules are deleted by the events function alone (a decided request's timers), in the group only.
    expect(who('scheduler:DeleteSchedule')).toEqual(['events']);
    const deleting = statementsOf('events').filter((st) => JSON.stringify(st.Action).includes('DeleteSchedule'));
    expect(deleting).toHaveLength(1);
    expect(JSON.stringify(deleting[0]!.Resource)).toMatch(/^\{"Fn::Join":\["",\[.*":schedule\/ciba\/\*"\]\]\}$/);
  });

  it('lets bc-authorize verify id_token_hint with the public keys in the directory, never sign', () => {
    expect(
      actionsOf('bc-authorize')
        .filter((a) => a.startsWith('kms:'))
        .sort(),
    ).toEqual(['kms:Decrypt', 'kms:GenerateMac']);
  });
});

describe('service stack: operator console', () => {
  it('gives the web function the console permissions only when ciba:console is true', () => {
    expect(actionsOf('web')).not.toContain('kms:Sign');
    const withConsole = build({ 'ciba:console': 'true' });
    const template = Template.fromStack(withConsole.service);
    const fnId = withConsole.service.getLogicalId(
      withConsole.service.functions.web!.function.node.defaultChild as never,
    );
    const roleId = ((template.toJSON().Resources as Resources)[fnId]!.Properties.Role as { 'Fn::GetAtt': string[] })[
      'Fn::GetAtt'
    ][0];
    const actions = Object.values(template.toJSON().Resources as Resources)
      .filter(
        (r) => r.Type === 'AWS::IAM::Policy' && (r.Properties.Roles as { Ref: string }[]).some((x) => x.Ref === roleId),
      )
      .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
      .flatMap((st) => [st.Action].flat());
    expect(actions).toEqual(
      expect.arrayContaining(['kms:Sign', 'kms:GenerateMac', 'dynamodb:UpdateItem', 'events:PutEvents', 'sns:Publish']),
    );
  });
});

describe('the decision stream', () => {
  const ledgerId = () => app.stateful.getLogicalId(app.stateful.ledgerTable.node.defaultChild as never);

  it("gives the ledger (only) a stream of old and new images, an in-place update that keeps the table's logical id", () => {
    const tables = stateful.toJSON().Resources as Resources;
    const ledger = tables[ledgerId()]!;
    expect(ledger.Properties.StreamSpecification).toEqual({ StreamViewType: 'NEW_AND_OLD_IMAGES' });
    // The logical id and the other properties of deployments before the stream: CloudFormation updates in place.
    expect(ledgerId()).toMatch(/^Ledger[0-9A-F]{8}$/);
    const directory = app.stateful.getLogicalId(app.stateful.directoryTable.node.defaultChild as never);
    expect(tables[directory]!.Properties.StreamSpecification).toBeUndefined();
    // The service stack reads the stream's ARN through an export of the stateful stack.
    const exported = Object.values(stateful.toJSON().Outputs as Record<string, { Value: unknown }>).map((o) => o.Value);
    expect(exported).toContainEqual({ 'Fn::GetAtt': [ledgerId(), 'StreamArn'] });
  });

  it('maps it to the events function: from the stream start, decisions only, batch item failures, bounded retries and age, a failure queue', () => {
    const mappings = service.findResources('AWS::Lambda::EventSourceMapping');
    // The stream's, and the decision-retries queue's (below).
    expect(Object.keys(mappings)).toHaveLength(2);
    const props = mappings[app.service.getLogicalId(app.service.decisionStream.node.defaultChild as never)]!
      .Properties as Record<string, unknown>;
    const eventsFn = app.service.getLogicalId(app.service.functions.events!.function.node.defaultChild as never);
    expect(props.FunctionName).toEqual({ Ref: eventsFn });
    expect(JSON.stringify(props.EventSourceArn)).toMatch(/Fn::ImportValue.*StreamArn/);
    expect(props).toMatchObject({
      StartingPosition: 'TRIM_HORIZON',
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      MaximumRetryAttempts: 10,
      MaximumRecordAgeInSeconds: 21_600,
      DestinationConfig: {
        OnFailure: {
          Destination: {
            'Fn::GetAtt': [app.service.getLogicalId(app.service.decisionFailures.node.defaultChild as never), 'Arn'],
          },
        },
      },
    });
    const filters = (props.FilterCriteria as { Filters: { Pattern: string }[] }).Filters;
    expect(filters.map((f) => JSON.parse(f.Pattern))).toEqual([
      {
        eventName: ['MODIFY'],
        dynamodb: {
          Keys: { pk: { S: [{ prefix: 'REQ#' }] } },
          OldImage: { status: { S: ['pending'] } },
          NewImage: { status: { S: ['approved', 'denied', 'reported'] } },
        },
      },
    ]);
  });

  it('hands what the events function could not publish to a retries queue it consumes, whose dead letters are the decision-failures queue', () => {
    const id = (construct: { node: { defaultChild?: unknown } }) =>
      app.service.getLogicalId(construct.node.defaultChild as never);
    const retries = service.toJSON().Resources[id(app.service.decisionRetries)].Properties;
    expect(retries).toMatchObject({
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 180,
      MessageRetentionPeriod: 86_400,
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [id(app.service.decisionFailures), 'Arn'] },
        maxReceiveCount: 10,
      },
    });
    // Lambda's advice for a queue it consumes: a visibility timeout of at least six times the function's timeout.
    const eventsFn = service.toJSON().Resources[id(app.service.functions.events!.function)].Properties;
    expect(retries.VisibilityTimeout).toBeGreaterThanOrEqual(6 * eventsFn.Timeout);
    expect(eventsFn.Environment.Variables.CIBA_DECISION_RETRIES_QUEUE_URL).toEqual({
      Ref: id(app.service.decisionRetries),
    });
    const mapping = service.toJSON().Resources[id(app.service.decisionRetriesMapping)].Properties;
    expect(mapping).toMatchObject({
      FunctionName: { Ref: id(app.service.functions.events!.function) },
      EventSourceArn: { 'Fn::GetAtt': [id(app.service.decisionRetries), 'Arn'] },
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    // Only the events function: no other function's environment names the queue.
    for (const name of LAMBDA_FUNCTIONS.filter((n) => n !== 'events')) {
      const fn = service.toJSON().Resources[id(app.service.functions[name]!.function)].Properties;
      expect(fn.Environment.Variables.CIBA_DECISION_RETRIES_QUEUE_URL).toBeUndefined();
    }
  });

  it("gives the events function the stream's reads on the stream only, PutEvents, schedules (created and deleted), and its failure queue", () => {
    const statements = statementsOf('events');
    const stream = statements.find((s) => s.Sid === 'ReadDecisionStream')!;
    expect([stream.Action].flat().sort()).toEqual([
      'dynamodb:DescribeStream',
      'dynamodb:GetRecords',
      'dynamodb:GetShardIterator',
    ]);
    expect(JSON.stringify(stream.Resource)).toMatch(/Fn::ImportValue.*StreamArn/);
    expect(statements.find((s) => s.Sid === 'ListStreams')).toMatchObject({
      Action: 'dynamodb:ListStreams',
      Resource: '*',
    });
    expect([...new Set(actionsOf('events'))].filter((a) => !a.startsWith('logs:')).sort()).toEqual(
      [
        'dynamodb:DescribeStream',
        'dynamodb:GetRecords',
        'dynamodb:GetShardIterator',
        'dynamodb:ListStreams',
        'events:ListRules',
        'events:PutEvents',
        'iam:PassRole',
        'scheduler:CreateSchedule',
        'scheduler:DeleteSchedule',
        'sqs:DeleteMessage',
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:ReceiveMessage',
        'sqs:SendMessage',
      ].sort(),
    );
    // The retries queue's consumption on that queue only.
    const retries = statements.find((s) => s.Sid === 'DecisionRetries')!;
    expect(retries.Resource).toEqual({
      'Fn::GetAtt': [app.service.getLogicalId(app.service.decisionRetries.node.defaultChild as never), 'Arn'],
    });
    // No table access: the record carries the item.
    expect(
      actionsOf('events').filter((a) => /^dynamodb:(GetItem|PutItem|UpdateItem|DeleteItem|Query|Batch)/.test(a)),
    ).toEqual([]);
  });
});

describe('service stack: alarms', () => {
  it('alarms on 5xx, throttling everywhere, callback errors, every dead-letter queue, and per tenant from metrics', () => {
    const alarms = Object.values(service.findResources('AWS::CloudWatch::Alarm')).map(
      (a) => (a.Properties as { AlarmDescription: string }).AlarmDescription,
    );
    expect(alarms).toEqual(
      expect.arrayContaining([
        expect.stringContaining('the API answered 5xx, capacity refusals'),
        expect.stringContaining('Lambda throttled'),
        expect.stringContaining('API Gateway throttled requests'),
        expect.stringContaining('DynamoDB throttled requests'),
        expect.stringContaining('KMS cryptographic requests above 80 %'),
        expect.stringContaining('SNS refused push notifications'),
        expect.stringContaining('refused approval links'),
        expect.stringContaining('reached its sms_daily_limit'),
        expect.stringContaining('callback deliveries are failing'),
        expect.stringContaining('callbacks that failed after every retry'),
        expect.stringContaining('EventBridge could not hand to the callback function'),
        expect.stringContaining('one tenant has failing callbacks'),
        expect.stringContaining('one tenant reaches its request limits'),
        expect.stringContaining('the events function failed'),
        expect.stringContaining("the decision stream's records wait over a minute"),
        expect.stringContaining('decisions the events function could not publish'),
        expect.stringContaining('decisions could not be published'),
      ]),
    );
    // Per tenant from Contributor Insights over the tenant field of the logs: no alarm or queue per tenant.
    for (const rule of Object.values(service.findResources('AWS::CloudWatch::InsightRule'))) {
      // The log group's name is a reference: the body is joined at deployment.
      expect(JSON.stringify(rule.Properties.RuleBody)).toMatch(/\\"Keys\\":\[\\"\$\.(tenant|path)\\"\]/);
    }
    expect(alarms.filter((a) => /acme|bank/.test(a))).toEqual([]);
  });

  /** Each metric filter: its log group's logical id, metric, dimensions; each rule: its log groups' ids and key. */
  const logCounts = (t: Template) => {
    const filters = Object.values(t.findResources('AWS::Logs::MetricFilter')).map((f) => {
      const p = f.Properties as {
        LogGroupName: { Ref: string };
        FilterPattern: string;
        MetricTransformations: { MetricName: string; Dimensions?: unknown }[];
      };
      return {
        group: p.LogGroupName.Ref,
        pattern: p.FilterPattern,
        metric: p.MetricTransformations[0]!.MetricName,
        dimensions: p.MetricTransformations[0]!.Dimensions,
      };
    });
    const rules = Object.values(t.findResources('AWS::CloudWatch::InsightRule')).map((r) => {
      const body = JSON.stringify(r.Properties.RuleBody);
      return {
        name: (r.Properties as { RuleName: string }).RuleName,
        groups: [...body.matchAll(/"Ref":"([A-Za-z0-9]+)"/g)].map((m) => m[1]!),
        key: /\\"Keys\\":\[\\"([^\\]+)\\"\]/.exec(body)?.[1],
        body,
      };
    });
    return { filters, rules };
  };

  it('counts logged problems deployment-wide (no tenant dimension) and by tenant in a Contributor Insights rule over the same log groups', () => {
    const { filters, rules } = logCounts(service);
    const metrics = [...new Set(filters.map((f) => f.metric))].sort();
    expect(metrics).toEqual([
      'ApiThrottledRequests',
      'ApprovalLinksNotSent',
      'CapacityRefusals',
      'DecisionsNotPublished',
      'PushNotificationsFailed',
      'SmsDailyLimitReached',
    ]);
    // No dimension: a tenant dimension makes a metric per tenant, and CloudWatch Logs disables a filter that makes
    // 1,000 dimension values in an hour.
    expect(filters.filter((f) => f.dimensions !== undefined)).toEqual([]);
    const accessLogs = app.service.getLogicalId(app.service.accessLogs.node.defaultChild as never);
    for (const metric of metrics) {
      const groups = filters.filter((f) => f.metric === metric).map((f) => f.group);
      const patterns = new Set(filters.filter((f) => f.metric === metric).map((f) => f.pattern));
      expect(patterns.size, metric).toBe(1);
      // The rule over exactly these log groups whose filter is the metric's: by tenant, or by path (/{tenant}/...) for
      // the access log, where API Gateway's lines carry no tenant field.
      const rule = rules.find(
        (r) =>
          JSON.stringify([...r.groups].sort()) === JSON.stringify([...groups].sort()) &&
          (metric === 'CapacityRefusals' ? r.name.endsWith('RefusedRequestsByTenant') : true) &&
          (metric === 'ApiThrottledRequests' || metric === 'CapacityRefusals' || r.name.endsWith('ByTenant')),
      );
      expect(rule, metric).toBeDefined();
      expect(rule!.key, metric).toBe(groups.includes(accessLogs) ? '$.path' : '$.tenant');
    }
  });

  it('counts SNS and SES refusals in the log of every function that may push, create device endpoints or send links', () => {
    for (const [label, built] of [
      ['default', app],
      ['console', build({ 'ciba:console': 'true' })],
    ] as const) {
      const t = label === 'default' ? service : Template.fromStack(built.service);
      const { filters } = logCounts(t);
      for (const name of LAMBDA_FUNCTIONS) {
        const fn = built.service.functions[name];
        if (!fn) continue;
        const statements = statementsIn(t, name);
        const group = built.service.getLogicalId(fn.logGroup.node.defaultChild as never);
        const counted = filters.filter((f) => f.group === group).map((f) => f.metric);
        const pushes = statements.some((st) =>
          [st.Action].flat().some((a) => a === 'sns:CreatePlatformEndpoint' || st.Sid === 'PushToDeviceEndpoints'),
        );
        const sendsLinks = statements.some((st) => st.Sid === 'SendApprovalLinkTexts');
        if (pushes) expect(counted, `${label} ${name}`).toContain('PushNotificationsFailed');
        if (sendsLinks) {
          expect(counted, `${label} ${name}`).toEqual(
            expect.arrayContaining(['ApprovalLinksNotSent', 'SmsDailyLimitReached']),
          );
        }
      }
    }
    const pushAlarm = Object.values(service.findResources('AWS::CloudWatch::Alarm')).find((a) =>
      String(a.Properties.AlarmDescription).includes('SNS refused push'),
    )!;
    expect(pushAlarm.Properties).toMatchObject({ MetricName: 'PushNotificationsFailed', Namespace: 'Ciba' });
  });

  it('leaves capacity refusals (503 by design) out of the 5xx alarm, and counts them from the logs where requests start', () => {
    const api5xx = Object.values(service.findResources('AWS::CloudWatch::Alarm')).find((a) =>
      String(a.Properties.AlarmDescription).includes('the API answered 5xx'),
    )!;
    const queries = api5xx.Properties.Metrics as {
      Id: string;
      Expression?: string;
      MetricStat?: { Metric: { MetricName: string; Namespace: string } };
    }[];
    expect(queries.find((q) => q.Expression)!.Expression).toBe('FILL(e, 0) - FILL(r, 0)');
    expect(queries.find((q) => q.Id === 'e')!.MetricStat!.Metric).toMatchObject({
      MetricName: '5xx',
      Namespace: 'AWS/ApiGateway',
    });
    expect(queries.find((q) => q.Id === 'r')!.MetricStat!.Metric).toMatchObject({
      MetricName: 'CapacityRefusals',
      Namespace: 'Ciba',
    });
    const { filters } = logCounts(service);
    const groups = filters.filter((f) => f.metric === 'CapacityRefusals').map((f) => f.group);
    expect(groups.sort()).toEqual(
      ['bc-authorize', 'web']
        .map((n) => app.service.getLogicalId(app.service.functions[n]!.logGroup.node.defaultChild as never))
        .sort(),
    );
  });

  it('drops the tenant dimension of the lifecycle metrics with ciba:tenantMetrics=logs (default: kept), and refuses other values', () => {
    const envOf = (built: CibaApp) =>
      Object.values(built.service.functions).map(
        (f) =>
          (
            (Template.fromStack(built.service).toJSON().Resources as Resources)[
              built.service.getLogicalId(f.function.node.defaultChild as never)
            ]!.Properties.Environment as { Variables: Record<string, unknown> }
          ).Variables.CIBA_TENANT_METRICS,
      );
    expect(new Set(envOf(app))).toEqual(new Set([undefined]));
    const logs = build({ 'ciba:tenantMetrics': 'logs' });
    const values = envOf(logs);
    // Every function that publishes events gets it (the provisioner publishes none).
    for (const name of ['bc-authorize', 'token', 'device', 'callback', 'events', 'web', 'admin']) {
      const f = logs.service.functions[name]!;
      const vars = (
        (Template.fromStack(logs.service).toJSON().Resources as Resources)[
          logs.service.getLogicalId(f.function.node.defaultChild as never)
        ]!.Properties.Environment as { Variables: Record<string, unknown> }
      ).Variables;
      expect(vars.CIBA_TENANT_METRICS, name).toBe('logs');
    }
    expect(values).toContain('logs');
    expect(build({ 'ciba:tenantMetrics': 'dimension' }).service.node.tryGetContext('ciba:tenantMetrics')).toBe(
      'dimension',
    );
    expect(() => build({ 'ciba:tenantMetrics': 'off' })).toThrow('context ciba:tenantMetrics must be one of');
  });

  it('lets every function that puts events read the bus rules (ciba:events matched, the default); with all, neither the variable nor the permission', () => {
    const publishers = ['bc-authorize', 'token', 'device', 'callback', 'events', 'web', 'admin'];
    const variables = (built: CibaApp, name: string) =>
      (
        (Template.fromStack(built.service).toJSON().Resources as Resources)[
          built.service.getLogicalId(built.service.functions[name]!.function.node.defaultChild as never)
        ]!.Properties.Environment as { Variables: Record<string, unknown> }
      ).Variables;
    const listers = (built: CibaApp) =>
      Object.keys(built.service.functions)
        .filter((name) =>
          Object.values(Template.fromStack(built.service).toJSON().Resources as Resources)
            .filter(
              (r) =>
                r.Type === 'AWS::IAM::Policy' &&
                JSON.stringify(r.Properties.Roles).includes(
                  built.service.getLogicalId(built.service.functions[name]!.role.node.defaultChild as never),
                ),
            )
            .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
            .some((st) => [st.Action].flat().includes('events:ListRules') && st.Resource === '*'),
        )
        .sort();
    // The web function puts events only with the console.
    expect(listers(app)).toEqual(publishers.filter((n) => n !== 'web').sort());
    for (const name of publishers) expect(variables(app, name).CIBA_EVENTS, name).toBeUndefined();
    const all = build({ 'ciba:events': 'all' });
    expect(listers(all)).toEqual([]);
    for (const name of publishers) expect(variables(all, name).CIBA_EVENTS, name).toBe('all');
    expect(() => build({ 'ciba:events': 'some' })).toThrow('context ciba:events must be one of matched, all');
  });
});

describe('synth output the CLI prints', () => {
  it('warns on a stack (the CDK CLI prints stack annotations, not the App) when the example tenants file is used', () => {
    const example = build({ 'ciba:tenants': 'infra/tenants.example.json' });
    Annotations.fromStack(example.service).hasWarning('*', Match.stringLikeRegexp('tenants.example.json'));
    expect(Annotations.fromStack(app.service).findWarning('*', Match.stringLikeRegexp('tenants.example.json'))).toEqual(
      [],
    );
  });

  it('names no secret in the example tenants file: deploying it needs nothing created beforehand', () => {
    expect(readFileSync('infra/tenants.example.json', 'utf8')).not.toMatch(/"secret"/);
  });
});

describe('cdk-nag', () => {
  /** AwsSolutionsChecks' unacknowledged findings in both stacks of an app (rule and resources); none when it passes. */
  const nagFindings = (built: CibaApp): string[] => {
    const report = new AwsSolutionsChecks(built.service.node.root).validateScope(built.service.node.root);
    const findings = report.violations.map(
      (v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath ?? r.resourceLogicalId).join(', ')}`,
    );
    return report.success ? findings : [...findings, 'the report did not pass'];
  };

  it.each([
    ['on demand', {}],
    ['provisioned capacity', { 'ciba:tableCapacity': 'provisioned:5-400' }],
  ])('AwsSolutionsChecks finds nothing unacknowledged in either stack (tables %s)', (_, context) => {
    expect(nagFindings(build(context))).toEqual([]);
  });

  // `cdk synth` and `cdk deploy` synthesize with the account and region of their credentials (or us-east-1), so the
  // ARNs in the findings are literals there, not the placeholders of an app built without them.
  it('finds nothing unacknowledged when the account and region are known, as cdk deploy synthesizes', () => {
    vi.stubEnv('CDK_DEFAULT_ACCOUNT', '111122223333');
    vi.stubEnv('CDK_DEFAULT_REGION', 'eu-central-1');
    try {
      const built = build();
      expect(built.stateful.region).toBe('eu-central-1');
      expect(nagFindings(built)).toEqual([]);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('tenants file', () => {
  it('rejects development mode, bad ids and unknown fields at synth time', async () => {
    const { parseTenantsFile } = await import('../../infra/tenants.ts');
    expect(() => parseTenantsFile({ tenants: [{ id: 'acme', settings: { development_mode: true } }] })).toThrow(
      /development_mode cannot be enabled in AWS/,
    );
    expect(() => parseTenantsFile({ tenants: [{ id: 'admin' }] })).toThrow(/reserved/);
    expect(() => parseTenantsFile({ tenants: [{ id: 'acme', colour: 'red' }] })).toThrow(/unknown field colour/);
    expect(() => parseTenantsFile({ tenants: [{ id: 'a' }, { id: 'a' }] })).toThrow(/listed twice/);
    expect(() => parseTenantsFile({ tenants: [{ id: 'a', callbacks: { retry_attempts: 500 } }] })).toThrow(/0 to 185/);
  });
});
