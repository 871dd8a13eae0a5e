import {
  CreatePlatformApplicationCommand,
  DeletePlatformApplicationCommand,
  GetPlatformApplicationAttributesCommand,
  SetPlatformApplicationAttributesCommand,
  type SNSClient,
} from '@aws-sdk/client-sns';
import type { PushCredentials, PushCredentialsRef } from '../model.ts';
import type { Logger, PushPlatforms } from '../ports.ts';

export type SnsPlatform = 'APNS' | 'APNS_SANDBOX' | 'GCM';

/** SNS platform application name of a tenant; the SNS notifier derives the ARN from the same convention. */
export const platformApplicationName = (prefix: string, tenantId: string): string => `${prefix}-${tenantId}`;

/**
 * Secret formats (JSON in the secret string):
 * - APNs token-based: `{"signing_key": "-----BEGIN PRIVATE KEY-----...", "key_id", "team_id", "bundle_id"}`
 * - APNs certificate-based: `{"certificate": "-----BEGIN CERTIFICATE-----...", "private_key": "..."}`
 * - FCM (HTTP v1): the Firebase service-account JSON file as is.
 * Throws an error naming what is missing (never the secret's content).
 */
export const platformAttributes = (platform: SnsPlatform, secret: string): Record<string, string> => {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(secret) as Record<string, unknown>;
  } catch {
    throw new Error(`the ${platform} credentials secret is not JSON`);
  }
  const field = (name: string): string => {
    const value = parsed[name];
    if (typeof value !== 'string' || !value) throw new Error(`the ${platform} credentials secret lacks "${name}"`);
    return value;
  };
  if (platform === 'GCM') {
    if (parsed.type !== 'service_account') throw new Error('the FCM credentials secret must be a service-account JSON');
    return { PlatformCredential: secret };
  }
  if ('signing_key' in parsed) {
    return {
      PlatformCredential: field('signing_key'),
      PlatformPrincipal: field('key_id'),
      ApplePlatformTeamID: field('team_id'),
      ApplePlatformBundleID: field('bundle_id'),
    };
  }
  return { PlatformPrincipal: field('certificate'), PlatformCredential: field('private_key') };
};

/** The platform applications a tenant's credentials ask for, by SNS platform. */
const wanted = (credentials: PushCredentials | undefined): Map<SnsPlatform, PushCredentialsRef> => {
  const out = new Map<SnsPlatform, PushCredentialsRef>();
  if (credentials?.apns) out.set(credentials.apns.sandbox ? 'APNS_SANDBOX' : 'APNS', credentials.apns);
  if (credentials?.fcm) out.set('GCM', credentials.fcm);
  return out;
};

export interface SnsPushPlatformsOptions {
  sns: SNSClient;
  /** Reads a Secrets Manager secret's string (lib/adapters/aws/secrets.ts). */
  readSecret(secretId: string): Promise<string>;
  /** `arn:aws:sns:{region}:{account}:app/{platform}/{prefix}-{tenant}` (the notifier's template). */
  platformApplicationArnTemplate: string;
  prefix: string;
  logger: Logger;
}

const errorName = (error: unknown): string => (error as { name?: string })?.name ?? 'Error';

/**
 * SNS platform applications as data: made at run time (the admin API, the deployment's provisioner) from credentials
 * in Secrets Manager, named `{prefix}-{tenant}` under each platform. The credentials travel from the secret to SNS
 * only: never logged, stored or returned.
 */
export class SnsPushPlatforms implements PushPlatforms {
  readonly #sns: SNSClient;
  readonly #readSecret: (secretId: string) => Promise<string>;
  readonly #template: string;
  readonly #prefix: string;
  readonly #logger: Logger;

  constructor(options: SnsPushPlatformsOptions) {
    this.#sns = options.sns;
    this.#readSecret = options.readSecret;
    this.#template = options.platformApplicationArnTemplate;
    this.#prefix = options.prefix;
    this.#logger = options.logger;
  }

  #arn(tenantId: string, platform: SnsPlatform): string {
    return this.#template.replaceAll('{platform}', platform).replaceAll('{tenant}', tenantId);
  }

  async apply(
    tenantId: string,
    next: PushCredentials | undefined,
    previous: PushCredentials | undefined,
  ): Promise<{ refused?: string }> {
    const want = wanted(next);
    const had = wanted(previous);
    // Every secret read and checked first: a refused one changes nothing.
    const attributes = new Map<SnsPlatform, Record<string, string>>();
    for (const [platform, ref] of want) {
      const before = had.get(platform);
      if (before && before.secret === ref.secret && before.version === ref.version) {
        if (await this.#exists(tenantId, platform)) continue;
      }
      let secret: string;
      try {
        secret = await this.#readSecret(ref.secret);
      } catch (error) {
        return { refused: `the secret ${ref.secret} cannot be read (${errorName(error)})` };
      }
      try {
        attributes.set(platform, platformAttributes(platform, secret));
      } catch (error) {
        return { refused: (error as Error).message };
      }
    }
    for (const [platform, attrs] of attributes) {
      const arn = this.#arn(tenantId, platform);
      if (await this.#exists(tenantId, platform)) {
        await this.#sns.send(
          new SetPlatformApplicationAttributesCommand({ PlatformApplicationArn: arn, Attributes: attrs }),
        );
        this.#logger.info('platform application updated', { tenant_id: tenantId, platform });
      } else {
        await this.#sns.send(
          new CreatePlatformApplicationCommand({
            Name: platformApplicationName(this.#prefix, tenantId),
            Platform: platform,
            Attributes: attrs,
          }),
        );
        this.#logger.info('platform application created', { tenant_id: tenantId, platform });
      }
    }
    for (const platform of had.keys()) {
      if (!want.has(platform)) await this.#delete(tenantId, platform);
    }
    return {};
  }

  async remove(tenantId: string, previous: PushCredentials | undefined): Promise<void> {
    for (const platform of wanted(previous).keys()) await this.#delete(tenantId, platform);
  }

  async #exists(tenantId: string, platform: SnsPlatform): Promise<boolean> {
    try {
      await this.#sns.send(
        new GetPlatformApplicationAttributesCommand({ PlatformApplicationArn: this.#arn(tenantId, platform) }),
      );
      return true;
    } catch (error) {
      if (errorName(error) === 'NotFoundException' || errorName(error) === 'NotFound') return false;
      throw error;
    }
  }

  async #delete(tenantId: string, platform: SnsPlatform): Promise<void> {
    await this.#sns.send(
      new DeletePlatformApplicationCommand({ PlatformApplicationArn: this.#arn(tenantId, platform) }),
    );
    this.#logger.info('platform application deleted', { tenant_id: tenantId, platform });
  }
}
