import { createHmac } from 'node:crypto';
import type { DeliverCallbackDeps } from '../../lib/ciba/deliver-callback.ts';
import { LOCAL_CAPABILITIES } from '../../lib/local/capabilities.ts';
import { type AuthRequest, CIBA_GRANT_TYPE, DEFAULT_TENANT_SETTINGS, type Tenant } from '../../lib/model.ts';
import type { CibaEvent, DeadLetterRecord, OutboundResult } from '../../lib/ports.ts';
import { fakeKeys } from './memory-keys.ts';
import { type MemoryState, memoryStore } from './memory-store.ts';

export const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
export const TXN = 'AAAAAAAAAAAAAAAAAAAAAA';
export const AUTH_REQ_ID = `${TXN}.BBBBBBBBBBBBBBBBBBBBBBBBBBB`;
export const NOTIFICATION_TOKEN = 'notif-token-8f2a/+~._==';

export interface FakeWorld {
  deps: DeliverCallbackDeps;
  /** The in-memory stores (test/helpers/memory-store.ts) the callback works on. */
  store: ReturnType<typeof memoryStore>;
  state: MemoryState;
  clock: { now: () => number; advance(ms: number): void };
  /** Every POST the outbound port was asked to make. */
  posts: { url: string; headers: Record<string, string>; body: unknown; allowPrivateNetwork: boolean }[];
  /** The answers the endpoint gives, in order; the last one repeats. */
  answers: OutboundResult[];
  scheduled: { at: number; event: CibaEvent }[];
  published: CibaEvent[];
  deadLetters: DeadLetterRecord[];
  signed: Record<string, unknown>[];
  logs: string[];
  failSchedule: boolean;
}

export const fakeWorld = (
  opts: {
    mode?: 'ping' | 'push';
    status?: AuthRequest['status'];
    settings?: Partial<Tenant['settings']>;
    request?: Partial<AuthRequest>;
  } = {},
): FakeWorld => {
  const mode = opts.mode ?? 'ping';
  let now = T0 + 10_000;
  const store = memoryStore();
  store.state.tenants.set('acme', {
    tenantId: 'acme',
    settings: { ...DEFAULT_TENANT_SETTINGS, developmentMode: true, ...opts.settings },
    createdAt: T0,
    updatedAt: T0,
  });
  store.state.clients.set('acme\u0000rp', {
    tenantId: 'acme',
    clientId: 'rp',
    clientName: 'RP',
    secretHash: 'x',
    tokenEndpointAuthMethod: 'client_secret_basic',
    grantTypes: [CIBA_GRANT_TYPE],
    backchannelTokenDeliveryMode: mode,
    backchannelClientNotificationEndpoint: 'https://rp.example.com/cb',
    backchannelUserCodeParameter: false,
    createdAt: T0,
  });
  const status = opts.status ?? 'approved';
  store.state.requests.set(TXN, {
    txn: TXN,
    authReqId: AUTH_REQ_ID,
    tenantId: 'acme',
    clientId: 'rp',
    sub: 'alice',
    claims: { name: 'Alice' },
    scope: 'openid profile',
    deliveryMode: mode,
    clientNotificationToken: NOTIFICATION_TOKEN,
    status,
    createdAt: T0,
    expiresAt: T0 + 300_000,
    interval: 5,
    issuer: 'https://ciba.example.com/acme',
    ...(status !== 'pending' ? { decidedAt: T0 + 5_000, authTime: T0 + 5_000 } : {}),
    ...(status === 'approved' ? { grantPending: true } : {}),
    ...opts.request,
  });
  const world: FakeWorld = {
    store,
    state: store.state,
    clock: {
      now: () => now,
      advance(ms) {
        now += ms;
      },
    },
    posts: [],
    answers: [{ status: 204 }],
    scheduled: [],
    published: [],
    deadLetters: [],
    signed: [],
    logs: [],
    failSchedule: false,
    deps: undefined as unknown as DeliverCallbackDeps,
  };
  const log = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    world.logs.push(JSON.stringify({ level, message, ...fields }));
  let answered = 0;
  world.deps = {
    requests: store.requests,
    tenants: store.tenants,
    clients: store.clients,
    callbacks: store.callbacks,
    refreshTokens: store.refreshTokens,
    keys: fakeKeys({
      async sign(_tenant, _alg, header, payload) {
        world.signed.push(payload);
        const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
        return `${part({ alg: 'ES256', ...header })}.${part(payload)}.sig${world.signed.length}`;
      },
      // A fixed per-tenant key (the push response is sealed with a key derived from it).
      async mac(tenant, data) {
        return {
          keyId: 'k1',
          mac: new Uint8Array(createHmac('sha256', `fake-hmac-key-${tenant}`).update(data).digest()),
        };
      },
      async macWith(tenant, keyId, data) {
        if (keyId !== 'k1') return undefined;
        return new Uint8Array(createHmac('sha256', `fake-hmac-key-${tenant}`).update(data).digest());
      },
      async publicJwks() {
        return { keys: [] };
      },
    }),
    events: {
      async publish(events) {
        world.published.push(...events);
      },
    },
    scheduler: {
      async schedule(at, event) {
        if (world.failSchedule) throw new Error('scheduler unavailable');
        world.scheduled.push({ at, event });
      },
      async cancel() {
        throw new Error('the callback withdraws no timer');
      },
    },
    deadLetters: {
      async put(record) {
        world.deadLetters.push(record);
      },
    },
    outbound: {
      async postJson(url, input) {
        world.posts.push({
          url,
          headers: input.headers,
          body: JSON.parse(input.body),
          allowPrivateNetwork: input.allowPrivateNetwork,
        });
        const answer = world.answers[Math.min(answered, world.answers.length - 1)]!;
        answered++;
        return answer;
      },
    },
    clock: world.clock,
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    config: { capabilities: LOCAL_CAPABILITIES, callbackBackoff: { baseMs: 1_000, capMs: 60_000 } },
    random: () => 1,
  };
  return world;
};
