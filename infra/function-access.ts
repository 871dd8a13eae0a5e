import type { API_FUNCTIONS } from './bundling.ts';

/**
 * What each function may touch: the one place to read (and to change) the service's permissions.
 * `read` = GetItem, BatchGetItem, Query (table and its indexes); `update` adds only UpdateItem (conditional updates of
 * existing items); `write` adds PutItem, UpdateItem, DeleteItem, BatchWriteItem. Public keys (JWKS, token
 * verification) are read from the directory: no KMS permission.
 */
export type TableAccess = 'read' | 'update' | 'write';

export interface FunctionAccess {
  directory?: TableAccess;
  ledger?: TableAccess;
  /**
   * Signs tokens: Decrypt of the tenants' wrapped signing keys (sealed under the deployment's key, encryption context
   * `key_use` = `signing`), and Sign with the KMS keys of `kms` tenants (tagged with the deployment).
   */
  sign?: boolean;
  /**
   * The tenants' MAC keys: Decrypt of the wrapped ones (`key_use` = `mac`), GenerateMac with the KMS HMAC keys of
   * deployments before keysets. They derive client_secret_jwt secrets (client authentication, registration), user-code
   * MACs (hardening rule 12: bc-authorize, admin) and the key that seals a push response (callback).
   */
  mac?: boolean;
  /**
   * Provisions tenants (the admin API, the deployment): seals new keys (Encrypt), creates and retires `kms` tenants'
   * KMS keys (CreateKey with the deployment's tag, GetPublicKey, ScheduleKeyDeletion), reads push credentials and
   * VAPID keys from the deployment's secrets (`{prefix}/...`), manages SNS platform applications.
   */
  tenants?: boolean;
  /** Puts CIBA lifecycle events on the bus. */
  events?: boolean;
  /** Sends callbacks given up on to the callback-failures queue. */
  deadLetters?: boolean;
  /** Creates one-time EventBridge Scheduler schedules (callback retries, push-mode expiry). */
  schedules?: boolean;
  /**
   * Deletes a decided request's schedules that have nothing left to do: a push request's expiry, a channel fallback
   * still ahead (with `schedules`).
   */
  deletesSchedules?: boolean;
  /** `publish`: push notifications to device endpoints; `register`: create device endpoints at enrollment. */
  push?: 'publish' | 'register';
  /**
   * Sends approval links (docs/channels.md): SES SendEmail from the deployment's verified identity (`ciba:emailFrom`),
   * and SNS Publish of text messages (to phone numbers; SNS has no resource for them).
   */
  channels?: boolean;
  /**
   * Consumes the ledger's stream of decisions (its event source mapping reads it with the function's role):
   * DescribeStream, GetShardIterator and GetRecords on the stream, ListStreams (no resource in IAM), and SendMessage to
   * the mapping's failure destination (the decision-failures queue); and the decision-retries queue it hands a
   * decision it could not publish to and consumes with a second mapping (SendMessage, ReceiveMessage, DeleteMessage,
   * GetQueueAttributes).
   */
  decisionStream?: boolean;
}

export const FUNCTION_ACCESS: Record<(typeof API_FUNCTIONS)[number] | 'callback' | 'events', FunctionAccess> = {
  discovery: { directory: 'read' },
  // Counts the user's requests (rate limit), marks dead push channels disabled, creates the request.
  // Schedules the expiry of push-mode requests. Verifies id_token_hint with the tenant's public keys.
  'bc-authorize': {
    directory: 'write',
    ledger: 'write',
    mac: true,
    events: true,
    push: 'publish',
    schedules: true,
    channels: true,
  },
  token: { directory: 'read', ledger: 'write', sign: true, mac: true, events: true },
  userinfo: { directory: 'read', ledger: 'read' },
  // Consent retrieval: the device's profile, pending list and consent details. It reads; its one write is the replay
  // record of each request's DPoP proof, an UpdateItem of the device's directory item (no puts, deletes, events,
  // schedules or pushes).
  consent: { directory: 'update', ledger: 'read' },
  // Device responses: decisions (a report also shields the user: an UpdateItem of the user's item), enrollment
  // (tickets, devices, endpoints), push channels, passkeys, DPoP replay records. A decision's event is the events
  // function's (the ledger's stream); the device publishes one only when it repeats a decision whose callback never
  // started (recordDeviceDecision's safety net), through a schedule when the bus refuses it (publishDecision).
  device: { directory: 'write', ledger: 'write', events: true, push: 'register', schedules: true },
  // `Device Passkey Changed` when an operator resets a passkey. Creates, changes and deletes tenants.
  admin: { directory: 'write', ledger: 'write', mac: true, events: true, tenants: true },
  web: { directory: 'read' },
  // Ping notifications and push-mode token delivery (signs tokens; seals the response kept for a retry with a key
  // derived from the tenant's HMAC key), delivery history on the request, `CIBA Callback Delivered/Failed` events,
  // retries as schedules, dead letters to the queue.
  callback: {
    directory: 'read',
    ledger: 'write',
    sign: true,
    mac: true,
    events: true,
    schedules: true,
    deadLetters: true,
    // The channel fallback timer sends an approval link (lib/ciba/reach-user.ts).
    channels: true,
  },
  // The ledger stream's consumer: each decision's `CIBA Request Decided` on the bus, or the callback's schedule when
  // the bus fails (publishDecision); one it could not publish goes to the decision-retries queue, retried from there,
  // and ends in the decision-failures queue with its tenant. It deletes the decided request's timers that have nothing
  // left to do (a push request's expiry, a channel fallback still ahead).
  events: { events: true, schedules: true, deletesSchedules: true, decisionStream: true },
};

/** The deployment's provisioner (custom resources): tenants from the tenants file. */
export const PROVISIONER_ACCESS: FunctionAccess = { directory: 'write', mac: true, tenants: true };

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
  if (directory) out.directory = directory;
  if (ledger) out.ledger = ledger;
  for (const flag of [
    'sign',
    'mac',
    'tenants',
    'events',
    'deadLetters',
    'schedules',
    'deletesSchedules',
    'channels',
    'decisionStream',
  ] as const) {
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
