/**
 * The flows the benchmarks run (test/bench/bench.ts; the soak run, test/bench/soak.ts): provisioning a tenant with
 * enrolled devices, and one complete CIBA flow, poll (either shape), ping or push (the device shape with the
 * callback), every answer checked and the ID token verified.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { randomToken } from '../../lib/crypto.ts';
import { basicAuth, CIBA_GRANT, TestDevice } from '../helpers/service.ts';

export interface Answer {
  status: number;
  body: Record<string, unknown> | undefined;
}

export const call = async (url: string, init: RequestInit): Promise<Answer> => {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: Record<string, unknown> | undefined;
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
  } catch {
    body = { raw: text.slice(0, 80) };
  }
  return { status: res.status, body };
};

/** A flow that did not go as it should: the message names the step and the answer. */
export class FlowError extends Error {}

/**
 * How the benchmark's client gets its tokens: it polls, it is pinged and then asks once (CIBA §10.2), or the tokens
 * are pushed to it (§10.3.1).
 */
export type DeliveryMode = 'poll' | 'ping' | 'push';

/** What reached the client's notification endpoint: its bearer token and its JSON body. */
export interface Notification {
  token: string;
  body: Record<string, unknown>;
}

/**
 * The ping or push client's notification endpoint: a plain http listener on loopback in the benchmark's process (the
 * tenant has development_mode on, which allows it). Each notification is checked (a bearer token, a JSON body with
 * `auth_req_id`: a ping's whole body, a push's beside its tokens) and answered 204; `notification` waits for the one
 * of a request, which may arrive before the decision's answer does.
 */
