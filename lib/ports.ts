import type {
  AuthRequest,
  CallbackAttempt,
  CallbackState,
  Client,
  DecisionEvidence,
  Device,
  DevicePasskey,
  DevicePush,
  DeviceSummary,
  JsonWebKeyPublic,
  RefreshTokenRecord,
  RevocationKind,
  SigningAlg,
  Tenant,
  User,
} from './model.ts';

/** Outcome of a conditional write that lost (the precondition no longer held). */
export type WriteOutcome = 'ok' | 'conflict';

/**
 * The directory: tenants, clients, users, devices and local signing keys.
 * Every write that creates is conditional on absence; every update of a merged record is conditional
 * on the `updatedAt` the caller read (optimistic concurrency).
 */
export interface Directory {
  getTenant(tenantId: string): Promise<Tenant | undefined>;
  /** `expectedUpdatedAt` null: create only if absent; a number: update only if unchanged since that read. */
  saveTenant(tenant: Tenant, expectedUpdatedAt: number | null): Promise<WriteOutcome>;
  /** Removes the tenant and everything under it (clients, users, devices, keys). */
  deleteTenant(tenantId: string): Promise<boolean>;

  getClient(tenantId: string, clientId: string): Promise<Client | undefined>;
  createClient(client: Client): Promise<WriteOutcome>;
  deleteClient(tenantId: string, clientId: string): Promise<boolean>;

  getUser(tenantId: string, sub: string): Promise<User | undefined>;
  /** Emails are matched case-insensitively (the adapter indexes the lower-cased address). */
  findUserByEmail(tenantId: string, email: string): Promise<string | undefined>;
  /** Phone numbers are matched in E.164. */
  findUserByPhone(tenantId: string, phoneE164: string): Promise<string | undefined>;
  saveUser(user: User, expectedUpdatedAt: number | null): Promise<WriteOutcome>;
  /**
   * Replaces a user_code stored as a bare SHA-256 with its HMAC (hardening rule 12), only while the user still has
   * that hash.
   */
  upgradeUserCode(tenantId: string, sub: string, legacyHash: string, mac: string): Promise<WriteOutcome>;
  /** Removes the user and their devices (with their passkeys); false when there was no such user. */
  deleteUser(tenantId: string, sub: string): Promise<boolean>;
  /**
   * Counts one backchannel request against the user's per-minute budget (this minute and the previous one together:
   * never more than the limit within 60 s) and returns the user, in one round trip when it can. `undefined` when the
   * user does not exist.
   */
  admitUserRequest(
    tenantId: string,
    sub: string,
    limitPerMinute: number,
    now: number,
  ): Promise<{ user: User } | { rateLimited: true } | undefined>;

  getDevice(tenantId: string, deviceId: string): Promise<Device | undefined>;
  /**
   * Authenticates a device's DPoP proof in one conditional write on the device: records the proof's `jti` on the
   * device until `expiresAt` and returns the device, or undefined when the device is unknown or already used that
   * `jti` (a replay; of concurrent uses of one proof exactly one gets the device).
   */
  useDeviceProof(
    tenantId: string,
    deviceId: string,
    jti: string,
    expiresAt: number,
    now: number,
  ): Promise<Device | undefined>;
  /** Creates the device (conditional on absence) and lists it on its user. */
  createDevice(device: Device, summary: DeviceSummary): Promise<WriteOutcome>;
  deleteDevice(tenantId: string, sub: string, deviceId: string): Promise<boolean>;
  /** Marks a device's push channel disabled (the platform said the token is gone). */
  disableDevicePush(tenantId: string, sub: string, deviceId: string): Promise<void>;
  /** Replaces a device's push channel (a web authenticator subscribes after enrollment). */
  setDevicePush(tenantId: string, sub: string, deviceId: string, push: DevicePush): Promise<WriteOutcome>;
  /**
   * Stores the device's passkey, replaces it, or updates its signature counter, in one conditional write: only while
   * the device's current passkey is `expected` (its credential id; null: the device has none). `conflict` when the
   * device is gone or its passkey changed meanwhile (hardening rule 1: a replacement verified against one passkey
   * never overwrites another, and a counter update never brings a removed passkey back).
   */
  setDevicePasskey(
    tenantId: string,
    deviceId: string,
    passkey: DevicePasskey,
    expected: string | null,
  ): Promise<WriteOutcome>;
  /** Removes the passkey of the user's device; returns the one removed, or undefined when there was none. */
  removeDevicePasskey(tenantId: string, sub: string, deviceId: string): Promise<DevicePasskey | undefined>;

