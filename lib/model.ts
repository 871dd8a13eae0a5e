/**
 * Domain records. Every time is epoch milliseconds; the wire shows epoch seconds.
 * Storage attribute names (snake_case) live in the DynamoDB adapter only.
 */

/** Token lifetimes (lib/oauth/tokens.ts mints them; lib/keyset.ts keeps a key published while its tokens live). */
export const ACCESS_TOKEN_TTL_SECONDS = 3600;
export const ID_TOKEN_TTL_SECONDS = 3600;

export const CIBA_GRANT_TYPE = 'urn:openid:params:grant-type:ciba';
export const REFRESH_TOKEN_GRANT_TYPE = 'refresh_token';

export type DeliveryMode = 'poll' | 'ping' | 'push';
export type SigningAlg = 'ES256' | 'PS256' | 'RS256';
/**
 * How a tenant's signing key is kept (docs/deploy.md "Signing keys"): `wrapped` (default), a key pair generated for the
 * tenant whose private half is stored only encrypted under the deployment's KMS key and signs in memory; `kms`, a KMS
 * asymmetric key of the tenant's own whose private half never leaves KMS (a KMS Sign per token). Local mode keeps a
 * generated key either way.
 */
export type KeyMode = 'wrapped' | 'kms';

export interface TenantSettings {
  displayName: string;
  backchannelExpiresIn: number;
  backchannelMaxExpiresIn: number;
  backchannelPollingInterval: number;
  userRateLimitPerMinute: number;
  bindingMessageRequired: boolean;
  bindingMessageMaxLength: number;
  deliveryModes: DeliveryMode[];
  signingAlg: SigningAlg;
  fapi: boolean;
  developmentMode: boolean;
  /** Ping/push callbacks: attempts in all, the first included (absent on tenants stored before it existed). */
  callbackMaxAttempts?: number;
  /** Ping/push callbacks: no attempt starts later than this many seconds after the first one. */
  callbackMaxAgeSeconds?: number;
  /** Anti-phishing: the device must type the binding message the consumption device shows (number matching). */
  bindingCodeConfirmation?: boolean;
  /** `passkey`: approving needs a WebAuthn assertion with user verification by a passkey registered on the device. */
  userVerification?: 'none' | 'passkey';
  /** Web Push (RFC 8030/8292) for web authenticators; the private key is never returned by the admin API. */
  webPush?: WebPushSettings;
  /** The operator console (`{issuer}/console`) acts as this client; off when unset (local mode defaults to demo-client). */
  consoleClientId?: string;
  /** RFC 8705 §5: the base URL of the mutual-TLS host (mtls_endpoint_aliases); mTLS client auth is advertised with it. */
  mtlsBaseUrl?: string;
  /** Issuers (other than the client itself) whose signed login_hint_token this tenant trusts. */
  loginHintTokenIssuers?: TrustedTokenIssuer[];
  /** RFC 9396: the authorization_details types this tenant accepts, each with the JSON schema of its objects. */
  authorizationDetailsTypes?: Record<string, Record<string, unknown>>;
  /** Refresh token lifetime in seconds (sliding: each rotation starts a new lifetime); default 30 days. */
  refreshTokenTtlSeconds?: number;
  /** Backchannel requests a client may make per minute (abuseLimits has the default). */
  clientRateLimitPerMinute?: number;
  /** Backchannel requests the whole tenant accepts per minute. */
  tenantRateLimitPerMinute?: number;
  /** Requests that may be pending at once in the tenant (Auth0's limit is 5,000), counted conservatively. */
  maxPendingRequests?: number;
  /** How the signing key is kept; absent means `wrapped`. Changing it rotates to a key of the new mode. */
  keyMode?: KeyMode;
  /**
   * AWS: the SNS platform applications of the tenant (APNs, FCM), made from credentials in Secrets Manager that these
   * name (never the credentials themselves). Change `version` after rotating a secret so that SNS gets the new ones.
   */
  pushCredentials?: PushCredentials;
  /** Seconds a client the user reported may not ask them again (lib/ciba/report-shield.ts has the default). */
  reportShieldSeconds?: number;
  /**
   * How the service reaches a user (lib/ciba/channels.ts): `device` (the enrolled devices), `email` and `sms`
   * (a one-time approval link to the user's `email` or `phone_number`), in the order they are tried. Absent: device.
   */
  channels?: Channel[];
  /** Seconds after which a request still pending is also sent by the tenant's next channel, once; absent: never. */
  channelFallbackSeconds?: number;
  /** Text messages (approval links by SMS) the tenant sends per UTC day at most; absent: DEFAULT_SMS_DAILY_LIMIT. */
  smsDailyLimit?: number;
}

