import type { API_FUNCTIONS } from './bundling.ts';

/**
 * What each function may touch: the one place to read (and to change) the service's permissions.
 * `read` = GetItem, BatchGetItem, Query (table and its indexes); `update` adds only UpdateItem (conditional updates of
 * existing items); `write` adds PutItem, UpdateItem, DeleteItem, BatchWriteItem. Keys: `verify` = GetPublicKey (JWKS, token verification), `sign` adds Sign.
 */
export type TableAccess = 'read' | 'update' | 'write';

export interface FunctionAccess {
  directory?: TableAccess;
  ledger?: TableAccess;
  keys?: 'verify' | 'sign';
  /**
   * GenerateMac with the tenants' HMAC keys: derives client_secret_jwt secrets (client authentication, registration),
   * user-code MACs (hardening rule 12: bc-authorize, admin) and the key that seals a push response (callback).
   */
  mac?: boolean;
  /** Puts CIBA lifecycle events on the bus. */
  events?: boolean;
  /** Sends callbacks given up on to the callback-failures queue. */
  deadLetters?: boolean;
  /** Creates one-time EventBridge Scheduler schedules (callback retries, push-mode expiry). */
  schedules?: boolean;
  /** `publish`: push notifications to device endpoints; `register`: create device endpoints at enrollment. */
  push?: 'publish' | 'register';
}

export const FUNCTION_ACCESS: Record<(typeof API_FUNCTIONS)[number] | 'callback', FunctionAccess> = {
  discovery: { directory: 'read', keys: 'verify' },
  // Counts the user's requests (rate limit), marks dead push channels disabled, creates the request.
  // Schedules the expiry of push-mode requests. Verifies id_token_hint with the tenant's public keys.
  'bc-authorize': {
    directory: 'write',
    ledger: 'write',
    keys: 'verify',
    mac: true,
    events: true,
    push: 'publish',
    schedules: true,
  },
  token: { directory: 'read', ledger: 'write', keys: 'sign', mac: true, events: true },
  userinfo: { directory: 'read', ledger: 'read', keys: 'verify' },
  // Consent retrieval: the device's profile, pending list and consent details. It reads; its one write is the replay
  // record of each request's DPoP proof, an UpdateItem of the device's directory item (no puts, deletes, events,
  // schedules or pushes).
  consent: { directory: 'update', ledger: 'read' },
  // Device responses: decisions, enrollment (tickets, devices, endpoints), push channels, passkeys, DPoP replay
  // records. A decided ping/push request whose event the bus refused starts its callback through a schedule instead
  // (publishDecision).
  device: { directory: 'write', ledger: 'write', events: true, push: 'register', schedules: true },
  // `Device Passkey Changed` when an operator resets a passkey.
  admin: { directory: 'write', ledger: 'write', keys: 'verify', mac: true, events: true },
  web: { directory: 'read' },
  // Ping notifications and push-mode token delivery (signs tokens; seals the response kept for a retry with a key
  // derived from the tenant's HMAC key), delivery history on the request, `CIBA Callback Delivered/Failed` events,
  // retries as schedules, dead letters to the queue.
  callback: {
    directory: 'read',
    ledger: 'write',
    keys: 'sign',
    mac: true,
    events: true,
    schedules: true,
    deadLetters: true,
  },
};

/** The union of several functions' access: the broader level of each kind. */
export const unionAccess = (...all: FunctionAccess[]): FunctionAccess => {
  const out: FunctionAccess = {};
  const level = <T extends string>(order: readonly T[], values: (T | undefined)[]): T | undefined =>
    values.reduce<T | undefined>(
      (best, v) => (v !== undefined && (best === undefined || order.indexOf(v) > order.indexOf(best)) ? v : best),
      undefined,
    );
  const directory = level(
    ['read', 'update', 'write'] as const,
    all.map((a) => a.directory),
  );
  const ledger = level(
    ['read', 'update', 'write'] as const,
    all.map((a) => a.ledger),
  );
  const keys = level(
    ['verify', 'sign'] as const,
    all.map((a) => a.keys),
  );
  if (directory) out.directory = directory;
  if (ledger) out.ledger = ledger;
  if (keys) out.keys = keys;
  for (const flag of ['mac', 'events', 'deadLetters', 'schedules'] as const) {
    if (all.some((a) => a[flag])) out[flag] = true;
  }
  // `publish` and `register` are different grants, not levels: a function that needs both is not foreseen.
  const push = [...new Set(all.map((a) => a.push).filter((p) => p !== undefined))];
  if (push.length > 1) throw new Error(`cannot combine push access ${push.join(' and ')}`);
  if (push[0]) out.push = push[0];
  return out;
};

/**
 * The web function with the operator console enabled (context `ciba:console`): the console starts and polls
 * requests as its client server-side (lib/web/console-api.ts runs bc-authorize's and token's operations), so it
 * needs exactly what those two functions need, on top of its own. Without the flag, the console routes do not
 * exist in the API (infra/service-stack.ts), so the web function never runs that code.
 */
export const CONSOLE_WEB_ACCESS: FunctionAccess = unionAccess(
  FUNCTION_ACCESS.web,
  FUNCTION_ACCESS['bc-authorize'],
  FUNCTION_ACCESS.token,
);
