import { SQSClient, StartMessageMoveTaskCommand } from '@aws-sdk/client-sqs';
import { createLocalJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AwsError } from './fakes/endpoint.ts';
import { decidedEvents, HANG, pushedTxn, Receiver, type Shape, startShape } from './harness.ts';

/**
 * Ping and push through the AWS shape: the device's decision goes through the ledger's stream to the events function,
 * which puts it on the bus; the callback rule invokes the callback function, which calls the client's HTTPS endpoint
 * (a loopback receiver at a public address), retries through Scheduler, dead-letters to SQS, and pushes expired_token
 * when a schedule fires at the request's expiry.
 */
describe('ping and push on the AWS shape', () => {
  let shape: Shape;
  let rpHost: Receiver;

  beforeAll(async () => {
    shape = await startShape();
    rpHost = await Receiver.start(shape.cloud, shape.pki, 'rp.example.com');
  }, 300_000);
  afterAll(async () => {
    await rpHost?.stop();
    await shape?.stop();
  });
  afterEach(() => shape.cloud.expectNoDenials());

  const pingClient = async (mode: 'ping' | 'push', answers: number[] = []) => {
    const endpoint = rpHost.endpoint(answers);
    const registered = await shape.registerClient('acme', {
      backchannel_token_delivery_mode: mode,
      backchannel_client_notification_endpoint: endpoint,
    });
    return { registered, endpoint, rp: await shape.relyingParty('acme', registered) };
  };

  /** A ping client and a pending request of `user` (enrolled now) to it, pushed to the user's device. */
  const pendingPing = async (user: string, bindingMessage: string) => {
    const { endpoint, rp } = await pingClient('ping');
    const device = await shape.enrolledDevice('acme', user, { type: 'fcm', token: `fcm-${user}` });
    const ack = await client.initiateBackchannelAuthentication(rp, {
      scope: 'openid',
      login_hint: user,
      binding_message: bindingMessage,
      client_notification_token: 'notify-0123456789abcdef',
    });
    return { endpoint, device, ack, txn: pushedTxn(shape.cloud, `fcm-${user}`) };
  };

  /** A ping client of `tenant` at `endpoint`, and a pending request of `user` (enrolled now) to it. */
  const pendingPingAt = async (tenant: string, user: string, endpoint: string) => {
    const registered = await shape.registerClient(tenant, {
      backchannel_token_delivery_mode: 'ping',
      backchannel_client_notification_endpoint: endpoint,
    });
    const rp = await shape.relyingParty(tenant, registered);
    const device = await shape.enrolledDevice(tenant, user, { type: 'fcm', token: `fcm-${tenant}-${user}` });
    const ack = await client.initiateBackchannelAuthentication(rp, {
      scope: 'openid',
      login_hint: user,
      binding_message: 'isolation',
      client_notification_token: 'notify-0123456789abcdef',
    });
    return { device, ack, txn: pushedTxn(shape.cloud, `fcm-${tenant}-${user}`) };
  };
  /** The schedules created for a request (callback retries, expiries), by the txn in their input. */
  const schedulesOf = (txn: string) =>
    [...shape.cloud.scheduler.schedules.values()].filter((x) => JSON.stringify(x.input).includes(txn));

  const eventsFn = () => shape.cloud.fn('events').name;
  const streamInvocations = () =>
    shape.cloud.lambda.invocations.filter((i) => i.function === eventsFn() && i.kind === 'stream');

  it('ping: the approval reaches the client endpoint through the stream, EventBridge and the callback function; the client redeems', async () => {
    const { registered, endpoint, rp } = await pingClient('ping');
    const device = await shape.enrolledDevice('acme', 'carol', { type: 'fcm', token: 'fcm-carol' });
    const ack = await client.initiateBackchannelAuthentication(rp, {
      scope: 'openid',
      login_hint: 'carol',
      binding_message: 'ping me',
      client_notification_token: 'notify-0123456789abcdef',
    });
    const txn = pushedTxn(shape.cloud, 'fcm-carol');
    const invoked = streamInvocations().length;
    await device.decide(txn, 'approve');
    await shape.cloud.settle();

    const [callback] = rpHost.at(endpoint);
    expect(callback?.headers.authorization).toBe('Bearer notify-0123456789abcdef');
    expect(JSON.parse(callback!.body)).toEqual({ auth_req_id: ack.auth_req_id });
    // One event, from the stream's consumer (the device function no longer publishes it), after one invocation by
    // the mapping: the request's creation and other writes did not pass its filter.
    expect(decidedEvents(shape.cloud, txn)).toEqual([{ function: eventsFn(), status: 'approved' }]);
    expect(streamInvocations().slice(invoked)).toMatchObject([{ function: eventsFn(), kind: 'stream', outcome: 'ok' }]);
    const tokens = await client.pollBackchannelAuthenticationGrant(rp, ack);
    expect(tokens.claims()?.aud).toBe(registered.client_id);
  });

  it('ping: a failing endpoint is retried through Scheduler until it answers', async () => {
    const { endpoint, rp } = await pingClient('ping', [500, 503, 204]);
    const device = await shape.enrolledDevice('acme', 'dave', { type: 'fcm', token: 'fcm-dave' });
    await client.initiateBackchannelAuthentication(rp, {
      scope: 'openid',
      login_hint: 'dave',
      binding_message: 'retry me',
      client_notification_token: 'notify-0123456789abcdef',
    });
    await device.decide(pushedTxn(shape.cloud, 'fcm-dave'), 'approve');
    await shape.cloud.settle();
    expect(rpHost.at(endpoint)).toHaveLength(1);
    const fired = shape.cloud.scheduler.fired.length;
    await shape.cloud.advance(10 * 60_000);
    expect(rpHost.at(endpoint)).toHaveLength(3);
    expect(shape.cloud.scheduler.fired.length).toBe(fired + 2);
    expect(shape.cloud.scheduler.lost).toEqual([]);
  });

  it('ping: an endpoint that never answers 2xx ends in the callback-failures queue, without token or body', async () => {
    const { registered, endpoint, rp } = await pingClient('ping', [500]);
    const device = await shape.enrolledDevice('acme', 'erin', { type: 'fcm', token: 'fcm-erin' });
    await client.initiateBackchannelAuthentication(rp, {
      scope: 'openid',
      login_hint: 'erin',
      binding_message: 'never',
      client_notification_token: 'notify-0123456789abcdef',
    });
    await device.decide(pushedTxn(shape.cloud, 'fcm-erin'), 'approve');
    await shape.cloud.advance(60 * 60_000);
    expect(rpHost.at(endpoint)).toHaveLength(3); // callback_max_attempts in the tenants file
    const queueUrl = shape.cloud.fn('callback').environment.CIBA_DEAD_LETTER_QUEUE_URL!;
    const letters = shape.cloud.sqs.byUrl(queueUrl).messages.map((m) => JSON.parse(m.body));
    const letter = letters.find((l) => l.client_id === registered.client_id);
    expect(letter).toMatchObject({ tenant_id: 'acme', delivery_mode: 'ping', endpoint });
    expect(letter.attempts).toHaveLength(3);
    expect(JSON.stringify(letter)).not.toContain('notify-0123456789abcdef');
  });

  it('push: the tokens are delivered to the endpoint and verify against the JWKS', async () => {
    const { registered, endpoint, rp } = await pingClient('push');
    const device = await shape.enrolledDevice('acme', 'frank', { type: 'fcm', token: 'fcm-frank' });
    const ack = await client.initiateBackchannelAuthentication(rp, {
      scope: 'openid',
      login_hint: 'frank',
      binding_message: 'push me',
      client_notification_token: 'notify-0123456789abcdef',
    });
    const txn = pushedTxn(shape.cloud, 'fcm-frank');
    // bc-authorize set the request's expiry timer; the events function deletes it beside the decision's event.
    const timer = [...shape.cloud.scheduler.schedules.values()].find(
      (s) => s.name.startsWith('request-expiry-') && JSON.stringify(s.input).includes(txn),
    );
    expect(timer?.createdBy).toBe(shape.cloud.fn('bc-authorize').name);
    const since = shape.cloud.calls.length;
    await device.decide(txn, 'approve');
    await shape.cloud.settle();
    expect(decidedEvents(shape.cloud, txn)).toEqual([{ function: eventsFn(), status: 'approved' }]);
    expect(rpHost.at(endpoint)).toHaveLength(1);
    const body = JSON.parse(rpHost.at(endpoint)[0]!.body);
    expect(body).toMatchObject({ auth_req_id: ack.auth_req_id, token_type: 'Bearer' });
    const jwks = createLocalJWKSet(await (await fetch(`${shape.issuer('acme')}/.well-known/jwks.json`)).json());
    const { payload } = await jwtVerify(body.id_token, jwks, { audience: registered.client_id });
    expect(payload.sub).toBe('frank');
    expect(
      shape.cloud.calls
        .slice(since)
        .filter((c) => c.service === 'scheduler')
        .map((c) => [c.function, c.action, c.resource, c.outcome]),
    ).toEqual([[eventsFn(), 'scheduler:DeleteSchedule', timer!.arn, 'ok']]);
    expect(shape.cloud.scheduler.schedules.has(`${timer!.group}/${timer!.name}`)).toBe(false);
    // At the expiry nothing runs: the client had its push, and no timer is left to invoke the callback function.
    const fired = shape.cloud.scheduler.fired.length;
    await shape.cloud.advance((ack.expires_in + 10) * 1000);
    expect(shape.cloud.scheduler.fired).toHaveLength(fired);
    expect(rpHost.at(endpoint)).toHaveLength(1);
  });

  it('push: bc-authorize writes the request beside its expiry timer, and withdraws it when Scheduler fails: 503, nothing left', async () => {
    const { rp } = await pingClient('push');
    const device = await shape.enrolledDevice('acme', 'ivan', { type: 'fcm', token: 'fcm-ivan' });
    const ask = () =>
      client.initiateBackchannelAuthentication(rp, {
        scope: 'openid',
        login_hint: 'ivan',
        binding_message: 'timer down',
        client_notification_token: 'notify-0123456789abcdef',
      });
    const since = shape.cloud.calls.length;
    shape.cloud.scheduler.outage = new AwsError('InternalServerException', 'Scheduler is unavailable', 500, false);
    // Every service holds its answer a moment (as test/aws/flow-calls.test.ts does to count round trips), so that
    // calls made side by side overlap at the fakes even on a busy machine.
    shape.cloud.latencyMs = 50;
    try {
      // openid-client leaves a 503 to its caller as the response itself.
      const refused = (await ask().catch((error) => error.cause)) as Response;
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBeTruthy();
      expect(await refused.json()).toMatchObject({ error: 'temporarily_unavailable' });
    } finally {
      shape.cloud.scheduler.outage = undefined;
      shape.cloud.latencyMs = 0;
    }
    const ledger = shape.cloud.fn('bc-authorize').environment.CIBA_LEDGER_TABLE!;
    const made = shape.cloud.calls
      .slice(since)
      .filter((c) => c.function === shape.cloud.fn('bc-authorize').name && c.resource.endsWith(`table/${ledger}`));
    // The request's write and the timer overlapped; the request was then withdrawn with the function's own role.
    expect(made.map((c) => [c.action, c.outcome])).toEqual(
      expect.arrayContaining([
        ['dynamodb:PutItem', 'ok'],
        ['dynamodb:DeleteItem', 'ok'],
      ]),
    );
    const timer = shape.cloud.calls.slice(since).find((c) => c.action === 'scheduler:CreateSchedule')!;
    const put = made.filter((c) => c.action === 'dynamodb:PutItem').at(-1)!;
    expect(timer.started! < put.ended! && put.started! < timer.ended!).toBe(true);
    expect(shape.cloud.sns.deliveriesTo('fcm-ivan')).toEqual([]);
    expect(await device.pending()).toEqual([]);
    // Once Scheduler answers again the same request goes through.
    const ack = await ask();
    expect(ack.auth_req_id.split('.')[0]).toBe(pushedTxn(shape.cloud, 'fcm-ivan'));
  });

  it('push: a request nobody decides pushes expired_token when its schedule fires at the expiry', async () => {
    const { endpoint, rp } = await pingClient('push');
    await shape.enrolledDevice('acme', 'grace', { type: 'fcm', token: 'fcm-grace' });
    const ack = await client.initiateBackchannelAuthentication(rp, {
      scope: 'openid',
      login_hint: 'grace',
      binding_message: 'ignore me',
      client_notification_token: 'notify-0123456789abcdef',
    });
    await shape.cloud.settle();
    expect(rpHost.at(endpoint)).toHaveLength(0);
    await shape.cloud.advance((ack.expires_in + 10) * 1000);
    const [pushed] = rpHost.at(endpoint);
    expect(JSON.parse(pushed!.body)).toMatchObject({ auth_req_id: ack.auth_req_id, error: 'expired_token' });
  });

  it('a decision whose event the bus refuses still reaches the client, through a schedule the events function creates', async () => {
    const { endpoint, device, ack, txn } = await pendingPing('heidi', 'bus down');
    const since = shape.cloud.calls.length;
    shape.cloud.eventbridge.outage = new AwsError('InternalException', 'EventBridge is unavailable', 500, false);
    try {
      expect(await device.decide(txn, 'approve')).toEqual({ txn, status: 'approved' });
      await shape.cloud.settle();
    } finally {
      shape.cloud.eventbridge.outage = undefined;
    }
    const scheduledBy = shape.cloud.calls
      .slice(since)
      .filter((c) => c.action === 'scheduler:CreateSchedule')
      .map((c) => c.function);
    expect(scheduledBy).toEqual([eventsFn()]);
    await shape.cloud.advance(60_000);
    expect(JSON.parse(rpHost.at(endpoint)[0]!.body)).toEqual({ auth_req_id: ack.auth_req_id });
  });

  /** Bus and Scheduler down while a decision is in the stream, until `until` (ms of the harness clock) has passed. */
  const outage = async (until: number, decide: () => Promise<unknown>) => {
    shape.cloud.eventbridge.outage = new AwsError('InternalException', 'EventBridge is unavailable', 500, false);
    shape.cloud.scheduler.outage = new AwsError('InternalServerException', 'Scheduler is unavailable', 500, false);
    try {
      await decide();
      await shape.cloud.advance(until);
    } finally {
      shape.cloud.eventbridge.outage = undefined;
      shape.cloud.scheduler.outage = undefined;
    }
  };

  describe("one tenant's failing receiver never delays another's", () => {
    /** Tenant B: created through the admin API (a ping tenant of its own, push through FCM). */
    const tenantB = 'beta';
    beforeAll(async () => {
      const created = await shape.admin('PUT', `/admin/tenants/${tenantB}`, {
        display_name: 'Beta',
        backchannel_polling_interval: 1,
        push_credentials: { fcm: { secret: 'ciba/acme/fcm', version: '1' } },
      });
      expect(created.status).toBe(201);
    }, 120_000);

    it("acme's endpoint failing (5xx) while beta's answers: beta's callback arrives on its first attempt with no retry scheduled, acme's is retried", async () => {
      const failing = rpHost.endpoint([500]);
      const healthy = rpHost.endpoint([204]);
      const a = await pendingPingAt('acme', 'mallory', failing);
      const b = await pendingPingAt(tenantB, 'bob', healthy);
      // Both decided together: their callbacks are in flight at once.
      await Promise.all([a.device.decide(a.txn, 'approve'), b.device.decide(b.txn, 'approve')]);
      await shape.cloud.settle();
      expect(rpHost.at(failing)).toHaveLength(1);
      expect(schedulesOf(a.txn)).toHaveLength(1);
      expect(JSON.parse(rpHost.at(healthy)[0]!.body)).toEqual({ auth_req_id: b.ack.auth_req_id });
      expect(schedulesOf(b.txn)).toEqual([]);
      // acme's retries go on (callback_max_attempts 3), beta's receiver hears nothing more.
      await shape.cloud.advance(60 * 60_000);
      expect(rpHost.at(failing)).toHaveLength(3);
      expect(rpHost.at(healthy)).toHaveLength(1);
      expect(schedulesOf(b.txn)).toEqual([]);
    });

    it("acme's endpoint hanging past the response timeout: beta's callback arrives while acme's attempt still hangs, on its first attempt", async () => {
      const hanging = rpHost.endpoint([HANG]);
      const healthy = rpHost.endpoint([204]);
      const a = await pendingPingAt('acme', 'oscar', hanging);
      const b = await pendingPingAt(tenantB, 'peggy', healthy);
      await a.device.decide(a.txn, 'approve');
      // acme's callback has reached its receiver, which holds it without an answer...
      await rpHost.arrived(hanging);
      expect(rpHost.holding(hanging)).toBe(1);
      await b.device.decide(b.txn, 'approve');
      // ...and beta's is delivered meanwhile, while acme's connection is still held: the callback function serves it in
      // another execution environment (warm from the test before: its path takes well under the 5 s acme's waits).
      await rpHost.arrived(healthy);
      expect(rpHost.holding(hanging)).toBe(1);
      expect(JSON.parse(rpHost.at(healthy)[0]!.body)).toEqual({ auth_req_id: b.ack.auth_req_id });
      // acme's attempt ends at the outbound client's response timeout, as a failed attempt with its retry.
      await shape.cloud.settle();
      expect(schedulesOf(a.txn)).toHaveLength(1);
      expect(shape.cloud.lambda.logsOf(shape.cloud.fn('callback').name).join('\n')).toMatch(/response timeout/);
      expect(schedulesOf(b.txn)).toEqual([]);
      expect(rpHost.at(healthy)).toHaveLength(1);
    });
  });

  const decisionQueue = (prefix: 'DecisionFailures' | 'DecisionRetries') =>
    shape.cloud.sqs.byUrl(shape.cloud.resourcesOf('AWS::SQS::Queue').find((q) => q.logicalId.startsWith(prefix))!.ref);
  const queueInvocations = () =>
    shape.cloud.lambda.invocations.filter((i) => i.function === eventsFn() && i.kind === 'queue');

  it('a decision the events function cannot publish (bus and Scheduler failing) goes to the retries queue, does not hold the stream, and reaches the client when they recover', async () => {
    const { endpoint, device, ack, txn } = await pendingPing('ivan', 'both down');
    const later = await pendingPing('ivy', 'right after');
    const invoked = streamInvocations().length;
    const retried = queueInvocations().length;
    // The decision itself does not wait for either: it answers while they are down.
    await outage(5_000, async () => expect(await device.decide(txn, 'approve')).toEqual({ txn, status: 'approved' }));
    // The stream's batch succeeded (the decision was handed on as a letter); the queue's first try failed too.
    expect(streamInvocations().slice(invoked)).toMatchObject([{ function: eventsFn(), kind: 'stream', outcome: 'ok' }]);
    expect(queueInvocations().length - retried).toBeGreaterThanOrEqual(1);
    expect(rpHost.at(endpoint)).toHaveLength(0);
    expect(shape.cloud.lambda.logsOf(eventsFn()).join('\n')).toContain('decision not published, tried again');
    // The next decision of the shard is published at once, while the first waits for its retry.
    await later.device.decide(later.txn, 'approve');
    await shape.cloud.settle();
    expect(decidedEvents(shape.cloud, later.txn)).toEqual([{ function: eventsFn(), status: 'approved' }]);
    expect(JSON.parse(rpHost.at(later.endpoint)[0]!.body)).toEqual({ auth_req_id: later.ack.auth_req_id });
    expect(decidedEvents(shape.cloud, txn)).toEqual([]);
    // The letter's next receive (after the queue's visibility timeout) publishes it.
    await shape.cloud.advance(4 * 60_000);
    expect(decidedEvents(shape.cloud, txn)).toEqual([{ function: eventsFn(), status: 'approved' }]);
    expect(JSON.parse(rpHost.at(endpoint)[0]!.body)).toEqual({ auth_req_id: ack.auth_req_id });
    expect(decisionQueue('DecisionRetries').messages).toEqual([]);
  });

  it('a decision still unpublished after the retries ends in the decision-failures queue as a letter with its tenant; an operator moving it back publishes it', async () => {
    const { endpoint, ack, device, txn } = await pendingPing('judy', 'long outage');
    const retried = queueInvocations().length;
    const failures = decisionQueue('DecisionFailures');
    const before = failures.messages.length;
    await outage(35 * 60_000, () => device.decide(txn, 'approve'));
    // Ten receives of the letter (the first right away, then one per visibility timeout), then SQS moves it.
    expect(queueInvocations().length - retried).toBe(10);
    const letters = failures.messages.slice(before);
    expect(letters).toHaveLength(1);
    expect(JSON.parse(letters[0]!.body)).toEqual({
      detail_type: 'CIBA Request Decided',
      tenant_id: 'acme',
      txn,
      status: 'approved',
      delivery_mode: 'ping',
      detail: expect.objectContaining({ tenant_id: 'acme', txn, status: 'approved', delivery_mode: 'ping' }),
    });
    expect(letters[0]!.attributes.tenant_id).toEqual({ DataType: 'String', StringValue: 'acme' });
    expect(letters[0]!.body).not.toContain('notify-0123456789abcdef');
    expect(decidedEvents(shape.cloud, txn)).toEqual([]);
    expect(rpHost.at(endpoint)).toHaveLength(0);

    // docs/deploy.md: an operator moves the dead letters back to the retries queue (SQS's DLQ redrive), with the
    // policy given there; the events function publishes them.
    failures.messages = failures.messages.filter((m) => letters.includes(m));
    const retries = decisionQueue('DecisionRetries');
    const operator = shape.cloud.operator(
      {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: ['sqs:StartMessageMoveTask', 'sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
            Resource: failures.arn,
          },
          { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: retries.arn },
        ],
      },
      'ciba-redrive',
    );
    const sqs = new SQSClient({
      region: 'eu-west-1',
      endpoint: shape.cloud.sqs.endpoint!.url,
      credentials: operator,
    });
    await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: failures.arn }));
    await shape.cloud.settle();
    expect(failures.messages).toEqual([]);
    expect(decidedEvents(shape.cloud, txn)).toEqual([{ function: eventsFn(), status: 'approved' }]);
    expect(JSON.parse(rpHost.at(endpoint)[0]!.body)).toEqual({ auth_req_id: ack.auth_req_id });
  });

  it("a decision the retries queue refuses too is retried from the stream, then Lambda's record of it is in the decision-failures queue; the device repeating it starts the callback", async () => {
    const { endpoint, device, ack, txn } = await pendingPing('kate', 'queue down too');
    const invoked = streamInvocations().length;
    const failures = decisionQueue('DecisionFailures');
    const before = failures.messages.length;
    shape.cloud.sqs.outage = new AwsError('InternalError', 'SQS is unavailable', 500, false);
    try {
      await outage(30 * 60_000, () => device.decide(txn, 'approve'));
    } finally {
      shape.cloud.sqs.outage = undefined;
    }
    // The first try and the mapping's 10 retries, then the batch's description (not its records) to the queue.
    expect(streamInvocations().length - invoked).toBe(11);
    expect(shape.cloud.lambda.logsOf(eventsFn()).join('\n')).toContain(
      'decision not handed to the retries queue, the stream retries it',
    );
    const [letter] = failures.messages.slice(before).map((m) => JSON.parse(m.body));
    expect(letter).toMatchObject({
      requestContext: { condition: 'RetryAttemptsExhausted', functionArn: shape.cloud.fn('events').arn },
      DDBStreamBatchInfo: { batchSize: 1, streamArn: expect.stringMatching(/:table\/.+\/stream\//) },
    });
    expect(failures.messages.length - before).toBe(1);
    expect(decidedEvents(shape.cloud, txn)).toEqual([]);
    expect(rpHost.at(endpoint)).toHaveLength(0);
    // The device repeating its decision (its answer was 200, but a user may tap again) publishes it: the safety net.
    expect(await device.decide(txn, 'approve')).toEqual({ txn, status: 'approved' });
    await shape.cloud.settle();
    expect(decidedEvents(shape.cloud, txn)).toEqual([{ function: shape.cloud.fn('device').name, status: 'approved' }]);
    expect(JSON.parse(rpHost.at(endpoint)[0]!.body)).toEqual({ auth_req_id: ack.auth_req_id });
  });
});
