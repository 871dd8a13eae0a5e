import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../lib/cli/main.ts';
import { DeviceClient, type DeviceEvent, type DeviceEventsOptions, DeviceKey } from '../../lib/device/index.ts';
import {
  createTenantFixture,
  postForm,
  startTestService,
  type TenantFixture,
  type TestService,
} from '../helpers/service.ts';
import { testContext } from '../unit/cli/context.ts';

/**
 * The device SDK's event stream (`DeviceClient.events`) against the local server: the events endpoint, the
 * reconnect after the server drops the connection, and polling where the endpoint does not exist (AWS).
 */
describe('DeviceClient.events against the local server', { timeout: 30_000 }, () => {
  let svc: TestService;
  let fx: TenantFixture;

  beforeAll(async () => {
    svc = await startTestService();
    fx = await createTenantFixture(svc, 'sdk-events');
  });
  afterAll(() => svc.stop());

  const enrolledDevice = async (fetchImpl?: typeof fetch): Promise<DeviceClient> => {
    const ticket = await svc.admin('POST', `/admin/tenants/${fx.tenant}/users/alice/enrollment-tickets`);
    const device = new DeviceClient({
      issuer: fx.issuer,
      key: await DeviceKey.generate(),
      ...(fetchImpl ? { fetch: fetchImpl } : {}),
    });
    await device.enroll({ ticket: ticket.body.ticket, name: 'events test' });
    return device;
  };

  const startRequest = async (bindingMessage: string) => {
    const ack = await postForm(
      `${fx.issuer}/bc-authorize`,
      { scope: 'openid', login_hint: 'alice', binding_message: bindingMessage },
      fx.client,
    );
    expect(ack.status).toBe(200);
  };

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
    const device = await enrolledDevice();
    const events = follow(device);
    try {
      await events.next(isState('live'), 'live');
      expect(await events.next((e) => e.type === 'pending', 'pending', true)).toEqual({
        type: 'pending',
        transactions: [],
      });
      await startRequest('Stream 1');
      const arrived = await events.next(isTxn, 'transaction');
      const [pending] = await device.pending();
      expect(arrived).toEqual({ type: 'transaction', txn: pending!.txn });
      expect(await device.get(pending!.txn)).toMatchObject({ binding_message: 'Stream 1' });
      // The stream was open all along: no poll-only state was ever reported.
      expect(events.seen.filter((e) => e.type === 'connection').map((e) => e.type === 'connection' && e.state)).toEqual(
        ['live'],
      );
    } finally {
      await events.stop();
    }
    await device.decide((await device.pending())[0]!.txn, 'deny');
  });

  it('reconnects after the server closes the stream, and the next request arrives over the new one', async () => {
    const device = await enrolledDevice();
    const events = follow(device);
    try {
      await events.next(isState('live'), 'first live');
      svc.service.server.closeAllConnections();
      const reconnecting = await events.next(isState('reconnecting'), 'reconnecting');
      // The service asked for 3 s between reconnects (`retry: 3000`).
      expect(reconnecting).toMatchObject({ retryInMs: 3_000 });
      await events.next(isState('live'), 'second live');
      await startRequest('Stream 2');
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
    const device = await enrolledDevice(awsLike);
    // A stream wrongly retried would be asked for again within a poll or two.
    const events = follow(device, { pollIntervalMs: 100, reconnectDelayMs: 50 });
    try {
      expect(await events.next(isState('polling'), 'polling')).toEqual({
        type: 'connection',
        state: 'polling',
        intervalMs: 100,
      });
      await startRequest('Polled');
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
    const device = await enrolledDevice();
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
      const ticket = await svc.admin('POST', `/admin/tenants/${fx.tenant}/users/alice/enrollment-tickets`);
      const tenant = ['--tenant', fx.tenant];
      expect(await runCli([...tenant, 'device', 'enroll', '--ticket', ticket.body.enrollment_uri], cli.ctx)).toBe(0);
      expect(await runCli([...tenant, 'device', 'pending'], cli.ctx)).toBe(0);
      expect(cli.stdout()).toContain('no pending requests');

      expect(await runCli([...tenant, 'device', 'pending', '--wait', '1'], cli.ctx)).toBe(1);
      expect(cli.stderr()).toContain('error: timeout — no request arrived within 1 s');

      const waiter = testContext({ home, now: () => Date.now() });
      const waiting = runCli([...tenant, '--json', 'device', 'pending', '--wait', '20'], waiter.ctx);
      await startRequest('Waited for');
      expect(await waiting).toBe(0);
      const printed = JSON.parse(waiter.stdout());
      expect(printed.transactions).toMatchObject([{ binding_message: 'Waited for' }]);
      expect(await runCli([...tenant, 'device', 'deny', printed.transactions[0].txn], cli.ctx)).toBe(0);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
