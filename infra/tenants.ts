import type { TenantEntry } from '../functions/tenant-provisioner/resources.ts';
import { parseAwsTenantSettings, type TenantSettingsInput } from '../functions/tenant-provisioner/settings.ts';
import { isValidTenantId } from '../lib/http/routes.ts';
import type { SigningAlg, TenantSettings } from '../lib/model.ts';

/**
 * The tenants file (`infra/tenants.example.json` documents it): one entry per tenant. Adding a tenant is
 * adding an entry and running `cdk deploy`. Checked completely at synth time, so a typo fails before
 * anything is deployed.
 */
export interface TenantPushCredentials {
  /** Secrets Manager secret name or ARN holding the credentials (format: lib/adapters/sns-push-platforms.ts). */
  secret: string;
  /** Change it (any string) after rotating the secret, so the deployment pushes the new credentials to SNS. */
  version: string;
}

export interface TenantConfig {
  id: string;
  /** Snake_case, as written in the file, with `push_credentials` from `push`: the provisioner receives exactly this. */
  settingsInput: TenantSettingsInput;
  /** The same, checked and completed with the defaults. */
  settings: TenantSettings;
  signingKey: {
    /** Bump to rotate at the next deployment (as `ciba tenant rotate-keys` does at once). */
    version: number;
    /** Deployments before keysets (`ciba:legacyKeys=keep`): the alg of the key behind the `/previous` alias. */
    previousAlg: SigningAlg;
  };
  push: {
    apns?: TenantPushCredentials & { sandbox: boolean };
    fcm?: TenantPushCredentials;
    /** Web Push: the VAPID contact (`mailto:` or `https:`) and the secret holding the key pair. */
    web?: TenantPushCredentials & { subject: string };
  };
  /**
   * Deployments before the shared callback rule gave each tenant's rule its own EventBridge retry policy; the shared
   * rule retries for 24 h (185 attempts), and a tenant's `callback_max_attempts` / `callback_max_age_seconds` settings
   * rule the callback function's own retries. Still read (and checked) so that older files keep working.
   */
  callbacks: { retryAttempts: number; maxEventAgeSeconds: number };
  /** What removing the tenant from the file does to its data: `retain` (default) keeps every item. */
  onDelete: 'retain' | 'destroy';
}

const KNOWN = new Set(['id', 'settings', 'signing_key', 'push', 'callbacks', 'on_delete']);

export class InvalidTenantsFile extends Error {
  override readonly name = 'InvalidTenantsFile';
}

const object = (value: unknown, where: string): Record<string, unknown> => {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidTenantsFile(`${where} must be an object`);
  }
  return value as Record<string, unknown>;
};

const int = (value: unknown, where: string, min: number, max: number, fallback: number): number => {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidTenantsFile(`${where} must be an integer from ${min} to ${max}`);
  }
  return value;
};

const credentials = (value: unknown, where: string): TenantPushCredentials | undefined => {
  if (value === undefined) return undefined;
  const raw = object(value, where);
  if (typeof raw.secret !== 'string' || !raw.secret) throw new InvalidTenantsFile(`${where}.secret is required`);
  const version = raw.version ?? '1';
  if (typeof version !== 'string' && typeof version !== 'number') {
    throw new InvalidTenantsFile(`${where}.version must be a string`);
  }
  return { secret: raw.secret, version: String(version) };
};

export interface TenantsFileOptions {
  /**
   * The deployment's name: the Secrets Manager secrets the file names must be under `{prefix}/` (the deployment may
   * read only those: docs/deploy.md "Push credentials").
   */
  prefix?: string;
}

const secretArnName = /^arn:[a-z-]+:secretsmanager:[a-z0-9-]+:\d{12}:secret:(.+?)(-[A-Za-z0-9]{6})?$/;

/** The name of a secret given by name or ARN (an ARN's random suffix dropped). */
export const secretName = (nameOrArn: string): string => secretArnName.exec(nameOrArn)?.[1] ?? nameOrArn;

/**
 * One entry of the tenants file, as written there (snake_case); a `CibaTenant` construct takes the same. Typed loosely
 * where the settings' own checks (parseAwsTenantSettings) give the precise errors.
 */
export interface TenantFileEntry {
  /** `[a-z0-9][a-z0-9-]{0,62}`, not reserved (`admin`, `health`, `assets`): the issuer is `{BaseUrl}/{id}`. */
  id: string;
  /** The tenant settings of the admin API (docs/admin-api.md), snake_case; `push_credentials` go in `push`. */
  settings?: Record<string, unknown>;
  signing_key?: { version?: number; previous_alg?: SigningAlg };
  push?: {
    apns?: { secret: string; version?: string | number; sandbox?: boolean };
    fcm?: { secret: string; version?: string | number };
    web?: { secret: string; version?: string | number; subject: string };
  };
  /** Read for older files only (the shared callback rule's retries apply). */
  callbacks?: { retry_attempts?: number; max_event_age_seconds?: number };
  /** What removing the tenant from the deployment does to its data (default `retain`). */
  on_delete?: 'retain' | 'destroy';
}

