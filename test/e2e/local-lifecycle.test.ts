/**
 * Stopping the local service (Ctrl-C on `npm start`, or a test's teardown) lets the work under way finish before the
 * store closes: a request being handled is answered and its write kept, a decision's event still in the decision feed
 * is published, a callback being delivered completes. Nothing new is accepted meanwhile. Starting it again on the same
 * data sets the callback timers the last run held in memory, and feeds again the decisions whose callback never started.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Answer, CallbackReceiver, eventually } from '../helpers/callback-receiver.ts';
import {
  CIBA_GRANT,
  createTenantFixture,
  enrollDevice,
  postForm,
  startTestService,
  type TestService,
} from '../helpers/service.ts';

/** Replaces `port[method]` with one that waits for `release()` before it runs; `entered` resolves on the first call. */
const holdStoreCall = <P extends object, K extends keyof P>(store: P, method: K) => {
  const original = store[method] as (...args: unknown[]) => Promise<unknown>;
  let release!: () => void;
  let enter!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const entered = new Promise<void>((resolve) => {
    enter = resolve;
  });
  (store as unknown as Record<K, unknown>)[method] = async (...args: unknown[]) => {
    enter();
    await released;
    return original.apply(store, args);
  };
  return { entered, release };
};

/** A promise's state without waiting for it. */
const settledYet = async (p: Promise<unknown>) => {
  let done = false;
  p.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  await new Promise((r) => setTimeout(r, 50));
  return done;
};

describe('stopping the local service', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  it('answers a request under way and keeps its write; answers new requests 503 meanwhile', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'ciba-stop-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const svc = await startTestService({ dataDir });
    const fx = await createTenantFixture(svc, 'stopping', {}, {}, { device: true });
    const held = holdStoreCall(svc.service.deps.requests, 'create');

    const answer = postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice' }, fx.client);
    await held.entered;
    const stopped = svc.stop();
    expect(await settledYet(stopped)).toBe(false);
    // Anything new is told to come back (a load balancer takes the instance out), never reset.
    const during = await fetch(`${svc.url}/health`);
    expect(during.status).toBe(503);
    expect(during.headers.get('connection')).toBe('close');
    expect(during.headers.get('retry-after')).toBe('1');
    expect(svc.logs.some((l) => l.includes('stopping: waiting for 1 requests'))).toBe(true);

    held.release();
    const res = await answer;
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    // Its connection is not kept for another request.
    expect(res.headers.get('connection')).toBe('close');
    await stopped;
    expect(svc.logs.at(-1)).toContain('"stopped"');

    // The request was stored: after a restart on the same folder it is pending, not unknown.
    const again: TestService = await startTestService({ dataDir });
    cleanup.push(() => again.stop());
    const poll = await postForm(
      `${again.url}/stopping/oauth/token`,
      { grant_type: CIBA_GRANT, auth_req_id: res.body.auth_req_id },
      fx.client,
    );
    expect(poll.body.error).toBe('authorization_pending');
  });

  it('answers a request sent on a kept-alive connection during the drain with 503 and Connection: close', async () => {
    const svc = await startTestService();
    let stopped: Promise<void> | undefined;
    cleanup.push(() => stopped ?? svc.stop());
    const fx = await createTenantFixture(svc, 'stopping-keepalive', {}, {}, { device: true });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanup.push(async () => agent.destroy());
    const get = (path: string) =>
      new Promise<{ status: number; connection?: string; reused: boolean }>((resolve, reject) => {
        const req = request(`${svc.url}${path}`, { agent }, (res) => {
          res.resume();
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, reused: req.reusedSocket }),
          );
        });
        req.on('error', reject);
        req.end();
      });
    // One connection, kept alive after its first answer.
    expect((await get('/health')).status).toBe(200);
    const held = holdStoreCall(svc.service.deps.requests, 'create');
    const answer = postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice' }, fx.client);
    await held.entered;
    stopped = svc.stop();
    // The client sends its next request on the connection it kept: answered, not reset.
    const during = await get(`/${fx.tenant}/.well-known/openid-configuration`);
    expect(during).toEqual({ status: 503, connection: 'close', reused: true });
    held.release();
    expect((await answer).status).toBe(200);
    await stopped;
  });

  it('finishes a callback delivery under way before it closes the store', async () => {
    const receiver = await CallbackReceiver.start();
    cleanup.push(() => receiver.stop());
    const svc = await startTestService({ callbacks: { outbound: { responseTimeoutMs: 5_000 } } });
    let stopped: Promise<void> | undefined;
    cleanup.push(() => stopped ?? svc.stop());
    const fx = await createTenantFixture(
      svc,
      'stopping-ping',
      { development_mode: true, delivery_modes: ['poll', 'ping'] },
      {
        backchannel_token_delivery_mode: 'ping',
        backchannel_client_notification_endpoint: receiver.endpoint('/ping'),
      },
    );
    const device = await enrollDevice(svc, fx);
    const start = await postForm(
      `${fx.issuer}/bc-authorize`,
      { scope: 'openid', login_hint: 'alice', client_notification_token: 'Nt-0123456789abcdef' },
      fx.client,
    );
    expect(start.status, JSON.stringify(start.body)).toBe(200);
    // The delivery's final write waits until the service is stopping.
    const held = holdStoreCall(svc.service.deps.callbacks, 'record');
    const txn = String(start.body.auth_req_id).split('.')[0]!;
    const decided = await device.decide(txn, 'approve');
    expect(decided.status, JSON.stringify(decided.body)).toBe(200);
    await held.entered;

    stopped = svc.stop();
    expect(await settledYet(stopped)).toBe(false);
    held.release();
    await stopped;
    expect(receiver.at('/ping')).toHaveLength(1);
    expect(svc.logs.some((l) => l.includes('"callback delivered"'))).toBe(true);
  });
});

