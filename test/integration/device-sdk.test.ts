import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../lib/cli/main.ts';
import {
  DeviceClient,
  type DeviceEvent,
  type DeviceEventsOptions,
  DeviceKey,
  InvalidBindingCode,
  InvalidDpopProof,
  NotFound,
  RequestNotPending,
  UserVerificationRequired,
} from '../../lib/device/index.ts';
import {
  createTenantFixture,
  postForm,
  startTestService,
  type TenantFixture,
  type TestService,
} from '../helpers/service.ts';
import { testContext } from '../unit/cli/context.ts';

/** The device SDK (lib/device) against the local server: every call DPoP-signed, every error typed. */
describe('the device SDK against the local server', () => {
  let svc: TestService;
  let fx: TenantFixture;

  beforeAll(async () => {
    svc = await startTestService();
    fx = await createTenantFixture(svc, 'sdk');
  });
  afterAll(() => svc.stop());

  const enrolledDevice = async (fixture: TenantFixture = fx, fetchImpl?: typeof fetch): Promise<DeviceClient> => {
    const ticket = await svc.admin('POST', `/admin/tenants/${fixture.tenant}/users/alice/enrollment-tickets`);
    const device = new DeviceClient({
      issuer: fixture.issuer,
      key: await DeviceKey.generate(),
      ...(fetchImpl ? { fetch: fetchImpl } : {}),
    });
    expect(await device.enroll({ ticket: ticket.body.ticket, name: 'SDK test' })).toEqual({
      device_id: device.deviceId,
    });
    return device;
  };

  const startRequest = async (fixture: TenantFixture = fx, bindingMessage = 'Code 4F-22') => {
    const ack = await postForm(
      `${fixture.issuer}/bc-authorize`,
      { scope: 'openid email', login_hint: 'alice', binding_message: bindingMessage },
      fixture.client,
    );
    expect(ack.status).toBe(200);
    return ack.body.auth_req_id as string;
  };

  const poll = (fixture: TenantFixture, authReqId: string) =>
    postForm(
      `${fixture.issuer}/oauth/token`,
      { grant_type: 'urn:openid:params:grant-type:ciba', auth_req_id: authReqId },
      fixture.client,
    );

  it('enrolls, lists the pending request, fetches its details and approves it', async () => {
    const device = await enrolledDevice();
    const authReqId = await startRequest();
    const [tx] = await device.pending();
    expect(tx).toMatchObject({ client_name: 'Test Console', binding_message: 'Code 4F-22', scope: 'openid email' });
    const details = await device.get(tx!.txn);
    expect(details).toMatchObject({ txn: tx!.txn, status: 'pending' });
    expect(JSON.stringify(details)).not.toContain(authReqId);
    expect(await device.decide(tx!.txn, 'approve')).toEqual({ txn: tx!.txn, status: 'approved' });
    expect((await poll(fx, authReqId)).status).toBe(200);
    expect(await device.pending()).toEqual([]);
  });

  it('denies, and a different decision afterwards is RequestNotPending', async () => {
    const device = await enrolledDevice();
    const authReqId = await startRequest();
    const [tx] = await device.pending();
    expect(await device.decide(tx!.txn, 'deny')).toEqual({ txn: tx!.txn, status: 'denied' });
    expect(await device.decide(tx!.txn, 'deny')).toEqual({ txn: tx!.txn, status: 'denied' });
    await expect(device.decide(tx!.txn, 'approve')).rejects.toBeInstanceOf(RequestNotPending);
    expect((await poll(fx, authReqId)).body.error).toBe('access_denied');
  });

  it('reports an unknown transaction as NotFound and an unenrolled key as InvalidDpopProof', async () => {
    const device = await enrolledDevice();
    const unknown = 'A'.repeat(22);
    await expect(device.get(unknown)).rejects.toBeInstanceOf(NotFound);
    const stranger = new DeviceClient({ issuer: fx.issuer, key: await DeviceKey.generate() });
    const error = await stranger.pending().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidDpopProof);
    expect(error).toMatchObject({ status: 401, error: 'invalid_dpop_proof' });
  });

  // A proof's iat more than 60 s from the service's clock is refused with the same 401 as an unknown key, on which
  // the web authenticator forgets its key: a device with a wrong clock must not read as a removed one.
  it.each([
    ['ahead', 10 * 60_000],
    ['behind', -3 * 3600_000],
  ])('works with a device clock %s of the service: proofs take the time of its Date header', async (_, skewMs) => {
    const ticket = await svc.admin('POST', `/admin/tenants/${fx.tenant}/users/alice/enrollment-tickets`);
    const device = new DeviceClient({
      issuer: fx.issuer,
      key: await DeviceKey.generate(),
      now: () => Date.now() + skewMs,
    });
    expect(await device.enroll({ ticket: ticket.body.ticket })).toEqual({ device_id: device.deviceId });
    await startRequest(fx, 'skewed clock');
    const [tx] = await device.pending();
    expect(await device.decide(tx!.txn, 'deny')).toEqual({ txn: tx!.txn, status: 'denied' });
    // An unknown key is still refused, whatever the clock: the retry with the service's time is refused too.
    const stranger = new DeviceClient({
      issuer: fx.issuer,
      key: await DeviceKey.generate(),
      now: () => Date.now() + skewMs,
    });
    await expect(stranger.pending()).rejects.toBeInstanceOf(InvalidDpopProof);
  });

  it('describes the device and the tenant rules, and takes a new push channel', async () => {
    const device = await enrolledDevice();
    expect(await device.profile()).toMatchObject({
      device_id: device.deviceId,
      name: 'SDK test',
      push: null,
      passkey: false,
      tenant: { binding_code_confirmation: false, user_verification: 'none' },
    });
    await device.setPush({ type: 'webhook', url: 'https://hooks.example.com/ciba' });
    expect((await device.profile()).push).toEqual({ type: 'webhook', disabled: false });
  });

  it('binding-code confirmation: withholds the message, refuses and counts wrong codes, denies after three', async () => {
    const coded = await createTenantFixture(svc, 'sdk-code', { binding_code_confirmation: true });
    const device = await enrolledDevice(coded);
    // The tenant needs a message to compare with.
    const missing = await postForm(
      `${coded.issuer}/bc-authorize`,
      { scope: 'openid', login_hint: 'alice' },
      coded.client,
    );
    expect(missing.body.error).toBe('invalid_request');

    const first = await startRequest(coded, '4F-22');
    const [tx] = await device.pending();
    expect(tx).toMatchObject({ binding_code_required: true });
    expect(tx!.binding_message).toBeUndefined();
    await expect(device.decide(tx!.txn, 'approve')).rejects.toMatchObject({ error: 'invalid_request' });
    const wrong = await device.decide(tx!.txn, 'approve', { bindingCode: '4F-23' }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(InvalidBindingCode);
    expect((wrong as InvalidBindingCode).description).toContain('2 attempts left');
    expect(wrong).toMatchObject({ attemptsLeft: 2, requestStatus: 'pending' });
    expect(await device.decide(tx!.txn, 'approve', { bindingCode: ' 4f22 ' })).toMatchObject({ status: 'approved' });
    expect((await poll(coded, first)).status).toBe(200);

    const second = await startRequest(coded, 'Z9-K2');
    const [tx2] = await device.pending();
    for (const attempt of ['AA-11', 'BB-22']) {
      await expect(device.decide(tx2!.txn, 'approve', { bindingCode: attempt })).rejects.toBeInstanceOf(
        InvalidBindingCode,
      );
    }
    const last = await device.decide(tx2!.txn, 'approve', { bindingCode: 'CC-33' }).catch((e: unknown) => e);
    expect((last as InvalidBindingCode).description).toContain('denied');
    // What a device decides on: the fields, as the wire carries them (docs/device-api.md).
    expect(last).toMatchObject({ status: 400, attemptsLeft: 0, requestStatus: 'denied' });
    expect((last as InvalidBindingCode).fields).toEqual({ attempts_left: 0, status: 'denied' });
    await expect(device.decide(tx2!.txn, 'approve', { bindingCode: 'Z9-K2' })).rejects.toBeInstanceOf(
      RequestNotPending,
    );
    expect((await poll(coded, second)).body.error).toBe('access_denied');
    const state = await svc.admin('GET', `/admin/tenants/${coded.tenant}/requests/${encodeURIComponent(second)}`);
    expect(JSON.stringify(state.body)).toContain('denied');
  });

  it('keeps the VAPID private key write-only and gives the device the public key', async () => {
    const push = await createTenantFixture(svc, 'sdk-push', { web_push: { subject: 'mailto:ops@example.com' } });
    const tenant = await svc.admin('GET', `/admin/tenants/${push.tenant}`);
    expect(tenant.body.web_push).toEqual({ subject: 'mailto:ops@example.com', vapid_public_key: expect.any(String) });
    expect(JSON.stringify(tenant.body)).not.toMatch(/private/);
    const device = await enrolledDevice(push);
    expect((await device.profile()).tenant.web_push_public_key).toBe(tenant.body.web_push.vapid_public_key);
    await device.setPush({
      type: 'webpush',
      subscription: { endpoint: 'https://fcm.googleapis.com/fcm/send/x', keys: { p256dh: 'p', auth: 'a' } },
    });
    expect((await device.profile()).push).toEqual({ type: 'webpush', disabled: false });
  });

  it('user verification: approving without a passkey is UserVerificationRequired; denying needs none', async () => {
    const uv = await createTenantFixture(svc, 'sdk-uv', { user_verification: 'passkey' });
    const device = await enrolledDevice(uv);
    await startRequest(uv);
    const [tx] = await device.pending();
    expect(tx!.webauthn).toMatchObject({ userVerification: 'required', allowCredentials: [] });
    await expect(device.decide(tx!.txn, 'approve')).rejects.toBeInstanceOf(UserVerificationRequired);
    expect(await device.decide(tx!.txn, 'deny')).toMatchObject({ status: 'denied' });
    const options = await device.passkeyRegistrationOptions();
    expect(options).toMatchObject({
      rp: { id: '127.0.0.1' },
      authenticatorSelection: { userVerification: 'required' },
    });
  });

  /**
   * The event stream (`DeviceClient.events`): the events endpoint, the reconnect after the server drops the
   * connection, polling where the endpoint does not exist (AWS), and the CLI that waits with it.
   */
  describe('events', { timeout: 30_000 }, () => {
    let live: TenantFixture;
    beforeAll(async () => {
      live = await createTenantFixture(svc, 'sdk-events');
    });

    /** Runs the iteration in the background; `next` waits for the first event (after those seen) that matches. */
    const follow = (device: DeviceClient, options: DeviceEventsOptions = {}) => {
      const controller = new AbortController();
      const seen: DeviceEvent[] = [];
      const waiters: (() => void)[] = [];
      const done = (async () => {
        for await (const event of device.events({ ...options, signal: controller.signal })) {
          seen.push(event);
          for (const wake of waiters.splice(0)) wake();
        }
      })();
      let from = 0;
      /** The next matching event after the last one `next` returned (`anywhere`: the first one ever). */
      const next = async (match: (e: DeviceEvent) => boolean, what: string, anywhere = false): Promise<DeviceEvent> => {
        const deadline = Date.now() + 20_000;
        for (;;) {
          const at = seen.findIndex((e, i) => (anywhere || i >= from) && match(e));
          if (at >= 0) {
            if (!anywhere) from = at + 1;
            return seen[at]!;
          }
          if (Date.now() > deadline) throw new Error(`no ${what} event; saw ${JSON.stringify(seen)}`);
          await new Promise<void>((resolve) => {
            waiters.push(resolve);
            setTimeout(resolve, 1_000);
          });
        }
      };
      const stop = () => {
        controller.abort();
        return done;
      };
      return { seen, next, stop };
    };

    const isState = (state: string) => (e: DeviceEvent) => e.type === 'connection' && e.state === state;
    const isTxn = (e: DeviceEvent) => e.type === 'transaction';

    it('opens the stream, lists what is pending, and yields a transaction the moment a request is created', async () => {
      const device = await enrolledDevice(live);
      const events = follow(device);
      try {
        await events.next(isState('live'), 'live');
        expect(await events.next((e) => e.type === 'pending', 'pending', true)).toEqual({
          type: 'pending',
          transactions: [],
        });
        await startRequest(live, 'Stream 1');
        const arrived = await events.next(isTxn, 'transaction');
        const [pending] = await device.pending();
        expect(arrived).toEqual({ type: 'transaction', txn: pending!.txn });
        expect(await device.get(pending!.txn)).toMatchObject({ binding_message: 'Stream 1' });
        // The stream was open all along: no poll-only state was ever reported.
        expect(
          events.seen.filter((e) => e.type === 'connection').map((e) => e.type === 'connection' && e.state),
        ).toEqual(['live']);
      } finally {
        await events.stop();
      }
      await device.decide((await device.pending())[0]!.txn, 'deny');
    });

    it('reconnects after the server closes the stream, and the next request arrives over the new one', async () => {
      const device = await enrolledDevice(live);
      const events = follow(device);
      try {
        await events.next(isState('live'), 'first live');
        svc.service.server.closeAllConnections();
        const reconnecting = await events.next(isState('reconnecting'), 'reconnecting');
        // The service asked for 3 s between reconnects (`retry: 3000`).
        expect(reconnecting).toMatchObject({ retryInMs: 3_000 });
        await events.next(isState('live'), 'second live');
        await startRequest(live, 'Stream 2');
        const arrived = await events.next(isTxn, 'transaction');
        expect(arrived).toEqual({ type: 'transaction', txn: (await device.pending())[0]!.txn });
      } finally {
        await events.stop();
      }
      await device.decide((await device.pending())[0]!.txn, 'deny');
    });

    it('polls where the service has no event stream (404, as API Gateway answers) and never asks for it again', async () => {
      let streamAsks = 0;
      // The real service, except that its events route answers like an HTTP API without that route.
      const awsLike: typeof fetch = async (input, init) => {
        if (String(input).endsWith('/device/events')) {
          streamAsks++;
          return new Response('{"message":"Not Found"}', {
            status: 404,
            headers: { 'content-type': 'application/json' },
          });
        }
        return fetch(input, init);
      };
      const device = await enrolledDevice(live, awsLike);
      // A stream wrongly retried would be asked for again within a poll or two.
      const events = follow(device, { pollIntervalMs: 100, reconnectDelayMs: 50 });
      try {
        expect(await events.next(isState('polling'), 'polling')).toEqual({
          type: 'connection',
          state: 'polling',
          intervalMs: 100,
        });
        await startRequest(live, 'Polled');
        const listed = await events.next((e) => e.type === 'pending' && e.transactions.length === 1, 'pending list');
        expect(listed).toMatchObject({ transactions: [{ binding_message: 'Polled' }] });
        // Several polls later, the stream was asked for once.
        for (let i = 0; i < 5; i++) await events.next((e) => e.type === 'pending', 'another poll');
        expect(streamAsks).toBe(1);
        expect(events.seen.some(isState('reconnecting'))).toBe(false);
        expect(events.seen.some(isTxn)).toBe(false);
        expect(events.seen.some(isState('live'))).toBe(false);
      } finally {
        await events.stop();
      }
      await device.decide((await device.pending())[0]!.txn, 'deny');
    });

    it('stops when the consumer leaves the loop', async () => {
      const device = await enrolledDevice(live);
      const seen: DeviceEvent[] = [];
      for await (const event of device.events()) {
        seen.push(event);
        if (event.type === 'connection' && event.state === 'live') break;
      }
      expect(seen.at(-1)).toEqual({ type: 'connection', state: 'live' });
    });

    it('the terminal authenticator waits for a request with `device pending --wait`, and gives up after its time', async () => {
      const home = await mkdtemp(join(tmpdir(), 'ciba-wait-'));
      try {
        const cli = testContext({ home, now: () => Date.now() });
        const ticket = await svc.admin('POST', `/admin/tenants/${live.tenant}/users/alice/enrollment-tickets`);
        const tenant = ['--tenant', live.tenant];
        expect(await runCli([...tenant, 'device', 'enroll', '--ticket', ticket.body.enrollment_uri], cli.ctx)).toBe(0);
        expect(await runCli([...tenant, 'device', 'pending'], cli.ctx)).toBe(0);
        expect(cli.stdout()).toContain('no pending requests');

        expect(await runCli([...tenant, 'device', 'pending', '--wait', '1'], cli.ctx)).toBe(1);
        expect(cli.stderr()).toContain('error: no_pending_request — no request arrived within 1 s');

        const waiter = testContext({ home, now: () => Date.now() });
        const waiting = runCli([...tenant, '--json', 'device', 'pending', '--wait', '20'], waiter.ctx);
        await startRequest(live, 'Waited for');
        expect(await waiting).toBe(0);
        const printed = JSON.parse(waiter.stdout());
        expect(printed.transactions).toMatchObject([{ binding_message: 'Waited for' }]);
        expect(await runCli([...tenant, 'device', 'deny', printed.transactions[0].txn], cli.ctx)).toBe(0);
      } finally {
        await rm(home, { recursive: true, force: true });
      }
    });
  });
});