  getSigningKeys(tenantId: string): Promise<StoredSigningKey[]>;
  putSigningKey(tenantId: string, key: StoredSigningKey): Promise<WriteOutcome>;
}

export interface StoredSigningKey {
  kid: string;
  /** `HS256`: the tenant's HMAC key (lib/adapters/local-keys.ts), never published. */
  alg: SigningAlg | 'HS256';
  /** Private JWK (local mode only; in AWS the private key stays in KMS). `k` for the HMAC key. */
  privateJwk: JsonWebKeyPublic & { d?: string; k?: string };
  createdAt: number;
}

/** Auth requests, enrollment tickets and replay records: short-lived items with a TTL. */
export interface Ledger {
  createRequest(request: AuthRequest): Promise<WriteOutcome>;
  getRequest(txn: string): Promise<AuthRequest | undefined>;
  /**
   * Records a token poll and, if the request was approved and not yet redeemed, redeems it, in one
   * atomic write. Returns the request as it was *before* this poll (so exactly one poller sees
   * `grantPending`), or undefined when the txn, auth_req_id, tenant or client does not match (then nothing is
   * written: a poll by another tenant's client of the same client_id must not redeem or time the request).
   */
  pollRequest(
    txn: string,
    authReqId: string,
    owner: { tenantId: string; clientId: string },
    now: number,
  ): Promise<AuthRequest | undefined>;
  /** Adds seconds to the request's polling interval (slow_down). */
  slowDown(txn: string, addSeconds: number): Promise<void>;
  /** Puts back a redemption that could not be completed (token signing failed). */
  restoreGrant(txn: string): Promise<void>;
  /** pending → approved | denied, only while pending, unexpired and owned by this tenant and user. */
  decideRequest(
    txn: string,
    owner: { tenantId: string; sub: string },
    status: 'approved' | 'denied',
    evidence: DecisionEvidence,
    now: number,
  ): Promise<AuthRequest | 'conflict'>;
  /**
   * Counts one wrong binding code, only while the request is pending, unexpired and owned by this tenant and
   * user. Returns the request after the count, or `conflict`.
   */
  countBindingCodeMismatch(
    txn: string,
    owner: { tenantId: string; sub: string },
    now: number,
  ): Promise<AuthRequest | 'conflict'>;
  /** Removes a request (a user's erasure); its `auth_req_id` is then unknown. */
  deleteRequest(txn: string): Promise<void>;
  /** Pending requests for a user, newest first (may lag a write by a moment). */
  listPending(tenantId: string, sub: string, now: number): Promise<AuthRequest[]>;

