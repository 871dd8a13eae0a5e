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
  LinkChannel,
  RefreshTokenRecord,
  RevocationKind,
  Tenant,
  TenantKeyset,
  User,
} from './model.ts';

/**
 * The core's persistence ports, one per aggregate, each a few primitives: single-item reads and conditional writes
 * (the DynamoDB adapter, lib/adapters/dynamodb/, runs each as one request; dynalite has no transactions). The rules
 * that decide which write to try (rate windows, tenant admission, callback leases, proof pruning, hint ambiguity,
 * orphan devices, lockouts) are the core's (lib/ciba/). test/contract/ runs one suite per port against the
 * in-memory fakes and the DynamoDB adapter, so both answer alike.
 */

/** Outcome of a conditional write: `conflict` when its precondition no longer held (nothing was written). */
export type WriteOutcome = 'ok' | 'conflict';

/** Every create is conditional on absence; an update of a merged record on the `updatedAt` the caller read. */
export interface TenantStore {
  /** The tenant; one being deleted is not found. */
  get(tenantId: string): Promise<Tenant | undefined>;
  /** The tenant, also while it is being deleted (`deleting` set): what the admin API's creation and deletion see. */
  find(tenantId: string): Promise<Tenant | undefined>;
  /**
   * `expectedUpdatedAt` null: create only if absent (a tenant being deleted is not); a number: replace only if unchanged
   * since that read.
   */
  save(tenant: Tenant, expectedUpdatedAt: number | null): Promise<WriteOutcome>;
  /**
   * Removes the tenant and everything the directory holds under it (clients, users, devices, keys), at most about
   * `maxItems` items per call (default: all). The first call marks the tenant `deleting` before it removes anything,
   * so `get` no longer finds it; its own item and its keyset go last. `continues` while items remain (call again: the
   * deletion resumes where it stopped), `deleted` once everything is gone, `absent` when there is no tenant.
   */
  delete(tenantId: string, maxItems?: number): Promise<TenantDeletion>;
}

export type TenantDeletion = 'deleted' | 'continues' | 'absent';

/**
 * A tenant's keys, one record beside the tenant (the key adapters keep them: lib/adapters/tenant-keys.ts; the tenant's
 * deletion takes them with it). `expectedUpdatedAt` as for tenants.
 */
export interface KeysetStore {
  get(tenantId: string): Promise<TenantKeyset | undefined>;
  save(keyset: TenantKeyset, expectedUpdatedAt: number | null): Promise<WriteOutcome>;
}

export interface ClientStore {
  get(tenantId: string, clientId: string): Promise<Client | undefined>;
  create(client: Client): Promise<WriteOutcome>;
  delete(tenantId: string, clientId: string): Promise<boolean>;
}

export interface UserStore {
  get(tenantId: string, sub: string): Promise<User | undefined>;
  /**
   * Writes the profile (claims, user code) only: the device list and the rate window belong to their own ports.
   * `expectedUpdatedAt` as for tenants.
   */
  save(user: User, expectedUpdatedAt: number | null): Promise<WriteOutcome>;
  /** Removes the user record; returns it as it was (with its device list), undefined when there was none. */
  delete(tenantId: string, sub: string): Promise<User | undefined>;
  /** Replaces a user_code kept as a bare SHA-256 with its HMAC (hardening rule 12), only while it is still that hash. */
  upgradeUserCode(tenantId: string, sub: string, legacyHash: string, mac: string): Promise<WriteOutcome>;
  /** Every user whose email is this one, case-insensitively (the core decides what several matches mean). */
  findByEmail(tenantId: string, email: string): Promise<string[]>;
  /** Every user whose phone number is this one (E.164). */
  findByPhone(tenantId: string, phoneE164: string): Promise<string[]>;
}

/**
 * The per-user rate window kept on the user record (lib/ciba/user-rate-window.ts): the minute it counts in, that
 * minute's requests and their sum with the previous minute's.
 */
export interface RateWindow {
  minute?: number;
  count?: number;
  sum?: number;
}

/** The conditional writes of a rate window; lib/ciba/user-rate-window.ts says when each applies and what it does. */
export type RateWindowWrite = 'increment' | 'roll' | 'open';

/**
 * The conditional writes that give one admitted request back (lib/ciba/user-rate-window.ts `refundUserRequest`):
 * from the window it counted in (`current`), or from the previous minute's share once that window has rolled.
 */
export type RateWindowRefund = 'current' | 'previous';

/**
 * What admitting a user's request also requires, checked in the same conditional write that counts it (so a refusal
 * spends none of the user's budget): the asking client is not shielded by the user's report at `now`, and the user
 * has an enrolled device when nothing else can reach them (lib/ciba/report-shield.ts `gateHolds`).
 */
