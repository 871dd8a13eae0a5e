import type {
  AuthRequest,
  CallbackAttempt,
  CallbackStatus,
  Client,
  DecisionEvidence,
  Device,
  DevicePasskey,
  DevicePush,
  DeviceSummary,
  MacKeyRecord,
  RefreshTokenRecord,
  SigningKeyRecord,
  Tenant,
  TenantKeyset,
  User,
} from '../../model.ts';
import type { ApprovalLink } from '../../persistence.ts';
import type { DeadLetterRecord, StoredSigningKey } from '../../ports.ts';
import type { Raw } from './expression.ts';
import { proofAttribute } from './proof-bytes.ts';

/**
 * One schema per stored record: a field table (domain field → storage attribute, snake_case) from which both
 * directions are derived, so a field cannot be written under one name and read under another.
 */
type Field =
  | string
  | {
      attr: string;
      /** A nested record with its own table. */
      map?: ItemMapper<object>;
      /** A list of nested records. */
      list?: ItemMapper<object>;
      /** Read as this when absent. */
      absent?: unknown;
      /** Kept only when true (absent otherwise). */
      flag?: true;
      /** Stored in another form (both directions; the read also takes the plain form). */
      codec?: { toItem(value: unknown): unknown; fromItem(stored: unknown): unknown };
    };

export interface ItemMapper<T> {
  toItem(value: T): Raw;
  fromItem(raw: Raw): T;
  /** The storage attribute of a domain field (for update expressions). */
  attr(field: keyof T & string): string;
}

export const itemMapper = <T extends object>(fields: { [K in keyof T]-?: Field }): ItemMapper<T> => {
  const table = Object.entries(fields as Record<string, Field>).map(([field, spec]) =>
    typeof spec === 'string' ? { field, attr: spec } : { field, ...spec },
  );
  return {
    toItem(value) {
      const raw: Raw = {};
      for (const { field, attr, map, list, flag, codec } of table) {
        const v = (value as Record<string, unknown>)[field];
        if (v === undefined || (flag && v !== true)) continue;
        raw[attr] = map
          ? map.toItem(v as object)
          : list
            ? (v as object[]).map((e) => list.toItem(e))
            : codec
              ? codec.toItem(v)
              : v;
      }
      return raw;
    },
    fromItem(raw) {
      const value: Record<string, unknown> = {};
      for (const { field, attr, map, list, absent, flag, codec } of table) {
        let v = raw[attr];
        if (flag) v = v === true ? true : undefined;
        else if (v === undefined) v = absent;
        else if (map) v = map.fromItem(v);
        else if (list) v = (v as Raw[]).map((e) => list.fromItem(e));
        else if (codec) v = codec.fromItem(v);
        if (v !== undefined) value[field] = v;
      }
      return value as T;
    },
    attr: (field) => {
      const spec = (fields as Record<string, Field>)[field]!;
      return typeof spec === 'string' ? spec : spec.attr;
    },
  };
};

type PushFields = {
  type: string;
  url?: string;
  subscription?: unknown;
  token?: string;
  endpointArn?: string;
  disabled?: boolean;
};
export const pushItem = itemMapper<PushFields>({
  type: 'type',
  url: 'url',
  subscription: 'subscription',
  token: 'token',
  endpointArn: 'endpoint_arn',
  disabled: 'disabled',
}) as unknown as ItemMapper<DevicePush>;

export const summaryItem = itemMapper<DeviceSummary>({
  deviceId: 'device_id',
  name: 'name',
  createdAt: 'created_at',
  push: { attr: 'push', map: pushItem },
});

export const passkeyItem = itemMapper<DevicePasskey>({
  credentialId: 'credential_id',
  publicKey: 'public_key',
  counter: { attr: 'counter', absent: 0 },
  transports: 'transports',
  createdAt: 'created_at',
});

export const tenantItem = itemMapper<Tenant>({
  tenantId: 'tenant_id',
  generation: 'generation',
  settings: 'settings',
  provisionedBy: 'provisioned_by',
  deleting: { attr: 'deleting', flag: true },
  createdAt: 'created_at',
  updatedAt: 'updated_at',
});