  /**
   * Claims callback attempt `attempt` of a ping/push request until `leaseUntil`, while its callback is neither
   * delivered nor dead-lettered: attempt 1 when none was claimed, attempt n once attempt n-1 has finished, or
   * attempt n again when its claim's lease ran out (the worker died). Returns the request after the claim, or
   * `conflict` (a duplicate event, or the callback is finished).
   */
  claimCallbackAttempt(
    txn: string,
    attempt: number,
    now: number,
    leaseUntil: number,
  ): Promise<AuthRequest | 'conflict'>;
  /**
   * Push mode: redeems the approved grant and keeps the (sealed) token response on the request, in one conditional
   * write (only while the grant is unredeemed), so one set of tokens exists per request.
   */
  savePushResponse(txn: string, sealedResponse: string, now: number): Promise<AuthRequest | 'conflict'>;
  /**
   * Appends a finished attempt and sets the callback's state, only while this attempt holds the claim. A final
   * state (delivered, dead_lettered) also drops the kept push response.
   */
  recordCallbackAttempt(
    txn: string,
    attempt: CallbackAttempt,
    outcome: { state: CallbackState; deliveredAt?: number; deadLetterReason?: string },
  ): Promise<WriteOutcome>;
  /** Keeps a dead letter on its request (the local dead-letter store). */
  putDeadLetter(record: DeadLetterRecord): Promise<void>;

  /**
   * A fixed-window counter (abuse controls): counts one event against `key` in the window of `windowMs` that holds
   * `now`, in one conditional write, only while the window's count stays below `limit`. With `includePrevious` the
   * previous window's count is added (one read more): the sum bounds every event of the last `windowMs`.
   * `retryAfterSeconds`: when the refused caller may try again.
   */
  consumeQuota(
    key: string,
    limit: number,
    windowMs: number,
    now: number,
    options?: { includePrevious?: boolean },
  ): Promise<{ admitted: boolean; retryAfterSeconds: number }>;
  /**
   * The abuse controls of a backchannel request (SECURITY.md) in one conditional write on the tenant's counter item:
   * the client's and the tenant's requests in this minute, and the tenant's requests in the current and previous
   * windows of `pendingWindowMs` (their sum bounds the pending requests). Counts everywhere or nowhere.
   */
  admitTenantRequest(input: TenantAdmission): Promise<TenantAdmissionOutcome>;
  /**
   * Gives back the pending slot of a request that admitTenantRequest counted in `pendingWindow` and that was refused
   * before it was created (hardening rule 6: unknown user, rate limited, invalid): one conditional write while that
   * window still counts, nothing once it has passed. The per-minute counts stay (they count attempts).
   */
  releaseTenantRequest(input: { tenantId: string; pendingWindow: number; pendingWindowMs: number }): Promise<void>;
  /**
   * The count of `key` in the window of `windowMs` that holds `now` (0 when none), plus the previous window's with
   * `includePrevious`.
   */
  readQuota(key: string, windowMs: number, now: number, options?: { includePrevious?: boolean }): Promise<number>;

  createEnrollmentTicket(ticketHash: string, tenantId: string, sub: string, expiresAt: number): Promise<void>;
  /** Single use: returns the ticket's owner once, and undefined for unknown, used or expired tickets. */
  consumeEnrollmentTicket(ticketHash: string, now: number): Promise<{ tenantId: string; sub: string } | undefined>;

  /** false when this key already used this jti (a replayed proof). */
  recordProofJti(keyThumbprint: string, jti: string, expiresAt: number): Promise<boolean>;

  /** Stores a new refresh token (conditional on absence). */
  createRefreshToken(record: RefreshTokenRecord): Promise<WriteOutcome>;
  getRefreshToken(tokenHash: string): Promise<RefreshTokenRecord | undefined>;
  /**
   * Marks a refresh token used, in one conditional write: only while it is unused, unexpired and belongs to this
   * tenant and client. `reused` when it belongs to them but was used before (a replay: the caller revokes the
   * family); undefined when it is unknown, expired or another client's.
   */
  useRefreshToken(
    tokenHash: string,
    owner: { tenantId: string; clientId: string },
    now: number,
  ): Promise<{ outcome: 'rotated' | 'reused'; record: RefreshTokenRecord } | undefined>;
  /** Records a revocation until `expiresAt` (after which whatever it revoked has expired anyway). */
  revoke(kind: RevocationKind, id: string, expiresAt: number): Promise<void>;
  isRevoked(kind: RevocationKind, id: string, now: number): Promise<boolean>;
}