describe("the decision feed (local mode's table stream) and stopping", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  const pingService = async (dataDir?: string) => {
    const receiver = await CallbackReceiver.start();
    cleanup.push(() => receiver.stop());
    const svc = await startTestService({ ...(dataDir ? { dataDir, embeddedStore: 'worker' as const } : {}) });
    const fx = await createTenantFixture(
      svc,
      'feed-ping',
      { development_mode: true, delivery_modes: ['poll', 'ping'] },
      {
        backchannel_token_delivery_mode: 'ping',
        backchannel_client_notification_endpoint: receiver.endpoint('/ping'),
      },
    );
    const device = await enrollDevice(svc, fx);
    const start = await postForm(
      `${fx.issuer}/bc-authorize`,
      { scope: 'openid', login_hint: 'alice', client_notification_token: 'Nt-0123456789abcdef' },
      fx.client,
    );
    expect(start.status, JSON.stringify(start.body)).toBe(200);
    const txn = String(start.body.auth_req_id).split('.')[0]!;
    return { receiver, svc, fx, device, txn, authReqId: String(start.body.auth_req_id) };
  };

  it('answers the decision before its event is published, and publishes it before the store closes', async () => {
    const { receiver, svc, device, txn, authReqId } = await pingService();
    let stopped: Promise<void> | undefined;
    cleanup.push(() => stopped ?? svc.stop());
    // The bus holds the decision's event: the device's answer does not wait for it.
    const held = holdStoreCall(svc.service.deps.events, 'publish');
    const decided = await device.decide(txn, 'approve');
    expect(decided.status, JSON.stringify(decided.body)).toBe(200);
    await held.entered;
    expect(receiver.at('/ping')).toHaveLength(0);

    stopped = svc.stop();
    expect(await settledYet(stopped)).toBe(false);
    held.release();
    await stopped;
    // Published, and the callback it started delivered, before the service stopped.
    expect(receiver.at('/ping').map((r) => JSON.parse(r.body))).toEqual([{ auth_req_id: authReqId }]);
  });

  it('logs a decision whose event could not be published, and feeds it again at the next start', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'ciba-feed-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const { receiver, svc, device, txn, authReqId } = await pingService(dataDir);
    // The bus and the scheduler both down: the event cannot be published.
    const down = async () => {
      throw new Error('bus and scheduler down');
    };
    svc.service.deps.events.publish = down;
    svc.service.deps.scheduler.schedule = down;
    expect((await device.decide(txn, 'approve')).status).toBe(200);
    await eventually(async () => svc.logs.find((l) => l.includes('decision event could not be published')));
    expect(svc.logs.find((l) => l.includes('decision event could not be published'))).toContain(txn);
    await svc.stop();
    expect(receiver.at('/ping')).toHaveLength(0);

    const again = await startTestService({ dataDir, embeddedStore: 'worker' });
    cleanup.push(() => again.stop());
    const [ping] = await receiver.waitFor('/ping', 1);
    expect(JSON.parse(ping!.body)).toEqual({ auth_req_id: authReqId });
    expect(again.logs.some((l) => l.includes('decisions whose callback never started fed again'))).toBe(true);
  });
});