export interface UserAdmissionGate {
  clientId: string;
  requireDevice: boolean;
  /** With `requireDevice`: a user without a device is reachable too when they have one of these claims. */
  orClaims?: ('email' | 'phone_number')[];
  /** `false`: the tenant does not reach users by their devices, so only `orClaims` make a user reachable. */
  devicesReach?: boolean;
  now: number;
}

export interface RateWindowStore {
  /**
   * Applies `write` to the user's window for `minute` under `limit`, only where lib/ciba/user-rate-window.ts
   * `rateWindowWriteApplies` holds (and, with a gate, lib/ciba/report-shield.ts `gateHolds`), and returns the user
   * after it with the minute of the window it counted in (a lagging clock counts in the newer window); `conflict`
   * when it does not hold (or there is no such user).
   */
  write(
    tenantId: string,
    sub: string,
    write: RateWindowWrite,
    window: { minute: number; limit: number },
    gate?: UserAdmissionGate,
  ): Promise<{ user: User; minute: number } | 'conflict'>;
  /**
   * Gives back one request counted in the window of `minute`, only where lib/ciba/user-rate-window.ts
   * `rateWindowRefundApplies` holds (never below zero); `conflict` when it does not (or there is no such user).
   */
  refund(tenantId: string, sub: string, refund: RateWindowRefund, minute: number): Promise<WriteOutcome>;
}

/** The user's report shields, on the user record: client id → epoch ms until which that client is shielded. */
export interface ReportShieldStore {
  /**
   * Shields the user from a client until `until`; a shield that already runs longer stays. Nothing happens when the
   * user no longer exists.
   */
  shield(tenantId: string, sub: string, clientId: string, until: number): Promise<void>;
  /** Removes the user's shield entry for a client; false when there was none. */
  lift(tenantId: string, sub: string, clientId: string): Promise<boolean>;
}

/** Device records, and their summaries on their user's record (one read serves hint resolution and notification). */
export interface DeviceStore {
  get(tenantId: string, deviceId: string): Promise<Device | undefined>;
  /** Creates the device record, conditional on absence (a key enrolls once). */
  create(device: Device): Promise<WriteOutcome>;
  /** Lists a device on its user's record; `conflict` when the user is gone. */
  listOnUser(tenantId: string, sub: string, summary: DeviceSummary): Promise<WriteOutcome>;
  /** Removes the user's device (conditional on its user) and its summary; false when it was not theirs. */
  delete(tenantId: string, sub: string, deviceId: string): Promise<boolean>;
  /** Removes device records outright (a deleted user's devices, a device whose user vanished before it was listed). */
  purge(tenantId: string, deviceIds: string[]): Promise<void>;
}

/** A device's push channel, on the device and on its summary. */
export interface PushChannelStore {
  /** Replaces the channel of the user's device; `conflict` when the device is gone or another user's. */
  set(tenantId: string, sub: string, deviceId: string, push: DevicePush): Promise<WriteOutcome>;
  /** Marks the channel disabled (the platform said the token is gone). */
  disable(tenantId: string, sub: string, deviceId: string): Promise<void>;
}

export interface PasskeyStore {
  /**
   * Stores, replaces or updates the device's passkey, only while its current passkey's credential id is `expected`
   * (null: it has none). `conflict` when the device is gone or its passkey changed (hardening rule 1).
   */
  set(tenantId: string, deviceId: string, passkey: DevicePasskey, expected: string | null): Promise<WriteOutcome>;
  /** Removes the passkey of the user's device; returns the one removed, undefined when there was none. */
  remove(tenantId: string, sub: string, deviceId: string): Promise<DevicePasskey | undefined>;
}

/** The proof ids a device used, kept on the device record (lib/ciba/verify-device-proof.ts prunes them). */
export interface DeviceProofStore {
  /**
   * Records the proof's `jti` on the device until `expiresAt`, only while the device exists and has not recorded it:
   * returns the device with every proof id it keeps (jti → expiry), or undefined (unknown device, or a replay; of
   * concurrent uses of one proof exactly one gets the device).
   */
  use(
    tenantId: string,
    deviceId: string,
    jti: string,
    expiresAt: number,
  ): Promise<{ device: Device; proofIds: Record<string, number> } | undefined>;
  /** Forgets proof ids the core found expired (best effort: a failure only leaves them). */
  forget(tenantId: string, deviceId: string, jtis: string[]): Promise<void>;
}

/** Single-use ids (client assertion and request object `jti`s, enrollment proofs) until they expire. */
export interface ReplayGuard {
  /** false when `key` was already used. */
  useOnce(key: string, expiresAt: number): Promise<boolean>;
}

