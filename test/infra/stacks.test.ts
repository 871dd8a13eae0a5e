import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { LAMBDA_FUNCTIONS } from '../../infra/bundling.ts';
import { buildCibaApp, type CibaApp } from '../../infra/ciba-app.ts';
import { ROUTES } from '../../lib/http/routes.ts';

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;
type Statement = { Sid?: string; Action: string | string[]; Resource: unknown; Condition?: unknown };

const build = (context: Record<string, string> = {}): CibaApp =>
  buildCibaApp(
    new App({ context: { 'ciba:bundling': 'stub', 'ciba:tenants': 'test/fixtures/infra-tenants.json', ...context } }),
  );

let app: CibaApp;
let stateful: Template;
let service: Template;

beforeAll(() => {
  app = build();
  stateful = Template.fromStack(app.stateful);
  service = Template.fromStack(app.service);
});

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
            Projection: { ProjectionType: 'ALL' },
          }),
        ],
      }),
    });
    stateful.resourceCountIs('AWS::DynamoDB::Table', 2);
  });

  it('has the named event bus', () => {
    stateful.hasResourceProperties('AWS::Events::EventBus', { Name: 'ciba-events' });
  });

  it('gives each tenant an asymmetric signing key of its algorithm, retained, behind its alias', () => {
    stateful.hasResource('AWS::KMS::Key', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY', PendingWindowInDays: 30 }),
    });
    stateful.hasResourceProperties('AWS::KMS::Key', { KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' });
    stateful.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/ciba/acme' });
    stateful.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/ciba/bank' });
    // Two signing keys and two HMAC keys.
    stateful.resourceCountIs('AWS::KMS::Key', 4);
  });

  it('gives each tenant a retained HMAC key for client_secret_jwt behind its /hmac alias', () => {
    stateful.hasResource('AWS::KMS::Key', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }),
    });
    expect(Object.keys(stateful.findResources('AWS::KMS::Key', { Properties: { KeySpec: 'HMAC_256' } }))).toHaveLength(
      2,
    );
    stateful.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/ciba/acme/hmac' });
    stateful.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/ciba/bank/hmac' });
  });

  it('keeps the previous key published after a rotation', () => {
    const rotated = build({ 'ciba:tenants': 'test/fixtures/infra-tenants-rotated.json' });
    const t = Template.fromStack(rotated.stateful);
    // Current, previous and the HMAC key.
    t.resourceCountIs('AWS::KMS::Key', 3);
    t.hasResourceProperties('AWS::KMS::Key', {
      KeySpec: 'RSA_2048',
      Description: Match.stringLikeRegexp('v3 \\(PS256\\)'),
    });
    t.hasResourceProperties('AWS::KMS::Key', {
      KeySpec: 'ECC_NIST_P256',
      Description: Match.stringLikeRegexp('v2 \\(ES256\\)'),
    });
    t.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/ciba/acme' });
    t.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/ciba/acme/previous' });
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
        LoggingConfig: { LogGroup: expect.anything() },
      });
    }
    expect(Object.keys(app.service.functions).sort()).toEqual([...LAMBDA_FUNCTIONS].sort());
  });

  it('gives every request-serving function the same environment', () => {
    const fnLogicalId = app.service.getLogicalId(app.service.functions.token!.function.node.defaultChild as never);
    const env = (service.toJSON().Resources as Resources)[fnLogicalId]!.Properties.Environment as {
      Variables: Record<string, unknown>;
    };
    expect(Object.keys(env.Variables).sort()).toEqual(
      [
        'CIBA_DEAD_LETTER_QUEUE_URL',
        'CIBA_DIRECTORY_TABLE',
        'CIBA_EVENT_BUS_NAME',
        'CIBA_KMS_ALIAS_PREFIX',
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
    expect(env.Variables.CIBA_KMS_ALIAS_PREFIX).toBe('alias/ciba/');
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

  it('throttles and logs the stage, and keeps the execute-api endpoint without a custom domain', () => {
    service.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 },
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') },
    });
    service.hasResourceProperties('AWS::ApiGatewayV2::Api', { DisableExecuteApiEndpoint: false });
    service.resourceCountIs('AWS::ApiGatewayV2::DomainName', 0);
  });

  it('with a custom domain and a truststore: mutual TLS, and the default endpoint disabled', () => {
    const withDomain = build({
      'ciba:domainName': 'id.example.com',
      'ciba:certificateArn': 'arn:aws:acm:eu-west-1:111122223333:certificate/abc',
      'ciba:truststoreUri': 's3://acme-truststore/ciba/truststore.pem',
      'ciba:throttleRate': '50',
    });
    const t = Template.fromStack(withDomain.service);
    t.hasResourceProperties('AWS::ApiGatewayV2::DomainName', {
      DomainName: 'id.example.com',
      MutualTlsAuthentication: { TruststoreUri: 's3://acme-truststore/ciba/truststore.pem' },
    });
    t.hasResourceProperties('AWS::ApiGatewayV2::ApiMapping', { DomainName: Match.anyValue() });
    t.hasResourceProperties('AWS::ApiGatewayV2::Api', { DisableExecuteApiEndpoint: true });
    t.hasResourceProperties('AWS::ApiGatewayV2::Stage', { DefaultRouteSettings: { ThrottlingRateLimit: 50 } });
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ CIBA_PUBLIC_URL: 'https://id.example.com' }) },
    });
  });
});

