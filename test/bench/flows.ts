/**
 * The flows the benchmarks run (test/bench/bench.ts; the soak run, test/bench/soak.ts): provisioning a tenant with
 * enrolled devices, and one complete CIBA poll flow of either shape, every answer checked and the ID token verified.
 */
import { createLocalJWKSet, jwtVerify } from 'jose';
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

/** A tenant of its own with limits that never bite, one poll client, `userCount` users with one device each. */
export const provision = async (
  target: { url: string; adminToken: string },
  userCount: number,
  progress: (provisioned: number) => void = () => {},
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
  });
  const client = await admin('POST', `/admin/tenants/${tenant}/clients`, {
    client_name: 'Bench',
    grant_types: [CIBA_GRANT],
    backchannel_token_delivery_mode: 'poll',
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
  };
};
export type Fixture = Awaited<ReturnType<typeof provision>>;

/** Latency samples (ms) per endpoint. */
export type Latencies = Record<string, number[]>;

export type Shape = 'device' | 'peer';

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
 * went wrong. `peer` approves through serve.ts's hook (`hookUrl`) instead of the device API.
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
  const ack = await timed(
    lat,
    'bc-authorize',
    () => form('/bc-authorize', { scope: 'openid', login_hint: sub, binding_message: message }),
    (a) => a.status === 200 && typeof a.body?.auth_req_id === 'string',
  );
  const authReqId = ack.body!.auth_req_id as string;
  const poll = () => form('/oauth/token', { grant_type: CIBA_GRANT, auth_req_id: authReqId });

  if (shape === 'device') {
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
    await timed(lat, 'token pending', poll, (a) => a.status === 400 && a.body?.error === 'authorization_pending');
    await timed(
      lat,
      'device approve',
      () => device.decide(txn, 'approve') as Promise<Answer>,
      (a) => a.status === 200 && a.body?.status === 'approved',
    );
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
