import type { ChannelPorts } from './channel-ports.ts';
import type {
  AuthRequest,
  AuthRequestStatus,
  CallbackAttempt,
  CallbackState,
  Client,
  DecisionEvidence,
  Device,
  DevicePasskey,
  DevicePush,
  DeviceSummary,
  JsonWebKeyPublic,
  KeyMode,
  PushCredentials,
  RefreshTokenRecord,
  RevocationKind,
  SigningAlg,
  SigningKeyView,
  Tenant,
  TenantKeyset,
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
    gate?: UserAdmissionGate,
  ): Promise<{ user: User } | { rateLimited: true } | UserAdmissionRefusal | undefined>;
  /**
   * Shields the user from a client until `until` (epoch ms) after the user reported one of its requests; a shield
   * that already runs longer stays. Nothing happens when the user no longer exists.
   */
  shieldClient(tenantId: string, sub: string, clientId: string, until: number): Promise<void>;
  /** Lifts the user's shield against a client; false when there was none. */
  liftShield(tenantId: string, sub: string, clientId: string): Promise<boolean>;

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

  /** The tenant's keys (one item), or undefined before it has any. */
  getTenantKeys(tenantId: string): Promise<TenantKeyset | undefined>;
  /** `expectedUpdatedAt` null: create only if absent; a number: replace only if unchanged since that read. */
  saveTenantKeys(keyset: TenantKeyset, expectedUpdatedAt: number | null): Promise<WriteOutcome>;
  /** Local mode's keys in the layout before keysets (one item per key), read once to import them into the keyset. */
  getSigningKeys(tenantId: string): Promise<StoredSigningKey[]>;
}

/** A local mode key in the layout before keysets. */
/**
 * What admitting a user's request also requires, checked in the same conditional write that counts it (so a refusal
 * spends none of the user's budget): the asking client is not shielded by the user's report, and the user has an
 * enrolled device when nothing else can reach them (lib/ciba/report-shield.ts).
 */
export interface UserAdmissionGate {
  clientId: string;
  requireDevice: boolean;
  /** With `requireDevice`: a user without a device is reachable too when they have one of these claims. */
  orClaims?: ('email' | 'phone_number')[];
  /** `false`: the tenant does not reach users by their devices, so only `orClaims` make a user reachable. */
  devicesReach?: boolean;
}

/** A gated admission refused: the client is shielded until `until` (epoch ms), or the user has no device. */
export type UserAdmissionRefusal = { refused: 'shielded'; until: number } | { refused: 'unreachable' };

export interface StoredSigningKey {
  kid: string;
  /** `HS256`: the tenant's HMAC key, never published. */
  alg: SigningAlg | 'HS256';
  /** Private JWK; `k` for the HMAC key. */
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
  /** pending → approved | denied | reported, only while pending, unexpired and owned by this tenant and user. */
  decideRequest(
    txn: string,
    owner: { tenantId: string; sub: string },
    status: Exclude<AuthRequestStatus, 'pending'>,
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

/** Outbound HTTP to client endpoints, guarded against SSRF (lib/http/outbound.ts). Never throws. */
export interface OutboundHttp {
  postJson(
    url: string,
    input: { headers: Record<string, string>; body: string; allowPrivateNetwork: boolean },
  ): Promise<OutboundResult>;
}

export interface EventBus {
  publish(events: CibaEvent[]): Promise<void>;
}

/**
 * A tenant's keys (lib/oauth/keyset.ts has the rules; docs/deploy.md "Signing keys"): token signing keys (`wrapped`:
 * generated for the tenant, the private half sealed under the deployment's KMS key and used in memory; `kms`: a KMS
 * key of the tenant's own; local mode: generated keys kept in the local store) and the MAC keys behind client_secret_jwt
 * secrets, user-code MACs and sealed push responses.
 */
export interface Keys {
  /** A JWS by the key that signs `alg` tokens for the tenant now; `kid` is set. */
  sign(
    tenantId: string,
    alg: SigningAlg,
    header: Record<string, unknown>,
    payload: Record<string, unknown>,
  ): Promise<string>;
  /** Public keys to publish: the current one, the next one after a rotation, and those whose tokens may still live. */
  publicJwks(tenantId: string): Promise<{ keys: JsonWebKeyPublic[] }>;
  /**
   * HMAC-SHA256 of `data` under the tenant's current MAC key, with that key's id: a stored value keeps the id
   * (lib/oauth/keyset.ts withKeyId), so that it still verifies when the current key changes. Never published.
   */
  mac(tenantId: string, data: string): Promise<{ keyId: string; mac: Uint8Array }>;
  /**
   * HMAC-SHA256 under the tenant's MAC key `keyId` (undefined: the key that values without a key id were made with);
   * undefined when the tenant has no such key.
   */
  macWith(tenantId: string, keyId: string | undefined, data: string): Promise<Uint8Array | undefined>;
  /**
   * Makes the tenant's keys follow its settings (provisioning: the admin API, the deployment): creates them, or adds a
   * signing key of the tenant's algorithm and key mode when the newest one is of another kind. Idempotent.
   */
  ensureKeys(tenantId: string, want: { alg: SigningAlg; mode: KeyMode }): Promise<void>;
  /** A new signing key (published at once, signing from its `active_from`); returns the keys as the admin API shows them. */
  rotate(tenantId: string, want: { alg: SigningAlg; mode: KeyMode }): Promise<SigningKeyView[]>;
  /** The signing keys as the admin API shows them (none: the tenant has no keys yet). */
  describe(tenantId: string): Promise<SigningKeyView[]>;
  /**
   * Deletes the tenant through `remove` (the store's deletion, which takes the keyset with it) and then schedules the
   * deletion of the tenant's KMS keys; returns what `remove` returned.
   */
  removeWithTenant(tenantId: string, remove: () => Promise<boolean>): Promise<boolean>;
}

/**
 * A tenant's push platform applications: in AWS its SNS applications for APNs and FCM, made from credentials in Secrets
 * Manager that the tenant's settings name (`push_credentials`); local mode has none (its notifier needs none).
 */
export interface PushPlatforms {
  /**
   * Makes the tenant's applications what `next` names (`previous`: what its stored settings named): creates those
   * missing, sends the credentials again for one whose secret or version changed, deletes those no longer named. Every
   * secret is read and checked before anything changes; `refused` says why one cannot be used, and nothing changed.
   */
  apply(
    tenantId: string,
    next: PushCredentials | undefined,
    previous: PushCredentials | undefined,
  ): Promise<{ refused?: string }>;
  /** Deletes the tenant's applications (SNS deletes their device endpoints with them). */
  remove(tenantId: string, previous: PushCredentials | undefined): Promise<void>;
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

export interface RuntimeConfig {
  mode: 'local' | 'aws';
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
  platforms: PushPlatforms;
  notifier: DeviceNotifier;
  events: EventBus;
  scheduler: Scheduler;
  deadLetters: DeadLetters;
  outbound: OutboundHttp;
  clock: Clock;
  logger: Logger;
  config: RuntimeConfig;
  /** Approval links by email and text message (lib/channel-ports.ts). */
  channels: ChannelPorts;
}
