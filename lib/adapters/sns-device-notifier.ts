import {
  CreatePlatformEndpointCommand,
  GetEndpointAttributesCommand,
  type MessageAttributeValue,
  PublishCommand,
  SetEndpointAttributesCommand,
  type SNSClient,
} from '@aws-sdk/client-sns';
import type { DevicePush, DeviceSummary } from '../model.ts';
import type { Clock, DeviceNotification, DeviceNotifier, Logger } from '../ports.ts';

type MobilePush = Extract<DevicePush, { type: 'apns' | 'apns_sandbox' | 'fcm' }>;
export type MobilePushType = MobilePush['type'];

/** SNS platform names per device push type. */
export const SNS_PLATFORM: Record<MobilePushType, 'APNS' | 'APNS_SANDBOX' | 'GCM'> = {
  apns: 'APNS',
  apns_sandbox: 'APNS_SANDBOX',
  fcm: 'GCM',
};

/**
 * The ARN of a tenant's platform application. The infrastructure names them deterministically
 * (`{prefix}-{tenant}` under each platform), so the ARN is a template:
 * `arn:aws:sns:{region}:{account}:app/{platform}/ciba-{tenant}`.
 */
export const platformApplicationArn = (template: string, tenantId: string, type: MobilePushType): string =>
  template.replaceAll('{platform}', SNS_PLATFORM[type]).replaceAll('{tenant}', tenantId);

export interface SnsDeviceNotifierOptions {
  client: SNSClient;
  /** See `platformApplicationArn`. */
  platformApplicationArnTemplate: string;
  logger: Logger;
  clock?: Clock;
}

const isMobile = (push: DevicePush | undefined): push is MobilePush =>
  push !== undefined && push.type !== 'webhook' && push.type !== 'webpush';

const errorName = (error: unknown): string => (error as { name?: string })?.name ?? '';

/**
 * Mobile push through SNS platform endpoints (one per enrolled device). The payload carries only what
 * the notification shows plus the transaction id; never the auth_req_id (the device never sees it: docs/device-api.md).
 */
export class SnsDeviceNotifier implements DeviceNotifier {
  readonly #sns: SNSClient;
  readonly #template: string;
  readonly #logger: Logger;
  readonly #clock: Clock;

  constructor({ client, platformApplicationArnTemplate, logger, clock = { now: Date.now } }: SnsDeviceNotifierOptions) {
    this.#sns = client;
    this.#template = platformApplicationArnTemplate;
    this.#logger = logger;
    this.#clock = clock;
  }

  async notify(device: DeviceSummary, notification: DeviceNotification): Promise<{ disabled?: boolean }> {
    const push = device.push;
    if (!isMobile(push) || push.disabled || !push.endpointArn) return {};
    const ttl = Math.max(1, Math.floor((notification.expiresAt - this.#clock.now()) / 1000));
    try {
      await this.#sns.send(
        new PublishCommand({
          TargetArn: push.endpointArn,
          MessageStructure: 'json',
          Message: JSON.stringify(pushMessage(notification, ttl)),
          MessageAttributes: pushAttributes(push.type, ttl),
        }),
      );
      return {};
    } catch (error) {
      // SNS answers EndpointDisabled once APNs/FCM reported the token gone (app uninstalled, token rotated).
      if (/EndpointDisabled/.test(errorName(error))) return { disabled: true };
      this.#logger.warn('push notification failed', {
        tenant: notification.tenantId,
        device_id: device.deviceId,
        error_name: errorName(error),
      });
      return {};
    }
  }