export interface RequestStore {
  create(request: AuthRequest): Promise<WriteOutcome>;
  get(txn: string): Promise<AuthRequest | undefined>;
  /** Removes a request (a user's erasure); its `auth_req_id` is then unknown. */
  delete(txn: string): Promise<void>;
  /**
   * Removes a request that is still pending, as if it had never been stored (bc-authorize's own undoing, when what
   * had to go with the request failed). false when it is no longer pending: it was decided meanwhile and stays.
   */
  withdraw(txn: string): Promise<boolean>;
  /**
   * Pending requests of a user, newest first (may lag a write by a moment; expired ones left out). Each carries what
   * the device's list shows and an erasure needs, not the whole request: `txn`, `authReqId`, `tenantId`, `clientId`,
   * `sub`, `status`, `createdAt`, `expiresAt`, `scope`, `acrValues`, `bindingMessage`, `authorizationDetails`,
   * `display`, `tenantGeneration` (the index projects these alone, so that polls do not write it:
   * docs/performance.md).
   */
  listPending(tenantId: string, sub: string, now: number): Promise<AuthRequest[]>;
}

export interface PollStore {
  /**
   * Records a poll and, when the request is approved and unredeemed, redeems it, in one write. Returns the request as
   * it was *before* (so exactly one poller sees `grantPending`), or undefined when txn, auth_req_id, tenant or client
   * do not match (then nothing is written).
   */
  poll(
    txn: string,
    authReqId: string,
    owner: { tenantId: string; clientId: string },
    now: number,
  ): Promise<AuthRequest | undefined>;
  /** Adds seconds to the request's polling interval (slow_down). */
  slowDown(txn: string, addSeconds: number): Promise<void>;
  /** Puts back a redemption whose tokens could not be minted. */
  restoreGrant(txn: string): Promise<void>;
}

export interface DecisionStore {
  /** pending → approved | denied | reported, only while pending, unexpired and owned by this tenant and user. */
  decide(
    txn: string,
    owner: { tenantId: string; sub: string },
    status: Exclude<AuthRequestStatus, 'pending'>,
    evidence: DecisionEvidence,
    now: number,
  ): Promise<AuthRequest | 'conflict'>;
  /** Counts one wrong binding code under the same conditions; returns the request after the count. */
  countBindingCodeMismatch(
    txn: string,
    owner: { tenantId: string; sub: string },
    now: number,
  ): Promise<AuthRequest | 'conflict'>;
}

/** A ping or push request's callback ledger: lib/ciba/callback-lease.ts says when an attempt may be claimed. */
export interface CallbackLedger {
  /**
   * Claims `attempt` until `leaseUntil`, only where lib/ciba/callback-lease.ts `mayClaim` holds (and, with
   * `decidedFor`, its `decidedFor`: the request is that tenant's, ping or push, and decided); returns the request
   * after the claim (its callback started when it was not), or `conflict`.
   */
  claim(
    txn: string,
    claim: { attempt: number; now: number; leaseUntil: number; decidedFor?: string },
  ): Promise<AuthRequest | 'conflict'>;
  /** Push: redeems the approved grant and keeps the sealed token response, only while the grant is unredeemed. */
  savePushResponse(txn: string, sealedResponse: string, now: number): Promise<AuthRequest | 'conflict'>;
  /**
   * Appends a finished attempt and sets the callback's state, only while this attempt holds the claim (its lease is
   * released). A final state also drops the kept push response.
   */
  record(
    txn: string,
    attempt: CallbackAttempt,
    outcome: { state: CallbackState; deliveredAt?: number; deadLetterReason?: string },
  ): Promise<WriteOutcome>;
}

export interface TicketStore {
  create(ticketHash: string, owner: { tenantId: string; sub: string }, expiresAt: number): Promise<void>;
  /** Single use: the ticket's owner once; undefined for unknown, used or expired tickets. */
  consume(ticketHash: string, now: number): Promise<{ tenantId: string; sub: string } | undefined>;
}

export interface RefreshTokenStore {
  create(record: RefreshTokenRecord): Promise<WriteOutcome>;
  get(tokenHash: string): Promise<RefreshTokenRecord | undefined>;
  /**
   * Marks the token used, only while unused, unexpired and this tenant's and client's. `reused` when it is theirs
   * but was used before (a replay); undefined when unknown, expired or another client's.
   */
  use(
    tokenHash: string,
    owner: { tenantId: string; clientId: string },
    now: number,
  ): Promise<{ outcome: 'rotated' | 'reused'; record: RefreshTokenRecord } | undefined>;
}

export interface RevocationStore {
  /** Records a revocation until `expiresAt` (after which what it revoked has expired anyway). */
  revoke(kind: RevocationKind, id: string, expiresAt: number): Promise<void>;
  isRevoked(kind: RevocationKind, id: string, now: number): Promise<boolean>;
}