/** A way to reach a user: their enrolled devices, or a one-time approval link by email or text message. */
export type Channel = 'device' | 'email' | 'sms';

/** The channels that send a one-time approval link (lib/ciba/approval-links.ts). */
export type LinkChannel = Exclude<Channel, 'device'>;

export interface PushCredentialsRef {
  /** The Secrets Manager secret (name or ARN) holding the credentials (format: docs/deploy.md). */
  secret: string;
  version: string;
}

export interface PushCredentials {
  apns?: PushCredentialsRef & { sandbox: boolean };
  fcm?: PushCredentialsRef;
}

/** The abuse-control limits of a tenant, with their defaults (SECURITY.md). */
export const abuseLimits = (
  settings: TenantSettings,
): { clientPerMinute: number; tenantPerMinute: number; maxPending: number } => ({
  clientPerMinute: settings.clientRateLimitPerMinute ?? 600,
  tenantPerMinute: settings.tenantRateLimitPerMinute ?? 3000,
  maxPending: settings.maxPendingRequests ?? 5000,
});

/** Wrong user_codes from one client for one user after which that client's user_codes for the user are refused. */
export const USER_CODE_MAX_FAILURES = 5;
/** Wrong user_codes for one user, from every client together, after which every user_code for the user is refused. */
export const USER_CODE_MAX_FAILURES_PER_USER = 20;
export const USER_CODE_LOCKOUT_SECONDS = 900;

/** An issuer of login_hint_token JWTs a tenant trusts, with its public keys. */
export interface TrustedTokenIssuer {
  issuer: string;
  jwks: { keys: JsonWebKeyPublic[] };
}

export interface WebPushSettings {
  /** VAPID `sub` (RFC 8292 §2.1): a mailto: or https: contact. */
  subject: string;
  vapidPublicKey: string;
  vapidPrivateKey: string;
}

/** Wrong binding codes after which a request is denied. */
export const BINDING_CODE_MAX_ATTEMPTS = 3;

/**
 * Hardening rule 7, deleting something ends everything it issued: each creation of a tenant or registration of a
 * client gets a new random `generation`, and every grant (auth request, refresh token, access token) carries the
 * generations it was earned under. A grant whose generations are not the current ones (the client or tenant was
 * deleted, perhaps created again under the same id) is dead. Absent on records from before it existed: such a
 * grant matches such a record only.
 */
export interface GrantBinding {
  tenantGeneration?: string;
  clientGeneration?: string;
}

export interface Tenant {
  tenantId: string;
  /** Hardening rule 7: new at every creation of the tenant id (GrantBinding). */
  generation?: string;
  settings: TenantSettings;
  /**
   * `deployment`: the tenant comes from the deployment's tenants file, which decides its settings (the admin API
   * refuses to change or delete it); absent: managed through the admin API.
   */
  provisionedBy?: 'deployment';
  /**
   * The tenant is being deleted (the deletion's first step): the stores' `get` no longer finds it, so nothing of it
   * works, while the rest of its items go (TenantStore.delete).
   */
  deleting?: boolean;
  createdAt: number;
  updatedAt: number;
}

export const DEFAULT_TENANT_SETTINGS: TenantSettings = {
  displayName: '',
  backchannelExpiresIn: 300,
  backchannelMaxExpiresIn: 300,
  backchannelPollingInterval: 5,
  userRateLimitPerMinute: 5,
  bindingMessageRequired: false,
  bindingMessageMaxLength: 64,
  deliveryModes: ['poll', 'ping'],
  signingAlg: 'ES256',
  fapi: false,
  developmentMode: false,
  callbackMaxAttempts: 20,
  callbackMaxAgeSeconds: 86_400,
};

/** The callback retry policy of a tenant, with the defaults for settings stored before it existed. */
export const callbackPolicy = (settings: TenantSettings): { maxAttempts: number; maxAgeSeconds: number } => ({
  maxAttempts: settings.callbackMaxAttempts ?? 20,
  maxAgeSeconds: settings.callbackMaxAgeSeconds ?? 86_400,
});