describe('service stack: tenants', () => {
  it('writes each tenant settings item through the provisioner custom resource', () => {
    service.hasResourceProperties('Custom::CibaTenantSettings', {
      TenantId: 'acme',
      OnDelete: 'retain',
      Settings: Match.serializedJson(
        Match.objectLike({ display_name: 'ACME support', delivery_modes: ['poll', 'ping', 'push'] }),
      ),
    });
    service.resourceCountIs('Custom::CibaTenantSettings', 2);
  });

  it('routes each tenant decided ping/push events to the callback with a retry policy and a DLQ', () => {
    service.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['ciba'],
        'detail-type': ['CIBA Request Decided'],
        detail: { tenant_id: ['acme'], delivery_mode: ['ping', 'push'] },
      },
      Targets: [
        Match.objectLike({
          RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 },
          DeadLetterConfig: { Arn: Match.anyValue() },
        }),
      ],
    });
    const tenantRules = Object.values(service.findResources('AWS::Events::Rule')).filter((r) =>
      JSON.stringify(r.Properties).includes('tenant_id'),
    );
    expect(tenantRules).toHaveLength(2);
    service.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
  });

  it('lets only the callback function send dead letters, to the failures queue', () => {
    const who = LAMBDA_FUNCTIONS.filter((name) => actionsOf(name).includes('sqs:SendMessage'));
    expect(who).toEqual(['callback']);
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

  it('grants the provisioner read on a tenant Web Push secret and names only the secret in the resource', () => {
    service.hasResourceProperties('Custom::CibaTenantSettings', {
      TenantId: 'acme',
      WebPush: JSON.stringify({ subject: 'mailto:ops@acme.example', secret: 'ciba/acme/webpush' }),
      WebPushVersion: '1',
    });
    const reads = statementsOf('tenant-provisioner').filter((st) =>
      [st.Action].flat().includes('secretsmanager:GetSecretValue'),
    );
    expect(JSON.stringify(reads.map((st) => st.Resource))).toContain('secret:ciba/acme/webpush-??????');
  });

  it('retries failed callbacks in Lambda and keeps what still fails in a queue', () => {
    service.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 21600,
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
    });
  });

  it('creates the SNS platform applications from secrets, naming only the secret', () => {
    service.hasResourceProperties('Custom::CibaPushPlatform', {
      Name: 'ciba-acme',
      Platform: 'APNS',
      CredentialsSecretArn: 'ciba/acme/apns',
      CredentialsVersion: '1',
    });
    service.hasResourceProperties('Custom::CibaPushPlatform', { Name: 'ciba-acme', Platform: 'GCM' });
    service.resourceCountIs('Custom::CibaPushPlatform', 2);
    const secretGrants = statementsOf('push-platforms').filter((s) =>
      [s.Action].flat().includes('secretsmanager:GetSecretValue'),
    );
    expect(JSON.stringify(secretGrants.map((s) => s.Resource))).toContain('secret:ciba/acme/apns-??????');
  });
});

