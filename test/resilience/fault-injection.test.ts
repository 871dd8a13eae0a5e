/**
 * Fault injection through the ports (issue 7): the real adapters (the DynamoDB adapter on dynalite, LocalKeys, the local
 * notifier, bus, scheduler, dead letters and outbound HTTP) wrapped so that one chosen call fails with a throttling
 * or a timeout. A clean run of each flow records every port call it makes; then the flow runs again once per call,
 * with that call failing. Invariants at every step:
 * - the client or device gets a retryable answer (503 temporarily_unavailable with Retry-After; 400 slow_down with
 *   Retry-After for a CIBA poll), never a 500, or the step succeeds because the failure does not matter to it;
 * - a failed bc-authorize leaves no request behind; a failed notification never fails the request;
 * - retrying completes the flow: no approved decision is lost, no callback is lost, no token is issued twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallbackReceiver, sleep } from '../helpers/callback-receiver.ts';
import {
  basicAuth,
  CIBA_GRANT,
  createTenantFixture,
  enrollDevice,
  startTestService,
  type TenantFixture,
  type TestDevice,
  type TestService,
} from '../helpers/service.ts';
import { FaultInjector, type FaultKind, type FaultPlan, scanTables } from './faults.ts';

type Mode = 'poll' | 'ping' | 'push';
interface Answer {
  status: number;
  body: Record<string, unknown> | undefined;
  headers: Headers;
}

let offset = 0;
const clock = { now: () => Date.now() + offset };
/** Moves the service's clock (polling intervals, callback leases) without waiting. */
const advance = (seconds: number) => {
  offset += seconds * 1000;
};

let svc: TestService;
let faults: FaultInjector;
let receiver: CallbackReceiver;
let fx: TenantFixture;
let device: TestDevice;
const clients = {} as Record<Mode, { client_id: string; client_secret: string; endpoint?: string }>;

const parse = async (res: Response): Promise<Answer> => {
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
};

const form = async (
  path: string,
  params: Record<string, string>,
  client: { client_id: string; client_secret: string },
) =>
  parse(
    await fetch(`${fx.issuer}${path}`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        Authorization: basicAuth(client.client_id, client.client_secret),
      },
      body: new URLSearchParams(params).toString(),
    }),
  );

