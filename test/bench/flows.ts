/**
 * The flows the benchmarks run (test/bench/bench.ts; the soak run, test/bench/soak.ts): provisioning a tenant with
 * enrolled devices, and one complete CIBA flow, poll (either shape) or ping (the device shape with the callback), every
 * answer checked and the ID token verified.
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

/** How the benchmark's client gets its tokens: it polls, or it is pinged and then asks once (CIBA §10.2). */
export type DeliveryMode = 'poll' | 'ping';

/**
 * The ping client's notification endpoint: a plain http listener on loopback in the benchmark's process (the tenant
 * has development_mode on, which allows it). Each ping is checked (its bearer token is the flow's
 * client_notification_token, its body `{auth_req_id}`) and answered 204; `ping` waits for the one of a request,
 * which may arrive before the decision's answer does.
 */
export const startPingReceiver = async () => {
  const arrived = new Map<string, string>();
  const waiting = new Map<string, (token: string) => void>();
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    let authReqId: unknown;
    try {
      authReqId = (JSON.parse(body) as { auth_req_id?: unknown }).auth_req_id;
    } catch {
      authReqId = undefined;
    }
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (req.method !== 'POST' || typeof authReqId !== 'string' || !token) {
      res.writeHead(400).end();
      return;
    }
    res.writeHead(204).end();
    const waiter = waiting.get(authReqId);
    if (waiter) {
      waiting.delete(authReqId);
      waiter(token);
    } else arrived.set(authReqId, token);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ciba/ping`,
    /** The bearer token of the request's ping, once it has arrived (or undefined after `timeoutMs`). */
    ping: (authReqId: string, timeoutMs: number) =>
      new Promise<string | undefined>((resolve) => {
        const token = arrived.get(authReqId);
        if (token !== undefined) {
          arrived.delete(authReqId);
          return resolve(token);
        }
        const timer = setTimeout(() => {
          waiting.delete(authReqId);
          resolve(undefined);
        }, timeoutMs);
        waiting.set(authReqId, (t) => {
          clearTimeout(timer);
          resolve(t);
        });
      }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};
export type PingReceiver = Awaited<ReturnType<typeof startPingReceiver>>;

/**
 * A tenant of its own with limits that never bite, one client (poll, or ping to `receiver`'s endpoint), `userCount`
 * users with one device each.
 */
export const provision = async (
  target: { url: string; adminToken: string },
  userCount: number,
  progress: (provisioned: number) => void = () => {},
  receiver?: PingReceiver,
) => {
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
    // Ping: the receiver is plain http on loopback, which development mode allows.
    ...(receiver ? { development_mode: true, delivery_modes: ['poll', 'ping'] } : {}),
  });
  const client = await admin('POST', `/admin/tenants/${tenant}/clients`, {
    client_name: 'Bench',
    grant_types: [CIBA_GRANT],
    backchannel_token_delivery_mode: receiver ? 'ping' : 'poll',
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
    receiver,
  };
};
export type Fixture = Awaited<ReturnType<typeof provision>>;

/** Latency samples (ms) per endpoint. */
export type Latencies = Record<string, number[]>;

export type Shape = 'device' | 'peer';

/** How long a ping flow waits for its callback after the approval was answered. */
const PING_TIMEOUT_MS = 10_000;

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
 * went wrong. `peer` approves through serve.ts's hook (`hookUrl`) instead of the device API. With a ping client
 * (`fx.receiver`, device shape only) the flow polls never: bc-authorize with a client_notification_token, the
 * device's list and approval, the ping reaching the receiver (`ping`: from the approval's answer to the ping, 0 when
 * it came first), one token request.
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
  const receiver = fx.receiver;
  if (receiver && shape !== 'device') throw new Error('a ping flow has the device shape');
  const notificationToken = receiver ? randomToken(24) : undefined;
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
    // The device's pending list, (poll only) one pending poll, the signed approval, (ping only) the ping.
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
    if (!receiver) {
      await timed(lat, 'token pending', poll, (a) => a.status === 400 && a.body?.error === 'authorization_pending');
    }
    await timed(
      lat,
      'device approve',
      () => device.decide(txn, 'approve') as Promise<Answer>,
      (a) => a.status === 200 && a.body?.status === 'approved',
    );
    if (receiver) {
      const started = performance.now();
      const token = await receiver.ping(authReqId, PING_TIMEOUT_MS);
      const samples = lat.ping ?? [];
      samples.push(performance.now() - started);
      lat.ping = samples;
      if (token === undefined) throw new FlowError('ping did not arrive');
      if (token !== notificationToken) throw new FlowError('ping carries another client_notification_token');
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
  try {
    const { payload } = await jwtVerify(tokens.body!.id_token as string, fx.jwks, {
      issuer: fx.issuer,
      audience: fx.client.client_id,
    });
    if (payload.sub !== sub) throw new Error('sub');
  } catch {
    throw new FlowError('id_token does not verify');
  }
};