describe('restarting the local service', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });
  const setUp = async (mode: 'ping' | 'push', answers: Answer[]) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'ciba-restart-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const receiver = await CallbackReceiver.start();
    cleanup.push(() => receiver.stop());
    // Retries a long way off: within this run, none is sent.
    const callbacks = { backoff: { baseMs: 600_000, capMs: 600_000 } };
    // On the default store of `npm start`: dynalite on a worker thread.
    const svc = await startTestService({ dataDir, callbacks, embeddedStore: 'worker' });
    const fx = await createTenantFixture(
      svc,
      `restart-${mode}`,
      { development_mode: true, delivery_modes: ['poll', mode] },
      {
        backchannel_token_delivery_mode: mode,
        backchannel_client_notification_endpoint: receiver.endpoint(`/${mode}`, answers),
      },
    );
    return { dataDir, receiver, svc, fx, callbacks };
  };

  it('sends the expired_token push of a request that expired while the service was down', async () => {
    const { dataDir, receiver, svc, fx, callbacks } = await setUp('push', []);
    await enrollDevice(svc, fx);
    const start = await postForm(
      `${fx.issuer}/bc-authorize`,
      {
        scope: 'openid',
        login_hint: 'alice',
        client_notification_token: 'Nt-0123456789abcdef',
        requested_expiry: '30',
      },
      fx.client,
    );
    expect(start.status, JSON.stringify(start.body)).toBe(200);
    await svc.stop();

    // Back a minute later (the service's clock says so): the request has expired meanwhile.
    const later = { now: () => Date.now() + 60_000 };
    const again = await startTestService({ dataDir, callbacks, clock: later, embeddedStore: 'worker' });
    cleanup.push(() => again.stop());
    const [push] = await receiver.waitFor('/push', 1);
    expect(JSON.parse(push!.body)).toEqual({ error: 'expired_token', auth_req_id: start.body.auth_req_id });
  });

  it('retries a ping callback that failed before the restart', async () => {
    const { dataDir, receiver, svc, fx, callbacks } = await setUp('ping', [{ status: 503 }, { status: 204 }]);
    const device = await enrollDevice(svc, fx);
    const start = await postForm(
      `${fx.issuer}/bc-authorize`,
      { scope: 'openid', login_hint: 'alice', client_notification_token: 'Nt-0123456789abcdef' },
      fx.client,
    );
    expect(start.status, JSON.stringify(start.body)).toBe(200);
    expect((await device.decide(String(start.body.auth_req_id).split('.')[0]!, 'approve')).status).toBe(200);
    await receiver.waitFor('/ping', 1);
    await svc.stop(); // lets the failed attempt be recorded; its retry timer (10 minutes off) is dropped

    const again = await startTestService({ dataDir, callbacks, embeddedStore: 'worker' });
    cleanup.push(() => again.stop());
    const [first, second] = await receiver.waitFor('/ping', 2);
    expect(JSON.parse(second!.body)).toEqual({ auth_req_id: start.body.auth_req_id });
    expect(second!.body).toBe(first!.body);
    await eventually(async () => again.logs.find((l) => l.includes('"callback delivered"')));
  });
});

describe('restarting the local service with a channel fallback pending', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  const mailbox = async (svc: TestService, tenant: string): Promise<{ channel: string; text: string }[]> =>
    (await fetch(`${svc.url}/${tenant}/mailbox`).then((r) => r.json())).messages;

  it('sends the fallback of a request still pending after the restart, once, and none for a decided one', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'ciba-restart-fallback-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const svc = await startTestService({ dataDir, embeddedStore: 'worker' });
    // The push is not answered within a minute: an email follows (docs/channels.md).
    const fx = await createTenantFixture(svc, 'restart-fallback', {
      channels: ['device', 'email'],
      channel_fallback_seconds: 60,
    });
    const device = await enrollDevice(svc, fx);
    const ask = () => postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice' }, fx.client);
    const pending = await ask();
    expect(pending.status, JSON.stringify(pending.body)).toBe(200);
    const decided = await ask();
    expect((await device.decide(String(decided.body.auth_req_id).split('.')[0]!, 'deny')).status).toBe(200);
    expect(await mailbox(svc, fx.tenant)).toEqual([]);
    await svc.stop(); // the fallback timers (a minute off) are dropped with the process

    // Back 61 seconds later (the service's clock says so): the pending request's fallback is due, and sent at once.
    const later = { now: () => Date.now() + 61_000 };
    const again = await startTestService({ dataDir, clock: later, embeddedStore: 'worker' });
    cleanup.push(() => again.stop());
    await eventually(async () => ((await mailbox(again, fx.tenant)).length > 0 ? true : undefined));
    const messages = await mailbox(again, fx.tenant);
    expect(messages).toHaveLength(1);
    expect(messages[0]!.channel).toBe('email');
    expect(again.logs.some((l) => l.includes('channel fallback timers set again from the store'))).toBe(true);
    // Only the pending request fell back: the decided one was never looked at again.
    expect(again.logs.filter((l) => l.includes('"channel fallback"'))).toHaveLength(1);
    await again.stop();

    // Once: restarted again, the timer is set again and fires, but the email was sent and is not sent twice.
    const third = await startTestService({
      dataDir,
      clock: { now: () => Date.now() + 90_000 },
      embeddedStore: 'worker',
    });
    cleanup.push(() => third.stop());
    await eventually(async () => third.logs.find((l) => l.includes('already sent by this channel')));
    expect(await mailbox(third, fx.tenant)).toEqual([]);
    // Still pending: the link sent before the restart approves it.
    const secret = /\/approve#([A-Za-z0-9_-]{43})/.exec(messages[0]!.text)![1]!;
    const decide = await fetch(`${fx.issuer.replace(svc.url, third.url)}/approve/decide`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ link: secret, decision: 'approve' }),
    });
    expect(await decide.json()).toEqual({ state: 'approved' });
  });
});