/** Fixed-window event counters by key (lib/ciba/fixed-window.ts keeps the windows' arithmetic). */
export interface QuotaStore {
  /** The count of `key` in window number `window` (0 when none). */
  count(key: string, window: number): Promise<number>;
  /** Counts one event, only while the window's count is below `below`; kept until `expiresAt`. */
  increment(key: string, window: number, options: { below: number; expiresAt: number }): Promise<WriteOutcome>;
}

/**
 * One counter shard of a tenant's admission counters (lib/ciba/tenant-admission.ts) as read: per minute, the requests
 * it counted of the tenant and of each client; per pending window `w` (of the length asked), the requests it counted
 * in windows `w − 1` and `w` (their sum bounds the pending requests). The shard holds a share of each limit.
 */
export interface TenantCounters {
  /** false: the shard has no item yet; the counts are then those its item of the layout before holds (or none). */
  exists: boolean;
  minutes: Record<number, { tenant: number; clients: Record<string, number> }>;
  pending: Record<number, number>;
}

/** Which counter shard: shard `shard` (0 to ADMISSION_SHARDS − 1) of the tenant's admission counters. */
export interface AdmissionShard {
  tenantId: string;
  shard: number;
}

export interface AdmissionStore {
  /**
   * Counts one request of `clientId` on the shard's existing item: the tenant's and the client's counts of `minute`
   * and the pending counts of `window` and `window + 1` +1, only while each is below the shard's share of its limit
   * and no later minute (`minute + 1`) or window (`window + 1`) has started on the shard (another clock ahead); kept
   * until `expiresAt`. Fails when the shard has no item yet. With `amount`, counts that many requests at once (a
   * lease), only while each count plus `amount` stays within its share.
   */
  count(
    counter: AdmissionShard,
    at: { clientId: string; minute: number; windowMs: number; window: number },
    limits: { clientPerMinute: number; tenantPerMinute: number; maxPending: number },
    expiresAt: number,
    amount?: number,
  ): Promise<WriteOutcome>;
  read(counter: AdmissionShard, windowMs: number): Promise<TenantCounters>;
  /** Creates the shard's item with these counts (this request's included), only while it has none. */
  create(
    counter: AdmissionShard,
    counts: Omit<TenantCounters, 'exists'>,
    windowMs: number,
    expiresAt: number,
  ): Promise<WriteOutcome>;
  /**
   * One pending request less for a request counted in `window`: in the counts of `window` and `window + 1` while each
   * is above 0 (a window's count no longer kept is left alone).
   */
  release(counter: AdmissionShard, at: { windowMs: number; window: number }): Promise<void>;
}

/** One approval link as stored (lib/ciba/approval-links.ts): never the secret, only its SHA-256. */
export interface ApprovalLink {
  /** SHA-256 (base64url) of the link's secret. */
  hash: string;
  tenantId: string;
  txn: string;
  sub: string;
  channel: LinkChannel;
  createdAt: number;
  /** The request's expiry: the link dies with it. */
  expiresAt: number;
}

/** The one-time approval links sent by email or text message, and the tenants' daily count of text messages. */
export interface ApprovalLinkStore {
  /**
   * Stores a new link, only if no link of this channel was issued for the request before (a request is sent by each
   * channel at most once): 'conflict' then, and nothing is stored.
   */
  issue(link: ApprovalLink): Promise<WriteOutcome>;
  /** The link with this hash, or undefined (unknown, or its request expired). */
  find(hash: string): Promise<ApprovalLink | undefined>;
  /**
   * Counts one text message against the tenant's daily cap (UTC day `day`, `YYYY-MM-DD`) in one conditional write:
   * false, and nothing counted, when `cap` messages were already sent that day.
   */
  countText(tenantId: string, day: string, cap: number): Promise<boolean>;
}

/** Every persistence port, as an adapter provides them (spread into Deps). */
export interface StorePorts {
  tenants: TenantStore;
  keysets: KeysetStore;
  clients: ClientStore;
  users: UserStore;
  rateWindows: RateWindowStore;
  shields: ReportShieldStore;
  devices: DeviceStore;
  pushChannels: PushChannelStore;
  passkeys: PasskeyStore;
  deviceProofs: DeviceProofStore;
  replay: ReplayGuard;
  requests: RequestStore;
  polls: PollStore;
  decisions: DecisionStore;
  callbacks: CallbackLedger;
  tickets: TicketStore;
  refreshTokens: RefreshTokenStore;
  revocations: RevocationStore;
  quotas: QuotaStore;
  admission: AdmissionStore;
  links: ApprovalLinkStore;
}
