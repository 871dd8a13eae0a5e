import type { CallbackAttempt, DevicePush, DeviceSummary, JsonWebKeyPublic, SigningAlg } from './model.ts';
import type { StorePorts, WriteOutcome } from './persistence.ts';

export type { WriteOutcome } from './persistence.ts';

/** A signing key of local mode's key adapter (lib/adapters/local-keys.ts), kept in the directory table. */
export interface StoredSigningKey {
  kid: string;
  /** `HS256`: the tenant's HMAC key (lib/adapters/local-keys.ts), never published. */
  alg: SigningAlg | 'HS256';
  /** Private JWK (local mode only; in AWS the private key stays in KMS). `k` for the HMAC key. */
  privateJwk: JsonWebKeyPublic & { d?: string; k?: string };
  createdAt: number;
}

/**
 * Where local mode's key adapter keeps its keys (lib/local/local-store.ts: the DynamoDB adapter's local module). Named
 * `Directory` too, as lib/adapters/local-keys.ts knows it (that file is being rewritten elsewhere; it can take the
 * new name then).
 */
export interface SigningKeyStore {
  getSigningKeys(tenantId: string): Promise<StoredSigningKey[]>;
  putSigningKey(tenantId: string, key: StoredSigningKey): Promise<WriteOutcome>;
}
export type Directory = SigningKeyStore;

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

/** Every port the core uses; each operation and handler takes only the ones it uses (`Pick<Deps, ...>`). */
export interface Deps extends StorePorts {
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
