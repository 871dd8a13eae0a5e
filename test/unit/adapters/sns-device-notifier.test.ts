import {
  CreatePlatformEndpointCommand,
  EndpointDisabledException,
  GetEndpointAttributesCommand,
  InternalErrorException,
  InvalidParameterException,
  NotFoundException,
  PublishCommand,
  SetEndpointAttributesCommand,
  SNSClient,
} from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { SnsDeviceNotifier } from '../../../lib/adapters/sns-device-notifier.ts';
import type { DeviceSummary } from '../../../lib/model.ts';
import type { DeviceNotification, Logger } from '../../../lib/ports.ts';

const sns = mockClient(SNSClient);
const NOW = 1_750_000_000_000;
const TEMPLATE = 'arn:aws:sns:eu-west-1:111122223333:app/{platform}/ciba-{tenant}';
const ENDPOINT = 'arn:aws:sns:eu-west-1:111122223333:endpoint/APNS/ciba-acme/5a1b2c3d-0000-4000-8000-000000000001';

const logged: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
const logger: Logger = {
  debug: (message, fields) => logged.push({ level: 'debug', message, ...(fields ? { fields } : {}) }),
  info: (message, fields) => logged.push({ level: 'info', message, ...(fields ? { fields } : {}) }),
  warn: (message, fields) => logged.push({ level: 'warn', message, ...(fields ? { fields } : {}) }),
  error: (message, fields) => logged.push({ level: 'error', message, ...(fields ? { fields } : {}) }),
};

const notifier = () =>
  new SnsDeviceNotifier({
    client: new SNSClient({ region: 'eu-west-1' }),
    platformApplicationArnTemplate: TEMPLATE,
    logger,
    clock: { now: () => NOW },
  });

const notification: DeviceNotification = {
  tenantId: 'acme',
  txn: 'txn-123',
  title: 'ACME support: approve Call center?',
  body: 'code 4F-22',
  expiresAt: NOW + 120_000,
};

const device = (push: DeviceSummary['push']): DeviceSummary => ({
  deviceId: 'dev-1',
  name: 'Phone',
  createdAt: NOW,
  ...(push ? { push } : {}),
});

beforeEach(() => {
  sns.reset();
  logged.length = 0;
});

describe('SnsDeviceNotifier.notify', () => {
  it('publishes one JSON message with APNs, APNs sandbox and FCM v1 payloads to the endpoint', async () => {
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });

    const result = await notifier().notify(device({ type: 'apns', token: 'tok', endpointArn: ENDPOINT }), notification);

    expect(result).toEqual({});
    const input = sns.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(input).toEqual({
      TargetArn: ENDPOINT,
      MessageStructure: 'json',
      Message: expect.any(String),
      MessageAttributes: {
        'AWS.SNS.MOBILE.APNS.TTL': { DataType: 'String', StringValue: '120' },
        'AWS.SNS.MOBILE.APNS.PUSH_TYPE': { DataType: 'String', StringValue: 'alert' },
        'AWS.SNS.MOBILE.APNS.PRIORITY': { DataType: 'String', StringValue: '10' },
      },
    });
    const message = JSON.parse(input.Message!);
    expect(Object.keys(message).sort()).toEqual(['APNS', 'APNS_SANDBOX', 'GCM', 'default']);
    expect(message.default).toBe('code 4F-22');
    expect(JSON.parse(message.APNS)).toEqual({
      aps: { alert: { title: 'ACME support: approve Call center?', body: 'code 4F-22' }, sound: 'default' },
      txn: 'txn-123',
      tenant: 'acme',
    });
    expect(message.APNS_SANDBOX).toBe(message.APNS);
    expect(JSON.parse(message.GCM)).toEqual({
      fcmV1Message: {
        message: {
          notification: { title: 'ACME support: approve Call center?', body: 'code 4F-22' },
          data: { txn: 'txn-123', tenant: 'acme' },
          android: { priority: 'high', ttl: '120s' },
        },
      },
    });
  });

  it('never puts the auth_req_id or anything but the shown text and ids in the payload', async () => {
    sns.on(PublishCommand).resolves({});
    await notifier().notify(device({ type: 'fcm', token: 'tok', endpointArn: ENDPOINT }), {
      ...notification,
      // Extra fields a caller might leak by mistake are not copied.
      ...({ authReqId: 'txn-123.secret' } as object),
    });
    const input = sns.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(input.Message).not.toContain('secret');
    expect(input.MessageAttributes).toEqual({ 'AWS.SNS.MOBILE.FCM.TTL': { DataType: 'String', StringValue: '120' } });
  });

  it('reports a disabled endpoint so the device push is marked disabled', async () => {
    sns.on(PublishCommand).rejects(new EndpointDisabledException({ message: 'Endpoint is disabled', $metadata: {} }));
    const result = await notifier().notify(device({ type: 'apns', token: 'tok', endpointArn: ENDPOINT }), notification);
    expect(result).toEqual({ disabled: true });
  });

  it('logs and swallows any other failure', async () => {
    sns.on(PublishCommand).rejects(new InternalErrorException({ message: 'boom', $metadata: {} }));
    const result = await notifier().notify(device({ type: 'fcm', token: 'tok', endpointArn: ENDPOINT }), notification);
    expect(result).toEqual({});
    expect(logged).toEqual([
      {
        level: 'warn',
        message: 'push notification failed',
        fields: { tenant: 'acme', device_id: 'dev-1', error_name: 'InternalErrorException' },
      },
    ]);
  });

  it.each([
    ['no push channel', undefined],
    ['a webhook channel', { type: 'webhook' as const, url: 'https://example.com/hook' }],
    ['a disabled endpoint', { type: 'apns' as const, token: 't', endpointArn: ENDPOINT, disabled: true }],
    ['no endpoint yet', { type: 'fcm' as const, token: 't' }],
  ])('does not publish for %s', async (_, push) => {
    await expect(notifier().notify(device(push), notification)).resolves.toEqual({});
    expect(sns.calls()).toHaveLength(0);
  });
});

