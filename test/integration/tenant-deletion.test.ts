import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromItem, type Tables } from '../../lib/adapters/dynamodb/expression.ts';
import { dynamoDbStore } from '../../lib/adapters/dynamodb/index.ts';
import { DIRECTORY_TABLE_DEFAULT, LEDGER_TABLE_DEFAULT } from '../../lib/adapters/dynamodb-schema.ts';
import { TenantKeys } from '../../lib/adapters/tenant-keys.ts';
import { deleteTenant, TENANT_DELETION_STEP } from '../../lib/admin/tenants.ts';
import { addDevice } from '../../lib/ciba/device-api.ts';
import { type EmbeddedDynamoDb, startEmbeddedDynamoDb } from '../../lib/local/embedded-dynamodb.ts';
import type { StorePorts } from '../../lib/persistence.ts';
import type { PushPlatforms } from '../../lib/ports.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { client, device, keyset, NOW, tenant, uid, user } from '../helpers/store-fixtures.ts';

/**
 * DELETE /admin/tenants/{tenant} of a tenant with thousands of users, devices and clients, on dynalite: bounded work
 * per call (the AWS admin function has 10 s), the tenant unknown from the first call on, a call cut short resumed by
 * the next, nothing left behind, the KMS keys scheduled for deletion once, and no misleading answer.
 */
const USERS = 1500;
const DEVICES = 200;
const CLIENTS = 50;

let dynamodb: EmbeddedDynamoDb;
let store: StorePorts;

const tablesOf = (c: DynamoDBClient): Tables => ({
  client: c,
  directory: DIRECTORY_TABLE_DEFAULT,
  ledger: LEDGER_TABLE_DEFAULT,
});

beforeAll(async () => {
  dynamodb = await startEmbeddedDynamoDb({ dataDir: 'memory' });
  store = dynamoDbStore({
    client: dynamodb.client,
    directoryTable: DIRECTORY_TABLE_DEFAULT,
    ledgerTable: LEDGER_TABLE_DEFAULT,
  });
}, 60_000);
afterAll(async () => {
  await dynamodb?.stop();
});

const inBatches = async <T>(items: T[], run: (item: T) => Promise<unknown>) => {
  for (let i = 0; i < items.length; i += 50) await Promise.all(items.slice(i, i + 50).map(run));
};

/** A tenant of USERS users (DEVICES of them with a device), CLIENTS clients and a keyset with KMS keys. */
const bigTenant = async (tenantId: string, create = true) => {
  if (create) await store.tenants.save(tenant(tenantId), null);
  await store.keysets.save(keyset(tenantId), null);
  const users = Array.from({ length: USERS }, (_, i) => user(tenantId, `u${i}`));
  await inBatches(users, (u) => store.users.save(u, null));
  await inBatches(users.slice(0, DEVICES), (u) => {
    const d = device(tenantId, u.sub);
    return addDevice(store, d.device, d.summary);
  });
  await inBatches(
    Array.from({ length: CLIENTS }, () => client(tenantId)),
    (c) => store.clients.create(c),
  );
};

/** Every directory item of the tenant: its partition and the users' and devices' own partitions. */
const leftOf = async (tenantId: string) => {
  const left: Record<string, unknown>[] = [];
  let start: Record<string, never> | undefined;
  do {
    const page = await dynamodb.client.send(
      new ScanCommand({ TableName: DIRECTORY_TABLE_DEFAULT, ...(start ? { ExclusiveStartKey: start } : {}) }),
    );
    for (const item of page.Items ?? []) {
      const raw = fromItem(item);
      if (raw.pk === `T#${tenantId}` || String(raw.pk).startsWith(`T#${tenantId}#`)) left.push(raw);
    }
    start = page.LastEvaluatedKey as typeof start;
  } while (start);
  return left;
};

/** deleteTenant's dependencies on `db`: the KMS deletions and push platform removals recorded. */
const deletionDeps = (db: Tables) => {
  const scheduled: string[] = [];
  const removed: string[] = [];
  const stores = dynamoDbStore({ client: db.client, directoryTable: db.directory, ledgerTable: db.ledger });
  const unused = () => Promise.reject(new Error('not used by a deletion'));
  const keys = new TenantKeys({
    keysets: stores.keysets,
    clock: { now: () => NOW },
    vault: {
      seal: unused,
      open: unused,
      kms: {
        createSigningKey: unused,
        sign: unused,
        mac: unused,
        scheduleDeletion: async (keyId) => void scheduled.push(keyId),
      },
    },
  });
  const platforms: PushPlatforms = {
    apply: async () => ({}),
    remove: async (tenantId) => void removed.push(tenantId),
  };
  return { deps: { tenants: stores.tenants, keys, platforms }, scheduled, removed };
};

/** A DynamoDB client that fails every BatchWriteItem after the first `batches`, as a function stopped by its timeout. */
const stoppedAfter = (batches: number): Tables => {
  const c = new DynamoDBClient({
    endpoint: dynamodb.endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  let sent = 0;
  c.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'BatchWriteItemCommand' && ++sent > batches) {
        throw new Error('Task timed out after 10.00 seconds');
      }
      return next(args);
    },
    { step: 'initialize' },
  );
  return tablesOf(c);
};

