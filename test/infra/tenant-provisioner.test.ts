import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import type { TenantProvisionerDeps } from '../../functions/tenant-provisioner/handler.ts';
import { createHandler } from '../../functions/tenant-provisioner/handler.ts';
import { parseAwsTenantSettings, parseTenantSettings } from '../../functions/tenant-provisioner/settings.ts';
import { silentLogger } from '../../lib/logging.ts';
import { DEFAULT_TENANT_SETTINGS, type Tenant } from '../../lib/model.ts';
import { memoryStore } from '../helpers/memory-store.ts';

const NOW = 1_750_000_000_000;

/** The tenants port of the in-memory fakes (test/helpers/memory-store.ts), and the map it keeps them in. */
const memoryDirectory = () => {
  const store = memoryStore();
  return { tenants: store.state.tenants, directory: store.tenants };
};

const noSecrets = async (id: string): Promise<string> => {
  throw new Error(`no secret ${id}`);
};

const base = {
  ServiceToken: 'arn:aws:lambda:eu-west-1:111122223333:function:provider',
  ResponseURL: 'https://cloudformation-custom-resource-response.example',
  StackId: 'stack',
  RequestId: 'req',
  LogicalResourceId: 'Settings',
  ResourceType: 'Custom::CibaTenantSettings',
};

const props = (settings: object, onDelete = 'retain') => ({
  ServiceToken: base.ServiceToken,
  TenantId: 'acme',
  Settings: JSON.stringify(settings),
  OnDelete: onDelete,
});