export const clientItem = itemMapper<Client>({
  tenantId: 'tenant_id',
  clientId: 'client_id',
  generation: 'generation',
  clientName: 'client_name',
  secretHash: 'secret_hash',
  tokenEndpointAuthMethod: 'token_endpoint_auth_method',
  grantTypes: { attr: 'grant_types', absent: [] },
  scope: 'scope',
  backchannelTokenDeliveryMode: 'backchannel_token_delivery_mode',
  backchannelClientNotificationEndpoint: 'backchannel_client_notification_endpoint',
  backchannelUserCodeParameter: { attr: 'backchannel_user_code_parameter', absent: false },
  jwks: 'jwks',
  jwksUri: 'jwks_uri',
  tokenEndpointAuthSigningAlg: 'token_endpoint_auth_signing_alg',
  tlsClientAuth: 'tls_client_auth',
  backchannelAuthenticationRequestSigningAlg: 'backchannel_authentication_request_signing_alg',
  authorizationDetailsTypes: 'authorization_details_types',
  fapi: 'fapi',
  secretSalt: 'secret_salt',
  createdAt: 'created_at',
});

export const userItem = itemMapper<User>({
  tenantId: 'tenant_id',
  sub: 'sub',
  claims: { attr: 'claims', absent: {} },
  userCodeMac: 'user_code_mac',
  userCodeHash: 'user_code_hash',
  devices: { attr: 'devices', list: summaryItem, absent: [] },
  // Client id → epoch ms until which that client is shielded (users.ts: the admission gate reads it).
  reportShields: 'report_shields',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
});

export const deviceItem = itemMapper<Device>({
  tenantId: 'tenant_id',
  deviceId: 'device_id',
  sub: 'sub',
  name: 'name',
  publicJwk: 'public_jwk',
  push: { attr: 'push', map: pushItem },
  passkey: { attr: 'passkey', map: passkeyItem },
  createdAt: 'created_at',
});

export const signingKeyItem = itemMapper<StoredSigningKey>({
  kid: 'kid',
  alg: 'alg',
  privateJwk: 'private_jwk',
  createdAt: 'created_at',
});

const signingKeyRecordItem = itemMapper<SigningKeyRecord>({
  kid: 'kid',
  alg: 'alg',
  mode: 'mode',
  publicJwk: 'public_jwk',
  createdAt: 'created_at',
  activeFrom: 'active_from',
  sealed: 'sealed',
  kmsKeyId: 'kms_key_id',
});

const macKeyRecordItem = itemMapper<MacKeyRecord>({
  id: 'id',
  mode: 'mode',
  createdAt: 'created_at',
  sealed: 'sealed',
  kmsKeyId: 'kms_key_id',
  legacy: 'legacy',
});

/** A tenant's keys: the directory item `T#{tenant}` / `KEYS`. */
export const keysetItem = itemMapper<TenantKeyset>({
  tenantId: 'tenant_id',
  signing: { attr: 'signing', list: signingKeyRecordItem, absent: [] },
  mac: { attr: 'mac', list: macKeyRecordItem, absent: [] },
  createdAt: 'created_at',
  updatedAt: 'updated_at',
});

const evidenceFields = itemMapper<DecisionEvidence>({
  // As bytes (lib/adapters/dynamodb/proof-bytes.ts): keeps a decided request under 1 KB; text items read as before.
  proof: { attr: 'proof', codec: proofAttribute },
  deviceId: 'device_id',
  decision: 'decision',
  receivedAt: 'received_at',
  userVerified: 'user_verified',
  assertion: 'assertion',
  reason: 'reason',
  cancelledBy: 'cancelled_by',
  channel: 'channel',
  passkeyDeviceId: 'passkey_device_id',
  userAgent: 'user_agent',
  sourceIp: 'source_ip',
});