export interface Store extends Directory, Ledger {}

export interface TenantAdmission {
  tenantId: string;
  clientId: string;
  limits: { clientPerMinute: number; tenantPerMinute: number; maxPending: number };
  pendingWindowMs: number;
  now: number;
}

/** `contention`: the counter item changed under every attempt (a burst at a window boundary); retry at once. */
export type TenantAdmissionOutcome =
  /** `pendingWindow`: the window the request counts in as pending (releaseTenantRequest gives it back). */
  | { admitted: true; pendingWindow: number }
  | { admitted: false; limit: 'client' | 'tenant' | 'pending' | 'contention'; retryAfterSeconds: number };

/** What the device shows; nothing else travels through the push channel. */
export interface DeviceNotification {
  tenantId: string;
  txn: string;
  title: string;
  body: string;
  expiresAt: number;
}

export interface DeviceNotifier {
  /**
   * Called for every enrolled device that is not disabled (devices without a push channel included, so
   * a local notifier can log). Never throws for delivery failures; reports `disabled` when the channel
   * is permanently gone.
   */
  notify(device: DeviceSummary, notification: DeviceNotification): Promise<{ disabled?: boolean }>;
  /** Registers a platform push token at enrollment (SNS creates a platform endpoint); returns what to store. */
  register?(tenantId: string, deviceId: string, push: DevicePush): Promise<DevicePush>;
}

export interface CibaEvent {
  type: string;
  tenantId: string;
  detail: Record<string, unknown>;
}

/**
 * Runs an event later, at least once, by invoking the callback handler with it (EventBridge Scheduler one-time
 * schedules in AWS, a timer locally). Used for callback retries and for push-mode expiry.
 */
export interface Scheduler {
  /** `at`: epoch milliseconds. Scheduling the same retry twice may run it twice; the handler is idempotent. */
  schedule(at: number, event: CibaEvent): Promise<void>;
}

/** A callback that was given up on. Never the body, the tokens or the client_notification_token. */
export interface DeadLetterRecord {
  tenantId: string;
  txn: string;
  clientId: string;
  deliveryMode: 'ping' | 'push';
  /** What the callback carried: `ping`, `tokens`, or the push error code. */
  kind: string;
  endpoint: string;
  reason: string;
  attempts: CallbackAttempt[];
  failedAt: number;
}

/** Where failed callbacks end up (an SQS queue in AWS, the request item locally). */
export interface DeadLetters {
  put(record: DeadLetterRecord): Promise<void>;
}

/** What a guarded outbound POST came to: the status, or why there was none (`permanent`: retrying cannot help). */
export type OutboundResult = { status: number } | { error: string; permanent?: boolean };

export interface OutboundRequest {
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** The tenant's development mode: plain http to loopback, and any address. */
  allowPrivateNetwork: boolean;
  /** Read the answer's body, up to this many bytes (more is a failure), and return it. Default: thrown away. */
  readBody?: number;
  /** Which URL this is, for the messages (`jwks_uri`, `the device webhook`). */
  name?: string;
  signal?: AbortSignal;
}

/** What a call came to: the status (and the body when asked for), or why there was none. */
export type OutboundResponse =
  | { status: number; headers: Record<string, string | string[] | undefined>; body?: Uint8Array<ArrayBuffer> }
  | { error: string; permanent?: boolean };

/**
 * Every call to a URL someone else chose (hardening rule 3): client notification endpoints, device webhooks, Web
 * Push endpoints, client `jwks_uri`s. The adapter owns the URL policy and the resolve-then-connect guard
 * (lib/adapters/guarded-outbound-http.ts); the core asks it whether a URL may be registered, and calls through it.
 * Calls never throw: the result says what happened.
 */
