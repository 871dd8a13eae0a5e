import type {
  AuthRequest,
  Client,
  DecisionEvidence,
  Device,
  DevicePush,
  DeviceSummary,
  JsonWebKeyPublic,
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
   * Counts one backchannel request against the user's per-minute budget and returns the user, in one
   * round trip when it can. `undefined` when the user does not exist.
   */
  admitUserRequest(
    tenantId: string,
    sub: string,
    limitPerMinute: number,
    now: number,
  ): Promise<{ user: User } | { rateLimited: true } | undefined>;

  getDevice(tenantId: string, deviceId: string): Promise<Device | undefined>;
  /** Creates the device (conditional on absence) and lists it on its user. */
  createDevice(device: Device, summary: DeviceSummary): Promise<WriteOutcome>;
  deleteDevice(tenantId: string, sub: string, deviceId: string): Promise<boolean>;
  /** Marks a device's push channel disabled (the platform said the token is gone). */
  disableDevicePush(tenantId: string, sub: string, deviceId: string): Promise<void>;

  getSigningKeys(tenantId: string): Promise<StoredSigningKey[]>;
  putSigningKey(tenantId: string, key: StoredSigningKey): Promise<WriteOutcome>;
}

export interface StoredSigningKey {
  kid: string;
  alg: SigningAlg;
  /** Private JWK (local mode only; in AWS the private key stays in KMS). */
  privateJwk: JsonWebKeyPublic & { d?: string };
  createdAt: number;
}

/** Auth requests, enrollment tickets and replay records: short-lived items with a TTL. */
export interface Ledger {
  createRequest(request: AuthRequest): Promise<WriteOutcome>;
  getRequest(txn: string): Promise<AuthRequest | undefined>;
  /**
   * Records a token poll and, if the request was approved and not yet redeemed, redeems it, in one
   * atomic write. Returns the request as it was *before* this poll (so exactly one poller sees
   * `grantPending`), or undefined when the txn, auth_req_id or client does not match.
   */
  pollRequest(txn: string, authReqId: string, clientId: string, now: number): Promise<AuthRequest | undefined>;
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
  /** Pending requests for a user, newest first (may lag a write by a moment). */
  listPending(tenantId: string, sub: string, now: number): Promise<AuthRequest[]>;

  createEnrollmentTicket(ticketHash: string, tenantId: string, sub: string, expiresAt: number): Promise<void>;
  /** Single use: returns the ticket's owner once, and undefined for unknown, used or expired tickets. */
  consumeEnrollmentTicket(ticketHash: string, now: number): Promise<{ tenantId: string; sub: string } | undefined>;

  /** false when this key already used this jti (a replayed proof). */
  recordProofJti(keyThumbprint: string, jti: string, expiresAt: number): Promise<boolean>;
}

export interface Store extends Directory, Ledger {}

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
}

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export interface Logger {
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
}

export interface Deps {
  store: Store;
  keys: Keys;
  notifier: DeviceNotifier;
  events: EventBus;
  clock: Clock;
  logger: Logger;
  config: RuntimeConfig;
}
