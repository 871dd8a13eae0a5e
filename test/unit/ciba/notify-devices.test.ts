import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { SnsDeviceNotifier } from '../../../lib/adapters/sns-device-notifier.ts';
import { notifyDevices } from '../../../lib/ciba/notify-devices.ts';
import { type AuthRequest, type Client, DEFAULT_TENANT_SETTINGS, type Tenant, type User } from '../../../lib/model.ts';
import type { Logger } from '../../../lib/ports.ts';
import { memoryStore } from '../../helpers/memory-store.ts';

const sns = mockClient(SNSClient);
const NOW = 1_750_000_000_000;
const logger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

const tenant = (bindingCodeConfirmation: boolean): Tenant => ({
  tenantId: 'acme',
  settings: { ...DEFAULT_TENANT_SETTINGS, displayName: 'ACME Bank', bindingCodeConfirmation },
  createdAt: NOW,
  updatedAt: NOW,
});

const client = { tenantId: 'acme', clientId: 'call-center', clientName: 'Call center' } as Client;

const user: User = {
  tenantId: 'acme',
  sub: 'alice',
  claims: {},
  createdAt: NOW,
  updatedAt: NOW,
  devices: [
    {
      deviceId: 'iphone',
      name: 'iPhone',
      createdAt: NOW,
      push: { type: 'apns', token: 't1', endpointArn: 'arn:aws:sns:eu-west-1:1:endpoint/APNS/ciba-acme/1' },
    },
    {
      deviceId: 'pixel',
      name: 'Pixel',
      createdAt: NOW,
      push: { type: 'fcm', token: 't2', endpointArn: 'arn:aws:sns:eu-west-1:1:endpoint/GCM/ciba-acme/2' },
    },
  ],
};

const request = {
  txn: 'txn-1',
  tenantId: 'acme',
  bindingMessage: 'Code 4F-22',
  expiresAt: NOW + 120_000,
} as AuthRequest;

/** What SNS was asked to publish, per endpoint: the message as each platform gets it. */
const published = async (confirmation: boolean) => {
  sns.on(PublishCommand).resolves({ MessageId: 'm' });
  await notifyDevices(
    {
      pushChannels: memoryStore().pushChannels,
      notifier: new SnsDeviceNotifier({
        client: new SNSClient({ region: 'eu-west-1' }),
        platformApplicationArnTemplate: 'arn:aws:sns:eu-west-1:1:app/{platform}/ciba-{tenant}',
        logger,
        clock: { now: () => NOW },
      }),
      logger,
    },
    { tenant: tenant(confirmation), client, user, request },
  );
  return sns
    .commandCalls(PublishCommand)
    .map((call) => JSON.parse(call.args[0].input.Message!) as Record<string, string>);
};

beforeEach(() => sns.reset());

describe('hardening rule 2: SNS mobile push (APNs, FCM) with binding-code confirmation', () => {
  it('carries neither the code nor the binding message in any platform payload, and says who asks', async () => {
    const messages = await published(true);
    expect(messages).toHaveLength(2);
    for (const message of messages) {
      for (const [platform, payload] of Object.entries(message)) {
        expect(payload, platform).not.toContain('4F-22');
        expect(payload, platform).not.toContain('Code ');
      }
      expect(JSON.parse(message.APNS!).aps.alert.title).toBe('ACME Bank: approve Call center?');
      expect(JSON.parse(message.GCM!).fcmV1Message.message.notification.title).toBe('ACME Bank: approve Call center?');
    }
  });

  it('shows the binding message when the code is only to be compared (the control)', async () => {
    for (const message of await published(false)) {
      expect(JSON.parse(message.APNS!).aps.alert.body).toBe('Code 4F-22');
      expect(message.default).toBe('Code 4F-22');
    }
  });
});
