import { generateKeyPairSync } from 'node:crypto';
import * as z from 'zod';
import { displayString } from '../ciba/display-string.ts';
import { AccessDenied, Conflict, InvalidRequest, NotFound } from '../errors.ts';
import { abuseLimits, callbackPolicy, DEFAULT_TENANT_SETTINGS, type Tenant, type TenantSettings } from '../model.ts';
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

/** Creates (201) or updates (200) a tenant; an update is conditional on the version that was read. */
export const putTenant = async (
  deps: Pick<Deps, 'tenants' | 'keys' | 'clock' | 'config'>,
  tenantId: string,
  body: unknown,
): Promise<{ created: boolean; tenant: Tenant }> => {
  if (!deps.config.capabilities.tenantAdministration)
    throw new AccessDenied('tenants are managed by the CDK app in AWS');
  const current = await deps.tenants.get(tenantId);
  const now = deps.clock.now();
  const tenant: Tenant = {
    tenantId,
    // Hardening rule 7: a tenant created again under a deleted one's id honours none of its grants.
    generation: current ? current.generation : newGeneration(),
    settings: applySettingsPatch(current?.settings ?? { ...DEFAULT_TENANT_SETTINGS, displayName: tenantId }, body),
    createdAt: current?.createdAt ?? now,
    updatedAt: Math.max(now, (current?.updatedAt ?? 0) + 1),
  };
  if ((await deps.tenants.save(tenant, current ? current.updatedAt : null)) !== 'ok') {
    throw new Conflict('the tenant was changed concurrently; retry');
  }
  await deps.keys.ensureKey(tenantId, tenant.settings.signingAlg);
  return { created: !current, tenant };
};

export const getTenantOrThrow = async (deps: Pick<Deps, 'tenants'>, tenantId: string): Promise<Tenant> => {
  const tenant = await deps.tenants.get(tenantId);
  if (!tenant) throw new NotFound('unknown tenant');
  return tenant;
};

export const deleteTenant = async (deps: Pick<Deps, 'tenants' | 'config'>, tenantId: string): Promise<void> => {
  if (!deps.config.capabilities.tenantAdministration)
    throw new AccessDenied('tenants are managed by the CDK app in AWS');
  if (!(await deps.tenants.delete(tenantId))) throw new NotFound('unknown tenant');
};