  /**
   * Enrollment: creates (or re-enables) the device's platform endpoint and returns the push channel with
   * its `endpointArn`. A tenant without a platform application for this push type gets the channel back
   * marked disabled, so enrollment still succeeds and the device polls instead.
   */
  async register(tenantId: string, deviceId: string, push: DevicePush): Promise<DevicePush> {
    if (!isMobile(push)) return push;
    const PlatformApplicationArn = platformApplicationArn(this.#template, tenantId, push.type);
    const userData = { CustomUserData: deviceId };
    try {
      const out = await this.#sns.send(
        new CreatePlatformEndpointCommand({ PlatformApplicationArn, Token: push.token, ...userData }),
      );
      if (!out.EndpointArn) throw new Error('CreatePlatformEndpoint returned no EndpointArn');
      // CreatePlatformEndpoint is idempotent: for a token it already knows with the same attributes it returns that
      // endpoint as it is, disabled too (after APNs/FCM reported the token gone, and the app then enrolled again
      // with it). AWS's token-management pattern: read the endpoint back and re-enable it when it is not enabled.
      const current = await this.#sns.send(new GetEndpointAttributesCommand({ EndpointArn: out.EndpointArn }));
      if (current.Attributes?.Enabled !== 'true' || current.Attributes?.Token !== push.token) {
        await this.#enable(out.EndpointArn, push.token, userData);
      }
      return { ...push, endpointArn: out.EndpointArn, disabled: false };
    } catch (error) {
      const existing = existingEndpointArn(error);
      if (existing) {
        // The token already has an endpoint with other attributes (another device's enrollment, or disabled
        // earlier): take it over and re-enable it.
        await this.#enable(existing, push.token, userData);
        return { ...push, endpointArn: existing, disabled: false };
      }
      if (errorName(error) === 'NotFoundException' || errorName(error) === 'NotFound') {
        this.#logger.warn('no SNS platform application for this push type', { tenant: tenantId, type: push.type });
        return { ...push, disabled: true };
      }
      // Throttling, credentials: counted with the failed pushes (PushFailuresAlarm), the enrollment answers the error.
      this.#logger.warn('push endpoint not created', {
        tenant: tenantId,
        device_id: deviceId,
        error_name: errorName(error),
      });
      throw error;
    }
  }

  async #enable(endpointArn: string, token: string, userData: { CustomUserData: string }): Promise<void> {
    await this.#sns.send(
      new SetEndpointAttributesCommand({
        EndpointArn: endpointArn,
        Attributes: { Token: token, Enabled: 'true', ...userData },
      }),
    );
  }
}

/** SNS: "Invalid parameter: Token Reason: Endpoint arn:... already exists with the same Token, but different attributes." */
const existingEndpointArn = (error: unknown): string | undefined => {
  if (errorName(error) !== 'InvalidParameterException') return undefined;
  return /Endpoint (arn:[^ ]+) already exists/.exec((error as Error).message ?? '')?.[1];
};

export const pushMessage = (n: DeviceNotification, ttlSeconds: number): Record<string, string> => {
  const data = { txn: n.txn, tenant: n.tenantId };
  const apns = JSON.stringify({ aps: { alert: { title: n.title, body: n.body }, sound: 'default' }, ...data });
  return {
    default: n.body,
    APNS: apns,
    APNS_SANDBOX: apns,
    // FCM HTTP v1 (the legacy FCM API is gone): SNS takes the v1 message under `fcmV1Message`.
    GCM: JSON.stringify({
      fcmV1Message: {
        message: {
          notification: { title: n.title, body: n.body },
          data,
          android: { priority: 'high', ttl: `${ttlSeconds}s` },
        },
      },
    }),
  };
};

const pushAttributes = (type: MobilePushType, ttlSeconds: number): Record<string, MessageAttributeValue> => {
  const number = (value: number): MessageAttributeValue => ({ DataType: 'String', StringValue: String(value) });
  if (type === 'fcm') return { 'AWS.SNS.MOBILE.FCM.TTL': number(ttlSeconds) };
  const platform = SNS_PLATFORM[type];
  return {
    // A request the user can no longer approve must not be shown: APNs drops it after the TTL.
    [`AWS.SNS.MOBILE.${platform}.TTL`]: number(ttlSeconds),
    'AWS.SNS.MOBILE.APNS.PUSH_TYPE': { DataType: 'String', StringValue: 'alert' },
    'AWS.SNS.MOBILE.APNS.PRIORITY': { DataType: 'String', StringValue: '10' },
  };
};
