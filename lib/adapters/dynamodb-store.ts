import {
  type AttributeValue,
  BatchWriteItemCommand,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateItemCommand,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type {
  AuthRequest,
  AuthRequestStatus,
  CallbackAttempt,
  CallbackState,
  CallbackStatus,
  Client,
  DecisionEvidence,
  Device,
  DevicePasskey,
  DevicePush,
  DeviceSummary,
  RefreshTokenRecord,
  RevocationKind,
  Tenant,
  TenantKeyset,
  User,
} from '../model.ts';
import type {
  DeadLetterRecord,
  Store,
  StoredSigningKey,
  TenantAdmission,
  TenantAdmissionOutcome,
  UserAdmissionGate,
  UserAdmissionRefusal,
  WriteOutcome,
} from '../ports.ts';
import { addStoreMiddleware } from './dynamodb-client.ts';
import {
  forClient,
  GATE_PROJECTION,
  gateCondition,
  gateRefusal,
  LIFT_WRITE,
  SHIELD_WRITES,
  SHIELDS,
} from './dynamodb-report-shields.ts';
import { EXPIRY_INDEX, expiryBucket, OPEN_CALLBACK_PARTITION, OPEN_CALLBACKS_INDEX } from './dynamodb-schema.ts';

type Item = Record<string, AttributeValue>;
// biome-ignore lint/suspicious/noExplicitAny: unmarshalled items are untyped until mapped
type Raw = Record<string, any>;

/**
 * Retention of request items (docs/performance.md "Retention"). A request stays readable for an hour after it
 * expires: late polls answer expired_token, operators read its state and delivery history (admin request view). A
 * ping or push request whose callback may still be sent stays until the longest callback_max_age_seconds (a day)
 * after its expiry, and an hour after its callback was delivered or given up (recordCallbackAttempt). The decision's
 * evidence leaves with the request: the lifecycle events on the tenant's bus are the record to keep.
 */
const REQUEST_RETENTION_SECONDS = 3_600;
const CALLBACK_RETENTION_SECONDS = 86_400;
/** cb_until of a callback that stays open until it is finished (the open-callbacks index; sort key). */
const OPEN_UNTIL_FINISHED = Number.MAX_SAFE_INTEGER;
const BATCH_WRITE_MAX = 25;

const FAILED = Symbol('condition-failed');

/** A device's expired proof ids are removed (one extra write) once this many have gathered on its item. */
const PROOF_JTI_PRUNE_AFTER = 8;
const PROOF_JTI_PRUNE_MARGIN_MS = 60_000;
/** Users whose rate window this process remembers (a hint only; cleared when full). */
const USER_WINDOW_HINTS = 10_000;

/** A ping or push request whose callback is not finished, and the callback attempt last claimed (openCallbacks). */
export interface OpenCallback {
  request: AuthRequest;
  /** The attempt last claimed; none yet when absent. */
  claimed?: number;
  /** Present while that attempt runs (or its worker died before finishing it). */
  leaseUntil?: number;
}

/**
 * The per-user budget (admitUserRequest) counts in fixed minutes, the current and the previous one together, so that
 * no 60 s hold more than the limit (one fixed window alone lets twice the limit through around its end). The user's
 * item holds `rl_minute`, `rl_count` (that minute's requests) and `rl_sum` (those plus the previous minute's):
 * conditions cannot add, so the sum is kept. Each write is conditional and counts one request, or nothing.
 */
type UserWindowWrite = 'increment' | 'roll' | 'open';
const USER_WINDOW_ORDER: UserWindowWrite[] = ['increment', 'roll', 'open'];
const USER_WINDOW_WRITES: Record<UserWindowWrite, { update: string; condition: string }> = {
  // One more in the current window. A caller whose clock lags by up to a minute counts in the newer window.
  increment: {
    update: 'SET #rl_count = #rl_count + :one, #rl_sum = #rl_sum + :one',
    condition: '(#rl_minute = :m OR #rl_minute = :next) AND #rl_sum < :limit',
  },
  // The first of a minute that follows a window: the old window's count becomes the previous minute's share
  // (every operand is read before the update).
  roll: {
    update: 'SET #rl_minute = :m, #rl_count = :one, #rl_sum = #rl_count + :one',
    condition: '#rl_minute = :previous AND #rl_count < :limit',
  },
  // The first after a quiet minute or more, or a window further ahead than a lagging clock explains (a clock that
  // was wrong), or an item from before the sum was kept (it counts from here).
  open: {
    update: 'SET #rl_minute = :m, #rl_count = :one, #rl_sum = :one',
    condition:
      'attribute_exists(#pk) AND (attribute_not_exists(#rl_minute) OR attribute_not_exists(#rl_sum) OR #rl_minute < :previous OR #rl_minute > :next)',
  },
};
// DynamoDB refuses values an expression does not use: each write's own, found once.
const USER_WINDOW_VALUES = Object.fromEntries(
  Object.entries(USER_WINDOW_WRITES).map(([write, { update, condition }]) => [
    write,
    new Set(`${update} ${condition}`.match(/:[a-z]+/g)),
  ]),
) as Record<UserWindowWrite, Set<string>>;
const userWindowExpression = (
  write: UserWindowWrite,
  { minute, limit }: { minute: number; limit: number },
  /** A further condition every write must meet (the admission gate: dynamodb-report-shields.ts). */
  also?: { condition: string; names: Record<string, string>; values: Record<string, unknown> },
) => {
  const all: Record<string, number> = {
    ':one': 1,
    ':m': minute,
    ':previous': minute - 1,
    ':next': minute + 1,
    ':limit': limit,
  };
  const used = USER_WINDOW_VALUES[write];
  const { update, condition } = USER_WINDOW_WRITES[write];
  const out = expression(
    { update, condition: also ? `(${condition}) AND ${also.condition}` : condition },
    { ...Object.fromEntries(Object.entries(all).filter(([name]) => used.has(name))), ...also?.values },
  );
  return also ? { ...out, ExpressionAttributeNames: { ...out.ExpressionAttributeNames, ...also.names } } : out;
};

/**
 * DynamoDB key limits. No item can have a longer key, so a lookup by one finds nothing; sent to DynamoDB it would
 * be a ValidationException (a 500 for what is only an unknown client id, hint or device id).
 */
const MAX_SORT_KEY_BYTES = 1024;
const MAX_PARTITION_KEY_BYTES = 2048;
const fitsSortKey = (sk: string) => Buffer.byteLength(sk, 'utf8') <= MAX_SORT_KEY_BYTES;

function isConditionFailed(err: unknown): boolean {
  return (err as { name?: string } | null)?.name === 'ConditionalCheckFailedException';
}

/** Runs a conditional write; a lost condition becomes FAILED, every other SDK error propagates. */
const attemptWrite = <T>(op: () => Promise<T>): Promise<T | typeof FAILED> => attempt(op);

async function attempt<T>(op: () => Promise<T>): Promise<T | typeof FAILED> {
  try {
    return await op();
  } catch (err) {
    if (isConditionFailed(err)) return FAILED;
    throw err;
  }
}

const toItem = (value: Record<string, unknown>): Item =>
  marshall(value, { removeUndefinedValues: true, convertClassInstanceToMap: true });
const fromItem = (item: Item): Raw => unmarshall(item);

/**
 * Builds the expression part of a command: every `#name` used is aliased (so reserved words such as
 * `status`, `interval` and `ttl` need no care), and only the given values are marshalled.
 */
function expression(
  parts: { update?: string; condition?: string; key?: string; filter?: string; projection?: string },
  values?: Record<string, unknown>,
) {
  const text = Object.values(parts).join(' ');
  const names: Record<string, string> = {};
  for (const [, name] of text.matchAll(/#([A-Za-z_][A-Za-z0-9_]*)/g)) names[`#${name}`] = name as string;
  return {
    ...(parts.update !== undefined && { UpdateExpression: parts.update }),
    ...(parts.condition !== undefined && { ConditionExpression: parts.condition }),
    ...(parts.key !== undefined && { KeyConditionExpression: parts.key }),
    ...(parts.filter !== undefined && { FilterExpression: parts.filter }),
    ...(parts.projection !== undefined && { ProjectionExpression: parts.projection }),
    ...(Object.keys(names).length > 0 && { ExpressionAttributeNames: names }),
    ...(values && Object.keys(values).length > 0 && { ExpressionAttributeValues: toItem(values) }),
  };
}

function updateExpression(clauses: { set?: string[]; remove?: string[]; add?: string[] }): string {
  const out: string[] = [];
  if (clauses.set?.length) out.push(`SET ${clauses.set.join(', ')}`);
  if (clauses.remove?.length) out.push(`REMOVE ${clauses.remove.join(', ')}`);
  if (clauses.add?.length) out.push(`ADD ${clauses.add.join(', ')}`);
  return out.join(' ');
}

/** Drops keys whose value is undefined, so mapped records compare cleanly. */
function compact<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) if (value[key] === undefined) delete value[key];
  return value;
}

const ttlSeconds = (expiresAt: number) => Math.ceil(expiresAt / 1000);

/** The values `:ttl` and `:exp_bucket` of an update that sets an item's TTL (`#ttl = :ttl, #exp_bucket = :exp_bucket`). */
const expiryValues = (ttl: number) => ({ ':ttl': ttl, ':exp_bucket': expiryBucket(ttl) });

/** An item's TTL with its expiry bucket (the local sweep's index: dynamodb-schema.ts by-expiry). */
const expiring = (ttl: number) => ({ ttl, exp_bucket: expiryBucket(ttl) });

/**
 * The keys that put a ledger item in the local indexes (dynamodb-schema.ts), from its stored attributes: its expiry
 * bucket; for a ping or push request whose callback is not finished, `cb_open` and `cb_until` (until its expiry for a
 * pending ping request, which has nothing to send before it is decided; otherwise until the callback is finished).
 * Used when a request is created and when a ledger of the layout before is copied (lib/local/embedded-dynamodb.ts).
 */
export const localIndexKeys = (raw: Raw): Raw => {
  const keys: Raw = typeof raw.ttl === 'number' ? { exp_bucket: expiryBucket(raw.ttl) } : {};
  const callbackOpen =
    typeof raw.pk === 'string' &&
    raw.pk.startsWith('REQ#') &&
    (raw.delivery_mode === 'ping' || raw.delivery_mode === 'push') &&
    (raw.callback === undefined || raw.callback.state === 'pending');
  if (callbackOpen) {
    keys.cb_open = OPEN_CALLBACK_PARTITION;
    keys.cb_until = raw.status === 'pending' && raw.delivery_mode === 'ping' ? raw.expires_at : OPEN_UNTIL_FINISHED;
  }
  return keys;
};

const MINUTE_MS = 60_000;

/**
 * The tenant counter item as of `minute` and `window`: a minute that has passed starts again at 0 (a minute up to
 * one ahead stays: the caller's clock lags); the pending windows slide, the previous window's own count (`ps - pp`)
 * becoming the new `pp`. `rolled`: something changed.
 */
function rollTenantCounters(
  raw: Raw | undefined,
  now: { minute: number; window: number; windowMs: number },
): { m: number; t: number; cc: Record<string, number>; pw: number; ps: number; pp: number; rolled: boolean } {
  const minuteStays = raw !== undefined && (raw.m === now.minute || raw.m === now.minute + 1);
  const sameLength = raw !== undefined && raw.pl === now.windowMs;
  let pw = now.window;
  let ps = 0;
  let pp = 0;
  if (sameLength && (raw.pw === now.window || raw.pw === now.window + 1)) {
    pw = raw.pw;
    ps = raw.ps;
    pp = raw.pp;
  } else if (sameLength && raw.pw === now.window - 1) {
    pp = raw.ps - raw.pp;
    ps = pp;
  }
  const windowStays = sameLength && pw === raw.pw;
  return {
    m: minuteStays ? raw.m : now.minute,
    t: minuteStays ? raw.t : 0,
    cc: minuteStays ? { ...(raw.cc ?? {}) } : {},
    pw,
    ps,
    pp,
    rolled: !minuteStays || !windowStays,
  };
}

// Keys
const tenantPk = (tenantId: string) => `T#${tenantId}`;
const requestPk = (txn: string) => `REQ#${txn}`;
const quotaPk = (key: string, windowIndex: number) => `QUOTA#${key}#${windowIndex}`;
const directoryKey = (tenantId: string, sk: string) => toItem({ pk: tenantPk(tenantId), sk });
const ledgerKey = (pk: string) => toItem({ pk });

// Mapping between domain records and storage items
function pushToItem(push: DevicePush | undefined): Raw | undefined {
  if (!push) return undefined;
  if (push.type === 'webhook') return { type: push.type, url: push.url, disabled: push.disabled };
  if (push.type === 'webpush') return { type: push.type, subscription: push.subscription, disabled: push.disabled };
  return { type: push.type, token: push.token, endpoint_arn: push.endpointArn, disabled: push.disabled };
}

function pushFromItem(raw: Raw | undefined): DevicePush | undefined {
  if (!raw) return undefined;
  if (raw.type === 'webhook') return compact({ type: 'webhook' as const, url: raw.url, disabled: raw.disabled });
  if (raw.type === 'webpush') {
    return compact({ type: 'webpush' as const, subscription: raw.subscription, disabled: raw.disabled });
  }
  return compact({ type: raw.type, token: raw.token, endpointArn: raw.endpoint_arn, disabled: raw.disabled });
}

const summaryToItem = (s: DeviceSummary): Raw => ({
  device_id: s.deviceId,
  name: s.name,
  created_at: s.createdAt,
  push: pushToItem(s.push),
});

const summaryFromItem = (raw: Raw): DeviceSummary =>
  compact({ deviceId: raw.device_id, name: raw.name, createdAt: raw.created_at, push: pushFromItem(raw.push) });

const tenantFromItem = (raw: Raw): Tenant =>
  compact({
    tenantId: raw.tenant_id,
    generation: raw.generation,
    settings: raw.settings,
    provisionedBy: raw.provisioned_by,
    createdAt: raw.created_at,
    updatedAt: raw.updated_at,
  });

const clientToItem = (c: Client): Raw => ({
  pk: tenantPk(c.tenantId),
  sk: `CLIENT#${c.clientId}`,
  tenant_id: c.tenantId,
  client_id: c.clientId,
  generation: c.generation,
  client_name: c.clientName,
  secret_hash: c.secretHash,
  token_endpoint_auth_method: c.tokenEndpointAuthMethod,
  grant_types: c.grantTypes,
  scope: c.scope,
  backchannel_token_delivery_mode: c.backchannelTokenDeliveryMode,
  backchannel_client_notification_endpoint: c.backchannelClientNotificationEndpoint,
  backchannel_user_code_parameter: c.backchannelUserCodeParameter,
  jwks: c.jwks,
  jwks_uri: c.jwksUri,
  token_endpoint_auth_signing_alg: c.tokenEndpointAuthSigningAlg,
  tls_client_auth: c.tlsClientAuth,
  backchannel_authentication_request_signing_alg: c.backchannelAuthenticationRequestSigningAlg,
  authorization_details_types: c.authorizationDetailsTypes,
  fapi: c.fapi,
  secret_salt: c.secretSalt,
  created_at: c.createdAt,
});

const clientFromItem = (raw: Raw): Client =>
  compact({
    tenantId: raw.tenant_id,
    clientId: raw.client_id,
    generation: raw.generation,
    clientName: raw.client_name,
    secretHash: raw.secret_hash,
    tokenEndpointAuthMethod: raw.token_endpoint_auth_method,
    grantTypes: raw.grant_types ?? [],
    scope: raw.scope,
    backchannelTokenDeliveryMode: raw.backchannel_token_delivery_mode,
    backchannelClientNotificationEndpoint: raw.backchannel_client_notification_endpoint,
    backchannelUserCodeParameter: raw.backchannel_user_code_parameter ?? false,
    jwks: raw.jwks,
    jwksUri: raw.jwks_uri,
    tokenEndpointAuthSigningAlg: raw.token_endpoint_auth_signing_alg,
    tlsClientAuth: raw.tls_client_auth,
    backchannelAuthenticationRequestSigningAlg: raw.backchannel_authentication_request_signing_alg,
    authorizationDetailsTypes: raw.authorization_details_types,
    fapi: raw.fapi,
    secretSalt: raw.secret_salt,
    createdAt: raw.created_at,
  });

const userFromItem = (raw: Raw): User =>
  compact({
    tenantId: raw.tenant_id,
    sub: raw.sub,
    claims: raw.claims ?? {},
    userCodeMac: raw.user_code_mac,
    userCodeHash: raw.user_code_hash,
    devices: ((raw.devices ?? []) as Raw[]).map(summaryFromItem),
    reportShields: raw[SHIELDS],
    createdAt: raw.created_at,
    updatedAt: raw.updated_at,
  });

const deviceToItem = (d: Device): Raw => ({
  pk: tenantPk(d.tenantId),
  sk: `DEVICE#${d.deviceId}`,
  tenant_id: d.tenantId,
  device_id: d.deviceId,
  sub: d.sub,
  name: d.name,
  public_jwk: d.publicJwk,
  push: pushToItem(d.push),
  passkey: d.passkey && passkeyToItem(d.passkey),
  created_at: d.createdAt,
  // The device's recently used DPoP proof ids (jti → expiry, epoch ms): useDeviceProof.
  jtis: {},
});

const passkeyToItem = (p: DevicePasskey): Raw => ({
  credential_id: p.credentialId,
  public_key: p.publicKey,
  counter: p.counter,
  transports: p.transports,
  created_at: p.createdAt,
});

const passkeyFromItem = (raw: Raw | undefined): DevicePasskey | undefined =>
  raw &&
  compact({
    credentialId: raw.credential_id,
    publicKey: raw.public_key,
    counter: raw.counter ?? 0,
    transports: raw.transports,
    createdAt: raw.created_at,
  });

const deviceFromItem = (raw: Raw): Device =>
  compact({
    tenantId: raw.tenant_id,
    deviceId: raw.device_id,
    sub: raw.sub,
    name: raw.name,
    publicJwk: raw.public_jwk,
    push: pushFromItem(raw.push),
    passkey: passkeyFromItem(raw.passkey),
    createdAt: raw.created_at,
  });

const keysetToItem = (k: TenantKeyset): Raw => ({
  pk: tenantPk(k.tenantId),
  sk: 'KEYS',
  tenant_id: k.tenantId,
  signing: k.signing.map((s) => ({
    kid: s.kid,
    alg: s.alg,
    mode: s.mode,
    public_jwk: s.publicJwk,
    created_at: s.createdAt,
    active_from: s.activeFrom,
    sealed: s.sealed,
    kms_key_id: s.kmsKeyId,
  })),
  mac: k.mac.map((m) => ({
    id: m.id,
    mode: m.mode,
    created_at: m.createdAt,
    sealed: m.sealed,
    kms_key_id: m.kmsKeyId,
    legacy: m.legacy,
  })),
  created_at: k.createdAt,
  updated_at: k.updatedAt,
});

const keysetFromItem = (raw: Raw): TenantKeyset => ({
  tenantId: raw.tenant_id,
  signing: (raw.signing ?? []).map((s: Raw) =>
    compact({
      kid: s.kid,
      alg: s.alg,
      mode: s.mode,
      publicJwk: s.public_jwk,
      createdAt: s.created_at,
      activeFrom: s.active_from,
      sealed: s.sealed,
      kmsKeyId: s.kms_key_id,
    }),
  ),
  mac: (raw.mac ?? []).map((m: Raw) =>
    compact({
      id: m.id,
      mode: m.mode,
      createdAt: m.created_at,
      sealed: m.sealed,
      kmsKeyId: m.kms_key_id,
      legacy: m.legacy,
    }),
  ),
  createdAt: raw.created_at,
  updatedAt: raw.updated_at,
});

const keyFromItem = (raw: Raw): StoredSigningKey => ({
  kid: raw.kid,
  alg: raw.alg,
  privateJwk: raw.private_jwk,
  createdAt: raw.created_at,
});

const evidenceToItem = (e: DecisionEvidence): Raw => ({
  proof: e.proof,
  device_id: e.deviceId,
  decision: e.decision,
  received_at: e.receivedAt,
  user_verified: e.userVerified,
  assertion: e.assertion,
  reason: e.reason,
  cancelled_by: e.cancelledBy,
  channel: e.channel,
  user_agent: e.userAgent,
  source_ip: e.sourceIp,
});

const evidenceFromItem = (raw: Raw | undefined): DecisionEvidence | undefined =>
  raw &&
  compact({
    proof: raw.proof,
    deviceId: raw.device_id,
    decision: raw.decision,
    receivedAt: raw.received_at,
    userVerified: raw.user_verified,
    assertion: raw.assertion,
    reason: raw.reason,
    cancelledBy: raw.cancelled_by,
    channel: raw.channel,
    userAgent: raw.user_agent,
    sourceIp: raw.source_ip,
  });

const attemptToItem = (a: CallbackAttempt): Raw => ({ attempt: a.attempt, at: a.at, status: a.status, error: a.error });

const attemptFromItem = (raw: Raw): CallbackAttempt =>
  compact({ attempt: raw.attempt, at: raw.at, status: raw.status, error: raw.error });

const callbackToItem = (c: CallbackStatus): Raw => ({
  state: c.state,
  attempts: c.attempts.map(attemptToItem),
  delivered_at: c.deliveredAt,
  dead_letter_reason: c.deadLetterReason,
});

const callbackFromItem = (raw: Raw | undefined): CallbackStatus | undefined =>
  raw &&
  compact({
    state: raw.state,
    attempts: ((raw.attempts ?? []) as Raw[]).map(attemptFromItem),
    deliveredAt: raw.delivered_at,
    deadLetterReason: raw.dead_letter_reason,
  });

const deadLetterToItem = (d: DeadLetterRecord): Raw => ({
  tenant_id: d.tenantId,
  txn: d.txn,
  client_id: d.clientId,
  delivery_mode: d.deliveryMode,
  kind: d.kind,
  endpoint: d.endpoint,
  reason: d.reason,
  attempts: d.attempts.map(attemptToItem),
  failed_at: d.failedAt,
});

function requestToItem(r: AuthRequest): Raw {
  const item: Raw = {
    pk: requestPk(r.txn),
    txn: r.txn,
    auth_req_id: r.authReqId,
    tenant_id: r.tenantId,
    client_id: r.clientId,
    sub: r.sub,
    claims: r.claims,
    scope: r.scope,
    acr_values: r.acrValues,
    binding_message: r.bindingMessage,
    authorization_details: r.authorizationDetails,
    display: r.display,
    delivery_mode: r.deliveryMode,
    client_notification_token: r.clientNotificationToken,
    status: r.status,
    created_at: r.createdAt,
    expires_at: r.expiresAt,
    interval: r.interval,
    last_polled_at: r.lastPolledAt,
    grant_pending: r.grantPending || undefined,
    decided_at: r.decidedAt,
    auth_time: r.authTime,
    evidence: r.evidence && evidenceToItem(r.evidence),
    redeemed_at: r.redeemedAt,
    issuer: r.issuer,
    certificate_thumbprint: r.certificateThumbprint,
    callback: r.callback && callbackToItem(r.callback),
    // The sealed token response (a JWE string), resent as it was minted.
    push_response: r.sealedPushResponse,
    binding_code_attempts: r.bindingCodeAttempts,
    tenant_generation: r.tenantGeneration,
    client_generation: r.clientGeneration,
    // Sparse GSI pending-by-user: present only while the request waits for a decision.
    pending_key: r.status === 'pending' ? `${r.tenantId}#${r.sub}` : undefined,
    ttl: ttlSeconds(r.expiresAt) + (r.deliveryMode === 'poll' ? REQUEST_RETENTION_SECONDS : CALLBACK_RETENTION_SECONDS),
  };
  return { ...item, ...localIndexKeys(item) };
}

const requestFromItem = (raw: Raw): AuthRequest =>
  compact({
    txn: raw.txn,
    authReqId: raw.auth_req_id,
    tenantId: raw.tenant_id,
    clientId: raw.client_id,
    sub: raw.sub,
    claims: raw.claims ?? {},
    scope: raw.scope,
    acrValues: raw.acr_values,
    bindingMessage: raw.binding_message,
    authorizationDetails: raw.authorization_details,
    display: raw.display,
    deliveryMode: raw.delivery_mode,
    clientNotificationToken: raw.client_notification_token,
    status: raw.status,
    createdAt: raw.created_at,
    expiresAt: raw.expires_at,
    interval: raw.interval,
    lastPolledAt: raw.last_polled_at,
    grantPending: raw.grant_pending === true ? true : undefined,
    decidedAt: raw.decided_at,
    authTime: raw.auth_time,
    evidence: evidenceFromItem(raw.evidence),
    redeemedAt: raw.redeemed_at,
    issuer: raw.issuer,
    certificateThumbprint: raw.certificate_thumbprint,
    callback: callbackFromItem(raw.callback),
    sealedPushResponse: raw.push_response,
    bindingCodeAttempts: raw.binding_code_attempts,
    tenantGeneration: raw.tenant_generation,
    clientGeneration: raw.client_generation,
  });

const refreshTokenToItem = (r: RefreshTokenRecord): Raw => ({
  pk: `RT#${r.tokenHash}`,
  token_hash: r.tokenHash,
  family_id: r.familyId,
  tenant_id: r.tenantId,
  client_id: r.clientId,
  sub: r.sub,
  scope: r.scope,
  auth_time: r.authTime,
  acr: r.acr,
  authorization_details: r.authorizationDetails,
  created_at: r.createdAt,
  expires_at: r.expiresAt,
  used_at: r.usedAt,
  tenant_generation: r.tenantGeneration,
  client_generation: r.clientGeneration,
  ...expiring(ttlSeconds(r.expiresAt)),
});

const refreshTokenFromItem = (raw: Raw): RefreshTokenRecord =>
  compact({
    tokenHash: raw.token_hash,
    familyId: raw.family_id,
    tenantId: raw.tenant_id,
    clientId: raw.client_id,
    sub: raw.sub,
    scope: raw.scope,
    authTime: raw.auth_time,
    acr: raw.acr,
    authorizationDetails: raw.authorization_details,
    createdAt: raw.created_at,
    expiresAt: raw.expires_at,
    usedAt: raw.used_at,
    tenantGeneration: raw.tenant_generation,
    clientGeneration: raw.client_generation,
  });

export interface DynamoDbStoreOptions {
  client: DynamoDBClient;
  directoryTable: string;
  ledgerTable: string;
}

/**
 * The Store port on two DynamoDB tables (see dynamodb-schema.ts). Every state transition is one conditional
 * single-item write, so the adapter also runs on dynalite, which has no transactions.
 */
export class DynamoDbStore implements Store {
  readonly #client: DynamoDBClient;
  readonly #directory: string;
  readonly #ledger: string;
  /** Per-user rate windows this process saw open (a hint: admitUserRequest). */
  readonly #userWindows = new Map<string, number>();

  constructor({ client, directoryTable, ledgerTable }: DynamoDbStoreOptions) {
    this.#client = client;
    this.#directory = directoryTable;
    this.#ledger = ledgerTable;
  }

  // Directory: tenants

  async getTenant(tenantId: string): Promise<Tenant | undefined> {
    const raw = await this.#getDirectory(tenantId, 'TENANT');
    return raw && tenantFromItem(raw);
  }

  async saveTenant(tenant: Tenant, expectedUpdatedAt: number | null): Promise<WriteOutcome> {
    const item = {
      pk: tenantPk(tenant.tenantId),
      sk: 'TENANT',
      tenant_id: tenant.tenantId,
      generation: tenant.generation,
      settings: tenant.settings,
      provisioned_by: tenant.provisionedBy,
      created_at: tenant.createdAt,
      updated_at: tenant.updatedAt,
    };
    return this.#put(this.#directory, item, expectedUpdatedAt);
  }

  async deleteTenant(tenantId: string): Promise<boolean> {
    const keys: Item[] = [];
    let found = false;
    for await (const raw of this.#query({
      TableName: this.#directory,
      ...expression({ key: '#pk = :pk', projection: '#pk, #sk' }, { ':pk': tenantPk(tenantId) }),
    })) {
      if (raw.sk === 'TENANT') found = true;
      keys.push(toItem({ pk: raw.pk, sk: raw.sk }));
    }
    await this.#batchDelete(this.#directory, keys);
    return found;
  }

  // Directory: clients

  async getClient(tenantId: string, clientId: string): Promise<Client | undefined> {
    const raw = await this.#getDirectory(tenantId, `CLIENT#${clientId}`);
    return raw && clientFromItem(raw);
  }

  async createClient(client: Client): Promise<WriteOutcome> {
    return this.#put(this.#directory, clientToItem(client), null);
  }

  async deleteClient(tenantId: string, clientId: string): Promise<boolean> {
    return this.#deleteIfExists(this.#directory, directoryKey(tenantId, `CLIENT#${clientId}`));
  }

  // Directory: users

  async getUser(tenantId: string, sub: string): Promise<User | undefined> {
    const raw = await this.#getDirectory(tenantId, `USER#${sub}`);
    return raw && userFromItem(raw);
  }

  async findUserByEmail(tenantId: string, email: string): Promise<string | undefined> {
    return this.#findUser('by-email', 'email_key', `${tenantId}#${email.toLowerCase()}`);
  }

  async findUserByPhone(tenantId: string, phoneE164: string): Promise<string | undefined> {
    return this.#findUser('by-phone', 'phone_key', `${tenantId}#${phoneE164}`);
  }

  /**
   * Writes the profile fields only: the rate-limit counters and the `devices` list belong to other methods
   * (admitUserRequest, createDevice, deleteDevice), so a profile update must not overwrite them.
   */
  async saveUser(user: User, expectedUpdatedAt: number | null): Promise<WriteOutcome> {
    const values: Record<string, unknown> = {
      ':tenant_id': user.tenantId,
      ':sub': user.sub,
      ':claims': user.claims,
      ':created_at': user.createdAt,
      ':updated_at': user.updatedAt,
      ':empty': [],
    };
    const set = [
      '#tenant_id = :tenant_id',
      '#sub = :sub',
      '#claims = :claims',
      '#created_at = :created_at',
      '#updated_at = :updated_at',
      '#devices = if_not_exists(#devices, :empty)',
    ];
    const remove: string[] = [];
    const optional: [string, string | undefined][] = [
      ['user_code_mac', user.userCodeMac],
      ['user_code_hash', user.userCodeHash],
      ['email_key', user.claims.email ? `${user.tenantId}#${user.claims.email.toLowerCase()}` : undefined],
      ['phone_key', user.claims.phone_number ? `${user.tenantId}#${user.claims.phone_number}` : undefined],
    ];
    for (const [name, value] of optional) {
      if (value === undefined) {
        remove.push(`#${name}`);
      } else {
        set.push(`#${name} = :${name}`);
        values[`:${name}`] = value;
      }
    }
    let condition = 'attribute_not_exists(#pk)';
    if (expectedUpdatedAt !== null) {
      condition = '#updated_at = :expected';
      values[':expected'] = expectedUpdatedAt;
    }
    const result = await attempt(() =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.#directory,
          Key: directoryKey(user.tenantId, `USER#${user.sub}`),
          ...expression({ update: updateExpression({ set, remove }), condition }, values),
        }),
      ),
    );
    return result === FAILED ? 'conflict' : 'ok';
  }

  async upgradeUserCode(tenantId: string, sub: string, legacyHash: string, mac: string): Promise<WriteOutcome> {
    if (!fitsSortKey(`USER#${sub}`)) return 'conflict';
    const result = await attempt(() =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.#directory,
          Key: directoryKey(tenantId, `USER#${sub}`),
          ...expression(
            { update: 'SET #user_code_mac = :mac REMOVE #user_code_hash', condition: '#user_code_hash = :legacy' },
            { ':mac': mac, ':legacy': legacyHash },
          ),
        }),
      ),
    );
    return result === FAILED ? 'conflict' : 'ok';
  }

  async deleteUser(tenantId: string, sub: string): Promise<boolean> {
    if (!fitsSortKey(`USER#${sub}`)) return false;
    // The user first: from then on no device can be listed on it (createDevice removes a device it could not list),
    // so the devices of the deleted item are all there are.
    const deleted = await attempt(() =>
      this.#client.send(
        new DeleteItemCommand({
          TableName: this.#directory,
          Key: directoryKey(tenantId, `USER#${sub}`),
          ReturnValues: 'ALL_OLD',
          ...expression({ condition: 'attribute_exists(#pk)' }),
        }),
      ),
    );
    if (deleted === FAILED || !deleted.Attributes) return false;
    const devices = (fromItem(deleted.Attributes).devices ?? []) as Raw[];
    await this.#batchDelete(
      this.#directory,
      devices.map((d) => directoryKey(tenantId, `DEVICE#${d.device_id}`)),
    );
    return true;
  }

  async admitUserRequest(
    tenantId: string,
    sub: string,
    limitPerMinute: number,
    now: number,
    gate?: UserAdmissionGate,
  ): Promise<{ user: User } | { rateLimited: true } | UserAdmissionRefusal | undefined> {
    if (!fitsSortKey(`USER#${sub}`)) return undefined;
    const key = directoryKey(tenantId, `USER#${sub}`);
    const minute = Math.floor(now / 60_000);
    // The gate (a report shield, no device) is part of every write's condition: a refused request counts nothing.
    const gated = gate && gateCondition(gate, now);
    const send = (write: UserWindowWrite) =>
      attempt(async () => {
        const out = await this.#client.send(
          new UpdateItemCommand({
            TableName: this.#directory,
            Key: key,
            ReturnValues: 'ALL_NEW',
            ...userWindowExpression(write, { minute, limit: limitPerMinute }, gated),
          }),
        );
        return { user: userFromItem(fromItem(out.Attributes ?? {})) };
      });

    if (limitPerMinute > 0) {
      // Which write to try first only saves requests: each one is conditional. This process remembers the minute
      // whose window it last saw open for the user; otherwise a new window is the likelier case (a user rarely asks
      // twice in two minutes). When the first guess loses, the others follow; a last increment covers a window that
      // a concurrent request opened meanwhile. A window seen open this minute cannot be rolled (the item's minute
      // never goes back), so a refusal then costs one write less.
      const hintKey = `${tenantId}\u0000${sub}`;
      const seen = this.#userWindows.get(hintKey);
      const first: UserWindowWrite = seen === minute ? 'increment' : seen === minute - 1 ? 'roll' : 'open';
      const others = USER_WINDOW_ORDER.filter((w) => w !== first && !(seen === minute && w === 'roll'));
      const order = [first, ...others, 'increment' as const];
      for (const write of order) {
        const admitted = await send(write);
        if (admitted === FAILED) continue;
        if (this.#userWindows.size >= USER_WINDOW_HINTS) this.#userWindows.clear();
        this.#userWindows.set(hintKey, minute);
        return admitted;
      }
    }
    const exists = await this.#getDirectory(tenantId, `USER#${sub}`, gate ? GATE_PROJECTION : '#pk');
    if (!exists) return undefined;
    return (gate && gateRefusal(exists, gate, now)) ?? { rateLimited: true };
  }

  async shieldClient(tenantId: string, sub: string, clientId: string, until: number): Promise<void> {
    if (!fitsSortKey(`USER#${sub}`)) return;
    const key = directoryKey(tenantId, `USER#${sub}`);
    const [extend, create] = SHIELD_WRITES;
    const writes = [expression(extend, { ':until': until }), expression(create, { ':map': { [clientId]: until } })];
    // When both lose, the user is gone, a longer shield is there already, or the map was created between the two
    // (then the next round extends it).
    for (let round = 0; round < 3; round++) {
      for (const command of writes) {
        const done = await attempt(() =>
          this.#client.send(
            new UpdateItemCommand({
              TableName: this.#directory,
              Key: key,
              ...forClient(command, clientId),
            }),
          ),
        );
        if (done !== FAILED) return;
      }
    }
  }

  async liftShield(tenantId: string, sub: string, clientId: string): Promise<boolean> {
    if (!fitsSortKey(`USER#${sub}`)) return false;
    const command = expression(LIFT_WRITE);
    const done = await attempt(() =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.#directory,
          Key: directoryKey(tenantId, `USER#${sub}`),
          ...forClient(command, clientId),
        }),
      ),
    );
    return done !== FAILED;
  }

  // Directory: devices

  async getDevice(tenantId: string, deviceId: string): Promise<Device | undefined> {
    const raw = await this.#getDirectory(tenantId, `DEVICE#${deviceId}`);
    return raw && deviceFromItem(raw);
  }

  async useDeviceProof(
    tenantId: string,
    deviceId: string,
    jti: string,
    expiresAt: number,
    now: number,
  ): Promise<Device | undefined> {
    if (!fitsSortKey(`DEVICE#${deviceId}`)) return undefined;
    const key = directoryKey(tenantId, `DEVICE#${deviceId}`);
    const record = (update: string, condition: string, values: Record<string, unknown>) =>
      attempt(() =>
        this.#client.send(
          new UpdateItemCommand({
            TableName: this.#directory,
            Key: key,
            ReturnValues: 'ALL_NEW',
            UpdateExpression: update,
            ConditionExpression: condition,
            // DynamoDB refuses names an expression does not use.
            ExpressionAttributeNames: {
              '#pk': 'pk',
              '#jtis': 'jtis',
              ...(update.includes('#jtis.#jti') ? { '#jti': jti } : {}),
            },
            ExpressionAttributeValues: toItem(values),
          }),
        ),
      );
    // The jti is recorded on the device only while the device exists and has not recorded it yet: one conditional
    // write authenticates the device and refuses a replay (concurrent replays: exactly one wins).
    const result = await record('SET #jtis.#jti = :exp', 'attribute_exists(#pk) AND attribute_not_exists(#jtis.#jti)', {
      ':exp': expiresAt,
    }).catch(async (error: unknown) => {
      // A device enrolled before the map existed: create it with this jti (or, if a concurrent call just did, go on).
      if ((error as { name?: string }).name !== 'ValidationException') throw error;
      const created = await record('SET #jtis = :map', 'attribute_exists(#pk) AND attribute_not_exists(#jtis)', {
        ':map': { [jti]: expiresAt },
      });
      if (created !== FAILED) return created;
      return record('SET #jtis.#jti = :exp', 'attribute_exists(#pk) AND attribute_not_exists(#jtis.#jti)', {
        ':exp': expiresAt,
      });
    });
    if (result === FAILED || !result.Attributes) return undefined;
    const raw = fromItem(result.Attributes);
    // Proofs older than their expiry fail the iat check anyway; their ids are dropped once enough have gathered.
    // The margin covers clocks of other instances that run behind.
    const expired = Object.entries((raw.jtis ?? {}) as Record<string, number>)
      .filter(([, at]) => at < now - PROOF_JTI_PRUNE_MARGIN_MS)
      .map(([id]) => id);
    if (expired.length >= PROOF_JTI_PRUNE_AFTER) {
      const names = Object.fromEntries(expired.map((id, i) => [`#j${i}`, id]));
      await this.#client
        .send(
          new UpdateItemCommand({
            TableName: this.#directory,
            Key: key,
            UpdateExpression: `REMOVE ${expired.map((_, i) => `#jtis.#j${i}`).join(', ')}`,
            ConditionExpression: 'attribute_exists(#pk)',
            ExpressionAttributeNames: { '#pk': 'pk', '#jtis': 'jtis', ...names },
          }),
        )
        .catch(() => {
          // The next call prunes again; the replay guarantee does not depend on it.
        });
    }
    return deviceFromItem(raw);
  }

  async createDevice(device: Device, summary: DeviceSummary): Promise<WriteOutcome> {
    if ((await this.#put(this.#directory, deviceToItem(device), null)) === 'conflict') return 'conflict';
    const listed = await attempt(() =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.#directory,
          Key: directoryKey(device.tenantId, `USER#${device.sub}`),
          ...expression(
            {
              update: 'SET #devices = list_append(if_not_exists(#devices, :empty), :one)',
              condition: 'attribute_exists(#pk)',
            },
            { ':empty': [], ':one': [summaryToItem(summary)] },
          ),
        }),
      ),
    );
    if (listed === FAILED) {
      // The user is gone: do not leave an orphan device that could still sign requests.
      await this.#client.send(
        new DeleteItemCommand({
          TableName: this.#directory,
          Key: directoryKey(device.tenantId, `DEVICE#${device.deviceId}`),
        }),
      );
      return 'conflict';
    }
    return 'ok';
  }

  async deleteDevice(tenantId: string, sub: string, deviceId: string): Promise<boolean> {
    if (!fitsSortKey(`DEVICE#${deviceId}`)) return false;
    const deleted = await attempt(() =>
      this.#client.send(
        new DeleteItemCommand({
          TableName: this.#directory,
          Key: directoryKey(tenantId, `DEVICE#${deviceId}`),
          ...expression({ condition: '#sub = :sub' }, { ':sub': sub }),
        }),
      ),
    );
    if (deleted === FAILED) return false;
    await this.#updateListedDevice(tenantId, sub, deviceId, (i) => ({ update: `REMOVE #devices[${i}]` }));
    return true;
  }

  async disableDevicePush(tenantId: string, sub: string, deviceId: string): Promise<void> {
    await attempt(() =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.#directory,
          Key: directoryKey(tenantId, `DEVICE#${deviceId}`),
          ...expression(
            { update: 'SET #push.#disabled = :true', condition: '#sub = :sub AND attribute_exists(#push)' },
            { ':sub': sub, ':true': true },
          ),
        }),
      ),
    );
    await this.#updateListedDevice(tenantId, sub, deviceId, (i) => ({
      update: `SET #devices[${i}].#push.#disabled = :true`,
      condition: `attribute_exists(#devices[${i}].#push)`,
      values: { ':true': true },
    }));
  }

  async setDevicePush(tenantId: string, sub: string, deviceId: string, push: DevicePush): Promise<WriteOutcome> {
    const item = pushToItem(push);
    const updated = await attempt(() =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.#directory,
          Key: directoryKey(tenantId, `DEVICE#${deviceId}`),
          ...expression({ update: 'SET #push = :push', condition: '#sub = :sub' }, { ':sub': sub, ':push': item }),
        }),
      ),
    );
    if (updated === FAILED) return 'conflict';
    await this.#updateListedDevice(tenantId, sub, deviceId, (i) => ({
      update: `SET #devices[${i}].#push = :push`,
      values: { ':push': item },
    }));
    return 'ok';
  }

  async setDevicePasskey(
    tenantId: string,
    deviceId: string,
    passkey: DevicePasskey,
    expected: string | null,
  ): Promise<WriteOutcome> {
    const updated = await attempt(() =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.#directory,
          Key: directoryKey(tenantId, `DEVICE#${deviceId}`),
          ...expression(
            {
              update: 'SET #passkey = :passkey',
              condition:
                expected === null
                  ? 'attribute_exists(#pk) AND attribute_not_exists(#passkey)'
                  : 'attribute_exists(#pk) AND #passkey.#credential_id = :expected',
            },
            { ':passkey': passkeyToItem(passkey), ...(expected === null ? {} : { ':expected': expected }) },
          ),
        }),
      ),
    );
    return updated === FAILED ? 'conflict' : 'ok';
  }

  async removeDevicePasskey(tenantId: string, sub: string, deviceId: string): Promise<DevicePasskey | undefined> {
    if (!fitsSortKey(`DEVICE#${deviceId}`)) return undefined;
    const removed = await attempt(() =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.#directory,
          Key: directoryKey(tenantId, `DEVICE#${deviceId}`),
          ReturnValues: 'ALL_OLD',
          ...expression(
            { update: 'REMOVE #passkey', condition: '#sub = :sub AND attribute_exists(#passkey)' },
            { ':sub': sub },
          ),
        }),
      ),
    );
    if (removed === FAILED || !removed.Attributes) return undefined;
    return passkeyFromItem(fromItem(removed.Attributes).passkey);
  }

  // Directory: signing keys

  async getTenantKeys(tenantId: string): Promise<TenantKeyset | undefined> {
    const raw = await this.#getDirectory(tenantId, 'KEYS');
    return raw && keysetFromItem(raw);
  }

  async saveTenantKeys(keyset: TenantKeyset, expectedUpdatedAt: number | null): Promise<WriteOutcome> {
    return this.#put(this.#directory, keysetToItem(keyset), expectedUpdatedAt);
  }

  async getSigningKeys(tenantId: string): Promise<StoredSigningKey[]> {
    const keys: StoredSigningKey[] = [];
    for await (const raw of this.#query({
      TableName: this.#directory,
      ConsistentRead: true,
      ...expression(
        { key: '#pk = :pk AND begins_with(#sk, :prefix)' },
        { ':pk': tenantPk(tenantId), ':prefix': 'KEY#' },
      ),
    })) {
      keys.push(keyFromItem(raw));
    }
    return keys;
  }

  // Ledger: auth requests

  async createRequest(request: AuthRequest): Promise<WriteOutcome> {
    return this.#put(this.#ledger, requestToItem(request), null);
  }

  async deleteRequest(txn: string): Promise<void> {
    await this.#client.send(new DeleteItemCommand({ TableName: this.#ledger, Key: ledgerKey(requestPk(txn)) }));
  }

  async getRequest(txn: string): Promise<AuthRequest | undefined> {
    const out = await this.#client.send(
      new GetItemCommand({ TableName: this.#ledger, Key: ledgerKey(requestPk(txn)), ConsistentRead: true }),
    );
    return out.Item && requestFromItem(fromItem(out.Item));
  }

  /**
   * Local mode only (lib/local/recover-timers.ts): the ping and push requests whose callback is not finished, with
   * the attempt last claimed and its lease, for the in-process scheduler to set again the timers a previous run held
   * in memory. Read through the local open-callbacks index (dynamodb-schema.ts), which holds only those requests (and
   * pending ping requests until they expire), never the ledger's history. In AWS, EventBridge Scheduler keeps them.
   */
  async *openCallbacks(now: number): AsyncGenerator<OpenCallback> {
    for await (const key of this.#query({
      TableName: this.#ledger,
      IndexName: OPEN_CALLBACKS_INDEX,
      ...expression(
        { key: '#cb_open = :open AND #cb_until >= :now' },
        { ':open': OPEN_CALLBACK_PARTITION, ':now': now },
      ),
    })) {
      const out = await this.#client.send(
        new GetItemCommand({ TableName: this.#ledger, Key: ledgerKey(key.pk), ConsistentRead: true }),
      );
      if (!out.Item) continue;
      const raw = fromItem(out.Item);
      if (raw.callback !== undefined && raw.callback.state !== 'pending') continue;
      yield compact({
        request: requestFromItem(raw),
        claimed: raw.cb_claimed as number | undefined,
        leaseUntil: raw.cb_lease_until as number | undefined,
      });
    }
  }

  /**
   * Local mode only (the embedded store's expiry sweep): the keys of ledger items in one expiry bucket (an hour of
   * TTLs, dynamodb-schema.ts by-expiry) whose TTL is before `nowSeconds`, read through the local expiry index.
   */
  async *expiredKeys(bucket: string, nowSeconds: number): AsyncGenerator<string> {
    for await (const key of this.#query({
      TableName: this.#ledger,
      IndexName: EXPIRY_INDEX,
      ...expression({ key: '#exp_bucket = :b AND #ttl < :now' }, { ':b': bucket, ':now': nowSeconds }),
    })) {
      yield key.pk as string;
    }
  }

  async pollRequest(
    txn: string,
    authReqId: string,
    owner: { tenantId: string; clientId: string },
    now: number,
  ): Promise<AuthRequest | undefined> {
    // Removing grant_pending in the same write that records the poll: only the poller whose ALL_OLD image
    // still carries it redeems the grant.
    const result = await attempt(() =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.#ledger,
          Key: ledgerKey(requestPk(txn)),
          ReturnValues: 'ALL_OLD',
          ...expression(
            {
              update: 'SET #last_polled_at = :now REMOVE #grant_pending',
              condition: 'attribute_exists(#pk) AND #auth_req_id = :id AND #tenant_id = :t AND #client_id = :cid',
            },
            { ':now': now, ':id': authReqId, ':t': owner.tenantId, ':cid': owner.clientId },
          ),
        }),
      ),
    );
    if (result === FAILED || !result.Attributes) return undefined;
    return requestFromItem(fromItem(result.Attributes));
  }

  async slowDown(txn: string, addSeconds: number): Promise<void> {
    await attempt(() =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.#ledger,
          Key: ledgerKey(requestPk(txn)),
          ...expression({ update: 'ADD #interval :add', condition: 'attribute_exists(#pk)' }, { ':add': addSeconds }),
        }),
      ),
    );
  }

  async restoreGrant(txn: string): Promise<void> {
    await attempt(() =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.#ledger,
          Key: ledgerKey(requestPk(txn)),
          ...expression(
            { update: 'SET #grant_pending = :true', condition: '#status = :approved' },
            { ':true': true, ':approved': 'approved' },
          ),
        }),
      ),
    );
  }

  async decideRequest(
    txn: string,
    owner: { tenantId: string; sub: string },
    status: Exclude<AuthRequestStatus, 'pending'>,
    evidence: DecisionEvidence,
    now: number,
  ): Promise<AuthRequest | 'conflict'> {
    // cb_until: a decided ping or push request's callback is open until it is finished (localIndexKeys); on a poll
    // request, without cb_open, it puts nothing in the index.
    const set = [
      '#status = :status',
      '#decided_at = :now',
      '#auth_time = :now',
      '#evidence = :evidence',
      '#cb_until = :open_until',
    ];
    const values: Record<string, unknown> = {
      ':status': status,
      ':now': now,
      ':open_until': OPEN_UNTIL_FINISHED,
      ':evidence': evidenceToItem(evidence),
      ':t': owner.tenantId,
      ':sub': owner.sub,
      ':pending': 'pending',
    };
    if (status === 'approved') {
      set.push('#grant_pending = :true');
      values[':true'] = true;
    }
    const result = await attempt(() =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.#ledger,
          Key: ledgerKey(requestPk(txn)),
          ReturnValues: 'ALL_NEW',
          ...expression(
            {
              update: updateExpression({ set, remove: ['#pending_key'] }),
              condition:
                'attribute_exists(#pk) AND #tenant_id = :t AND #sub = :sub AND #status = :pending AND #expires_at > :now',
            },
            values,
          ),
        }),
      ),
    );
    if (result === FAILED || !result.Attributes) return 'conflict';
    return requestFromItem(fromItem(result.Attributes));
  }

  async countBindingCodeMismatch(
    txn: string,
    owner: { tenantId: string; sub: string },
    now: number,
  ): Promise<AuthRequest | 'conflict'> {
    const result = await attempt(() =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.#ledger,
          Key: ledgerKey(requestPk(txn)),
          ReturnValues: 'ALL_NEW',
          ...expression(
            {
              update: 'ADD #binding_code_attempts :one',
              condition:
                'attribute_exists(#pk) AND #tenant_id = :t AND #sub = :sub AND #status = :pending AND #expires_at > :now',
            },
            { ':one': 1, ':t': owner.tenantId, ':sub': owner.sub, ':pending': 'pending', ':now': now },
          ),
        }),
      ),
    );
    if (result === FAILED || !result.Attributes) return 'conflict';
    return requestFromItem(fromItem(result.Attributes));
  }

  async listPending(tenantId: string, sub: string, now: number): Promise<AuthRequest[]> {
    const pending: AuthRequest[] = [];
    for await (const raw of this.#query({
      TableName: this.#ledger,
      IndexName: 'pending-by-user',
      ScanIndexForward: false,
      ...expression({ key: '#pending_key = :k' }, { ':k': `${tenantId}#${sub}` }),
    })) {
      // The index lags the table, and expired requests stay in it until TTL removes them.
      const request = requestFromItem(raw);
      if (request.status === 'pending' && request.expiresAt > now) pending.push(request);
    }
    return pending;
  }

  // Ledger: ping and push callbacks

  async claimCallbackAttempt(
    txn: string,
    attempt: number,
    now: number,
    leaseUntil: number,
  ): Promise<AuthRequest | 'conflict'> {
    // Attempt n is free once attempt n-1 finished (its lease removed), or taken over when its own lease ran out.
    const takeover = '(#cb_claimed = :n AND #cb_lease_until < :now)';
    const free =
      attempt === 1
        ? 'attribute_not_exists(#cb_claimed)'
        : '(#cb_claimed = :prev AND (attribute_not_exists(#cb_lease_until) OR #cb_lease_until < :now))';
    const values: Record<string, unknown> = {
      ':n': attempt,
      ':now': now,
      ':lease': leaseUntil,
      ':pending': 'pending',
      ':initial': { state: 'pending', attempts: [] },
    };
    if (attempt > 1) values[':prev'] = attempt - 1;
    const result = await attemptWrite(() =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.#ledger,
          Key: ledgerKey(requestPk(txn)),
          ReturnValues: 'ALL_NEW',
          ...expression(
            {
              update: 'SET #cb_claimed = :n, #cb_lease_until = :lease, #callback = if_not_exists(#callback, :initial)',
              condition: `attribute_exists(#pk) AND (attribute_not_exists(#callback) OR #callback.#state = :pending) AND (${free} OR ${takeover})`,
            },
            values,
          ),
        }),
      ),
    );
    if (result === FAILED || !result.Attributes) return 'conflict';
    return requestFromItem(fromItem(result.Attributes));
  }

  async savePushResponse(txn: string, sealedResponse: string, now: number): Promise<AuthRequest | 'conflict'> {
    const result = await attemptWrite(() =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.#ledger,
          Key: ledgerKey(requestPk(txn)),
          ReturnValues: 'ALL_NEW',
          ...expression(
            {
              update: 'SET #push_response = :r, #redeemed_at = :now REMOVE #grant_pending',
              condition: 'attribute_exists(#grant_pending) AND #status = :approved',
            },
            { ':r': sealedResponse, ':now': now, ':approved': 'approved' },
          ),
        }),
      ),
    );
    if (result === FAILED || !result.Attributes) return 'conflict';
    return requestFromItem(fromItem(result.Attributes));
  }

  async recordCallbackAttempt(
    txn: string,
    attempt: CallbackAttempt,
    outcome: { state: CallbackState; deliveredAt?: number; deadLetterReason?: string },
  ): Promise<WriteOutcome> {
    const set = ['#callback.#attempts = list_append(#callback.#attempts, :one)', '#callback.#state = :state'];
    const values: Record<string, unknown> = {
      ':one': [attemptToItem(attempt)],
      ':state': outcome.state,
      ':n': attempt.attempt,
    };
    if (outcome.deliveredAt !== undefined) {
      set.push('#callback.#delivered_at = :delivered_at');
      values[':delivered_at'] = outcome.deliveredAt;
    }
    if (outcome.deadLetterReason !== undefined) {
      set.push('#callback.#dead_letter_reason = :reason');
      values[':reason'] = outcome.deadLetterReason;
    }
    const remove = ['#cb_lease_until'];
    // Tokens are kept only until they are delivered or given up on; the request leaves the open-callbacks index.
    if (outcome.state !== 'pending') remove.push('#push_response', '#cb_open', '#cb_until');
    const result = await attemptWrite(() =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.#ledger,
          Key: ledgerKey(requestPk(txn)),
          ...expression({ update: updateExpression({ set, remove }), condition: '#cb_claimed = :n' }, values),
        }),
      ),
    );
    return result === FAILED ? 'conflict' : 'ok';
  }

  async putDeadLetter(record: DeadLetterRecord): Promise<void> {
    await attemptWrite(() =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.#ledger,
          Key: ledgerKey(requestPk(record.txn)),
          ...expression(
            { update: 'SET #dead_letter = :d', condition: 'attribute_exists(#pk)' },
            { ':d': deadLetterToItem(record) },
          ),
        }),
      ),
    );
  }

  // Ledger: abuse-control counters

  async consumeQuota(
    key: string,
    limit: number,
    windowMs: number,
    now: number,
    options: { includePrevious?: boolean } = {},
  ): Promise<{ admitted: boolean; retryAfterSeconds: number }> {
    const index = Math.floor(now / windowMs);
    const windowEnd = (index + 1) * windowMs;
    const previous = options.includePrevious ? await this.#quotaCount(key, index - 1) : 0;
    // The previous window stops counting when this one ends; this window's events count until the next one ends.
    const retryAfterSeconds = Math.max(
      1,
      Math.ceil((windowEnd + (options.includePrevious ? windowMs : 0) - now) / 1000),
    );
    const room = limit - previous;
    if (room <= 0) return { admitted: false, retryAfterSeconds: Math.max(1, Math.ceil((windowEnd - now) / 1000)) };
    const result = await attempt(() =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.#ledger,
          Key: ledgerKey(quotaPk(key, index)),
          ...expression(
            {
              update:
                'SET #count = if_not_exists(#count, :zero) + :one, #expires_at = :end, #ttl = :ttl, #exp_bucket = :exp_bucket',
              condition: 'attribute_not_exists(#count) OR #count < :room',
            },
            // Kept one window longer than it counts: the next window reads it (includePrevious).
            {
              ':zero': 0,
              ':one': 1,
              ':room': room,
              ':end': windowEnd,
              ...expiryValues(ttlSeconds(windowEnd + windowMs)),
            },
          ),
        }),
      ),
    );
    return { admitted: result !== FAILED, retryAfterSeconds };
  }

  async admitTenantRequest(input: TenantAdmission): Promise<TenantAdmissionOutcome> {
    const { tenantId, clientId, limits, pendingWindowMs: windowMs, now } = input;
    const key = ledgerKey(`QUOTA#TENANT#${tenantId}`);
    const minute = Math.floor(now / MINUTE_MS);
    const window = Math.floor(now / windowMs);
    // The windows the fast path counts in: this process's, or the item's when it is ahead (another clock).
    let countMinute = minute;
    let countWindow = window;
    const counters = { '#m': 'm', '#t': 't', '#cc': 'cc', '#pl': 'pl', '#pw': 'pw', '#ps': 'ps', '#v': 'v' };
    for (let tries = 0; tries < 5; tries++) {
      // Every window current and every count under its limit: one write counts the request everywhere.
      const counted = await attempt(() =>
        this.#client.send(
          new UpdateItemCommand({
            TableName: this.#ledger,
            Key: key,
            UpdateExpression:
              'SET #t = #t + :one, #cc.#cid = if_not_exists(#cc.#cid, :zero) + :one, #ps = #ps + :one, #v = #v + :one',
            ConditionExpression:
              '#m = :m AND #pl = :pl AND #pw = :pw AND #t < :tl AND #ps < :pm AND (attribute_not_exists(#cc.#cid) OR #cc.#cid < :cl)',
            ExpressionAttributeNames: { ...counters, '#cid': clientId },
            ExpressionAttributeValues: toItem({
              ':one': 1,
              ':zero': 0,
              ':m': countMinute,
              ':pl': windowMs,
              ':pw': countWindow,
              ':tl': limits.tenantPerMinute,
              ':pm': limits.maxPending,
              ':cl': limits.clientPerMinute,
            }),
          }),
        ),
      );
      if (counted !== FAILED) return { admitted: true, pendingWindow: countWindow };
      // A limit is reached, a window has passed, or the item is new: read it to tell which.
      const out = await this.#client.send(
        new GetItemCommand({ TableName: this.#ledger, Key: key, ConsistentRead: true }),
      );
      const raw = out.Item ? fromItem(out.Item) : undefined;
      const state = rollTenantCounters(raw, { minute, window, windowMs });
      const minuteRetry = Math.max(1, Math.ceil(((state.m + 1) * MINUTE_MS - now) / 1000));
      if ((state.cc[clientId] ?? 0) >= limits.clientPerMinute) {
        return { admitted: false, limit: 'client', retryAfterSeconds: minuteRetry };
      }
      if (state.t >= limits.tenantPerMinute)
        return { admitted: false, limit: 'tenant', retryAfterSeconds: minuteRetry };
      if (state.ps >= limits.maxPending) {
        // The previous window stops counting when this one ends; this window's requests count until the next one ends.
        const end = (state.pw + (state.pp >= limits.maxPending ? 1 : 2)) * windowMs;
        return { admitted: false, limit: 'pending', retryAfterSeconds: Math.max(1, Math.ceil((end - now) / 1000)) };
      }
      if (!state.rolled) {
        // Under every limit (a concurrent change, or windows ahead of this clock): count on the fast path.
        countMinute = state.m;
        countWindow = state.pw;
        continue;
      }
      // Start the new window(s) with this request, unless another request changed the item since it was read.
      const started = await attempt(() =>
        this.#client.send(
          new UpdateItemCommand({
            TableName: this.#ledger,
            Key: key,
            UpdateExpression:
              'SET #m = :m, #t = :t, #cc = :cc, #pl = :pl, #pw = :pw, #ps = :ps, #pp = :pp, #v = :v, #ttl = :ttl, #exp_bucket = :exp_bucket',
            ConditionExpression: raw ? '#v = :read' : 'attribute_not_exists(#pk)',
            ExpressionAttributeNames: {
              ...counters,
              '#pp': 'pp',
              '#ttl': 'ttl',
              '#exp_bucket': 'exp_bucket',
              ...(raw ? {} : { '#pk': 'pk' }),
            },
            ExpressionAttributeValues: toItem({
              ':m': state.m,
              ':t': state.t + 1,
              ':cc': { ...state.cc, [clientId]: (state.cc[clientId] ?? 0) + 1 },
              ':pl': windowMs,
              ':pw': state.pw,
              ':ps': state.ps + 1,
              ':pp': state.pp,
              ':v': (raw?.v ?? 0) + 1,
              // Useless once both windows have passed.
              ...expiryValues(ttlSeconds(Math.max((state.m + 1) * MINUTE_MS, (state.pw + 2) * windowMs))),
              ...(raw ? { ':read': raw.v } : {}),
            }),
          }),
        ),
      );
      if (started !== FAILED) return { admitted: true, pendingWindow: state.pw };
    }
    // Lost every race for the item: a burst at a window boundary. The caller may retry at once.
    return { admitted: false, limit: 'contention', retryAfterSeconds: 1 };
  }

  async releaseTenantRequest(input: {
    tenantId: string;
    pendingWindow: number;
    pendingWindowMs: number;
  }): Promise<void> {
    const { tenantId, pendingWindow, pendingWindowMs } = input;
    const counters = { '#pl': 'pl', '#pw': 'pw', '#ps': 'ps', '#pp': 'pp', '#v': 'v' };
    // Still the current window: one less of its own count (ps - pp). The window rolled once since: the request is in
    // the previous window's share (pp) of the sum. Later, it no longer counts and there is nothing to give back.
    // `v` changes too, so a concurrent roll (conditional on the `v` it read) re-reads.
    const writes = [
      { window: pendingWindow, update: 'SET #ps = #ps - :one, #v = #v + :one', condition: '#ps > #pp' },
      {
        window: pendingWindow + 1,
        update: 'SET #ps = #ps - :one, #pp = #pp - :one, #v = #v + :one',
        condition: '#pp > :zero',
      },
    ];
    for (const { window, update, condition } of writes) {
      const released = await attempt(() =>
        this.#client.send(
          new UpdateItemCommand({
            TableName: this.#ledger,
            Key: ledgerKey(`QUOTA#TENANT#${tenantId}`),
            UpdateExpression: update,
            ConditionExpression: `#pl = :pl AND #pw = :pw AND ${condition}`,
            ExpressionAttributeNames: counters,
            ExpressionAttributeValues: toItem({
              ':one': 1,
              ':pl': pendingWindowMs,
              ':pw': window,
              ...(condition.includes(':zero') ? { ':zero': 0 } : {}),
            }),
          }),
        ),
      );
      if (released !== FAILED) return;
    }
  }

  async readQuota(
    key: string,
    windowMs: number,
    now: number,
    options: { includePrevious?: boolean } = {},
  ): Promise<number> {
    const index = Math.floor(now / windowMs);
    if (!options.includePrevious) return this.#quotaCount(key, index);
    const [current, previous] = await Promise.all([this.#quotaCount(key, index), this.#quotaCount(key, index - 1)]);
    return current + previous;
  }

  async #quotaCount(key: string, index: number): Promise<number> {
    const out = await this.#client.send(
      new GetItemCommand({ TableName: this.#ledger, Key: ledgerKey(quotaPk(key, index)), ConsistentRead: true }),
    );
    return out.Item ? Number(fromItem(out.Item).count ?? 0) : 0;
  }

  // Ledger: enrollment tickets and proof replay records

  async createEnrollmentTicket(ticketHash: string, tenantId: string, sub: string, expiresAt: number): Promise<void> {
    await this.#client.send(
      new PutItemCommand({
        TableName: this.#ledger,
        Item: toItem({
          pk: `TICKET#${ticketHash}`,
          tenant_id: tenantId,
          sub,
          expires_at: expiresAt,
          ...expiring(ttlSeconds(expiresAt)),
        }),
      }),
    );
  }

  async consumeEnrollmentTicket(
    ticketHash: string,
    now: number,
  ): Promise<{ tenantId: string; sub: string } | undefined> {
    const result = await attempt(() =>
      this.#client.send(
        new DeleteItemCommand({
          TableName: this.#ledger,
          Key: ledgerKey(`TICKET#${ticketHash}`),
          ReturnValues: 'ALL_OLD',
          ...expression({ condition: 'attribute_exists(#pk) AND #expires_at > :now' }, { ':now': now }),
        }),
      ),
    );
    if (result === FAILED || !result.Attributes) return undefined;
    const raw = fromItem(result.Attributes);
    return { tenantId: raw.tenant_id, sub: raw.sub };
  }

  async recordProofJti(keyThumbprint: string, jti: string, expiresAt: number): Promise<boolean> {
    const item = { pk: `JTI#${keyThumbprint}#${jti}`, expires_at: expiresAt, ...expiring(ttlSeconds(expiresAt)) };
    return (await this.#put(this.#ledger, item, null)) === 'ok';
  }

  // Ledger: refresh tokens and revocations

  async createRefreshToken(record: RefreshTokenRecord): Promise<WriteOutcome> {
    return this.#put(this.#ledger, refreshTokenToItem(record), null);
  }

  async getRefreshToken(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    const out = await this.#client.send(
      new GetItemCommand({ TableName: this.#ledger, Key: ledgerKey(`RT#${tokenHash}`), ConsistentRead: true }),
    );
    return out.Item && refreshTokenFromItem(fromItem(out.Item));
  }

  async useRefreshToken(
    tokenHash: string,
    owner: { tenantId: string; clientId: string },
    now: number,
  ): Promise<{ outcome: 'rotated' | 'reused'; record: RefreshTokenRecord } | undefined> {
    const result = await attempt(() =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.#ledger,
          Key: ledgerKey(`RT#${tokenHash}`),
          ReturnValues: 'ALL_NEW',
          ...expression(
            {
              update: 'SET #used_at = :now',
              condition:
                'attribute_exists(#pk) AND #tenant_id = :t AND #client_id = :c AND attribute_not_exists(#used_at) AND #expires_at > :now',
            },
            { ':now': now, ':t': owner.tenantId, ':c': owner.clientId },
          ),
        }),
      ),
    );
    if (result !== FAILED && result.Attributes) {
      return { outcome: 'rotated', record: refreshTokenFromItem(fromItem(result.Attributes)) };
    }
    // dynalite ignores ReturnValuesOnConditionCheckFailure: read the item to tell a replay from a stranger.
    const record = await this.getRefreshToken(tokenHash);
    if (!record || record.tenantId !== owner.tenantId || record.clientId !== owner.clientId) return undefined;
    return record.usedAt !== undefined ? { outcome: 'reused', record } : undefined;
  }

  async revoke(kind: RevocationKind, id: string, expiresAt: number): Promise<void> {
    await this.#client.send(
      new PutItemCommand({
        TableName: this.#ledger,
        Item: toItem({ pk: `REVOKED#${kind}#${id}`, expires_at: expiresAt, ...expiring(ttlSeconds(expiresAt)) }),
      }),
    );
  }

  async isRevoked(kind: RevocationKind, id: string, now: number): Promise<boolean> {
    const out = await this.#client.send(
      new GetItemCommand({ TableName: this.#ledger, Key: ledgerKey(`REVOKED#${kind}#${id}`), ConsistentRead: true }),
    );
    return out.Item !== undefined && (fromItem(out.Item).expires_at as number) > now;
  }

  // Helpers

  async #getDirectory(tenantId: string, sk: string, projection?: string): Promise<Raw | undefined> {
    if (!fitsSortKey(sk)) return undefined;
    const out = await this.#client.send(
      new GetItemCommand({
        TableName: this.#directory,
        Key: directoryKey(tenantId, sk),
        ConsistentRead: true,
        ...(projection && expression({ projection })),
      }),
    );
    return out.Item && fromItem(out.Item);
  }

  /** null: create only if absent; a number: replace only if `updated_at` still holds it. */
  async #put(table: string, item: Raw, expectedUpdatedAt: number | null): Promise<WriteOutcome> {
    const condition =
      expectedUpdatedAt === null
        ? expression({ condition: 'attribute_not_exists(#pk)' })
        : expression({ condition: '#updated_at = :expected' }, { ':expected': expectedUpdatedAt });
    const result = await attempt(() =>
      this.#client.send(new PutItemCommand({ TableName: table, Item: toItem(item), ...condition })),
    );
    return result === FAILED ? 'conflict' : 'ok';
  }

  async #deleteIfExists(table: string, key: Item): Promise<boolean> {
    if (key.sk?.S !== undefined && !fitsSortKey(key.sk.S)) return false;
    const result = await attempt(() =>
      this.#client.send(
        new DeleteItemCommand({ TableName: table, Key: key, ...expression({ condition: 'attribute_exists(#pk)' }) }),
      ),
    );
    return result !== FAILED;
  }

  async *#query(input: QueryCommandInput): AsyncGenerator<Raw> {
    let start: Item | undefined;
    do {
      const out = await this.#client.send(new QueryCommand({ ...input, ExclusiveStartKey: start }));
      for (const item of out.Items ?? []) yield fromItem(item);
      start = out.LastEvaluatedKey;
    } while (start);
  }

  async #findUser(index: string, attribute: string, value: string): Promise<string | undefined> {
    if (Buffer.byteLength(value, 'utf8') > MAX_PARTITION_KEY_BYTES) return undefined;
    const subs = new Set<string>();
    for await (const raw of this.#query({
      TableName: this.#directory,
      IndexName: index,
      ...expression({ key: `#${attribute} = :v` }, { ':v': value }),
    })) {
      subs.add((raw.sk as string).slice('USER#'.length));
    }
    // A hint that matches several users identifies none of them: never push to a guess.
    return subs.size === 1 ? [...subs][0] : undefined;
  }

  /**
   * Applies an update to the user's `devices` entry for this device. The list is addressed by index, so the
   * write is conditional on that index still holding this device; a concurrent change makes us re-read.
   */
  async #updateListedDevice(
    tenantId: string,
    sub: string,
    deviceId: string,
    change: (index: number) => { update: string; condition?: string; values?: Record<string, unknown> },
  ): Promise<void> {
    for (let tries = 0; tries < 3; tries++) {
      const user = await this.#getDirectory(tenantId, `USER#${sub}`, '#devices');
      const index = ((user?.devices ?? []) as Raw[]).findIndex((d) => d.device_id === deviceId);
      if (index < 0) return;
      const { update, condition, values } = change(index);
      const guard = `#devices[${index}].#device_id = :device_id`;
      const result = await attempt(() =>
        this.#client.send(
          new UpdateItemCommand({
            TableName: this.#directory,
            Key: directoryKey(tenantId, `USER#${sub}`),
            ...expression(
              { update, condition: condition ? `${guard} AND ${condition}` : guard },
              { ...values, ':device_id': deviceId },
            ),
          }),
        ),
      );
      if (result !== FAILED) return;
    }
  }

  async #batchDelete(table: string, keys: Item[]): Promise<void> {
    for (let i = 0; i < keys.length; i += BATCH_WRITE_MAX) {
      let requests: WriteRequest[] = keys.slice(i, i + BATCH_WRITE_MAX).map((Key) => ({ DeleteRequest: { Key } }));
      for (let attemptNo = 0; requests.length > 0; attemptNo++) {
        if (attemptNo > 0) {
          if (attemptNo > 8) throw new Error(`BatchWriteItem left ${requests.length} items unprocessed`);
          await new Promise((resolve) => setTimeout(resolve, Math.min(50 * 2 ** attemptNo, 2_000)));
        }
        const out = await this.#client.send(new BatchWriteItemCommand({ RequestItems: { [table]: requests } }));
        requests = out.UnprocessedItems?.[table] ?? [];
      }
    }
  }
}

/** Counts every command sent through the client (benchmarks: DynamoDB requests per operation). */
export function countDynamoDbRequests(client: DynamoDBClient): { readonly count: number; reset(): void } {
  let count = 0;
  addStoreMiddleware(client, (stack) =>
    stack.add(
      (next) => async (args) => {
        count++;
        return next(args);
      },
      { step: 'initialize' },
    ),
  );
  return {
    get count() {
      return count;
    },
    reset() {
      count = 0;
    },
  };
}