export type ClientAuthMethod =
  | 'client_secret_basic'
  | 'client_secret_post'
  | 'client_secret_jwt'
  | 'private_key_jwt'
  | 'tls_client_auth'
  | 'self_signed_tls_client_auth';

/** RFC 8705 §2.1.2: the one certificate field a tls_client_auth client registered. */
export interface TlsClientAuthMatch {
  subjectDn?: string;
  sanDns?: string;
  sanUri?: string;
  sanIp?: string;
  sanEmail?: string;
}

export interface Client {
  tenantId: string;
  clientId: string;
  /** Hardening rule 7: new at every registration of the client id (GrantBinding). */
  generation?: string;
  clientName: string;
  /** SHA-256 (base64url) of the client secret; the secret itself is never stored. */
  secretHash: string;
  tokenEndpointAuthMethod: ClientAuthMethod;
  grantTypes: string[];
  /** Space-separated scopes the client may request; absent means every scope the tenant supports. */
  scope?: string;
  backchannelTokenDeliveryMode: DeliveryMode;
  backchannelClientNotificationEndpoint?: string;
  backchannelUserCodeParameter: boolean;
  /** The client's public keys (private_key_jwt, self_signed_tls_client_auth, signed requests): inline or by URL. */
  jwks?: { keys: JsonWebKeyPublic[] };
  jwksUri?: string;
  /** RFC 7591: the only `alg` its client assertions may use, when registered. */
  tokenEndpointAuthSigningAlg?: string;
  tlsClientAuth?: TlsClientAuthMatch;
  /** CIBA §4: the `alg` of its signed authentication requests; absent means it sends none. */
  backchannelAuthenticationRequestSigningAlg?: string;
  /** RFC 9396 §10.1: the authorization_details types it may use; absent means all of the tenant's. */
  authorizationDetailsTypes?: string[];
  /** The FAPI-CIBA profile for this client alone (a FAPI tenant applies it to every client). */
  fapi?: boolean;
  /**
   * client_secret_jwt: the random salt its secret is derived from with the tenant's HMAC key (lib/oauth/client-secret-jwt.ts).
   * Useless without that key; the derived secret itself is never stored.
   */
  secretSalt?: string;
  createdAt: number;
}

export interface UserClaims {
  name?: string;
  given_name?: string;
  family_name?: string;
  middle_name?: string;
  nickname?: string;
  preferred_username?: string;
  profile?: string;
  picture?: string;
  website?: string;
  email?: string;
  email_verified?: boolean;
  gender?: string;
  birthdate?: string;
  zoneinfo?: string;
  locale?: string;
  phone_number?: string;
  phone_number_verified?: boolean;
  address?: Record<string, string>;
  updated_at?: number;
}

export interface DeviceSummary {
  deviceId: string;
  name: string;
  createdAt: number;
  push?: DevicePush;
}

export type DevicePush =
  | { type: 'webhook'; url: string; disabled?: boolean }
  | { type: 'apns' | 'apns_sandbox' | 'fcm'; token: string; endpointArn?: string; disabled?: boolean }
  | { type: 'webpush'; subscription: WebPushSubscription; disabled?: boolean };

/** A browser PushSubscription as `toJSON()` gives it. */
export interface WebPushSubscription {
  endpoint: string;
  expirationTime?: number | null;
  keys: { p256dh: string; auth: string };
}

/** A WebAuthn credential (passkey) registered on a device for user verification. */
export interface DevicePasskey {
  credentialId: string;
  /** COSE public key, base64url. */
  publicKey: string;
  counter: number;
  transports?: string[];
  createdAt: number;
}

export interface User {
  tenantId: string;
  sub: string;
  claims: UserClaims;
  /** The user's CIBA user_code as an HMAC under the tenant's key (lib/ciba/user-code.ts), when one is set. */
  userCodeMac?: string;
  /** A user_code stored before hardening rule 12, as a bare SHA-256 (base64url): rewritten as `userCodeMac` on use. */
  userCodeHash?: string;
  /** The user's enrolled devices, kept on the user record so that one read serves hint resolution and notification. */
  devices: DeviceSummary[];
  /** Clients the user reported, with the epoch ms until which each may not ask them (lapsed entries may remain). */
  reportShields?: Record<string, number>;
  createdAt: number;
  updatedAt: number;
}

export interface Device {
  tenantId: string;
  /** The RFC 7638 thumbprint of the device's public key. */
  deviceId: string;
  sub: string;
  name: string;
  publicJwk: JsonWebKeyPublic;
  push?: DevicePush;
  /** The passkey registered for user verification (tenants with `userVerification: 'passkey'`). */
  passkey?: DevicePasskey;
  createdAt: number;
}

