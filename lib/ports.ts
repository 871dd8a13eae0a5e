import type {
  CallbackAttempt,
  DevicePush,
  DeviceSummary,
  JsonWebKeyPublic,
  KeyMode,
  LinkChannel,
  PushCredentials,
  SigningAlg,
  SigningKeyView,
} from './model.ts';
import type { StorePorts } from './persistence.ts';

export type { WriteOutcome } from './persistence.ts';

/** A local mode key in the layout before keysets (one directory item per key), read once to import it into a keyset. */
export interface StoredSigningKey {
  kid: string;
  /** `HS256`: the tenant's HMAC key, never published. */
  alg: SigningAlg | 'HS256';
  /** Private JWK; `k` for the HMAC key. */
  privateJwk: JsonWebKeyPublic & { d?: string; k?: string };
  createdAt: number;
}

/**
 * Local mode's keys of the layout before keysets (lib/local/local-store.ts: the DynamoDB adapter's local module), which
 * local mode's key adapter imports into a keyset once (lib/adapters/tenant-keys.ts).
 */
export interface SigningKeyStore {
  getSigningKeys(tenantId: string): Promise<StoredSigningKey[]>;
}

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
  /**
   * Withdraws the event scheduled for later (the same type, tenant and detail) that has not run yet: true when there
   * was one, false when there is none (never set, run, or withdrawn already).
   */
  cancel(event: CibaEvent): Promise<boolean>;
}

/**
 * Decisions whose `CIBA Request Decided` could not be published (bus and scheduler both failing), handed on to be
 * published again later: in AWS a message on the decision-retries queue, which the events function consumes and whose
 * dead letters (the decision-failures queue) are the same messages, each with its tenant.
 */
export interface DecisionRetries {
  /** Hands the event on; throws when it could not be (then the carrier keeps it: the stream retries its record). */
  hand(event: CibaEvent): Promise<void>;
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

/** A message carrying an approval link (lib/ciba/approval-links.ts). `text` holds the link: it is never logged. */
export interface ChannelMessage {
  channel: LinkChannel;
  /** An email address or an E.164 phone number. */
  to: string;
  tenantId: string;
  txn: string;
  subject: string;
  text: string;
}

/** Sends approval links by email and text message (SES and SNS in AWS, the development mailbox locally). */
export interface ChannelSender {
  send(message: ChannelMessage): Promise<void>;
}

export interface EventBus {
  publish(events: CibaEvent[]): Promise<void>;
}

/**
 * A tenant's keys (lib/keyset.ts has the rules; docs/deploy.md "Signing keys"): token signing keys (`wrapped`:
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
   * (lib/keyset.ts withKeyId), so that it still verifies when the current key changes. Never published.
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

/** Every port the core uses; each operation and handler takes only the ones it uses (`Pick<Deps, ...>`). */
export interface Deps extends StorePorts {
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
  /** Approval links by email and text message. */
  sender: ChannelSender;
}
