import { generateKeyPairSync } from 'node:crypto';
import * as z from 'zod';
import { smsDailyLimit, tenantChannels } from '../ciba/channels.ts';
import { reportShieldSeconds } from '../ciba/report-shield.ts';
import { displayString } from '../display-string.ts';
import { Conflict, InvalidRequest, NotFound } from '../errors.ts';
import {
  abuseLimits,
  callbackPolicy,
  DEFAULT_TENANT_SETTINGS,
  type KeyMode,
  type PushCredentials,
  type Tenant,
  type TenantSettings,
} from '../model.ts';
import { newGeneration } from '../oauth/grant-binding.ts';
import type { Deps } from '../ports.ts';
import { parseWith } from '../validation.ts';
import {
  checkFapiSettings,
  mergeStrongAuthSettings,
  StrongAuthSettingsShape,
  strongAuthSettingsToWire,
} from './tenant-strong-auth.ts';

/** A VAPID key pair (RFC 8292): P-256; the public key as an uncompressed point, both base64url as web-push takes them. */
const generateVapidKeys = (): { publicKey: string; privateKey: string } => {
  const jwk = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  return { publicKey: point.toString('base64url'), privateKey: jwk.d! };
};

/** A Secrets Manager secret by name or ARN (its value is read by the deployment, never stored or shown). */
const SecretRef = z
  .string()
  .regex(
    /^(arn:[a-z-]+:secretsmanager:[a-z0-9-]+:\d{12}:secret:)?[A-Za-z0-9/_+=.@-]{1,512}$/,
    'secret must be a Secrets Manager name or ARN',
  );
/** Any string: change it after rotating the secret, so that the new credentials are sent to SNS. */
const SecretVersion = z
  .union([z.string().min(1).max(64), z.int().min(0)])
  .transform(String)
  .optional();

/** PUT /admin/tenants/{tenant}: every field optional, merged into the current settings. */
export const TenantSettingsPatch = z.strictObject({
  // Hardening rule 5: the authenticators and notifications show it; '' means none (the tenant id is shown).
  display_name: displayString(100, { allowEmpty: true }).optional(),
  backchannel_expires_in: z.int().min(1).max(86_400).optional(),
  backchannel_max_expires_in: z.int().min(1).max(86_400).optional(),
  backchannel_polling_interval: z.int().min(1).max(60).optional(),
  user_rate_limit_per_minute: z.int().min(1).max(10_000).optional(),
  binding_message_required: z.boolean().optional(),
  binding_message_max_length: z.int().min(1).max(1000).optional(),
  delivery_modes: z
    .array(z.enum(['poll', 'ping', 'push']))
    .min(1)
    .refine((modes) => new Set(modes).size === modes.length, 'delivery_modes has duplicates')
    .optional(),
  // ES256 by default; PS256 and RS256 use RSA 2048 keys. FAPI tenants: PS256 or ES256.
  signing_alg: z.enum(['ES256', 'PS256', 'RS256']).optional(),
  fapi: z.boolean().optional(),
  ...StrongAuthSettingsShape,
  development_mode: z.boolean().optional(),
  binding_code_confirmation: z.boolean().optional(),
  user_verification: z.enum(['none', 'passkey']).optional(),
  /** `null` removes Web Push; keys omitted are generated (the private key is write-only). */
  web_push: z
    .strictObject({
      subject: z.string().regex(/^(mailto:|https:\/\/)\S+$/, 'subject must be a mailto: or https: URL'),
      vapid_public_key: z
        .string()
        .regex(/^[A-Za-z0-9_-]{87}$/, 'vapid_public_key must be a base64url P-256 point')
        .optional(),
      vapid_private_key: z
        .string()
        .regex(/^[A-Za-z0-9_-]{43}$/, 'vapid_private_key must be a base64url P-256 scalar')
        .optional(),
    })
    .refine(
      (w) => (w.vapid_public_key === undefined) === (w.vapid_private_key === undefined),
      'give both VAPID keys or neither',
    )
    .nullable()
    .optional(),
  /** The client the operator console acts as; `null` turns the console off. */
  console_client_id: z.string().min(1).max(128).nullable().optional(),
  client_rate_limit_per_minute: z.int().min(1).max(1_000_000).optional(),
  tenant_rate_limit_per_minute: z.int().min(1).max(10_000_000).optional(),
  max_pending_requests: z.int().min(1).max(10_000_000).optional(),
  callback_max_attempts: z.int().min(1).max(100).optional(),
  callback_max_age_seconds: z.int().min(1).max(86_400).optional(),
  /** How the signing key is kept (docs/deploy.md "Signing keys"); changing it rotates to a key of the new mode. */
  key_mode: z.enum(['wrapped', 'kms']).optional(),
  /** AWS: the Secrets Manager secrets of the tenant's SNS platform applications; `null` removes them. */
  push_credentials: z
    .strictObject({
      apns: z.strictObject({ secret: SecretRef, version: SecretVersion, sandbox: z.boolean().optional() }).optional(),
      fcm: z.strictObject({ secret: SecretRef, version: SecretVersion }).optional(),
    })
    .nullable()
    .optional(),
  /** How long a client the user reported may not ask them again (lib/ciba/report-shield.ts); 0: no shield. */
  report_shield_seconds: z
    .int()
    .min(0)
    .max(30 * 86_400)
    .optional(),
  /** How users are reached, in order (lib/ciba/channels.ts): `device`, `email`, `sms`; no duplicates. */
  channels: z
    .array(z.enum(['device', 'email', 'sms']))
    .min(1)
    .max(3)
    .refine((channels) => new Set(channels).size === channels.length, 'channels has duplicates')
    .optional(),
  /** A request still pending after this many seconds is also sent by the next channel, once; `null`: never. */
  channel_fallback_seconds: z.int().min(1).max(86_400).nullable().optional(),
  /** Text messages the tenant sends per UTC day at most (cost protection); 0: none. */
  sms_daily_limit: z.int().min(0).max(1_000_000).optional(),
});

