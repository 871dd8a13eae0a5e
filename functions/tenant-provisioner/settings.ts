import { DEFAULT_TENANT_SETTINGS, type DeliveryMode, type SigningAlg, type TenantSettings } from '../../lib/model.ts';

/**
 * Tenant settings as an operator writes them (snake_case, DESIGN.md "Tenant settings"), checked and mapped to
 * the domain shape. Used twice: by the CDK app at synth time (a bad tenants file fails before deploying) and
 * by the provisioner at deploy time. Pure: no SDK, no CDK.
 */
export interface TenantSettingsInput {
  display_name?: string;
  backchannel_expires_in?: number;
  backchannel_max_expires_in?: number;
  backchannel_polling_interval?: number;
  user_rate_limit_per_minute?: number;
  binding_message_required?: boolean;
  binding_message_max_length?: number;
  delivery_modes?: DeliveryMode[];
  signing_alg?: SigningAlg;
  fapi?: boolean;
  development_mode?: boolean;
  callback_max_attempts?: number;
  callback_max_age_seconds?: number;
  client_rate_limit_per_minute?: number;
  tenant_rate_limit_per_minute?: number;
  max_pending_requests?: number;
}

const DELIVERY_MODES: readonly DeliveryMode[] = ['poll', 'ping', 'push'];
const SIGNING_ALGS: readonly SigningAlg[] = ['ES256', 'PS256', 'RS256'];
const KNOWN = new Set<string>([
  'display_name',
  'backchannel_expires_in',
  'backchannel_max_expires_in',
  'backchannel_polling_interval',
  'user_rate_limit_per_minute',
  'binding_message_required',
  'binding_message_max_length',
  'delivery_modes',
  'signing_alg',
  'fapi',
  'development_mode',
  'callback_max_attempts',
  'callback_max_age_seconds',
  'client_rate_limit_per_minute',
  'tenant_rate_limit_per_minute',
  'max_pending_requests',
]);

export class InvalidTenantSettings extends Error {
  override readonly name = 'InvalidTenantSettings';
}

/** Full settings: the given fields over the defaults. Throws `InvalidTenantSettings` naming the field. */
export const parseTenantSettings = (input: unknown, where = 'settings'): TenantSettings => {
  if (input === undefined || input === null) return { ...DEFAULT_TENANT_SETTINGS };
  if (typeof input !== 'object' || Array.isArray(input)) throw new InvalidTenantSettings(`${where} must be an object`);
  const raw = input as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!KNOWN.has(key)) throw new InvalidTenantSettings(`${where}.${key} is not a tenant setting`);
  }
  const fail = (field: string, expected: string): never => {
    throw new InvalidTenantSettings(`${where}.${field} must be ${expected}`);
  };
  const int = (field: string, min: number, fallback: number): number => {
    const value = raw[field];
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) fail(field, `an integer >= ${min}`);
    return value as number;
  };
  const bool = (field: string, fallback: boolean): boolean => {
    const value = raw[field];
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') fail(field, 'true or false');
    return value as boolean;
  };
  const optionalInt = <K extends keyof TenantSettings>(field: string, key: K): Partial<Pick<TenantSettings, K>> =>
    raw[field] === undefined ? {} : ({ [key]: int(field, 1, 1) } as Partial<Pick<TenantSettings, K>>);
  const d = DEFAULT_TENANT_SETTINGS;

  const displayName = raw.display_name ?? d.displayName;
  if (typeof displayName !== 'string' || displayName.length > 200)
    fail('display_name', 'a string of at most 200 characters');

  const deliveryModes = raw.delivery_modes ?? d.deliveryModes;
  if (
    !Array.isArray(deliveryModes) ||
    deliveryModes.length === 0 ||
    deliveryModes.some((m) => !DELIVERY_MODES.includes(m as DeliveryMode)) ||
    new Set(deliveryModes).size !== deliveryModes.length
  ) {
    fail('delivery_modes', `a non-empty list of distinct ${DELIVERY_MODES.join(', ')}`);
  }

  const signingAlg = raw.signing_alg ?? d.signingAlg;
  if (!SIGNING_ALGS.includes(signingAlg as SigningAlg)) fail('signing_alg', SIGNING_ALGS.join(', '));

  const backchannelExpiresIn = int('backchannel_expires_in', 1, d.backchannelExpiresIn);
  const backchannelMaxExpiresIn = int(
    'backchannel_max_expires_in',
    backchannelExpiresIn,
    Math.max(d.backchannelMaxExpiresIn, backchannelExpiresIn),
  );

  return {
    displayName: displayName as string,
    backchannelExpiresIn,
    backchannelMaxExpiresIn,
    backchannelPollingInterval: int('backchannel_polling_interval', 1, d.backchannelPollingInterval),
    userRateLimitPerMinute: int('user_rate_limit_per_minute', 1, d.userRateLimitPerMinute),
    bindingMessageRequired: bool('binding_message_required', d.bindingMessageRequired),
    bindingMessageMaxLength: int('binding_message_max_length', 1, d.bindingMessageMaxLength),
    deliveryModes: [...(deliveryModes as DeliveryMode[])],
    signingAlg: signingAlg as SigningAlg,
    fapi: bool('fapi', d.fapi),
    developmentMode: bool('development_mode', d.developmentMode),
    callbackMaxAttempts: int('callback_max_attempts', 1, d.callbackMaxAttempts ?? 20),
    callbackMaxAgeSeconds: int('callback_max_age_seconds', 1, d.callbackMaxAgeSeconds ?? 86_400),
    // Abuse-control limits: kept only when given (absent means the defaults of abuseLimits).
    ...optionalInt('client_rate_limit_per_minute', 'clientRateLimitPerMinute'),
    ...optionalInt('tenant_rate_limit_per_minute', 'tenantRateLimitPerMinute'),
    ...optionalInt('max_pending_requests', 'maxPendingRequests'),
  };
};

/** DESIGN.md: development mode may be turned on in local mode only, never in AWS. */
export const parseAwsTenantSettings = (input: unknown, where?: string): TenantSettings => {
  const settings = parseTenantSettings(input, where);
  if (settings.developmentMode) {
    throw new InvalidTenantSettings(`${where ?? 'settings'}.development_mode cannot be enabled in AWS`);
  }
  return settings;
};