/**
 * A tenant's keys (lib/keyset.ts owns the rules): the token signing keys, the newest active one signing and
 * every one still needed for verification published, and the MAC keys (client_secret_jwt secrets, user-code MACs,
 * sealed push responses), never published.
 */
export interface TenantKeyset {
  tenantId: string;
  signing: SigningKeyRecord[];
  mac: MacKeyRecord[];
  createdAt: number;
  updatedAt: number;
}

export interface SigningKeyRecord {
  /** RFC 7638 thumbprint of the public key. */
  kid: string;
  alg: SigningAlg;
  mode: KeyMode;
  publicJwk: JsonWebKeyPublic;
  createdAt: number;
  /** The key signs from this moment on; published from its creation (a rotation publishes before it signs). */
  activeFrom: number;
  /** wrapped: the private JWK, sealed (KMS ciphertext in AWS, `plain:` in local mode). */
  sealed?: string;
  /** kms: the ARN of the KMS key. */
  kmsKeyId?: string;
}

/** What the admin API shows of a key (never the sealed private half). */
export interface SigningKeyView {
  kid: string;
  alg: SigningAlg;
  key_mode: KeyMode;
  status: 'current' | 'next' | 'previous';
  created_at: number;
  active_from: number;
  /** Epoch seconds; absent while the key has no successor. */
  published_until?: number;
}

export interface MacKeyRecord {
  /** Values keyed with it carry this id (`{id}.{value}`), so they verify after the current key changes. */
  id: string;
  mode: KeyMode;
  createdAt: number;
  /** wrapped: the 256-bit secret, sealed like a signing key's private half. */
  sealed?: string;
  /** kms: an HMAC_256 KMS key (the per-tenant key of deployments before keysets). */
  kmsKeyId?: string;
  /**
   * The key values without a key id were made with (the tenant's key from before keysets): used to verify those only,
   * while any other key exists.
   */
  legacy?: boolean;
}

export interface JsonWebKeyPublic {
  kty: string;
  crv?: string;
  x?: string;
  y?: string;
  n?: string;
  e?: string;
  [k: string]: unknown;
}

/** `reported`: denied by the user with "I did not ask for this" (the client gets access_denied, as for a denial). */
export type AuthRequestStatus = 'pending' | 'approved' | 'denied' | 'reported';
/** The statuses a decision writes: every one but `pending` (a reported request is a denial to the client). */
export const DECIDED_STATUSES = ['approved', 'denied', 'reported'] as const satisfies readonly Exclude<
  AuthRequestStatus,
  'pending'
>[];

/** One POST to the client's notification endpoint: the HTTP status it answered, or why there was none. */
export interface CallbackAttempt {
  attempt: number;
  at: number;
  status?: number;
  error?: string;
}

export type CallbackState = 'pending' | 'delivered' | 'dead_lettered';

/** Delivery history of a ping or push request's callback (never the body or the bearer token). */
export interface CallbackStatus {
  state: CallbackState;
  attempts: CallbackAttempt[];
  deliveredAt?: number;
  deadLetterReason?: string;
}

export interface DecisionEvidence {
  /** The DPoP proof (a JWS by the device key) that carried the decision; absent when the client cancelled. */
  proof?: string;
  /** The device that decided; absent when the client cancelled. */
  deviceId?: string;
  decision: 'approve' | 'deny' | 'report';
  receivedAt: number;
  /** The approval carried a verified WebAuthn assertion with user verification (the ID token's acr says so). */
  userVerified?: boolean;
  /** The WebAuthn assertion (JSON) that verified the user, kept as evidence. */
  assertion?: string;
  /** The service denied the request itself (too many wrong binding codes), or the client withdrew it. */
  reason?: string;
  /** `client`: the client withdrew its own pending request (the operator console's Cancel). */
  cancelledBy?: 'client';
  /** The decision came through a one-time approval link sent by this channel (lib/ciba/approval-links.ts). */
  channel?: 'email' | 'sms';
  /** An approval link's passkey confirmation: the user's device whose passkey made the assertion (`assertion`). */
  passkeyDeviceId?: string;
  /** The browser that opened the approval link, as it named itself, and its address as the edge saw it. */
  userAgent?: string;
  sourceIp?: string;
}