const KMS_KEYS = ['arn:aws:kms:eu-west-1:111122223333:key/k2', 'arn:aws:kms:eu-west-1:111122223333:key/h'];

describe('deleting a tenant of thousands of users', () => {
  it('works in bounded steps: the tenant is unknown after the first, each further call resumes, nothing is left', async () => {
    const tenantId = uid('big');
    await bigTenant(tenantId);
    const items = (await leftOf(tenantId)).length;
    expect(items).toBeGreaterThan(2 * USERS + 2 * DEVICES + CLIENTS);

    const { deps, scheduled, removed } = deletionDeps(tablesOf(dynamodb.client));
    const outcomes: string[] = [];
    let before = items;
    for (;;) {
      const outcome = await deleteTenant(deps, tenantId, { maxItems: TENANT_DELETION_STEP });
      outcomes.push(outcome);
      const after = (await leftOf(tenantId)).length;
      // Bounded: a call removes at most the step (and a membership item's own item with it).
      expect(before - after).toBeLessThanOrEqual(TENANT_DELETION_STEP + 3);
      before = after;
      if (outcome !== 'deleting') break;
      // From the first call on the tenant is gone for every purpose; its KMS keys and push apps wait for the end.
      expect(await store.tenants.get(tenantId)).toBeUndefined();
      expect(await store.tenants.find(tenantId)).toMatchObject({ tenantId, deleting: true });
      // The rest goes in key order: the last user in it (u999 of u0..u1499) stays until the last call.
      expect(await store.users.get(tenantId, 'u999')).toBeDefined();
      expect(scheduled).toEqual([]);
      expect(removed).toEqual([]);
    }
    expect(outcomes.at(-1)).toBe('deleted');
    expect(outcomes.length).toBe(Math.ceil((items - 2) / TENANT_DELETION_STEP));
    expect(await leftOf(tenantId)).toEqual([]);
    expect(scheduled).toEqual(KMS_KEYS);
    expect(removed).toEqual([tenantId]);
    // Again: there is nothing left, and the answer says so.
    expect(await deleteTenant(deps, tenantId, { maxItems: TENANT_DELETION_STEP })).toBe('absent');
    expect(scheduled).toEqual(KMS_KEYS);
  }, 300_000);

  it('resumes a deletion the function was stopped in, leaving nothing and scheduling the KMS keys once', async () => {
    const tenantId = uid('cut');
    await bigTenant(tenantId);
    // Stopped partway (the 10 s timeout) at several points of one whole deletion (no step limit, as before).
    for (const batches of [3, 30, 90]) {
      const stopped = deletionDeps(stoppedAfter(batches));
      await expect(deleteTenant(stopped.deps, tenantId)).rejects.toThrow(/timed out/);
      expect(await store.tenants.get(tenantId)).toBeUndefined();
      expect(stopped.scheduled).toEqual([]);
    }
    const { deps, scheduled, removed } = deletionDeps(tablesOf(dynamodb.client));
    let outcome: string;
    do outcome = await deleteTenant(deps, tenantId, { maxItems: TENANT_DELETION_STEP });
    while (outcome === 'deleting');
    expect(outcome).toBe('deleted');
    expect(await leftOf(tenantId)).toEqual([]);
    expect(scheduled).toEqual(KMS_KEYS);
    expect(removed).toEqual([tenantId]);
  }, 300_000);
});

describe('DELETE /admin/tenants/{tenant} of a large tenant (local mode on the same store)', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ dynamoDbEndpoint: dynamodb.endpoint });
  }, 60_000);
  afterAll(() => svc?.stop());

  it('answers 202 while items remain and 204 once gone; meanwhile the tenant is unknown and cannot be created again', async () => {
    const tenantId = uid('adm');
    expect((await svc.admin('PUT', `/admin/tenants/${tenantId}`, { display_name: 'Big' })).status).toBe(201);
    await bigTenant(tenantId, false);

    const first = await svc.admin('DELETE', `/admin/tenants/${tenantId}`);
    expect(first).toMatchObject({ status: 202, body: { tenant: tenantId, status: 'deleting' } });
    expect((await svc.admin('GET', `/admin/tenants/${tenantId}`)).status).toBe(404);
    expect((await fetch(`${svc.url}/${tenantId}/.well-known/openid-configuration`)).status).toBe(404);
    const again = await svc.admin('PUT', `/admin/tenants/${tenantId}`, { display_name: 'Again' });
    expect(again).toMatchObject({ status: 409, body: { error: 'conflict' } });
    expect(again.body.error_description).toMatch(/is being deleted: repeat DELETE .* until it answers 204/);

    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const answer = await svc.admin('DELETE', `/admin/tenants/${tenantId}`);
      statuses.push(answer.status);
      if (answer.status !== 202) break;
    }
    expect(statuses.at(-1)).toBe(204);
    expect(statuses.slice(0, -1).every((s) => s === 202)).toBe(true);
    expect(await leftOf(tenantId)).toEqual([]);
    expect((await svc.admin('DELETE', `/admin/tenants/${tenantId}`)).status).toBe(404);
    expect((await svc.admin('PUT', `/admin/tenants/${tenantId}`, { display_name: 'New' })).status).toBe(201);
  }, 300_000);
});
