import {
  CreatePlatformApplicationCommand,
  DeletePlatformApplicationCommand,
  GetPlatformApplicationAttributesCommand,
  NotFoundException,
  SetPlatformApplicationAttributesCommand,
  SNSClient,
} from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { SnsPushPlatforms } from '../../../lib/adapters/sns-push-platforms.ts';
import type { Logger } from '../../../lib/ports.ts';

const sns = mockClient(SNSClient);
const APNS = 'arn:aws:sns:eu-west-1:111122223333:app/APNS/ciba-acme';
const GCM = 'arn:aws:sns:eu-west-1:111122223333:app/GCM/ciba-acme';
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

const platforms = (secrets: Record<string, string> = { 'ciba/acme/apns': APNS_SECRET, 'ciba/acme/fcm': FCM_SECRET }) =>
  new SnsPushPlatforms({
    sns: new SNSClient({ region: 'eu-west-1' }),
    readSecret: async (id) => {
      const value = secrets[id];
      if (value === undefined) throw Object.assign(new Error('denied'), { name: 'AccessDeniedException' });
      return value;
    },
    platformApplicationArnTemplate: 'arn:aws:sns:eu-west-1:111122223333:app/{platform}/ciba-{tenant}',
    prefix: 'ciba',
    logger,
  });

/** SNS with these applications existing. */
const existing = (...arns: string[]) => {
  sns.on(GetPlatformApplicationAttributesCommand).callsFake((input) => {
    if (arns.includes(input.PlatformApplicationArn)) return { Attributes: { Enabled: 'true' } };
    throw new NotFoundException({ message: 'PlatformApplication does not exist', $metadata: {} });
  });
  sns.on(CreatePlatformApplicationCommand).callsFake((input) => ({
    PlatformApplicationArn: `arn:aws:sns:eu-west-1:111122223333:app/${input.Platform}/${input.Name}`,
  }));
  sns.on(SetPlatformApplicationAttributesCommand).resolves({});
  sns.on(DeletePlatformApplicationCommand).resolves({});
};

const apns = { secret: 'ciba/acme/apns', version: '1', sandbox: false };
const fcm = { secret: 'ciba/acme/fcm', version: '1' };

beforeEach(() => {
  sns.reset();
  lines.length = 0;
});

describe('SNS platform applications as data', () => {
  it('creates the APNs and FCM applications from the secrets, never logging their content', async () => {
    existing();
    expect(await platforms().apply('acme', { apns, fcm }, undefined)).toEqual({});
    expect(sns.commandCalls(CreatePlatformApplicationCommand).map((c) => c.args[0].input)).toEqual([
      {
        Name: 'ciba-acme',
        Platform: 'APNS',
        Attributes: {
          PlatformCredential: '-----BEGIN PRIVATE KEY-----\nMIGT...\n-----END PRIVATE KEY-----',
          PlatformPrincipal: 'ABC123DEFG',
          ApplePlatformTeamID: 'TEAM123456',
          ApplePlatformBundleID: 'com.acme.authenticator',
        },
      },
      { Name: 'ciba-acme', Platform: 'GCM', Attributes: { PlatformCredential: FCM_SECRET } },
    ]);
    expect(lines.join('\n')).not.toContain('PRIVATE KEY');
  });

  it('sends the credentials again when the version changes, and leaves an unchanged application alone', async () => {
    existing(APNS, GCM);
    await platforms().apply('acme', { apns: { ...apns, version: '2' }, fcm }, { apns, fcm });
    expect(sns.commandCalls(SetPlatformApplicationAttributesCommand).map((c) => c.args[0].input)).toEqual([
      { PlatformApplicationArn: APNS, Attributes: expect.objectContaining({ PlatformPrincipal: 'ABC123DEFG' }) },
    ]);
    expect(sns.commandCalls(CreatePlatformApplicationCommand)).toHaveLength(0);
  });

  it('adopts an application that already exists (made by a deployment before batches) instead of creating it', async () => {
    existing(APNS);
    await platforms().apply('acme', { apns }, undefined);
    expect(sns.commandCalls(SetPlatformApplicationAttributesCommand)).toHaveLength(1);
    expect(sns.commandCalls(CreatePlatformApplicationCommand)).toHaveLength(0);
  });

  it('moves to the APNs sandbox and deletes what is no longer named', async () => {
    existing(APNS, GCM);
    await platforms().apply('acme', { apns: { ...apns, sandbox: true } }, { apns, fcm });
    expect(sns.commandCalls(CreatePlatformApplicationCommand)[0]!.args[0].input.Platform).toBe('APNS_SANDBOX');
    expect(
      sns.commandCalls(DeletePlatformApplicationCommand).map((c) => c.args[0].input.PlatformApplicationArn),
    ).toEqual([APNS, GCM]);
  });

  it.each([
    [
      'a secret it may not read',
      { apns: { ...apns, secret: 'other/apns' } },
      /other\/apns cannot be read \(AccessDeniedException\)/,
    ],
    ['an APNs secret without team id', { apns }, /lacks "team_id"/],
    ['an FCM secret that is no service account', { fcm }, /service-account/],
  ])('refuses %s and changes nothing', async (_, credentials, message) => {
    existing(GCM);
    const refused = await platforms({
      'ciba/acme/apns': JSON.stringify({ signing_key: 'k', key_id: 'i', bundle_id: 'b' }),
      'ciba/acme/fcm': JSON.stringify({ server_key: 'legacy' }),
    }).apply('acme', credentials, { fcm: { ...fcm, version: '0' } });
    expect(refused.refused).toMatch(message);
    expect(sns.commandCalls(CreatePlatformApplicationCommand)).toHaveLength(0);
    expect(sns.commandCalls(SetPlatformApplicationAttributesCommand)).toHaveLength(0);
    expect(sns.commandCalls(DeletePlatformApplicationCommand)).toHaveLength(0);
  });

  it('deletes every application of a removed tenant', async () => {
    existing(APNS, GCM);
    await platforms().remove('acme', { apns, fcm });
    expect(sns.commandCalls(DeletePlatformApplicationCommand)).toHaveLength(2);
  });
});