describe('tenant provisioner', () => {
  it('turns Web Push on with the VAPID keys read from the named secret at deployment', async () => {
    const { tenants, directory } = memoryDirectory();
    const keys = {
      publicKey: `B${'a'.repeat(86)}`,
      privateKey: 'k'.repeat(43),
    };
    const read: string[] = [];
    const handler = createHandler({
      tenants: directory,
      readSecret: async (id) => {
        read.push(id);
        return JSON.stringify(keys);
      },
      clock: { now: () => NOW },
      logger: silentLogger,
    });
    await handler({
      ...base,
      RequestType: 'Create',
      ResourceProperties: {
        ...props({ display_name: 'ACME' }),
        WebPush: JSON.stringify({ subject: 'mailto:ops@acme.example', secret: 'ciba/acme/webpush' }),
        WebPushVersion: '1',
      },
    } as CloudFormationCustomResourceEvent);
    expect(read).toEqual(['ciba/acme/webpush']);
    expect(tenants.get('acme')!.settings.webPush).toEqual({
      subject: 'mailto:ops@acme.example',
      vapidPublicKey: keys.publicKey,
      vapidPrivateKey: keys.privateKey,
    });
  });

  it('fails the deployment when the Web Push secret does not hold a VAPID key pair, and stores nothing', async () => {
    const { tenants, directory } = memoryDirectory();
    const handler = createHandler({
      tenants: directory,
      readSecret: async () => JSON.stringify({ publicKey: 'short', privateKey: 'short' }),
      clock: { now: () => NOW },
      logger: silentLogger,
    });
    await expect(
      handler({
        ...base,
        RequestType: 'Create',
        ResourceProperties: {
          ...props({}),
          WebPush: JSON.stringify({ subject: 'mailto:ops@acme.example', secret: 'ciba/acme/webpush' }),
        },
      } as CloudFormationCustomResourceEvent),
    ).rejects.toThrow(/vapid_public_key/);
    expect(tenants.size).toBe(0);
  });

  it('creates the tenant with the file settings over the defaults', async () => {
    const { tenants, directory } = memoryDirectory();
    const handler = createHandler({
      tenants: directory,
      readSecret: noSecrets,
      clock: { now: () => NOW },
      logger: silentLogger,
    });

    const out = await handler({
      ...base,
      RequestType: 'Create',
      ResourceProperties: props({
        display_name: 'ACME',
        delivery_modes: ['poll', 'ping', 'push'],
        signing_alg: 'PS256',
      }),
    } as CloudFormationCustomResourceEvent);

    expect(out).toEqual({ PhysicalResourceId: 'ciba-tenant/acme', Data: { TenantId: 'acme' } });
    expect(tenants.get('acme')).toEqual({
      tenantId: 'acme',
      // Hardening rule 7: a new generation for every creation of the tenant id.
      generation: expect.stringMatching(/^[A-Za-z0-9_-]{16}$/),
      settings: {
        ...DEFAULT_TENANT_SETTINGS,
        displayName: 'ACME',
        deliveryModes: ['poll', 'ping', 'push'],
        signingAlg: 'PS256',
      },
      createdAt: NOW,
      updatedAt: NOW,
    });
  });

  it('replaces the settings on update and keeps the creation time', async () => {
    const { tenants, directory } = memoryDirectory();
    tenants.set('acme', {
      tenantId: 'acme',
      settings: { ...DEFAULT_TENANT_SETTINGS, fapi: true },
      createdAt: 1,
      updatedAt: 2,
    });
    const handler = createHandler({
      tenants: directory,
      readSecret: noSecrets,
      clock: { now: () => NOW },
      logger: silentLogger,
    });

    await handler({
      ...base,
      RequestType: 'Update',
      PhysicalResourceId: 'ciba-tenant/acme',
      OldResourceProperties: props({ fapi: true }),
      ResourceProperties: props({ backchannel_polling_interval: 2 }),
    } as CloudFormationCustomResourceEvent);

    expect(tenants.get('acme')).toEqual({
      tenantId: 'acme',
      settings: { ...DEFAULT_TENANT_SETTINGS, backchannelPollingInterval: 2 },
      createdAt: 1,
      updatedAt: NOW,
    });
  });

  it.each([
    ['retain', true],
    ['destroy', false],
  ])('on delete with OnDelete=%s keeps the tenant: %s', async (onDelete, kept) => {
    const { tenants, directory } = memoryDirectory();
    tenants.set('acme', { tenantId: 'acme', settings: DEFAULT_TENANT_SETTINGS, createdAt: 1, updatedAt: 2 });
    const handler = createHandler({
      tenants: directory,
      readSecret: noSecrets,
      clock: { now: () => NOW },
      logger: silentLogger,
    });

    const out = await handler({
      ...base,
      RequestType: 'Delete',
      PhysicalResourceId: 'ciba-tenant/acme',
      ResourceProperties: props({}, onDelete),
    } as CloudFormationCustomResourceEvent);

    expect(out).toEqual({ PhysicalResourceId: 'ciba-tenant/acme' });
    expect(tenants.has('acme')).toBe(kept);
  });

  it('refuses development mode in AWS', async () => {
    const { directory } = memoryDirectory();
    const handler = createHandler({
      tenants: directory,
      readSecret: noSecrets,
      clock: { now: () => NOW },
      logger: silentLogger,
    });
    await expect(
      handler({
        ...base,
        RequestType: 'Create',
        ResourceProperties: props({ development_mode: true }),
      } as CloudFormationCustomResourceEvent),
    ).rejects.toThrow(/development_mode cannot be enabled in AWS/);
  });
});

describe('parseTenantSettings', () => {
  it.each([
    [{ backchannel_expires_in: 0 }, /backchannel_expires_in: Too small: expected number to be >=1/],
    [
      { backchannel_expires_in: 600, backchannel_max_expires_in: 300 },
      /backchannel_max_expires_in must not be below backchannel_expires_in/,
    ],
    [{ delivery_modes: [] }, /delivery_modes/],
    [{ delivery_modes: ['poll', 'fax'] }, /delivery_modes/],
    [{ signing_alg: 'HS256' }, /signing_alg/],
    [{ fapi: 'yes' }, /fapi: Invalid input: expected boolean/],
    [{ web_push: { subject: 'mailto:a@b.c' } }, /web_push is not supported in the tenants file/],
    [{ colour: 'blue' }, /unknown field colour/],
  ])('rejects %j', (input, message) => {
    expect(() => parseAwsTenantSettings(input)).toThrow(message);
  });

  it('refuses a default lifetime above the maximum unless the maximum is raised with it', () => {
    expect(() => parseTenantSettings({ backchannel_expires_in: 600 })).toThrow(/must not be below/);
    expect(parseTenantSettings({ backchannel_expires_in: 600, backchannel_max_expires_in: 600 })).toMatchObject({
      backchannelExpiresIn: 600,
      backchannelMaxExpiresIn: 600,
    });
  });
});
