import { applySettingsPatch } from '../../lib/admin/tenants.ts';
import { WireError } from '../../lib/errors.ts';
import { DEFAULT_TENANT_SETTINGS, type TenantSettings } from '../../lib/model.ts';

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
    if (error instanceof WireError) throw new InvalidTenantSettings(`${where}: ${error.message}`);
    throw error;
  }
};

/** Web Push for a tenant in AWS: the VAPID contact from the tenants file, the key pair from Secrets Manager. */
export interface AwsWebPush {
  subject: string;
  vapid_public_key: string;
  vapid_private_key: string;
}

/**
 * The VAPID key pair in a Secrets Manager secret: `{"publicKey", "privateKey"}` as `npx web-push
 * generate-vapid-keys --json` prints it, or `{"vapid_public_key", "vapid_private_key"}` as the admin API names them.
 */
export const vapidKeysFromSecret = (secret: string): Pick<AwsWebPush, 'vapid_public_key' | 'vapid_private_key'> => {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(secret) as Record<string, unknown>;
  } catch {
    throw new InvalidTenantSettings('the Web Push secret is not JSON');
  }
  const publicKey = parsed.vapid_public_key ?? parsed.publicKey;
  const privateKey = parsed.vapid_private_key ?? parsed.privateKey;
  if (typeof publicKey !== 'string' || typeof privateKey !== 'string') {
    throw new InvalidTenantSettings('the Web Push secret must hold "publicKey" and "privateKey" (web-push --json)');
  }
  return { vapid_public_key: publicKey, vapid_private_key: privateKey };
};

/**
 * Development mode may be turned on in local mode only (docs/admin-api.md), never in AWS. Web Push keys are not taken
 * from the tenants file (the VAPID private key would sit in plain text in the template): the file names a
 * Secrets Manager secret, which the provisioner reads at deployment and passes here as `webPush`; the keys are
 * checked like those of `PUT /admin/tenants/{tenant}`.
 */
export const parseAwsTenantSettings = (input: unknown, where = 'settings', webPush?: AwsWebPush): TenantSettings => {
  if (input && typeof input === 'object' && 'web_push' in input) {
    throw new InvalidTenantSettings(
      `${where}.web_push is not supported in the tenants file (its private key would be in the template): use push.web with a secret`,
    );
  }
  const withWebPush =
    webPush && input && typeof input === 'object'
      ? { ...input, web_push: webPush }
      : webPush
        ? { web_push: webPush }
        : input;
  const settings = parseTenantSettings(withWebPush, where);
  if (settings.developmentMode) throw new InvalidTenantSettings(`${where}.development_mode cannot be enabled in AWS`);
  return settings;
};
