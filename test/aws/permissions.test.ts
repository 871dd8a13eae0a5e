import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUNCTION_ACCESS, type FunctionAccess } from '../../infra/function-access.ts';
import { bundleOperations, someAllowNames } from './bundle-operations.ts';
import { AwsShape } from './cloud.ts';
import { pushSecrets } from './fixtures.ts';
import { CIBA_GRANT, pushedTxn, Receiver, type Shape, startShape } from './harness.ts';
import { bundledAssembly, variantAssembly } from './synth.ts';

/**
 * The permissions a flow needs are in the template, and a missing one fails here naming function, action and
 * resource: the CDK app synthesized with one grant removed (infra/function-access.ts), then the flow that needs it.
 */
describe('a grant removed from the CDK code fails the flow that needs it, naming function, action and resource', () => {
  let shape: Shape;

  /** One variant without three grants: the token function's signing keys, the events function's bus and schedules. */
  beforeAll(async () => {
    const removed: [keyof typeof FUNCTION_ACCESS, keyof FunctionAccess][] = [
      ['token', 'sign'],
      ['events', 'events'],
      ['events', 'schedules'],
    ];
    const dir = await variantAssembly({}, () => {
      const before = removed.map(([fn, key]) => [fn, key, FUNCTION_ACCESS[fn][key]] as const);
      for (const [fn, key] of removed) delete FUNCTION_ACCESS[fn][key];
      return () => {
        for (const [fn, key, value] of before) (FUNCTION_ACCESS[fn] as Record<string, unknown>)[key] = value;
      };
    });
    shape = await startShape({ dir });
  }, 300_000);
  afterAll(() => shape?.stop());

  it('token without its signing keys: the redeeming poll answers 500 and the refused call is kms:Decrypt of the wrapped key', async () => {
    const registered = await shape.registerClient('acme');
    const device = await shape.enrolledDevice('acme', 'ivan', { type: 'fcm', token: 'fcm-ivan' });
    const rp = await shape.relyingParty('acme', registered);
    const ack = await client.initiateBackchannelAuthentication(rp, {
      scope: 'openid',
      login_hint: 'ivan',
      binding_message: 'one',
    });
    await device.decide(pushedTxn(shape.cloud, 'fcm-ivan'), 'approve');
    // The decision's event (the events function, without its bus grant in this variant) is refused in the background.
    await shape.cloud.settle();
    shape.cloud.takeDenials();

    const res = await fetch(`${shape.issuer('acme')}/oauth/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${registered.client_id}:${registered.client_secret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: CIBA_GRANT, auth_req_id: ack.auth_req_id }),
    });
    expect(res.status).toBe(500);
    const denials = shape.cloud.takeDenials();
    expect(denials).toEqual([
      expect.objectContaining({
        function: shape.cloud.fn('token').name,
        action: 'kms:Decrypt',
        resource: expect.stringMatching(/^arn:aws:kms:eu-west-1:123456789012:key\//),
      }),
    ]);
    expect(denials[0]!.message).toMatch(/is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:/);
    expect(shape.cloud.lambda.logsOf(shape.cloud.fn('token').name).join('\n')).toMatch(/AccessDeniedException/);
  });

  it('events without its bus and schedules: the decision is retried (the stream hands it to the retries queue, tried from there); the refused calls are events:PutEvents and scheduler:CreateSchedule (and events:ListRules: every event is then put)', async () => {
    const receiver = await Receiver.start(shape.cloud, shape.pki, 'rp.example.com');
    try {
      const registered = await shape.registerClient('acme', {
        backchannel_token_delivery_mode: 'ping',
        backchannel_client_notification_endpoint: receiver.endpoint(),
      });
      const device = await shape.enrolledDevice('acme', 'judy', { type: 'fcm', token: 'fcm-judy' });
      const rp = await shape.relyingParty('acme', registered);
      await client.initiateBackchannelAuthentication(rp, {
        scope: 'openid',
        login_hint: 'judy',
        binding_message: 'bus down',
        client_notification_token: 'notify-0123456789abcdef',
      });
      shape.cloud.takeDenials();
      const events = shape.cloud.fn('events').name;
      const tries = () => shape.cloud.lambda.invocations.filter((i) => i.function === events).length;
      const before = tries();
      const txn = pushedTxn(shape.cloud, 'fcm-judy');
      // The decision does not wait for the event: it answers.
      expect(await device.decide(txn, 'approve')).toEqual({ txn, status: 'approved' });
      await shape.cloud.advance(5_000);
      // The stream's try, then the retries queue's first.
      expect(tries() - before).toBeGreaterThanOrEqual(2);
      expect(
        shape.cloud.lambda.invocations
          .filter((i) => i.function === events)
          .map((i) => i.kind)
          .slice(before, before + 2),
      ).toEqual(['stream', 'queue']);
      // Each try: PutEvents refused, then the fallback's CreateSchedule refused. An instance of the function that had
      // not read the bus's rules yet is refused those too (it then puts every event, and asks again a minute later).
      const denials = shape.cloud.takeDenials();
      const tried = denials.filter((d) => d.action !== 'events:ListRules');
      expect(tried.length).toBeGreaterThanOrEqual(4);
      expect(tried.slice(0, 2)).toEqual([
        expect.objectContaining({
          function: events,
          action: 'events:PutEvents',
          resource: 'arn:aws:events:eu-west-1:123456789012:event-bus/ciba-events',
        }),
        expect.objectContaining({
          function: events,
          action: 'scheduler:CreateSchedule',
          resource: expect.stringMatching(/^arn:aws:scheduler:eu-west-1:123456789012:schedule\/ciba\//),
        }),
      ]);
      expect(new Set(tried.map((d) => `${d.function} ${d.action}`))).toEqual(
        new Set([`${events} events:PutEvents`, `${events} scheduler:CreateSchedule`]),
      );
      for (const d of denials.filter((d) => d.action === 'events:ListRules'))
        expect(d).toMatchObject({ function: events, resource: '*' });
      expect(receiver.received).toHaveLength(0);
    } finally {
      await receiver.stop();
    }
  });
});

describe("the decision stream's mapping needs the stream reads in the events function's role", () => {
  it('fails the deployment without them, as Lambda refuses the mapping, naming the actions', async () => {
    const dir = await variantAssembly({}, () => {
      const before = FUNCTION_ACCESS.events.decisionStream;
      delete FUNCTION_ACCESS.events.decisionStream;
      return () => {
        FUNCTION_ACCESS.events.decisionStream = before;
      };
    });
    const started = AwsShape.start({ assembly: dir, code: await bundledAssembly(), secrets: pushSecrets() });
    const error = await started.then(
      async (cloud) => {
        await cloud.stop();
        return undefined;
      },
      (e: Error) => e,
    );
    expect(error?.message).toMatch(
      /EventSourceMapping: Cannot access stream arn:aws:dynamodb:eu-west-1:123456789012:table\/.+\/stream\/.+ Please ensure the role can perform the GetRecords, GetShardIterator, DescribeStream, and ListStreams Actions/,
    );
    for (const action of [
      'dynamodb:DescribeStream',
      'dynamodb:GetShardIterator',
      'dynamodb:GetRecords',
      'dynamodb:ListStreams',
    ])
      expect(error?.message).toContain(`is not authorized to perform: ${action}`);
  }, 300_000);
});

/**
 * Operations compiled into a bundle that its role does not allow, each because the function never calls it: the
 * adapters are shared classes (one store adapter for every table operation, one KMS adapter for verifying, signing
 * and MACs, one SNS notifier for registering and publishing), so a bundle carries methods its handler never reaches.
 * The dynamic flows prove what each function does call; this list keeps the rest explicit. A new operation that is
 * neither allowed nor listed here fails the test.
 */
/** What TenantKeys compiles in for provisioning (ensureKeys, rotate, a tenant's deletion), which only some call. */
const KEY_PROVISIONING = (who: string): Record<string, string> => ({
  'kms:Encrypt': `TenantKeys: ${who} seals no new key (provisioning is the admin API's and the deployment's)`,
  'kms:CreateKey': `TenantKeys: ${who} creates no kms-mode key`,
  'kms:GetPublicKey': `TenantKeys: ${who} reads public keys from the keyset, never from KMS`,
  'kms:ScheduleKeyDeletion': `TenantKeys: ${who} retires no KMS key`,
});

/** The scheduler adapter in a bundle whose function creates schedules and deletes none. */
const DELETES_NO_SCHEDULE =
  "EventBridgeScheduler.cancel: only the events function deletes schedules (a decided request's timers)";

const COMPILED_NEVER_CALLED: Record<string, Record<string, string>> = {
  '*': {
    'dynamodb:DescribeEndpoints': 'SDK-internal endpoint discovery, off unless endpointDiscoveryEnabled is set',
    'dynamodb:Scan':
      'lib/adapters/dynamodb/local.ts: local mode only (lib/local/recover-timers.ts), never called in AWS',
  },
  discovery: {
    'dynamodb:PutItem': 'the store adapter: discovery only reads tenants and keys',
    'dynamodb:UpdateItem': 'the store adapter (a tenant deletion marks the tenant first): discovery only reads',
    'dynamodb:DeleteItem': 'the store adapter: discovery only reads',
    'dynamodb:BatchWriteItem': 'the store adapter: discovery only reads',
    ...KEY_PROVISIONING('discovery'),
    'kms:Decrypt': 'TenantKeys: discovery publishes public keys only',
    'kms:Sign': 'TenantKeys: discovery only publishes public keys',
    'kms:GenerateMac': 'TenantKeys: discovery authenticates no client',
  },
  userinfo: {
    'dynamodb:PutItem': 'the store adapter: userinfo only reads',
    'dynamodb:UpdateItem': 'the store adapter: userinfo only reads',
    'dynamodb:DeleteItem': 'the store adapter: userinfo only reads',
    'dynamodb:BatchWriteItem': 'the store adapter: userinfo only reads',
    ...KEY_PROVISIONING('userinfo'),
    'kms:Decrypt': 'TenantKeys: userinfo verifies access tokens with public keys',
    'kms:Sign': 'TenantKeys: userinfo verifies access tokens, signs nothing',
    'kms:GenerateMac': 'TenantKeys: userinfo authenticates no client',
  },
  consent: {
    'dynamodb:PutItem': 'the store adapter: consent retrieval reads and updates only its DPoP replay records',
    'dynamodb:DeleteItem': 'the store adapter: consent retrieval deletes nothing',
    'dynamodb:BatchWriteItem': 'the store adapter: consent retrieval deletes nothing',
  },
  admin: { 'kms:Sign': 'TenantKeys: the admin API signs no token' },
  web: {
    'dynamodb:PutItem': 'the store adapter: without the console the web function only reads tenants',
    'dynamodb:UpdateItem': 'the store adapter: see above',
    'dynamodb:DeleteItem': 'the store adapter: see above',
    'dynamodb:BatchWriteItem': 'the store adapter: see above',
    ...KEY_PROVISIONING('web'),
    'kms:Decrypt': 'the console (off by default; with ciba:console the web role gets token access)',
    'kms:Sign': 'the console, see above',
    'kms:GenerateMac': 'the console, see above',
    'events:PutEvents': 'the console, see above',
    'events:ListRules': 'the console, see above',
    'sns:Publish': 'the console, see above (device pushes and approval links by SMS)',
    'ses:SendEmail': 'the console, see above (approval links by email)',
    'sns:CreatePlatformEndpoint': 'the console, see above',
    'sns:GetEndpointAttributes': 'the console, see above',
    'sns:SetEndpointAttributes': 'the console, see above',
    'scheduler:CreateSchedule': 'the console, see above',
    'scheduler:DeleteSchedule': DELETES_NO_SCHEDULE,
    'sqs:SendMessage': 'the console, see above',
  },
  device: {
    'sns:Publish': 'SnsDeviceNotifier: the device API registers endpoints and never notifies',
    'scheduler:DeleteSchedule': DELETES_NO_SCHEDULE,
  },
  'bc-authorize': {
    ...KEY_PROVISIONING('bc-authorize'),
    'kms:Sign': 'TenantKeys: bc-authorize verifies id_token_hint, signs nothing',
    'sns:CreatePlatformEndpoint': 'SnsDeviceNotifier: bc-authorize publishes and never registers',
    'sns:GetEndpointAttributes': 'SnsDeviceNotifier: see above',
    'sns:SetEndpointAttributes': 'SnsDeviceNotifier: see above',
    'ses:SendEmail': 'approval links by email: granted on the identity of ciba:emailFrom, none without it',
    'scheduler:DeleteSchedule': DELETES_NO_SCHEDULE,
  },
  token: KEY_PROVISIONING('token'),
  callback: {
    ...KEY_PROVISIONING('callback'),
    'scheduler:DeleteSchedule': DELETES_NO_SCHEDULE,
    'ses:SendEmail': 'the channel fallback by email: granted on the identity of ciba:emailFrom, none without it',
  },
  'tenant-provisioner': {
    'kms:Sign': 'TenantKeys: the provisioner signs no token',
    'kms:ListAliases': "the stateful stack's instance of this bundle (legacy-key-import) lists the old aliases",
  },
  // The provisioner's bundle, run in the stateful stack for one job: importing the keys of deployments before keysets.
  'legacy-key-import': Object.fromEntries(
    [
      'kms:CreateKey',
      'kms:Decrypt',
      'kms:Encrypt',
      'kms:GenerateMac',
      'kms:ScheduleKeyDeletion',
      'kms:Sign',
      'secretsmanager:GetSecretValue',
      'sns:CreatePlatformApplication',
      'sns:DeletePlatformApplication',
      'sns:GetPlatformApplicationAttributes',
      'sns:SetPlatformApplicationAttributes',
    ].map((op) => [op, "the provisioner's bundle: this instance only imports legacy keys (ListAliases, GetPublicKey)"]),
  ),
};

describe('the SDK operations compiled into every bundle, against its role', () => {
  let cloud: AwsShape;

  beforeAll(async () => {
    cloud = await AwsShape.start({ assembly: await bundledAssembly(), secrets: pushSecrets() });
  }, 300_000);
  afterAll(() => cloud?.stop());

  it('finds no operation its role does not allow, except those listed as never called (with the reason)', () => {
    const unexplained: string[] = [];
    const stale: string[] = [];
    for (const fn of cloud.lambda.functions.values()) {
      const service = fn.environment.POWERTOOLS_SERVICE_NAME?.replace(/^ciba-/, '');
      if (!service) continue; // the CDK Provider framework's own function
      const policies = cloud.policiesOf(fn.roleArn);
      const listed = { ...COMPILED_NEVER_CALLED['*'], ...COMPILED_NEVER_CALLED[service] };
      const operations = bundleOperations(fn.codeDir);
      expect(operations.length).toBeGreaterThan(0);
      for (const operation of operations) {
        if (someAllowNames(policies, operation)) continue;
        if (!listed[operation]) unexplained.push(`${service}: ${operation}`);
      }
      for (const operation of Object.keys(COMPILED_NEVER_CALLED[service] ?? {})) {
        if (!operations.includes(operation) || someAllowNames(policies, operation))
          stale.push(`${service}: ${operation}`);
      }
    }
    expect(unexplained).toEqual([]);
    expect(stale).toEqual([]);
  });
});