export const startNotificationReceiver = async () => {
  const arrived = new Map<string, Notification>();
  const waiting = new Map<string, (notification: Notification) => void>();
  const server = createServer(async (req, res) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    let body: Record<string, unknown> | undefined;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      body = undefined;
    }
    const authReqId = body?.auth_req_id;
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (req.method !== 'POST' || !body || typeof authReqId !== 'string' || !token) {
      res.writeHead(400).end();
      return;
    }
    res.writeHead(204).end();
    const notification = { token, body };
    const waiter = waiting.get(authReqId);
    if (waiter) {
      waiting.delete(authReqId);
      waiter(notification);
    } else arrived.set(authReqId, notification);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ciba/notify`,
    /** The request's notification, once it has arrived (or undefined after `timeoutMs`). */
    notification: (authReqId: string, timeoutMs: number) =>
      new Promise<Notification | undefined>((resolve) => {
        const notification = arrived.get(authReqId);
        if (notification !== undefined) {
          arrived.delete(authReqId);
          return resolve(notification);
        }
        const timer = setTimeout(() => {
          waiting.delete(authReqId);
          resolve(undefined);
        }, timeoutMs);
        waiting.set(authReqId, (n) => {
          clearTimeout(timer);
          resolve(n);
        });
      }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};
export type NotificationReceiver = Awaited<ReturnType<typeof startNotificationReceiver>>;

/**
 * A tenant of its own with limits that never bite, one client (poll, or ping or push to `receiver`'s endpoint),
 * `userCount` users with one device each.
 */
export const provision = async (
  target: { url: string; adminToken: string },
  userCount: number,
  progress: (provisioned: number) => void = () => {},
  callback?: { mode: 'ping' | 'push'; receiver: NotificationReceiver },
) => {
  const receiver = callback?.receiver;
  const tenant = `bench-${Date.now().toString(36)}`;
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await call(`${target.url}${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${target.adminToken}`,
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as Record<string, string>;
  };
  await admin('PUT', `/admin/tenants/${tenant}`, {
    display_name: 'Bench',
    backchannel_polling_interval: 1,
    user_rate_limit_per_minute: 10_000,
    client_rate_limit_per_minute: 1_000_000,
    tenant_rate_limit_per_minute: 1_000_000,
    max_pending_requests: 10_000_000,
    // Ping and push: the receiver is plain http on loopback, which development mode allows.
    ...(callback ? { development_mode: true, delivery_modes: ['poll', callback.mode] } : {}),
  });
  const client = await admin('POST', `/admin/tenants/${tenant}/clients`, {
    client_name: 'Bench',
    grant_types: [CIBA_GRANT],
    backchannel_token_delivery_mode: callback?.mode ?? 'poll',
    ...(receiver ? { backchannel_client_notification_endpoint: receiver.endpoint } : {}),
    token_endpoint_auth_method: 'client_secret_basic',
  });
  const issuer = `${target.url}/${tenant}`;
  const devices: TestDevice[] = new Array(userCount);
  let next = 0;
  // A few at a time: provisioning is not what is measured.
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = next++; i < userCount; i = next++) {
        await admin('PUT', `/admin/tenants/${tenant}/users/user-${i}`, { name: `User ${i}` });
        const ticket = await admin('POST', `/admin/tenants/${tenant}/users/user-${i}/enrollment-tickets`);
        const device = await TestDevice.create(issuer);
        const enrolled = await device.enroll(ticket.ticket!);
        if (enrolled.status !== 201) throw new Error(`enroll: ${enrolled.status} ${JSON.stringify(enrolled.body)}`);
        devices[i] = device;
        progress(i + 1);
      }
    }),
  );
  const jwks = createLocalJWKSet(
    (await call(`${issuer}/.well-known/jwks.json`, {})).body as unknown as Parameters<typeof createLocalJWKSet>[0],
  );
  return {
    tenant,
    issuer,
    jwks,
    client: { client_id: client.client_id!, client_secret: client.client_secret! },
    devices,
    callback,
  };
};
export type Fixture = Awaited<ReturnType<typeof provision>>;

/** Latency samples (ms) per endpoint. */
export type Latencies = Record<string, number[]>;

export type Shape = 'device' | 'peer';

/** How long a ping or push flow waits for its callback after the approval was answered. */
const CALLBACK_TIMEOUT_MS = 10_000;

const timed = async (lat: Latencies, endpoint: string, run: () => Promise<Answer>, expect: (a: Answer) => boolean) => {
  const started = performance.now();
  let answer: Answer;
  try {
    answer = await run();
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    throw new FlowError(`${endpoint} network ${cause}`);
  }
  const samples = lat[endpoint] ?? [];
  samples.push(performance.now() - started);
  lat[endpoint] = samples;
  if (!expect(answer)) {
    throw new FlowError(`${endpoint} ${answer.status}${answer.body?.error ? ` ${String(answer.body.error)}` : ''}`);
  }
  return answer;
};

/**
 * One complete flow for user `flowNo % users`, each answer checked, latencies added to `lat`; a FlowError says what
 * went wrong. `peer` approves through serve.ts's hook (`hookUrl`) instead of the device API. With a ping or push
 * client (`fx.callback`, device shape only) the flow polls never: bc-authorize with a client_notification_token, the
 * device's list and approval, the callback reaching the receiver (`ping` or `push`: from the approval's answer to
 * the callback, 0 when it came first), then one token request (ping), or the pushed tokens themselves (push).
 */
export const flow = async (fx: Fixture, shape: Shape, flowNo: number, lat: Latencies, hookUrl?: string) => {
  const user = flowNo % fx.devices.length;
  const sub = `user-${user}`;
  const authorization = basicAuth(fx.client.client_id, fx.client.client_secret);
  const form = (path: string, params: Record<string, string>) =>
    call(`${fx.issuer}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: authorization },
      body: new URLSearchParams(params).toString(),
    });
  const message = `Bench ${flowNo}`;
  const callback = fx.callback;
  if (callback && shape !== 'device') throw new Error(`a ${callback.mode} flow has the device shape`);
  const notificationToken = callback ? randomToken(24) : undefined;
  const ack = await timed(
    lat,
    'bc-authorize',
    () =>
      form('/bc-authorize', {
        scope: 'openid',
        login_hint: sub,
        binding_message: message,
        ...(notificationToken ? { client_notification_token: notificationToken } : {}),
      }),
    (a) => a.status === 200 && typeof a.body?.auth_req_id === 'string',
  );
  const authReqId = ack.body!.auth_req_id as string;
  const poll = () => form('/oauth/token', { grant_type: CIBA_GRANT, auth_req_id: authReqId });

  if (shape === 'device') {
    // The device's pending list, (poll only) one pending poll, the signed approval, (ping, push) the callback.
    const device = fx.devices[user]!;
    const list = await timed(
      lat,
      'device list',
      () => device.pending() as Promise<Answer>,
      (a) => a.status === 200,
    );
    const txn = (list.body?.transactions as { txn: string; binding_message?: string }[] | undefined)?.find(
      (t) => t.binding_message === message,
    )?.txn;
    if (!txn) throw new FlowError('device list: the request is not listed');
    if (!callback) {
      await timed(lat, 'token pending', poll, (a) => a.status === 400 && a.body?.error === 'authorization_pending');
    }
    await timed(
      lat,
      'device approve',
      () => device.decide(txn, 'approve') as Promise<Answer>,
      (a) => a.status === 200 && a.body?.status === 'approved',
    );
    if (callback) {
      const started = performance.now();
      const notification = await callback.receiver.notification(authReqId, CALLBACK_TIMEOUT_MS);
      const samples = lat[callback.mode] ?? [];
      samples.push(performance.now() - started);
      lat[callback.mode] = samples;
      if (notification === undefined) throw new FlowError(`${callback.mode} did not arrive`);
      if (notification.token !== notificationToken) {
        throw new FlowError(`${callback.mode} carries another client_notification_token`);
      }
      if (callback.mode === 'push') return verifyIdToken(fx, notification.body.id_token, sub, authReqId);
    }
  } else {
    await timed(lat, 'token pending', poll, (a) => a.status === 400 && a.body?.error === 'authorization_pending');
    await timed(
      lat,
      'approve hook',
      () =>
        call(`${hookUrl}?tenant=${fx.tenant}`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ auth_req_id: authReqId, login_hint: sub }).toString(),
        }),
      (a) => a.status === 204,
    );
  }
  const tokens = await timed(
    lat,
    'token redeem',
    poll,
    (a) => a.status === 200 && typeof a.body?.id_token === 'string',
  );
  await verifyIdToken(fx, tokens.body!.id_token, sub);
};

/**
 * The ID token's signature, issuer, audience and subject; a pushed one also names its request (CIBA §10.3.1: the
 * `urn:openid:params:jwt:claim:auth_req_id` claim).
 */
const verifyIdToken = async (fx: Fixture, idToken: unknown, sub: string, pushedFor?: string) => {
  try {
    if (typeof idToken !== 'string') throw new Error('no id_token');
    const { payload } = await jwtVerify(idToken, fx.jwks, { issuer: fx.issuer, audience: fx.client.client_id });
    if (payload.sub !== sub) throw new Error('sub');
    if (pushedFor !== undefined && payload['urn:openid:params:jwt:claim:auth_req_id'] !== pushedFor) {
      throw new Error('auth_req_id');
    }
  } catch {
    throw new FlowError('id_token does not verify');
  }
};
