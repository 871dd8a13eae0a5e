import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler, type TenantProvisionerDeps } from '../../functions/tenant-provisioner/handler.ts';
import {
  LEGACY_KEYS_RESOURCE,
  TENANTS_INDEX_RESOURCE,
  TENANTS_RESOURCE,
  type TenantEntry,
} from '../../functions/tenant-provisioner/resources.ts';
import { parseAwsTenantSettings, parseTenantSettings } from '../../functions/tenant-provisioner/settings.ts';
import { AWS_CAPABILITIES } from '../../lib/adapters/aws-deps.ts';
import { LocalKeys } from '../../lib/adapters/local-keys.ts';
import { putTenant } from '../../lib/admin/tenants.ts';
import { WireError } from '../../lib/errors.ts';
import { silentLogger } from '../../lib/logging.ts';
import { DEFAULT_TENANT_SETTINGS, type PushCredentials, type TenantKeyset } from '../../lib/model.ts';
import type { PushPlatforms } from '../../lib/ports.ts';
import { startTestStore, type TestStore } from '../helpers/dynalite.ts';

const NOW = 1_750_000_000_000;
let t: TestStore;
let seq = 0;

beforeAll(async () => {
  t = await startTestStore();
});
afterAll(() => t?.stop());

const VAPID = { publicKey: `B${'a'.repeat(86)}`, privateKey: 'k'.repeat(43) };

/** The provisioner over the DynamoDB store on dynalite, local-vault keys and recorded platform changes. */
const provisioner = (
  options: { secrets?: Record<string, string>; legacyKeys?: TenantProvisionerDeps['legacyKeys'] } = {},
) => {
  const applied: { tenantId: string; next?: PushCredentials; previous?: PushCredentials }[] = [];
  const removed: string[] = [];
  const platforms: PushPlatforms = {
    apply: async (tenantId, next, previous) => {
      applied.push({ tenantId, ...(next ? { next } : {}), ...(previous ? { previous } : {}) });
      return {};
    },
    remove: async (tenantId) => void removed.push(tenantId),
  };
  const clock = { now: () => NOW };
  const keys = new LocalKeys({ keysets: t.store.keysets, legacyKeys: t.local }, clock);
  const deps: TenantProvisionerDeps = {
    tenants: t.store.tenants,
    keysets: t.store.keysets,
    keys,
    platforms,
    readSecret: async (id) => {
      const value = options.secrets?.[id];
      if (value === undefined) throw new Error(`no secret ${id}`);
      return value;
    },
    ...(options.legacyKeys ? { legacyKeys: options.legacyKeys } : {}),
    clock,
    logger: silentLogger,
  };
  return { handler: createHandler(deps), deps, applied, removed, keys };
};

const event = (
  type: string,
  request: 'Create' | 'Update' | 'Delete',
  props: Record<string, unknown>,
  old?: Record<string, unknown>,
) =>
  ({
    RequestType: request,
    ServiceToken: 'arn:aws:lambda:eu-west-1:111122223333:function:provider',
    ResponseURL: 'https://cloudformation-custom-resource-response.example',
    StackId: 'stack',
    RequestId: 'req',
    LogicalResourceId: type === TENANTS_RESOURCE ? 'TenantsBatch0' : 'TenantsIndex',
    ResourceType: type,
    ResourceProperties: { ServiceToken: 'token', ...props },
    ...(request === 'Create' ? {} : { PhysicalResourceId: 'physical' }),
    ...(old ? { OldResourceProperties: { ServiceToken: 'token', ...old } } : {}),
  }) as CloudFormationCustomResourceEvent;

const entry = (id: string, settings: Record<string, unknown> = {}, extra: Partial<TenantEntry> = {}): TenantEntry => ({
  id,
  settings,
  signing_key_version: 1,
  ...extra,
});
const batch = (entries: TenantEntry[]) => ({ Tenants: JSON.stringify(entries) });
const uid = (name: string) => `${name}-${++seq}-${NOW.toString(36)}`;