/** The settings that may be absent (and are removed with `null`): device-side confirmation and the console. */
const optionalSettings = (
  current: TenantSettings,
  patch: z.infer<typeof TenantSettingsPatch>,
): Pick<TenantSettings, 'bindingCodeConfirmation' | 'userVerification' | 'webPush' | 'consoleClientId'> => {
  const bindingCodeConfirmation = patch.binding_code_confirmation ?? current.bindingCodeConfirmation;
  const userVerification = patch.user_verification ?? current.userVerification;
  let webPush = current.webPush;
  if (patch.web_push === null) webPush = undefined;
  else if (patch.web_push) {
    const keys =
      patch.web_push.vapid_public_key && patch.web_push.vapid_private_key
        ? { publicKey: patch.web_push.vapid_public_key, privateKey: patch.web_push.vapid_private_key }
        : generateVapidKeys();
    webPush = { subject: patch.web_push.subject, vapidPublicKey: keys.publicKey, vapidPrivateKey: keys.privateKey };
  }
  const consoleClientId =
    patch.console_client_id === null ? undefined : (patch.console_client_id ?? current.consoleClientId);
  return {
    ...(bindingCodeConfirmation !== undefined ? { bindingCodeConfirmation } : {}),
    ...(userVerification !== undefined ? { userVerification } : {}),
    ...(webPush ? { webPush } : {}),
    ...(consoleClientId !== undefined ? { consoleClientId } : {}),
  };
};

export const settingsToWire = (tenant: Tenant, issuer: string) => {
  const s = tenant.settings;
  return {
    tenant: tenant.tenantId,
    issuer,
    display_name: s.displayName,
    backchannel_expires_in: s.backchannelExpiresIn,
    backchannel_max_expires_in: s.backchannelMaxExpiresIn,
    backchannel_polling_interval: s.backchannelPollingInterval,
    user_rate_limit_per_minute: s.userRateLimitPerMinute,
    binding_message_required: s.bindingMessageRequired,
    binding_message_max_length: s.bindingMessageMaxLength,
    delivery_modes: s.deliveryModes,
    signing_alg: s.signingAlg,
    fapi: s.fapi,
    development_mode: s.developmentMode,
    binding_code_confirmation: s.bindingCodeConfirmation === true,
    user_verification: s.userVerification ?? 'none',
    web_push: s.webPush ? { subject: s.webPush.subject, vapid_public_key: s.webPush.vapidPublicKey } : null,
    console_client_id: s.consoleClientId ?? null,
    client_rate_limit_per_minute: abuseLimits(s).clientPerMinute,
    tenant_rate_limit_per_minute: abuseLimits(s).tenantPerMinute,
    max_pending_requests: abuseLimits(s).maxPending,
    callback_max_attempts: callbackPolicy(s).maxAttempts,
    callback_max_age_seconds: callbackPolicy(s).maxAgeSeconds,
    key_mode: keyModeOf(s),
    push_credentials: s.pushCredentials ?? null,
    provisioned_by: tenant.provisionedBy ?? 'admin_api',
    report_shield_seconds: reportShieldSeconds(s),
    channels: tenantChannels(s),
    channel_fallback_seconds: s.channelFallbackSeconds ?? null,
    sms_daily_limit: smsDailyLimit(s),
    ...strongAuthSettingsToWire(s),
  };
};