describe('service stack: least privilege', () => {
  it.each([
    ['discovery', ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:Query', 'kms:GetPublicKey']],
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
        'events:PutEvents',
        'kms:GenerateMac',
        'kms:GetPublicKey',
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
        if ([s.Action].flat().some((a) => a.startsWith('dynamodb:'))) expect(resources).not.toContain('*');
        if (resources === '"*"') {
          // Only SNS mobile-push management actions, which support no resource-level permissions.
          for (const action of [s.Action].flat())
            expect(action).toMatch(/^sns:(Create|Set|Delete)Platform|^sns:SetEndpointAttributes$/);
        }
      }
    }
  });

  it('scopes KMS to the tenant keys by alias', () => {
    const kms = statementsOf('token').find((s) => s.Sid === 'TenantSigningKeys')!;
    expect(kms.Condition).toEqual({ 'ForAnyValue:StringLike': { 'kms:ResourceAliases': 'alias/ciba/*' } });
    const mac = statementsOf('token').find((s) => s.Sid === 'TenantHmacKeys')!;
    expect(mac.Action).toBe('kms:GenerateMac');
    expect(mac.Condition).toEqual({ 'ForAnyValue:StringLike': { 'kms:ResourceAliases': 'alias/ciba/*/hmac' } });
  });

  it('lets only the functions that authenticate or register clients, check user codes or seal push responses use the tenant HMAC keys', () => {
    const who = LAMBDA_FUNCTIONS.filter((name) => actionsOf(name).includes('kms:GenerateMac'));
    // callback: hardening rule 12, the push response waiting for a retry is sealed under a key derived from it.
    expect(who.sort()).toEqual(['admin', 'bc-authorize', 'callback', 'token']);
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
    expect(who('sns:Publish')).toEqual(['bc-authorize']);
    expect(who('sns:CreatePlatformEndpoint')).toEqual(['device']);
    expect(who('sns:CreatePlatformApplication')).toEqual(['push-platforms']);
    expect(who('kms:Sign').sort()).toEqual(['callback', 'token']);
  });

  it('lets bc-authorize read the tenant public keys (id_token_hint is verified with them), never sign', () => {
    expect(actionsOf('bc-authorize')).toContain('kms:GetPublicKey');
    expect(actionsOf('bc-authorize')).not.toContain('kms:Sign');
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

describe('service stack: alarms', () => {
  it('alarms on 5xx, throttles, callback errors, and every dead-letter queue', () => {
    const alarms = Object.values(service.findResources('AWS::CloudWatch::Alarm')).map(
      (a) => (a.Properties as { AlarmDescription: string }).AlarmDescription,
    );
    expect(alarms).toEqual(
      expect.arrayContaining([
        expect.stringContaining('5xx'),
        expect.stringContaining('throttled'),
        expect.stringContaining('callback deliveries are failing'),
        expect.stringContaining('callbacks that failed after every retry'),
        expect.stringContaining('acme: events EventBridge could not deliver'),
        expect.stringContaining('bank: events EventBridge could not deliver'),
      ]),
    );
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
  it('AwsSolutionsChecks finds nothing unacknowledged in either stack', () => {
    const fresh = build();
    const report = new AwsSolutionsChecks(fresh.service.node.root).validateScope(fresh.service.node.root);
    const findings = report.violations.map(
      (v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath ?? r.resourceLogicalId).join(', ')}`,
    );
    expect(findings).toEqual([]);
    expect(report.success).toBe(true);
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