/**
 * A decision's evidence. The proof's bytes in format 2 (proof-bytes.ts) are kept under `dpop`, text and format 1
 * (written by the release before) under `proof`, both read: the release before reads `proof` only and cannot decode
 * format 2, which would fail the read of the whole request (its redemption, its callback); after a rollback it reads a
 * request decided meanwhile as one whose evidence has no proof (the operator view's `signed_proof` absent).
 */
export const evidenceItem: ItemMapper<DecisionEvidence> = {
  toItem(value) {
    const { proof, ...raw } = evidenceFields.toItem(value);
    if (proof instanceof Uint8Array) return { ...raw, dpop: proof };
    return proof === undefined ? raw : { ...raw, proof };
  },
  fromItem(raw) {
    const { dpop, ...rest } = raw;
    return evidenceFields.fromItem(dpop === undefined ? rest : { ...rest, proof: dpop });
  },
  attr: evidenceFields.attr,
};

export const attemptItem = itemMapper<CallbackAttempt>({
  attempt: 'attempt',
  at: 'at',
  status: 'status',
  error: 'error',
});

export const callbackItem = itemMapper<CallbackStatus>({
  state: 'state',
  attempts: { attr: 'attempts', list: attemptItem, absent: [] },
  deliveredAt: 'delivered_at',
  deadLetterReason: 'dead_letter_reason',
});

export const requestItem = itemMapper<AuthRequest>({
  txn: 'txn',
  authReqId: 'auth_req_id',
  tenantId: 'tenant_id',
  clientId: 'client_id',
  sub: 'sub',
  claims: { attr: 'claims', absent: {} },
  scope: 'scope',
  acrValues: 'acr_values',
  bindingMessage: 'binding_message',
  authorizationDetails: 'authorization_details',
  display: 'display',
  deliveryMode: 'delivery_mode',
  clientNotificationToken: 'client_notification_token',
  status: 'status',
  createdAt: 'created_at',
  expiresAt: 'expires_at',
  fallbackAt: 'fallback_at',
  interval: 'interval',
  lastPolledAt: 'last_polled_at',
  grantPending: { attr: 'grant_pending', flag: true },
  decidedAt: 'decided_at',
  authTime: 'auth_time',
  evidence: { attr: 'evidence', map: evidenceItem },
  redeemedAt: 'redeemed_at',
  issuer: 'issuer',
  certificateThumbprint: 'certificate_thumbprint',
  callback: { attr: 'callback', map: callbackItem },
  // The sealed token response (a JWE string), resent as it was minted.
  sealedPushResponse: 'push_response',
  bindingCodeAttempts: 'binding_code_attempts',
  tenantGeneration: 'tenant_generation',
  clientGeneration: 'client_generation',
});

export const refreshTokenItem = itemMapper<RefreshTokenRecord>({
  tokenHash: 'token_hash',
  familyId: 'family_id',
  tenantId: 'tenant_id',
  clientId: 'client_id',
  sub: 'sub',
  scope: 'scope',
  authTime: 'auth_time',
  acr: 'acr',
  authorizationDetails: 'authorization_details',
  createdAt: 'created_at',
  expiresAt: 'expires_at',
  usedAt: 'used_at',
  tenantGeneration: 'tenant_generation',
  clientGeneration: 'client_generation',
});

export const deadLetterItem = itemMapper<DeadLetterRecord>({
  tenantId: 'tenant_id',
  txn: 'txn',
  clientId: 'client_id',
  deliveryMode: 'delivery_mode',
  kind: 'kind',
  endpoint: 'endpoint',
  reason: 'reason',
  attempts: { attr: 'attempts', list: attemptItem },
  failedAt: 'failed_at',
});

/** An approval link, `LINK#{hash}` in the ledger (the hash is the key, not an attribute). */
export const approvalLinkItem = itemMapper<Omit<ApprovalLink, 'hash'>>({
  tenantId: 'tenant_id',
  txn: 'txn',
  sub: 'sub',
  channel: 'channel',
  createdAt: 'created_at',
  expiresAt: 'expires_at',
});