describe('SnsDeviceNotifier.register', () => {
  it.each([
    ['apns', 'APNS'],
    ['apns_sandbox', 'APNS_SANDBOX'],
    ['fcm', 'GCM'],
  ] as const)('creates a %s endpoint under the tenant platform application', async (type, platform) => {
    sns.on(CreatePlatformEndpointCommand).resolves({ EndpointArn: ENDPOINT });
    sns.on(GetEndpointAttributesCommand).resolves({ Attributes: { Enabled: 'true', Token: 'device-token' } });

    const push = await notifier().register('acme', 'dev-1', { type, token: 'device-token' });

    expect(push).toEqual({ type, token: 'device-token', endpointArn: ENDPOINT, disabled: false });
    expect(sns.commandCalls(CreatePlatformEndpointCommand)[0]!.args[0].input).toEqual({
      PlatformApplicationArn: `arn:aws:sns:eu-west-1:111122223333:app/${platform}/ciba-acme`,
      Token: 'device-token',
      CustomUserData: 'dev-1',
    });
    expect(sns.commandCalls(SetEndpointAttributesCommand)).toHaveLength(0);
  });

  // CreatePlatformEndpoint returns the endpoint it already has for the same token and attributes as it is: after
  // APNs/FCM reported the token gone, SNS disabled it, and the app enrolling again with the same token got it back
  // disabled, so every later push failed.
  it.each([
    ['disabled', { Enabled: 'false', Token: 'device-token' }],
    ['holding another token', { Enabled: 'true', Token: 'older-token' }],
  ])('re-enables the endpoint SNS hands back %s', async (_, attributes) => {
    sns.on(CreatePlatformEndpointCommand).resolves({ EndpointArn: ENDPOINT });
    sns.on(GetEndpointAttributesCommand).resolves({ Attributes: attributes });
    sns.on(SetEndpointAttributesCommand).resolves({});

    const push = await notifier().register('acme', 'dev-1', { type: 'fcm', token: 'device-token' });

    expect(push).toEqual({ type: 'fcm', token: 'device-token', endpointArn: ENDPOINT, disabled: false });
    expect(sns.commandCalls(GetEndpointAttributesCommand)[0]!.args[0].input).toEqual({ EndpointArn: ENDPOINT });
    expect(sns.commandCalls(SetEndpointAttributesCommand)[0]!.args[0].input).toEqual({
      EndpointArn: ENDPOINT,
      Attributes: { Token: 'device-token', Enabled: 'true', CustomUserData: 'dev-1' },
    });
  });

  it('takes over and re-enables the endpoint that already holds the token', async () => {
    sns.on(CreatePlatformEndpointCommand).rejects(
      new InvalidParameterException({
        message: `Invalid parameter: Token Reason: Endpoint ${ENDPOINT} already exists with the same Token, but different attributes.`,
        $metadata: {},
      }),
    );
    sns.on(SetEndpointAttributesCommand).resolves({});

    const push = await notifier().register('acme', 'dev-2', { type: 'apns', token: 'device-token' });

    expect(push).toEqual({ type: 'apns', token: 'device-token', endpointArn: ENDPOINT, disabled: false });
    expect(sns.commandCalls(SetEndpointAttributesCommand)[0]!.args[0].input).toEqual({
      EndpointArn: ENDPOINT,
      Attributes: { Token: 'device-token', Enabled: 'true', CustomUserData: 'dev-2' },
    });
  });

  it('marks the channel disabled when the tenant has no platform application for it', async () => {
    sns.on(CreatePlatformEndpointCommand).rejects(new NotFoundException({ message: 'not found', $metadata: {} }));
    const push = await notifier().register('acme', 'dev-1', { type: 'fcm', token: 'device-token' });
    expect(push).toEqual({ type: 'fcm', token: 'device-token', disabled: true });
  });

  it('logs an endpoint SNS refused (throttling, credentials) with its tenant, and lets the error through', async () => {
    sns.on(CreatePlatformEndpointCommand).rejects(new InternalErrorException({ message: 'throttled', $metadata: {} }));
    await expect(notifier().register('acme', 'dev-1', { type: 'fcm', token: 'device-token' })).rejects.toThrow(
      'throttled',
    );
    expect(logged).toEqual([
      {
        level: 'warn',
        message: 'push endpoint not created',
        fields: { tenant: 'acme', device_id: 'dev-1', error_name: 'InternalErrorException' },
      },
    ]);
  });

  it('leaves webhook channels alone', async () => {
    const push = { type: 'webhook' as const, url: 'http://127.0.0.1:9999/hook' };
    await expect(notifier().register('acme', 'dev-1', push)).resolves.toBe(push);
    expect(sns.calls()).toHaveLength(0);
  });
});