/** A labelled value the device shows. */
export interface DisplayField {
  label: string;
  value: string;
}

/**
 * What the device shows for one `authorization_details` element: rendered by the service from the type's display
 * template, or generically (lib/oauth/display-template.ts); every string is safe to show (hardening rule 5).
 */
export interface DetailDisplay {
  type: string;
  title: string;
  fields: DisplayField[];
}

/** What a request asks the user for: to confirm who they are, or to approve a transaction (authorization_details). */
export type RequestKind = 'identity_check' | 'transaction';

export interface AuthRequest extends GrantBinding {
  /** The device-facing transaction id; also the storage key. The `auth_req_id` is `{txn}.{secret}`. */
  txn: string;
  authReqId: string;
  tenantId: string;
  clientId: string;
  sub: string;
  /** The user's claims released by `scope`, taken when the request was admitted: tokens need no second read. */
  claims: Record<string, unknown>;
  scope: string;
  acrValues?: string;
  bindingMessage?: string;
  authorizationDetails?: unknown[];
  /** The device's rendering of `authorizationDetails`, made (and checked) at bc-authorize, in the same order. */
  display?: DetailDisplay[];
  deliveryMode: DeliveryMode;
  clientNotificationToken?: string;
  status: AuthRequestStatus;
  createdAt: number;
  expiresAt: number;
  /**
   * When the channel fallback's timer fires (epoch ms; docs/channels.md): set when the request is created for a user
   * the tenant's next channel reaches, within its lifetime. Local mode re-arms the timer from it after a restart.
   */
  fallbackAt?: number;
  /** Polling interval in seconds, including every slow_down penalty. */
  interval: number;
  lastPolledAt?: number;
  /** Present on an approved request until the one poll that redeems it removes it. */
  grantPending?: boolean;
  decidedAt?: number;
  authTime?: number;
  evidence?: DecisionEvidence;
  redeemedAt?: number;
  /** The issuer the client addressed at bc-authorize: tokens minted later (push) carry it. */
  /** RFC 8705: the client's certificate thumbprint, when the push-mode tokens must be bound to it. */
  certificateThumbprint?: string;
  issuer?: string;
  /** Ping and push: the callback's delivery history. */
  callback?: CallbackStatus;
  /**
   * Push: the token response minted at delivery time, kept until it is delivered (or dead-lettered) so a
   * retry resends the same tokens instead of minting a second set. Sealed (a JWE, lib/ciba/push-response.ts):
   * tokens are never stored in plain text (hardening rule 12).
   */
  sealedPushResponse?: string;
  /** Wrong binding codes typed on the device so far (binding-code confirmation). */
  bindingCodeAttempts?: number;
}

/** A view of an auth request for the device: no auth_req_id, no client secrets or notification token. */
export interface DeviceTransaction {
  txn: string;
  client_id: string;
  client_name: string;
  binding_message?: string;
  scope: string;
  acr_values?: string;
  authorization_details?: unknown[];
  /** `transaction` when the request carries authorization_details; the screen is titled by it. */
  kind: RequestKind;
  /** What to show for each authorization_details element, in order: a title and labelled fields. */
  display?: DetailDisplay[];
  created_at: number;
  expires_at: number;
  /** Binding-code confirmation: the device must type the code shown by the consumption device (the message is withheld). */
  binding_code_required?: boolean;
  /** User verification: approving needs a WebAuthn assertion; these are the options for `navigator.credentials.get`. */
  webauthn?: {
    challenge: string;
    rpId: string;
    allowCredentials: { id: string; type: 'public-key'; transports?: string[] }[];
    userVerification: 'required';
    timeout: number;
  };
}

/** A refresh token, stored by the SHA-256 of the token (the token itself is never stored). */
export interface RefreshTokenRecord extends GrantBinding {
  tokenHash: string;
  /** Every token rotated from the same grant shares it: a replayed token revokes the whole family. */
  familyId: string;
  tenantId: string;
  clientId: string;
  sub: string;
  scope: string;
  /** Epoch milliseconds of the user's approval (the ID token's and access token's auth_time). */
  authTime: number;
  acr?: string;
  authorizationDetails?: unknown[];
  createdAt: number;
  expiresAt: number;
  /** Set once, by the rotation that replaced it. */
  usedAt?: number;
}

/** Revocation records: a refresh-token family, or one access token by its `jti`. */
export type RevocationKind = 'refresh_family' | 'access_token';