/** The abuse-control limits, kept only when set (absent means the defaults of `abuseLimits`). */
const abuseSettings = (
  current: TenantSettings,
  patch: z.infer<typeof TenantSettingsPatch>,
): Pick<TenantSettings, 'clientRateLimitPerMinute' | 'tenantRateLimitPerMinute' | 'maxPendingRequests'> => {
  const client = patch.client_rate_limit_per_minute ?? current.clientRateLimitPerMinute;
  const tenant = patch.tenant_rate_limit_per_minute ?? current.tenantRateLimitPerMinute;
  const pending = patch.max_pending_requests ?? current.maxPendingRequests;
  return {
    ...(client !== undefined ? { clientRateLimitPerMinute: client } : {}),
    ...(tenant !== undefined ? { tenantRateLimitPerMinute: tenant } : {}),
    ...(pending !== undefined ? { maxPendingRequests: pending } : {}),
  };
};

/** The key mode (kept only when set: absent means `wrapped`) and the push platform credentials (`null` removes them). */
const keySettings = (
  current: TenantSettings,
  patch: z.infer<typeof TenantSettingsPatch>,
): Pick<TenantSettings, 'keyMode' | 'pushCredentials'> => {
  const keyMode = patch.key_mode ?? current.keyMode;
  const credentials = patch.push_credentials;
  const pushCredentials: PushCredentials | undefined =
    credentials === null
      ? undefined
      : credentials === undefined
        ? current.pushCredentials
        : {
            ...(credentials.apns
              ? {
                  apns: {
                    secret: credentials.apns.secret,
                    version: credentials.apns.version ?? '1',
                    sandbox: credentials.apns.sandbox ?? false,
                  },
                }
              : {}),
            ...(credentials.fcm
              ? { fcm: { secret: credentials.fcm.secret, version: credentials.fcm.version ?? '1' } }
              : {}),
          };
  return {
    ...(keyMode !== undefined ? { keyMode } : {}),
    ...(pushCredentials && (pushCredentials.apns || pushCredentials.fcm) ? { pushCredentials } : {}),
  };
};

/** The channels (kept only when set: absent means device only) and the fallback delay (`null` removes it). */
const channelSettings = (
  current: TenantSettings,
  patch: z.infer<typeof TenantSettingsPatch>,
): Pick<TenantSettings, 'channels' | 'channelFallbackSeconds' | 'smsDailyLimit'> => {
  const channels = patch.channels ?? current.channels;
  const fallback =
    patch.channel_fallback_seconds === null
      ? undefined
      : (patch.channel_fallback_seconds ?? current.channelFallbackSeconds);
  return {
    ...(channels !== undefined ? { channels } : {}),
    ...(fallback !== undefined ? { channelFallbackSeconds: fallback } : {}),
    ...((patch.sms_daily_limit ?? current.smsDailyLimit) !== undefined
      ? { smsDailyLimit: patch.sms_daily_limit ?? current.smsDailyLimit }
      : {}),
  };
};

const merge = (current: TenantSettings, patch: z.infer<typeof TenantSettingsPatch>): TenantSettings => {
  const next: TenantSettings = {
    displayName: patch.display_name ?? current.displayName,
    backchannelExpiresIn: patch.backchannel_expires_in ?? current.backchannelExpiresIn,
    backchannelMaxExpiresIn: patch.backchannel_max_expires_in ?? current.backchannelMaxExpiresIn,
    backchannelPollingInterval: patch.backchannel_polling_interval ?? current.backchannelPollingInterval,
    userRateLimitPerMinute: patch.user_rate_limit_per_minute ?? current.userRateLimitPerMinute,
    bindingMessageRequired: patch.binding_message_required ?? current.bindingMessageRequired,
    bindingMessageMaxLength: patch.binding_message_max_length ?? current.bindingMessageMaxLength,
    deliveryModes: patch.delivery_modes ?? current.deliveryModes,
    signingAlg: patch.signing_alg ?? current.signingAlg,
    fapi: patch.fapi ?? current.fapi,
    developmentMode: patch.development_mode ?? current.developmentMode,
    ...optionalSettings(current, patch),
    ...mergeStrongAuthSettings(current, patch),
    ...abuseSettings(current, patch),
    callbackMaxAttempts: patch.callback_max_attempts ?? callbackPolicy(current).maxAttempts,
    callbackMaxAgeSeconds: patch.callback_max_age_seconds ?? callbackPolicy(current).maxAgeSeconds,
    ...keySettings(current, patch),
    ...((patch.report_shield_seconds ?? current.reportShieldSeconds) !== undefined
      ? { reportShieldSeconds: patch.report_shield_seconds ?? current.reportShieldSeconds }
      : {}),
    ...channelSettings(current, patch),
  };
  if (next.backchannelMaxExpiresIn < next.backchannelExpiresIn) {
    throw new InvalidRequest('backchannel_max_expires_in must not be below backchannel_expires_in');
  }
  checkFapiSettings(next);
  return next;
};