export const parseTenantsFile = (json: unknown, options: TenantsFileOptions = {}): TenantConfig[] => {
  const file = object(json, 'the tenants file');
  if (!Array.isArray(file.tenants)) throw new InvalidTenantsFile('the tenants file must have a "tenants" list');
  const seen = new Set<string>();
  return file.tenants.map((entry, index): TenantConfig => {
    const tenant = parseTenantEntry(entry, `tenants[${index}]`, options);
    if (seen.has(tenant.id)) throw new InvalidTenantsFile(`tenant ${tenant.id} is listed twice`);
    seen.add(tenant.id);
    return tenant;
  });
};

/** One tenant as the tenants file has it (`at` names it in errors until its id is known): every check of the file. */
export const parseTenantEntry = (entry: unknown, at: string, options: TenantsFileOptions = {}): TenantConfig => {
  const raw = object(entry, at);
  const id = raw.id;
  if (typeof id !== 'string' || !isValidTenantId(id)) {
    throw new InvalidTenantsFile(`${at}.id must match [a-z0-9][a-z0-9-]{0,62} and not be reserved`);
  }
  const where = `tenant ${id}`;
  for (const key of Object.keys(raw)) {
    if (!KNOWN.has(key)) throw new InvalidTenantsFile(`${where}: unknown field ${key}`);
  }

  const push = object(raw.push, `${where}.push`);
  const apns = credentials(push.apns, `${where}.push.apns`);
  const fcm = credentials(push.fcm, `${where}.push.fcm`);
  const webCredentials = credentials(push.web, `${where}.push.web`);
  for (const [name, ref] of [
    ['apns', apns],
    ['fcm', fcm],
    ['web', webCredentials],
  ] as const) {
    if (ref && options.prefix && !secretName(ref.secret).startsWith(`${options.prefix}/`)) {
      throw new InvalidTenantsFile(
        `${where}.push.${name}.secret must be named ${options.prefix}/... (the deployment reads only its own secrets)`,
      );
    }
  }
  const sandbox = object(push.apns, `${where}.push.apns`).sandbox ?? false;
  if (typeof sandbox !== 'boolean') throw new InvalidTenantsFile(`${where}.push.apns.sandbox must be true or false`);

  const fileSettings = object(raw.settings, `${where}.settings`);
  if ('push_credentials' in fileSettings) {
    throw new InvalidTenantsFile(`${where}.settings.push_credentials: name the secrets in push.apns and push.fcm`);
  }
  const settingsInput: TenantSettingsInput = {
    ...fileSettings,
    ...(apns || fcm
      ? {
          push_credentials: {
            ...(apns ? { apns: { ...apns, sandbox } } : {}),
            ...(fcm ? { fcm } : {}),
          },
        }
      : {}),
  };
  let settings: TenantSettings;
  try {
    settings = parseAwsTenantSettings(settingsInput, `${where}.settings`);
  } catch (error) {
    throw new InvalidTenantsFile((error as Error).message);
  }

  const key = object(raw.signing_key, `${where}.signing_key`);
  const previousAlg = key.previous_alg ?? settings.signingAlg;
  if (previousAlg !== 'ES256' && previousAlg !== 'PS256' && previousAlg !== 'RS256') {
    throw new InvalidTenantsFile(`${where}.signing_key.previous_alg must be ES256, PS256 or RS256`);
  }

  const subject = object(push.web, `${where}.push.web`).subject;
  if (webCredentials && (typeof subject !== 'string' || !/^(mailto:|https:\/\/)\S+$/.test(subject))) {
    throw new InvalidTenantsFile(`${where}.push.web.subject must be a mailto: or https: URL (the VAPID contact)`);
  }
  const web = webCredentials ? { ...webCredentials, subject: subject as string } : undefined;

  const callbacks = object(raw.callbacks, `${where}.callbacks`);
  const onDelete = raw.on_delete ?? 'retain';
  if (onDelete !== 'retain' && onDelete !== 'destroy') {
    throw new InvalidTenantsFile(`${where}.on_delete must be "retain" or "destroy"`);
  }

  return {
    id,
    settingsInput,
    settings,
    signingKey: { version: int(key.version, `${where}.signing_key.version`, 1, 1000, 1), previousAlg },
    push: { ...(apns ? { apns: { ...apns, sandbox } } : {}), ...(fcm ? { fcm } : {}), ...(web ? { web } : {}) },
    // EventBridge limits: 0-185 retries, 60 s to 24 h of event age.
    callbacks: {
      retryAttempts: int(callbacks.retry_attempts, `${where}.callbacks.retry_attempts`, 0, 185, 185),
      maxEventAgeSeconds: int(
        callbacks.max_event_age_seconds,
        `${where}.callbacks.max_event_age_seconds`,
        60,
        86_400,
        86_400,
      ),
    },
    onDelete,
  };
};

/** The tenant as its batch resource carries it to the provisioner. */
export const tenantEntry = (tenant: TenantConfig): TenantEntry => ({
  id: tenant.id,
  settings: tenant.settingsInput,
  ...(tenant.push.web
    ? {
        web_push: {
          subject: tenant.push.web.subject,
          secret: tenant.push.web.secret,
          version: tenant.push.web.version,
        },
      }
    : {}),
  signing_key_version: tenant.signingKey.version,
});
