import type { API_FUNCTIONS } from './bundling.ts';

/**
 * What each function may touch: the one place to read (and to change) the service's permissions.
 * `read` = GetItem, BatchGetItem, Query (table and its indexes); `write` adds PutItem, UpdateItem, DeleteItem,
 * BatchWriteItem. Keys: `verify` = GetPublicKey (JWKS, token verification), `sign` adds Sign.
 */
export interface FunctionAccess {
  directory?: 'read' | 'write';
  ledger?: 'read' | 'write';
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
  // Schedules the expiry of push-mode requests.
  'bc-authorize': { directory: 'write', ledger: 'write', mac: true, events: true, push: 'publish', schedules: true },
  token: { directory: 'read', ledger: 'write', keys: 'sign', mac: true, events: true },
  userinfo: { directory: 'read', ledger: 'read', keys: 'verify' },
  // Enrollment (tickets, devices, endpoints), DPoP replay records, decisions.
  device: { directory: 'write', ledger: 'write', events: true, push: 'register' },
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

/**
 * The web function with the operator console enabled (context `ciba:console`): the console starts and
 * polls requests as its client server-side, so it needs what bc-authorize and token need.
 */
export const CONSOLE_WEB_ACCESS: FunctionAccess = {
  directory: 'write',
  ledger: 'write',
  keys: 'sign',
  mac: true,
  events: true,
  push: 'publish',
  schedules: true,
};