/**
 * The settings a patch (the wire shape of PUT /admin/tenants/{tenant}) makes of `current`: validated and
 * merged, or a 400 invalid_request naming the problem. The CDK tenants file goes through here too.
 */
export const applySettingsPatch = (current: TenantSettings, body: unknown): TenantSettings =>
  merge(current, parseWith(TenantSettingsPatch, body));

/** The key mode of a tenant's settings (absent: `wrapped`). */
export const keyModeOf = (settings: TenantSettings): KeyMode => settings.keyMode ?? 'wrapped';

type TenantDeps = Pick<Deps, 'tenants' | 'keys' | 'platforms' | 'clock'>;

const fromTheFile = (tenantId: string) =>
  new Conflict(`tenant ${tenantId} comes from the deployment's tenants file: change it there and deploy`);
const beingDeleted = (tenantId: string) =>
  new Conflict(
    `tenant ${tenantId} is being deleted: repeat DELETE /admin/tenants/${tenantId} until it answers 204, then create it again`,
  );

/**
 * Everything a tenant's settings ask for besides the settings item, made before the item is written so that a tenant
 * never exists without them: its push platform applications (a refused secret is a 400 and nothing changes) and its
 * keys (created, or rotated to the algorithm and key mode of its settings).
 */
const applySideEffects = async (
  deps: Pick<Deps, 'keys' | 'platforms'>,
  tenantId: string,
  settings: TenantSettings,
  previous: TenantSettings | undefined,
): Promise<void> => {
  const { refused } = await deps.platforms.apply(tenantId, settings.pushCredentials, previous?.pushCredentials);
  if (refused) throw new InvalidRequest(`push_credentials: ${refused}`);
  await deps.keys.ensureKeys(tenantId, { alg: settings.signingAlg, mode: keyModeOf(settings) });
};

/** The tenant record to store over `current` (absent: a new tenant). */
const nextTenant = (
  tenantId: string,
  settings: TenantSettings,
  current: Tenant | undefined,
  now: number,
  provisionedBy?: 'deployment',
): Tenant => ({
  tenantId,
  // Hardening rule 7: a tenant created again under a deleted one's id honours none of its grants.
  generation: current ? current.generation : newGeneration(),
  settings,
  ...(provisionedBy ? { provisionedBy } : {}),
  createdAt: current?.createdAt ?? now,
  updatedAt: Math.max(now, (current?.updatedAt ?? 0) + 1),
});

/**
 * Creates (201) or updates (200) a tenant through the admin API; an update is conditional on the version that was
 * read. A tenant of the tenants file is the file's (409).
 */
export const putTenant = async (
  deps: TenantDeps & Pick<Deps, 'config'>,
  tenantId: string,
  body: unknown,
): Promise<{ created: boolean; tenant: Tenant }> => {
  const current = await deps.tenants.find(tenantId);
  if (current?.deleting) throw beingDeleted(tenantId);
  if (current?.provisionedBy === 'deployment') throw fromTheFile(tenantId);
  const settings = applySettingsPatch(current?.settings ?? { ...DEFAULT_TENANT_SETTINGS, displayName: tenantId }, body);
  if (!deps.config.capabilities.developmentModeAllowed && settings.developmentMode) {
    throw new InvalidRequest('development_mode cannot be enabled in AWS');
  }
  await applySideEffects(deps, tenantId, settings, current?.settings);
  const tenant = nextTenant(tenantId, settings, current, deps.clock.now());
  if ((await deps.tenants.save(tenant, current ? current.updatedAt : null)) !== 'ok') {
    throw new Conflict('the tenant was changed concurrently; retry');
  }
  return { created: !current, tenant };
};

