import {
  CreatePlatformApplicationCommand,
  DeletePlatformApplicationCommand,
  SetPlatformApplicationAttributesCommand,
  type SNSClient,
} from '@aws-sdk/client-sns';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import type { Logger } from '../../lib/ports.ts';

/**
 * SNS platform applications (APNs, APNs sandbox, FCM) have no CloudFormation resource type: this custom
 * resource creates, updates and deletes them. Properties: `Name`, `Platform` (`APNS` | `APNS_SANDBOX` |
 * `GCM`), `CredentialsSecretArn`, `CredentialsVersion` (any string; change it to push rotated credentials).
 *
 * The credentials are read here from Secrets Manager, never passed as resource properties: CloudFormation
 * would resolve a dynamic reference into the event, and the provider framework logs every event.
 */
export interface PushPlatformsDeps {
  sns: SNSClient;
  readSecret(secretArn: string): Promise<string>;
  logger: Logger;
}

export type SnsPlatform = 'APNS' | 'APNS_SANDBOX' | 'GCM';
const PLATFORMS: readonly SnsPlatform[] = ['APNS', 'APNS_SANDBOX', 'GCM'];

/**
 * Secret formats (JSON in the secret string):
 * - APNs token-based: `{"signing_key": "-----BEGIN PRIVATE KEY-----...", "key_id", "team_id", "bundle_id"}`
 * - APNs certificate-based: `{"certificate": "-----BEGIN CERTIFICATE-----...", "private_key": "..."}`
 * - FCM (HTTP v1): the Firebase service-account JSON file as is.
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

export const createHandler =
  ({ sns, readSecret, logger }: PushPlatformsDeps) =>
  async (
    event: CloudFormationCustomResourceEvent,
  ): Promise<{ PhysicalResourceId: string; Data?: Record<string, string> }> => {
    const props = event.ResourceProperties as Record<string, unknown>;
    const name = String(props.Name ?? '');
    const platform = String(props.Platform ?? '') as SnsPlatform;

    if (event.RequestType === 'Delete') {
      // A create that failed leaves a physical id that is not an ARN: nothing to delete.
      if (event.PhysicalResourceId.startsWith('arn:')) {
        await sns.send(new DeletePlatformApplicationCommand({ PlatformApplicationArn: event.PhysicalResourceId }));
        logger.info('platform application deleted', { name, platform });
      }
      return { PhysicalResourceId: event.PhysicalResourceId };
    }

    if (!name || !PLATFORMS.includes(platform))
      throw new Error('Name and Platform (APNS, APNS_SANDBOX, GCM) are required');
    const attributes = platformAttributes(platform, await readSecret(String(props.CredentialsSecretArn ?? '')));

    if (event.RequestType === 'Update') {
      const old = event.OldResourceProperties as Record<string, unknown>;
      if (old.Name === name && old.Platform === platform) {
        await sns.send(
          new SetPlatformApplicationAttributesCommand({
            PlatformApplicationArn: event.PhysicalResourceId,
            Attributes: attributes,
          }),
        );
        logger.info('platform application updated', { name, platform });
        return { PhysicalResourceId: event.PhysicalResourceId, Data: { Arn: event.PhysicalResourceId } };
      }
      // A new name or platform is a new application; CloudFormation then deletes the old one.
    }

    const out = await sns.send(
      new CreatePlatformApplicationCommand({ Name: name, Platform: platform, Attributes: attributes }),
    );
    if (!out.PlatformApplicationArn) throw new Error('CreatePlatformApplication returned no ARN');
    logger.info('platform application created', { name, platform });
    return { PhysicalResourceId: out.PlatformApplicationArn, Data: { Arn: out.PlatformApplicationArn } };
  };