describe('tenant batches', () => {
  it('creates each tenant of a batch with the file settings over the defaults, its keys and push platforms', async () => {
    const p = provisioner({ secrets: { 'ciba/acme/webpush': JSON.stringify(VAPID) } });
    const [a, b] = [uid('acme'), uid('bank')];
    const push = { apns: { secret: 'ciba/acme/apns', version: '1', sandbox: false } };
    const out = await p.handler(
      event(
        TENANTS_RESOURCE,
        'Create',
        batch([
          entry(
            a,
            { display_name: 'ACME', delivery_modes: ['poll', 'ping', 'push'], push_credentials: push },
            {
              web_push: { subject: 'mailto:ops@acme.example', secret: 'ciba/acme/webpush', version: '1' },
            },
          ),
          entry(b, { signing_alg: 'PS256', key_mode: 'kms' }),
        ]),
      ),
    );
    expect(out).toEqual({ PhysicalResourceId: 'ciba-tenants/TenantsBatch0', Data: { Tenants: '2' } });
    expect(await t.store.tenants.get(a)).toEqual({
      tenantId: a,
      // Hardening rule 7: a new generation for every creation of the tenant id.
      generation: expect.stringMatching(/^[A-Za-z0-9_-]{16}$/),
      settings: {
        ...DEFAULT_TENANT_SETTINGS,
        displayName: 'ACME',
        deliveryModes: ['poll', 'ping', 'push'],
        pushCredentials: push,
        webPush: {
          subject: 'mailto:ops@acme.example',
          vapidPublicKey: VAPID.publicKey,
          vapidPrivateKey: VAPID.privateKey,
        },
      },
      provisionedBy: 'deployment',
      createdAt: NOW,
      updatedAt: NOW,
    });
    expect(p.applied).toEqual(expect.arrayContaining([{ tenantId: a, next: push }]));
    expect((await p.keys.describe(a)).map((k) => k.alg)).toEqual(['ES256']);
    // Local mode's vault makes a generated key for a kms tenant: the provisioner asked for the tenant's mode.
    expect((await p.keys.describe(b)).map((k) => k.alg)).toEqual(['PS256']);
  });

  it('provisions on update only the tenants whose entry changed, and rotates when signing_key.version is bumped', async () => {
    const p = provisioner();
    const [a, b] = [uid('acme'), uid('bank')];
    const before = [entry(a, { display_name: 'A' }), entry(b, { display_name: 'B' })];
    await p.handler(event(TENANTS_RESOURCE, 'Create', batch(before)));
    const bankBefore = await t.store.tenants.get(b);
    p.applied.length = 0;
    const after = [
      entry(a, { display_name: 'A renamed' }, { signing_key_version: 2 }),
      entry(b, { display_name: 'B' }),
    ];
    await p.handler(event(TENANTS_RESOURCE, 'Update', batch(after), batch(before)));
    expect((await t.store.tenants.get(a))?.settings.displayName).toBe('A renamed');
    expect(await t.store.tenants.get(b)).toEqual(bankBefore);
    expect(p.applied.map((x) => x.tenantId)).toEqual([a]);
    expect((await p.keys.describe(a)).map((k) => k.status)).toEqual(['previous', 'current']);
  });

  it('fails the deployment when a Web Push secret does not hold a VAPID key pair, and stores nothing', async () => {
    const p = provisioner({
      secrets: { 'ciba/x/webpush': JSON.stringify({ publicKey: 'short', privateKey: 'short' }) },
    });
    const a = uid('acme');
    await expect(
      p.handler(
        event(
          TENANTS_RESOURCE,
          'Create',
          batch([
            entry(a, {}, { web_push: { subject: 'mailto:ops@acme.example', secret: 'ciba/x/webpush', version: '1' } }),
          ]),
        ),
      ),
    ).rejects.toThrow(/vapid_public_key/);
    expect(await t.store.tenants.get(a)).toBeUndefined();
  });

  it('refuses development mode in AWS', async () => {
    await expect(
      provisioner().handler(event(TENANTS_RESOURCE, 'Create', batch([entry(uid('acme'), { development_mode: true })]))),
    ).rejects.toThrow(/development_mode cannot be enabled in AWS/);
  });

  it('deletes nothing when a batch loses a tenant or is deleted (the index decides)', async () => {
    const p = provisioner();
    const a = uid('acme');
    await p.handler(event(TENANTS_RESOURCE, 'Create', batch([entry(a)])));
    await p.handler(event(TENANTS_RESOURCE, 'Update', batch([]), batch([entry(a)])));
    await p.handler(event(TENANTS_RESOURCE, 'Delete', batch([])));
    expect(await t.store.tenants.get(a)).toBeDefined();
  });

  it('makes file tenants read-only for the admin API (409), and a released one writable again', async () => {
    const p = provisioner();
    const a = uid('acme');
    await p.handler(event(TENANTS_RESOURCE, 'Create', batch([entry(a)])));
    const admin = { ...p.deps, config: { capabilities: AWS_CAPABILITIES } };
    const refused = await putTenant(admin, a, { display_name: 'x' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(WireError);
    expect(refused).toMatchObject({ error: 'conflict', status: 409 });
    await p.handler(event(TENANTS_INDEX_RESOURCE, 'Update', { TenantIds: '' }, { TenantIds: a, Destroy: '' }));
    expect((await putTenant(admin, a, { display_name: 'x' })).tenant.settings.displayName).toBe('x');
  });
});

describe('tenants index', () => {
  it('deletes the tenants that left the file with on_delete destroy (keys and platforms too), retains the others', async () => {
    const p = provisioner();
    const [gone, kept, stays] = [uid('gone'), uid('kept'), uid('stays')];
    await p.handler(event(TENANTS_RESOURCE, 'Create', batch([entry(gone), entry(kept), entry(stays)])));
    const ids = [gone, kept, stays].join(',');
    await p.handler(event(TENANTS_INDEX_RESOURCE, 'Create', { TenantIds: ids, Destroy: gone }));
    await p.handler(
      event(TENANTS_INDEX_RESOURCE, 'Update', { TenantIds: stays, Destroy: '' }, { TenantIds: ids, Destroy: gone }),
    );
    expect(await t.store.tenants.get(gone)).toBeUndefined();
    expect(await t.store.keysets.get(gone)).toBeUndefined();
    expect(p.removed).toEqual([gone]);
    expect((await t.store.tenants.get(kept))?.provisionedBy).toBeUndefined();
    expect((await t.store.tenants.get(stays))?.provisionedBy).toBe('deployment');
  });

  it('never deletes a tenant that moved to another batch (the number of batches grew)', async () => {
    const p = provisioner();
    const a = uid('moving');
    await p.handler(event(TENANTS_RESOURCE, 'Create', batch([entry(a)])));
    const generation = (await t.store.tenants.get(a))?.generation;
    // Its old batch loses it and a new batch gets it, in either order; the index still lists it.
    await p.handler(event(TENANTS_RESOURCE, 'Update', batch([]), batch([entry(a)])));
    await p.handler(event(TENANTS_RESOURCE, 'Create', batch([entry(a)])));
    await p.handler(
      event(TENANTS_INDEX_RESOURCE, 'Update', { TenantIds: a, Destroy: a }, { TenantIds: a, Destroy: a }),
    );
    expect((await t.store.tenants.get(a))?.generation).toBe(generation);
  });

  it('deletes the on_delete destroy tenants with the stack', async () => {
    const p = provisioner();
    const a = uid('acme');
    await p.handler(event(TENANTS_RESOURCE, 'Create', batch([entry(a)])));
    await p.handler(event(TENANTS_INDEX_RESOURCE, 'Delete', { TenantIds: a, Destroy: a }));
    expect(await t.store.tenants.get(a)).toBeUndefined();
  });
});

describe('resources of deployments before batches and keysets', () => {
  it.each(['Custom::CibaTenantSettings', 'Custom::CibaPushPlatform'])(
    'releases %s without deleting anything',
    async (type) => {
      const p = provisioner();
      const a = uid('acme');
      await p.handler(event(TENANTS_RESOURCE, 'Create', batch([entry(a)])));
      const out = await p.handler({
        ...event(type, 'Delete', { TenantId: a, OnDelete: 'destroy', Name: `ciba-${a}`, Platform: 'APNS' }),
        PhysicalResourceId: 'arn:aws:sns:eu-west-1:111122223333:app/APNS/ciba-acme',
      } as CloudFormationCustomResourceEvent);
      expect(out).toEqual({ PhysicalResourceId: 'arn:aws:sns:eu-west-1:111122223333:app/APNS/ciba-acme' });
      expect(await t.store.tenants.get(a)).toBeDefined();
      expect(p.removed).toEqual([]);
    },
  );

  it('imports the old keys of each tenant that has no keyset yet, with the tenant signing algorithm', async () => {
    const [a, b] = [uid('acme'), uid('bank')];
    const made: string[] = [];
    const imported = (tenantId: string, alg: string): TenantKeyset => ({
      tenantId,
      signing: [],
      mac: [{ id: 'legacy', mode: 'kms', createdAt: NOW, kmsKeyId: `arn:${alg}`, legacy: true }],
      createdAt: NOW,
      updatedAt: NOW,
    });
    const p = provisioner({
      legacyKeys: {
        list: async () =>
          new Map([
            [a, { current: 'arn:a', hmac: 'arn:ha' }],
            [b, { current: 'arn:b' }],
          ]),
        keyset: async (tenantId, _legacy, alg) => {
          made.push(tenantId);
          return imported(tenantId, alg);
        },
      },
    });
    await t.store.tenants.save(
      { tenantId: a, settings: { ...DEFAULT_TENANT_SETTINGS, signingAlg: 'PS256' }, createdAt: 1, updatedAt: 1 },
      null,
    );
    await p.keys.ensureKeys(b, { alg: 'ES256', mode: 'wrapped' });
    const out = await p.handler(event(LEGACY_KEYS_RESOURCE, 'Create', { AliasPrefix: 'alias/ciba/' }));
    expect(out).toEqual({ PhysicalResourceId: 'ciba-legacy-keys', Data: { Imported: '1' } });
    expect(made).toEqual([a]);
    expect((await t.store.keysets.get(a))?.mac[0]?.kmsKeyId).toBe('arn:PS256');
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
