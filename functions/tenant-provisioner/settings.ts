import { applySettingsPatch } from '../../lib/admin/tenants.ts';
import { DEFAULT_TENANT_SETTINGS, type TenantSettings } from '../../lib/model.ts';
import { OAuthError } from '../../lib/oauth/errors.ts';

/**
 * Tenant settings as an operator writes them in the tenants file: the same snake_case fields, checks and
 * defaults as `PUT /admin/tenants/{tenant}` (lib/admin/tenants.ts is the one place for them), over the
 * defaults. Used by the CDK app at synth time (a bad tenants file fails before deploying) and by the
 * provisioner at deploy time. Pure: no SDK, no CDK.
 */
export type TenantSettingsInput = Record<string, unknown>;

export class InvalidTenantSettings extends Error {
  override readonly name = 'InvalidTenantSettings';
}

/** Full settings: the given fields over the defaults. Throws `InvalidTenantSettings` naming the problem. */
export const parseTenantSettings = (input: unknown, where = 'settings'): TenantSettings => {
  if (input === undefined || input === null) return { ...DEFAULT_TENANT_SETTINGS };
  if (typeof input !== 'object' || Array.isArray(input)) throw new InvalidTenantSettings(`${where} must be an object`);
  try {
    return applySettingsPatch({ ...DEFAULT_TENANT_SETTINGS }, input);
  } catch (error) {
    if (error instanceof OAuthError) throw new InvalidTenantSettings(`${where}: ${error.message}`);
    throw error;
  }
};

/**
 * Development mode may be turned on in local mode only (docs/admin-api.md), never in AWS. Web Push keys are not taken
 * from the tenants file: the VAPID private key would sit in plain text in the template.
 */
export const parseAwsTenantSettings = (input: unknown, where = 'settings'): TenantSettings => {
  if (input && typeof input === 'object' && 'web_push' in input) {
    throw new InvalidTenantSettings(
      `${where}.web_push is not supported in the tenants file (its private key would be in the template)`,
    );
  }
  const settings = parseTenantSettings(input, where);
  if (settings.developmentMode) throw new InvalidTenantSettings(`${where}.development_mode cannot be enabled in AWS`);
  return settings;
};
