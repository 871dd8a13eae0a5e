import {
  CreatePlatformApplicationCommand,
  DeletePlatformApplicationCommand,
  SetPlatformApplicationAttributesCommand,
  SNSClient,
} from '@aws-sdk/client-sns';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/push-platforms/handler.ts';
import type { Logger } from '../../lib/ports.ts';

const sns = mockClient(SNSClient);
const APP = 'arn:aws:sns:eu-west-1:111122223333:app/APNS/ciba-acme';
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:ciba/acme/apns-AbCdEf';
const APNS_SECRET = JSON.stringify({
  signing_key: '-----BEGIN PRIVATE KEY-----\nMIGT...\n-----END PRIVATE KEY-----',
  key_id: 'ABC123DEFG',
  team_id: 'TEAM123456',
  bundle_id: 'com.acme.authenticator',
});
const FCM_SECRET = JSON.stringify({
  type: 'service_account',
  project_id: 'acme',
  private_key: 'k',
  client_email: 'x@y',
});

const lines: string[] = [];
const logger: Logger = {
  debug: (m, f) => lines.push(JSON.stringify([m, f])),
  info: (m, f) => lines.push(JSON.stringify([m, f])),
  warn: (m, f) => lines.push(JSON.stringify([m, f])),
  error: (m, f) => lines.push(JSON.stringify([m, f])),
};

const handler = (secret = APNS_SECRET) =>
  createHandler({ sns: new SNSClient({ region: 'eu-west-1' }), readSecret: async () => secret, logger });

const base = {
  ServiceToken: 'arn:aws:lambda:eu-west-1:111122223333:function:provider',
  ResponseURL: 'https://example.invalid',
  StackId: 'stack',
  RequestId: 'req',
  LogicalResourceId: 'Apns',
  ResourceType: 'Custom::CibaPushPlatform',
};
const props = (extra: object = {}) => ({
  ServiceToken: base.ServiceToken,
  Name: 'ciba-acme',
  Platform: 'APNS',
  CredentialsSecretArn: SECRET_ARN,
  CredentialsVersion: '1',
  ...extra,
});

beforeEach(() => {
  sns.reset();
  lines.length = 0;
});

describe('push platform applications custom resource', () => {
  it('creates an APNs token-based platform application from the secret', async () => {
    sns.on(CreatePlatformApplicationCommand).resolves({ PlatformApplicationArn: APP });

    const out = await handler()({
      ...base,
      RequestType: 'Create',
      ResourceProperties: props(),
    } as CloudFormationCustomResourceEvent);

    expect(out).toEqual({ PhysicalResourceId: APP, Data: { Arn: APP } });
    expect(sns.commandCalls(CreatePlatformApplicationCommand)[0]!.args[0].input).toEqual({
      Name: 'ciba-acme',
      Platform: 'APNS',
      Attributes: {
        PlatformCredential: '-----BEGIN PRIVATE KEY-----\nMIGT...\n-----END PRIVATE KEY-----',
        PlatformPrincipal: 'ABC123DEFG',
        ApplePlatformTeamID: 'TEAM123456',
        ApplePlatformBundleID: 'com.acme.authenticator',
      },
    });
    expect(lines.join('\n')).not.toContain('PRIVATE KEY');
  });

  it('creates an FCM application with the service-account JSON', async () => {
    sns.on(CreatePlatformApplicationCommand).resolves({ PlatformApplicationArn: APP });
    await handler(FCM_SECRET)({
      ...base,
      RequestType: 'Create',
      ResourceProperties: props({ Platform: 'GCM' }),
    } as CloudFormationCustomResourceEvent);
    expect(sns.commandCalls(CreatePlatformApplicationCommand)[0]!.args[0].input).toEqual({
      Name: 'ciba-acme',
      Platform: 'GCM',
      Attributes: { PlatformCredential: FCM_SECRET },
    });
  });

  it('updates the credentials in place when only the credentials changed', async () => {
    sns.on(SetPlatformApplicationAttributesCommand).resolves({});
    const out = await handler()({
      ...base,
      RequestType: 'Update',
      PhysicalResourceId: APP,
      OldResourceProperties: props(),
      ResourceProperties: props({ CredentialsVersion: '2' }),
    } as CloudFormationCustomResourceEvent);
    expect(out.PhysicalResourceId).toBe(APP);
    expect(sns.commandCalls(SetPlatformApplicationAttributesCommand)[0]!.args[0].input).toMatchObject({
      PlatformApplicationArn: APP,
      Attributes: { PlatformPrincipal: 'ABC123DEFG' },
    });
    expect(sns.commandCalls(CreatePlatformApplicationCommand)).toHaveLength(0);
  });

  it('creates a new application when the platform changes (CloudFormation deletes the old one)', async () => {
    const sandbox = 'arn:aws:sns:eu-west-1:111122223333:app/APNS_SANDBOX/ciba-acme';
    sns.on(CreatePlatformApplicationCommand).resolves({ PlatformApplicationArn: sandbox });
    const out = await handler()({
      ...base,
      RequestType: 'Update',
      PhysicalResourceId: APP,
      OldResourceProperties: props(),
      ResourceProperties: props({ Platform: 'APNS_SANDBOX' }),
    } as CloudFormationCustomResourceEvent);
    expect(out.PhysicalResourceId).toBe(sandbox);
  });

  it('deletes the application', async () => {
    sns.on(DeletePlatformApplicationCommand).resolves({});
    await handler()({
      ...base,
      RequestType: 'Delete',
      PhysicalResourceId: APP,
      ResourceProperties: props(),
    } as CloudFormationCustomResourceEvent);
    expect(sns.commandCalls(DeletePlatformApplicationCommand)[0]!.args[0].input).toEqual({
      PlatformApplicationArn: APP,
    });
  });

  it('ignores the delete that follows a failed create', async () => {
    await handler()({
      ...base,
      RequestType: 'Delete',
      PhysicalResourceId: 'req',
      ResourceProperties: props(),
    } as CloudFormationCustomResourceEvent);
    expect(sns.calls()).toHaveLength(0);
  });

  it.each([
    ['not JSON', 'APNS', 'nope', /not JSON/],
    [
      'an APNs secret without team id',
      'APNS',
      JSON.stringify({ signing_key: 'k', key_id: 'i', bundle_id: 'b' }),
      /lacks "team_id"/,
    ],
    ['an FCM secret that is no service account', 'GCM', JSON.stringify({ server_key: 'legacy' }), /service-account/],
  ])('refuses %s', async (_, platform, secret, message) => {
    await expect(
      handler(secret)({
        ...base,
        RequestType: 'Create',
        ResourceProperties: props({ Platform: platform }),
      } as CloudFormationCustomResourceEvent),
    ).rejects.toThrow(message);
  });
});
