import * as z from 'zod';
import { InvalidRequest } from '../errors.ts';
import type { JsonWebKeyPublic, TenantSettings } from '../model.ts';
import { validateAuthorizationDetailsTypes } from '../oauth/authorization-details.ts';
import { FAPI_ALGS, FAPI_DELIVERY_MODES } from '../oauth/fapi.ts';
import { DEFAULT_REFRESH_TOKEN_TTL_SECONDS } from '../oauth/refresh-tokens.ts';

const PublicJwks = z.object({
  keys: z
    .array(z.record(z.string(), z.unknown()))
    .min(1)
    .max(20)
    .refine(
      (keys) =>
        keys.every((k) => typeof k.kty === 'string' && k.kty !== 'oct' && k.d === undefined && k.k === undefined),
      'jwks must hold public asymmetric keys only',
    ),
});

/**
 * Tenant settings for strong client authentication, login_hint_token, RAR, refresh tokens and FAPI (merged into
 * `TenantSettingsPatch`). `null` removes an optional one.
 */
export const StrongAuthSettingsShape = {
  /** RFC 8705 §5: where clients reach the mTLS endpoints, e.g. `https://mtls.example.com` (no tenant path). */
  mtls_base_url: z
    .string()
    .regex(/^https:\/\/[^\s/?#]+(\/[^\s?#]*)?$/, 'mtls_base_url must be an https URL without query or fragment')
    .nullable()
    .optional(),
  login_hint_token_issuers: z
    .array(z.strictObject({ issuer: z.string().min(1).max(512), jwks: PublicJwks }))
    .max(20)
    .nullable()
    .optional(),
  authorization_details_types: z.record(z.string(), z.record(z.string(), z.unknown())).nullable().optional(),
  refresh_token_ttl: z
    .int()
    .min(60)
    .max(365 * 86_400)
    .optional(),
};

type StrongAuthPatch = {
  [K in keyof typeof StrongAuthSettingsShape]?: z.infer<(typeof StrongAuthSettingsShape)[K]>;
};

/** The merged optional settings; the FAPI rules are checked on the whole result. */
export const mergeStrongAuthSettings = (
  current: TenantSettings,
  patch: StrongAuthPatch,
): Pick<
  TenantSettings,
  'mtlsBaseUrl' | 'loginHintTokenIssuers' | 'authorizationDetailsTypes' | 'refreshTokenTtlSeconds'
> => {
  const pick = <T>(value: T | null | undefined, fallback: T | undefined) =>
    value === null ? undefined : (value ?? fallback);
  const mtlsBaseUrl = pick(patch.mtls_base_url?.replace(/\/+$/, ''), current.mtlsBaseUrl);
  const issuers = pick(patch.login_hint_token_issuers, current.loginHintTokenIssuers);
  const types = pick(
    patch.authorization_details_types && validateAuthorizationDetailsTypes(patch.authorization_details_types),
    current.authorizationDetailsTypes,
  );
  const ttl = patch.refresh_token_ttl ?? current.refreshTokenTtlSeconds;
  return {
    ...(mtlsBaseUrl ? { mtlsBaseUrl } : {}),
    ...(issuers ? { loginHintTokenIssuers: issuers as { issuer: string; jwks: { keys: JsonWebKeyPublic[] } }[] } : {}),
    ...(types ? { authorizationDetailsTypes: types } : {}),
    ...(ttl !== undefined ? { refreshTokenTtlSeconds: ttl } : {}),
  };
};

/** FAPI-CIBA on a tenant: PS256 or ES256 ID tokens (FAPI 1.0 Advanced §8.6), no push (FAPI-CIBA §5.2.2-3). */
export const checkFapiSettings = (s: TenantSettings): void => {
  if (!s.fapi) return;
  if (!FAPI_ALGS.includes(s.signingAlg)) throw new InvalidRequest('a FAPI tenant signs with PS256 or ES256, not RS256');
  if (s.deliveryModes.some((m) => !FAPI_DELIVERY_MODES.includes(m))) {
    throw new InvalidRequest('a FAPI tenant offers poll and ping only: remove push from delivery_modes');
  }
};

export const strongAuthSettingsToWire = (s: TenantSettings) => ({
  mtls_base_url: s.mtlsBaseUrl ?? null,
  login_hint_token_issuers: s.loginHintTokenIssuers ?? [],
  authorization_details_types: s.authorizationDetailsTypes ?? {},
  refresh_token_ttl: s.refreshTokenTtlSeconds ?? DEFAULT_REFRESH_TOKEN_TTL_SECONDS,
});