/**
 * A tenant from the deployment's tenants file (the provisioner): its settings replace the stored ones (over the
 * defaults), and the admin API may no longer change it. `unchanged` when it was stored exactly so.
 */
export const provisionTenant = async (
  deps: TenantDeps,
  tenantId: string,
  settings: TenantSettings,
): Promise<'created' | 'updated' | 'unchanged'> => {
  for (let attempt = 1; attempt <= 3; attempt++) {
    const current = await deps.tenants.get(tenantId);
    if (current?.provisionedBy === 'deployment' && JSON.stringify(current.settings) === JSON.stringify(settings)) {
      await applySideEffects(deps, tenantId, settings, current.settings);
      return 'unchanged';
    }
    await applySideEffects(deps, tenantId, settings, current?.settings);
    const tenant = nextTenant(tenantId, settings, current, deps.clock.now(), 'deployment');
    if ((await deps.tenants.save(tenant, current ? current.updatedAt : null)) === 'ok') {
      return current ? 'updated' : 'created';
    }
  }
  throw new Error(`tenant ${tenantId} changed concurrently 3 times; retry the deployment`);
};

/** A tenant that left the tenants file and is retained: the admin API manages it from now on. */
export const releaseTenant = async (deps: Pick<Deps, 'tenants' | 'clock'>, tenantId: string): Promise<void> => {
  for (let attempt = 1; attempt <= 3; attempt++) {
    const current = await deps.tenants.get(tenantId);
    if (current?.provisionedBy !== 'deployment') return;
    const { provisionedBy: _, ...released } = current;
    const tenant = { ...released, updatedAt: Math.max(deps.clock.now(), current.updatedAt + 1) };
    if ((await deps.tenants.save(tenant, current.updatedAt)) === 'ok') return;
  }
  throw new Error(`tenant ${tenantId} changed concurrently 3 times; retry the deployment`);
};

export const getTenantOrThrow = async (deps: Pick<Deps, 'tenants'>, tenantId: string): Promise<Tenant> => {
  const tenant = await deps.tenants.get(tenantId);
  if (!tenant) throw new NotFound('unknown tenant');
  return tenant;
};

/**
 * Directory items one DELETE /admin/tenants/{tenant} removes at most: about 40 BatchWriteItem requests and a page or
 * two of keys, well within the admin function's 10 s. A larger tenant answers `202` and the next DELETE goes on.
 */
export const TENANT_DELETION_STEP = 1000;

/**
 * DELETE /admin/tenants/{tenant} (and the tenants file's `on_delete: destroy`): the tenant and everything it issued
 * (hardening rule 7), its push platform applications, and then its KMS keys (scheduled for deletion). At most
 * `maxItems` directory items per call (default: all): the first call marks the tenant deleted (from then on it is
 * unknown everywhere and its grants are dead), `deleting` says that items remain and a repeated call resumes; the push
 * platform applications and the KMS keys go once the rest has gone (`deleted`). `absent`: no such tenant.
 */
export const deleteTenant = async (
  deps: Pick<Deps, 'tenants' | 'keys' | 'platforms'>,
  tenantId: string,
  options: { fromDeployment?: boolean; maxItems?: number } = {},
): Promise<'deleted' | 'deleting' | 'absent'> => {
  const current = await deps.tenants.find(tenantId);
  if (!current) return 'absent';
  if (current.provisionedBy === 'deployment' && !options.fromDeployment) throw fromTheFile(tenantId);
  const removed = await deps.keys.removeWithTenant(
    tenantId,
    async () => (await deps.tenants.delete(tenantId, options.maxItems)) !== 'continues',
  );
  if (!removed) return 'deleting';
  await deps.platforms.remove(tenantId, current.settings.pushCredentials);
  return 'deleted';
};

/** POST /admin/tenants/{tenant}/keys/rotate: a new signing key of the tenant's algorithm and key mode. */
export const rotateTenantKeys = async (deps: Pick<Deps, 'tenants' | 'keys'>, tenantId: string) => {
  const tenant = await getTenantOrThrow(deps, tenantId);
  return {
    keys: await deps.keys.rotate(tenantId, { alg: tenant.settings.signingAlg, mode: keyModeOf(tenant.settings) }),
  };
};

/** GET /admin/tenants/{tenant}/keys */
export const describeTenantKeys = async (deps: Pick<Deps, 'tenants' | 'keys'>, tenantId: string) => {
  await getTenantOrThrow(deps, tenantId);
  return { keys: await deps.keys.describe(tenantId) };
};
