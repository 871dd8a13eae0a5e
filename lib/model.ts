/**
 * Domain records. Every time is epoch milliseconds; the wire shows epoch seconds.
 * Storage attribute names (snake_case) live in the DynamoDB adapter only.
 */

export const CIBA_GRANT_TYPE = 'urn:openid:params:grant-type:ciba';
export const REFRESH_TOKEN_GRANT_TYPE = 'refresh_token';

export type DeliveryMode = 'poll' | 'ping' | 'push';
export type SigningAlg = 'ES256' | 'PS256' | 'RS256';

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
}

export interface Tenant {
  tenantId: string;
  settings: TenantSettings;
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
};

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post';

export interface Client {
  tenantId: string;
  clientId: string;
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
  | { type: 'apns' | 'apns_sandbox' | 'fcm'; token: string; endpointArn?: string; disabled?: boolean };

export interface User {
  tenantId: string;
  sub: string;
  claims: UserClaims;
  /** SHA-256 (base64url) of the user's CIBA user_code, when one is set. */
  userCodeHash?: string;
  /** The user's enrolled devices, kept on the user record so that one read serves hint resolution and notification. */
  devices: DeviceSummary[];
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
  createdAt: number;
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

export type AuthRequestStatus = 'pending' | 'approved' | 'denied';

export interface DecisionEvidence {
  /** The DPoP proof (a JWS by the device key) that carried the decision. */
  proof: string;
  deviceId: string;
  decision: 'approve' | 'deny';
  receivedAt: number;
}

export interface AuthRequest {
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
  deliveryMode: DeliveryMode;
  clientNotificationToken?: string;
  status: AuthRequestStatus;
  createdAt: number;
  expiresAt: number;
  /** Polling interval in seconds, including every slow_down penalty. */
  interval: number;
  lastPolledAt?: number;
  /** Present on an approved request until the one poll that redeems it removes it. */
  grantPending?: boolean;
  decidedAt?: number;
  authTime?: number;
  evidence?: DecisionEvidence;
  redeemedAt?: number;
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
  created_at: number;
  expires_at: number;
}