export interface OutboundHttp {
  /** Why the service must not call `url` (registration checks), or undefined. `name` names it in the message. */
  refusal(url: string, options: { allowPrivateNetwork: boolean; name?: string }): string | undefined;
  request(url: string, input: OutboundRequest): Promise<OutboundResponse>;
  /** A client's notification endpoint: a JSON POST. */
  postJson(
    url: string,
    input: { headers: Record<string, string>; body: string; allowPrivateNetwork: boolean },
  ): Promise<OutboundResult>;
}

export interface EventBus {
  publish(events: CibaEvent[]): Promise<void>;
}

/** Signing with the tenant's key; the private key may live in KMS. */
export interface Keys {
  sign(
    tenantId: string,
    alg: SigningAlg,
    header: Record<string, unknown>,
    payload: Record<string, unknown>,
  ): Promise<string>;
  /** Public keys to publish (current and previous, for rotation overlap). */
  publicJwks(tenantId: string): Promise<{ keys: JsonWebKeyPublic[] }>;
  /** Makes sure the tenant has a key for this algorithm (local mode generates one). */
  ensureKey(tenantId: string, alg: SigningAlg): Promise<void>;
  /**
   * HMAC-SHA256 of `data` with the tenant's HMAC key (client_secret_jwt secrets are derived with it). The key is
   * never exported and never published in the JWKS.
   */
  mac(tenantId: string, data: string): Promise<Uint8Array>;
}

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export interface Logger {
  /** Called at the start of each invocation: a Lambda logger then tags its lines with the request id. */
  addContext?(context: import('aws-lambda').Context): void;
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/**
 * What this runtime can do, named once at startup (lib/local/capabilities.ts for `npm start`, lib/adapters/aws-deps.ts
 * for Lambda) so that no operation asks which mode it runs in.
 */
export interface Capabilities {
  /** Tenants may have development_mode on: their outbound URLs may then be plain http to loopback and private addresses. */
  developmentModeAllowed: boolean;
  /** Devices may register a webhook push channel (the local notifier posts to it). */
  webhookPush: boolean;
  /** A Web Push endpoint must belong to a known push service (the service POSTs to it from the deployment). */
  knownWebPushServicesOnly: boolean;
  /** Admin routes are authorized by API Gateway with IAM (SigV4); otherwise with the admin bearer token. */
  iamAdminAuthorization: boolean;
  /** Tenants are created, changed and deleted through the admin API (otherwise the deployment manages them). */
  tenantAdministration: boolean;
  /** TLS client certificate chains were verified before the request arrived (API Gateway's truststore). */
  clientCertificatesVerifiedUpstream: boolean;
  /** The scheme of the base URL when it is derived from the request (no CIBA_PUBLIC_URL). */
  requestScheme: 'https' | 'http';
  /** The client the operator console acts as for a tenant that names none (the local demo client). */
  defaultConsoleClientId?: string;
}

export interface RuntimeConfig {
  capabilities: Capabilities;
  /** Base URL as clients see it (no trailing slash); when absent it is derived from the request. */
  publicUrl?: string;
  /** Local mode admin bearer token. In AWS the admin routes are IAM-authorized by API Gateway. */
  adminToken?: string;
  /** Callback retry backoff (full jitter): delay n is random up to min(capMs, baseMs * 2^(n-1)). Tests shorten it. */
  callbackBackoff?: { baseMs: number; capMs: number };
  /**
   * Mutual TLS. `baseUrl`: the HTTPS host where clients present certificates (the local listener; a tenant's
   * `mtls_base_url` overrides it). `trustedCaPems`: CAs that issue tls_client_auth certificates (local mode; in AWS
   * API Gateway's truststore has already checked the chain).
   */
  mtls?: { baseUrl?: string; trustedCaPems?: string[] };
}

export interface Deps {
  store: Store;
  keys: Keys;
  notifier: DeviceNotifier;
  events: EventBus;
  scheduler: Scheduler;
  deadLetters: DeadLetters;
  outbound: OutboundHttp;
  clock: Clock;
  logger: Logger;
  config: RuntimeConfig;
}