/** A device API call with a proof whose iat follows the service's clock. */
const deviceCall = async (method: string, path: string, body?: unknown, claims: Record<string, unknown> = {}) => {
  const url = `${fx.issuer}${path}`;
  const proof = await device.proof(method, url, claims, Math.floor(clock.now() / 1000));
  return parse(
    await fetch(url, {
      method,
      headers: { DPoP: proof, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    }),
  );
};

/** Every answer a step gets on its way to success, so each can be checked. */
const answers: { step: string; answer: Answer }[] = [];

const isRetryable = (a: Answer) =>
  (a.status === 503 && a.body?.error === 'temporarily_unavailable') ||
  (a.status === 400 && a.body?.error === 'slow_down');

/** Runs a step until it gets an answer that is not a retryable refusal (at most a few times). */
const retrying = async (step: string, run: () => Promise<Answer>): Promise<Answer> => {
  for (let attempt = 1; ; attempt++) {
    const answer = await run();
    answers.push({ step, answer });
    if (!isRetryable(answer) || attempt >= 4) return answer;
    advance(Number(answer.headers.get('retry-after') ?? '1'));
  }
};

const requestCount = async () => [...(await scanTables(svc)).keys()].filter((k) => k.includes('|REQ#')).length;

/** Waits (advancing the clock past callback leases) until `path` has received at least one callback. */
const awaitCallback = async (path: string, authReqId: string) => {
  const mine = () => receiver.at(path).filter((c) => c.body.includes(authReqId));
  for (let i = 0; i < 200 && mine().length === 0; i++) {
    await sleep(25);
    // Past the callback lease, so that a redelivered event can take over an attempt whose handler failed.
    if (i % 2 === 1) advance(31);
  }
  return mine();
};

let flowNo = 0;

/** One full flow of `mode`; returns what the client ended with. */
const runFlow = async (mode: Mode) => {
  flowNo++;
  const client = clients[mode];
  const params: Record<string, string> = { scope: 'openid', login_hint: 'alice', binding_message: `F${flowNo}` };
  if (mode !== 'poll') params.client_notification_token = `cnt-${flowNo}-abcdefghijklmnop`;

  // bc-authorize: a refused attempt leaves no request behind.
  let ack: Answer | undefined;
  for (let attempt = 1; attempt <= 4; attempt++) {
    const before = await requestCount();
    ack = await form('/bc-authorize', params, client);
    answers.push({ step: 'bc-authorize', answer: ack });
    if (ack.status === 200) break;
    expect(await requestCount(), 'a refused bc-authorize left a request behind').toBe(before);
    advance(1);
  }
  expect(ack?.status, JSON.stringify(ack?.body)).toBe(200);
  const authReqId = String(ack!.body!.auth_req_id);

  // The device finds it (a failed notification does not matter: the list is the source of truth).
  let txn: string | undefined;
  for (let i = 0; i < 20 && !txn; i++) {
    const list = await retrying('device list', () => deviceCall('GET', '/device/transactions'));
    expect(list.status, JSON.stringify(list.body)).toBe(200);
    const found = (list.body!.transactions as { txn: string; binding_message?: string }[]).find(
      (t) => t.binding_message === `F${flowNo}`,
    );
    txn = found?.txn;
    if (!txn) await sleep(20);
  }
  expect(txn, 'the device never saw the request').toBeDefined();
  const details = await retrying('device details', () => deviceCall('GET', `/device/transactions/${txn}`));
  expect(details.status).toBe(200);
  const decided = await retrying('device decide', () =>
    deviceCall('POST', `/device/transactions/${txn}`, { decision: 'approve' }, { txn, decision: 'approve' }),
  );
  expect(decided.status, JSON.stringify(decided.body)).toBe(200);
  expect(decided.body).toEqual({ txn, status: 'approved' });

  const callbacks = mode === 'poll' ? [] : await awaitCallback(new URL(client.endpoint!).pathname, authReqId);
  if (mode !== 'poll') expect(callbacks.length, 'the callback was lost').toBeGreaterThan(0);
  if (mode === 'push') {
    const bodies = callbacks.map((c) => JSON.parse(c.body) as Record<string, unknown>);
    expect(bodies[0]!.auth_req_id).toBe(authReqId);
    expect(typeof bodies[0]!.access_token).toBe('string');
    // A resent push carries the same tokens: one set per request.
    expect(new Set(bodies.map((b) => b.access_token)).size).toBe(1);
    return { tokens: 1, authReqId };
  }
  if (mode === 'ping') expect(JSON.parse(callbacks[0]!.body)).toEqual({ auth_req_id: authReqId });

  // Token polls: exactly one token response, then invalid_grant.
  let tokens = 0;
  for (let i = 0; i < 6 && tokens === 0; i++) {
    advance(2);
    const poll = await form('/oauth/token', { grant_type: CIBA_GRANT, auth_req_id: authReqId }, client);
    answers.push({ step: 'token', answer: poll });
    if (poll.status === 200) tokens++;
    else expect(['slow_down', 'authorization_pending'], JSON.stringify(poll.body)).toContain(poll.body?.error);
  }
  expect(tokens, 'the approved grant was lost').toBe(1);
  const again = await retrying('token again', () => {
    advance(2);
    return form('/oauth/token', { grant_type: CIBA_GRANT, auth_req_id: authReqId }, client);
  });
  expect(again.status).toBe(400);
  expect(again.body?.error).toBe('invalid_grant');
  return { tokens, authReqId };
};

/** Every answer met in the flow is a success, a protocol answer, or a retryable refusal with Retry-After. */
const checkAnswers = (label: string) => {
  for (const { step, answer } of answers) {
    const where = `${label} ${step}: ${answer.status} ${JSON.stringify(answer.body)}`;
    expect(answer.status === 503 || answer.status < 500, where).toBe(true);
    if (answer.status === 503) {
      expect(answer.body?.error, where).toBe('temporarily_unavailable');
      expect(answer.headers.get('retry-after'), where).toMatch(/^\d+$/);
    }
    if (answer.body?.error === 'slow_down') expect(answer.headers.get('retry-after'), where).toMatch(/^\d+$/);
    if (answer.status >= 400) {
      expect(JSON.stringify(answer.body), where).not.toMatch(/stack|Exception|TimeoutError|at .*\.ts/);
    }
  }
};

const cleanTraces = {} as Record<Mode, string[]>;

beforeAll(async () => {
  svc = await startTestService({
    clock,
    callbacks: {
      outbound: { connectTimeoutMs: 1_000, responseTimeoutMs: 1_000 },
      backoff: { baseMs: 10, capMs: 30 },
      redeliveryDelaysMs: [150, 150, 150, 150],
    },
  });
  receiver = await CallbackReceiver.start();
  fx = await createTenantFixture(svc, 'faults', {
    development_mode: true,
    delivery_modes: ['poll', 'ping', 'push'],
    user_rate_limit_per_minute: 10_000,
    backchannel_expires_in: 3600,
    backchannel_max_expires_in: 3600,
  });
  clients.poll = fx.client;
  for (const mode of ['ping', 'push'] as const) {
    const endpoint = receiver.endpoint(`/${mode}`);
    const res = await svc.admin('POST', `/admin/tenants/${fx.tenant}/clients`, {
      client_name: `${mode} client`,
      grant_types: [CIBA_GRANT],
      backchannel_token_delivery_mode: mode,
      backchannel_client_notification_endpoint: endpoint,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    clients[mode] = { client_id: res.body.client_id, client_secret: res.body.client_secret, endpoint };
  }
  device = await enrollDevice(svc, fx);
  faults = new FaultInjector(svc.service.deps);
  for (const mode of ['poll', 'ping', 'push'] as const) {
    answers.length = 0;
    receiver.received.length = 0;
    faults.arm();
    await runFlow(mode);
    cleanTraces[mode] = [...faults.trace];
    faults.disarm();
    checkAnswers(`clean ${mode}`);
  }
}, 120_000);
afterAll(async () => {
  faults?.disarm();
  await receiver?.stop();
  await svc?.stop();
});

/** The plans of a flow: each call of its clean run fails once, alternating throttling and timeouts. */
const plansOf = (mode: Mode): FaultPlan[] =>
  [...new Set(cleanTraces[mode])].map((entry, i) => {
    const [call, nth] = entry.split('#') as [string, string];
    return { call, nth: Number(nth), kind: (i % 2 === 0 ? 'throttle' : 'timeout') as FaultKind };
  });

describe('fault injection at every port call of every flow', () => {
  for (const mode of ['poll', 'ping', 'push'] as const) {
    it(`completes the ${mode} flow with one token response whichever single port call fails`, async () => {
      const plans = plansOf(mode);
      expect(plans.length).toBeGreaterThan(10);
      const fired: string[] = [];
      const failures: string[] = [];
      for (const plan of plans) {
        const label = `${mode} ${plan.call}#${plan.nth} ${plan.kind}`;
        answers.length = 0;
        receiver.received.length = 0;
        const logsBefore = svc.logs.length;
        faults.arm(plan);
        try {
          await runFlow(mode);
          faults.disarm();
          checkAnswers(label);
          const unhandled = svc.logs.slice(logsBefore).filter((l) => l.includes('"unhandled error"'));
          expect(unhandled, label).toEqual([]);
          if (faults.fired) fired.push(label);
        } catch (error) {
          failures.push(`${label}: ${(error as Error).message.split('\n')[0]}`);
        } finally {
          faults.disarm();
        }
      }
      expect(failures).toEqual([]);
      // The plans come from a clean run of the same flow: nearly all of them must actually have fired.
      expect(fired.length).toBeGreaterThan(plans.length * 0.8);
    }, 240_000);
  }

  it('keeps an approval when minting fails and putting the grant back is throttled too', async () => {
    answers.length = 0;
    // The first poll redeems; signing fails; the first restoreGrant is throttled and retried.
    const sign = cleanTraces.poll.filter((e) => e.startsWith('keys.sign#')).length;
    expect(sign).toBeGreaterThan(0);
    let restores = 0;
    const store = svc.service.deps.polls;
    const original = store.restoreGrant.bind(store);
    const keys = svc.service.deps.keys;
    const sign0 = keys.sign.bind(keys);
    let signFailures = 0;
    Object.assign(keys, {
      sign: (...args: Parameters<typeof keys.sign>) =>
        signFailures++ === 0
          ? Promise.reject(Object.assign(new Error('KMS throttled'), { name: 'ThrottlingException' }))
          : sign0(...args),
    });
    Object.assign(store, {
      restoreGrant: (txn: string) =>
        restores++ === 0
          ? Promise.reject(Object.assign(new Error('throttled'), { name: 'ThrottlingException' }))
          : original(txn),
    });
    try {
      const result = await runFlow('poll');
      expect(result.tokens).toBe(1);
      expect(restores).toBe(2);
      checkAnswers('double fault');
    } finally {
      Object.assign(keys, { sign: sign0 });
      Object.assign(store, { restoreGrant: original });
    }
  });
});
