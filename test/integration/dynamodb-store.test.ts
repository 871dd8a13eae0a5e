import { randomUUID } from 'node:crypto';
import { GetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countDynamoDbRequests } from '../../lib/adapters/dynamodb/index.ts';
import { ensureTables } from '../../lib/adapters/dynamodb/tables.ts';
import { DIRECTORY_TABLE_DEFAULT, LEDGER_TABLE_DEFAULT } from '../../lib/adapters/dynamodb-schema.ts';
import { addDevice } from '../../lib/ciba/device-api.ts';
import { admissionMemory, admitTenantRequest } from '../../lib/ciba/tenant-admission.ts';
import { admitUserRequest, RateWindowHints } from '../../lib/ciba/user-rate-window.ts';
import { useDeviceProof } from '../../lib/ciba/verify-device-proof.ts';
import {
  type AuthRequest,
  DEFAULT_TENANT_SETTINGS,
  type DecisionEvidence,
  type Device,
  type DeviceSummary,
  type Tenant,
  type TenantKeyset,
  type User,
} from '../../lib/model.ts';
import { startTestStore, type TestStore } from '../helpers/dynalite.ts';

const NOW = 1_750_000_000_000;
const MINUTE = 60_000;

/**
 * What the DynamoDB adapter adds to the contract of the ports (test/contract/stores.test.ts, which runs against it
 * too): the items as stored (keys, TTLs, indexes), items of layouts before, the requests each operation costs, and the
 * local mode's own operations.
 */
let t: TestStore;
let s: TestStore['store'];

beforeAll(async () => {
  t = await startTestStore();
  s = t.store;
});

const hints = new RateWindowHints();
const admitUser = (tenantId: string, sub: string, limitPerMinute: number, now: number) =>
  admitUserRequest(s, { tenantId, sub, limitPerMinute, now }, hints);
const createDevice = (d: Device, summary: DeviceSummary) => addDevice(s, d, summary);
const useProof = (tenantId: string, deviceId: string, jti: string, expiresAt: number, now: number) =>
  useDeviceProof(s, { tenantId, deviceId, jti, expiresAt, now });

afterAll(async () => {
  await t?.stop();
});

const uid = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

function tenant(tenantId = uid('t'), overrides: Partial<Tenant> = {}): Tenant {
  return { tenantId, settings: { ...DEFAULT_TENANT_SETTINGS }, createdAt: NOW, updatedAt: NOW, ...overrides };
}

function user(tenantId: string, sub = uid('u'), overrides: Partial<User> = {}): User {
  return {
    tenantId,
    sub,
    claims: { name: 'Ada Lovelace', email: 'Ada@Example.com', phone_number: '+15551234567' },
    devices: [],
    createdAt: NOW,
    updatedAt: NOW,
    ...overrides,
  };
}

function device(tenantId: string, sub: string, deviceId = uid('d')): { device: Device; summary: DeviceSummary } {
  const push = { type: 'webhook' as const, url: 'http://127.0.0.1:9999/push' };
  return {
    device: {
      tenantId,
      deviceId,
      sub,
      name: 'Phone',
      publicJwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' },
      push,
      createdAt: NOW,
    },
    summary: { deviceId, name: 'Phone', createdAt: NOW, push },
  };
}

function request(overrides: Partial<AuthRequest> = {}): AuthRequest {
  const txn = uid('txn');
  return {
    txn,
    authReqId: `${txn}.secret`,
    tenantId: 'acme',
    clientId: 'client-1',
    sub: 'alice',
    claims: { email: 'alice@example.com', address: { country: 'DE' } },
    scope: 'openid',
    bindingMessage: 'code 4F-22',
    authorizationDetails: [{ type: 'payment_initiation', amount: { value: '12.00', currency: 'EUR' } }],
    deliveryMode: 'poll',
    status: 'pending',
    createdAt: NOW,
    expiresAt: NOW + 5 * MINUTE,
    interval: 5,
    ...overrides,
  };
}

const evidence = (decision: 'approve' | 'deny' = 'approve'): DecisionEvidence => ({
  proof: 'eyJ.proof.sig',
  deviceId: 'device-1',
  decision,
  receivedAt: NOW + 1000,
});

async function rawLedgerItem(pk: string) {
  const out = await t.client.send(
    new GetItemCommand({ TableName: LEDGER_TABLE_DEFAULT, Key: marshall({ pk }), ConsistentRead: true }),
  );
  return out.Item && unmarshall(out.Item);
}

async function rawDirectoryItem(pk: string, sk: string) {
  const out = await t.client.send(
    new GetItemCommand({ TableName: DIRECTORY_TABLE_DEFAULT, Key: marshall({ pk, sk }), ConsistentRead: true }),
  );
  return out.Item && unmarshall(out.Item);
}

describe('tables', () => {
  it('ensures existing tables again without error', async () => {
    await expect(
      ensureTables(t.client, { directory: DIRECTORY_TABLE_DEFAULT, ledger: LEDGER_TABLE_DEFAULT }),
    ).resolves.toBeUndefined();
  });
});

describe('tenants', () => {
  it('deletes the tenant’s signing keys with it (local mode)', async () => {
    const record = tenant();
    await s.tenants.save(record, null);
    await putLocalLayoutKey(record.tenantId, 'k1');
    await s.keysets.save(keyset(record.tenantId), null);
    expect(await s.tenants.delete(record.tenantId)).toBe(true);
    expect(await t.local.getSigningKeys(record.tenantId)).toEqual([]);
    expect(await s.keysets.get(record.tenantId)).toBeUndefined();
  });
});

describe('users', () => {
  it('drops the lookup keys when email and phone are removed', async () => {
    const u = user(uid('t'), uid('u'), { userCodeHash: 'code-hash' });
    await s.users.save(u, null);
    const { userCodeHash: _, ...withoutCode } = u;
    await s.users.save({ ...withoutCode, claims: { name: 'Ada' }, updatedAt: NOW + 1 }, NOW);
    expect(await s.users.findByEmail(u.tenantId, 'ada@example.com')).toEqual([]);
    expect(await s.users.findByPhone(u.tenantId, '+15551234567')).toEqual([]);
    const raw = await rawDirectoryItem(`T#${u.tenantId}`, `USER#${u.sub}`);
    expect(raw).not.toHaveProperty('email_key');
    expect(raw).not.toHaveProperty('phone_key');
    expect(raw).not.toHaveProperty('user_code_hash');
  });
});

describe('admitUserRequest', () => {
  it('takes over a window stored before the previous minute was counted (no rl_sum)', async () => {
    const u = user(uid('t'));
    await s.users.save(u, null);
    await t.client.send(
      new UpdateItemCommand({
        TableName: DIRECTORY_TABLE_DEFAULT,
        Key: marshall({ pk: `T#${u.tenantId}`, sk: `USER#${u.sub}` }),
        UpdateExpression: 'SET rl_minute = :m, rl_count = :c',
        ExpressionAttributeValues: marshall({ ':m': Math.floor(NOW / MINUTE), ':c': 5 }),
      }),
    );
    expect(await admitUser(u.tenantId, u.sub, 2, NOW)).toHaveProperty('user');
    expect(await admitUser(u.tenantId, u.sub, 2, NOW)).toHaveProperty('user');
    expect(await admitUser(u.tenantId, u.sub, 2, NOW)).toEqual({ rateLimited: true });
  });

  it('refuses a user over the budget in at most four requests once this process has seen the window', async () => {
    const u = user(uid('t'));
    await s.users.save(u, null);
    expect(await admitUser(u.tenantId, u.sub, 1, NOW)).toHaveProperty('user');
    const counter = countDynamoDbRequests(t.client);
    expect(await admitUser(u.tenantId, u.sub, 1, NOW)).toEqual({ rateLimited: true });
    // increment, open, increment (the conditions the window could still meet) and the read that tells refused from
    // unknown
    expect(counter.count).toBe(4);
  });

  it('writes nothing for a gated admission that is refused (the gate is a condition of each write)', async () => {
    const gate = (clientId: string) => ({ clientId, requireDevice: true });
    const counted = async (u: User) => (await rawDirectoryItem(`T#${u.tenantId}`, `USER#${u.sub}`))?.rl_sum ?? 0;
    const u = user(uid('t'));
    await s.users.save(u, null);
    const admitGated = (clientId: string) =>
      admitUserRequest(
        s,
        { tenantId: u.tenantId, sub: u.sub, limitPerMinute: 5, now: NOW, gate: gate(clientId) },
        hints,
      );
    expect(await admitGated('c1')).toEqual({ refused: 'unreachable' });
    expect(await counted(u)).toBe(0);
    const d = device(u.tenantId, u.sub);
    await createDevice(d.device, d.summary);
    await s.shields.shield(u.tenantId, u.sub, 'bad', NOW + MINUTE);
    expect(await admitGated('bad')).toEqual({ refused: 'shielded', until: NOW + MINUTE });
    expect(await counted(u)).toBe(0);
    expect(await admitGated('good')).toHaveProperty('user');
    expect(await counted(u)).toBe(1);
    expect(await rawDirectoryItem(`T#${u.tenantId}`, `USER#${u.sub}`)).toMatchObject({
      report_shields: { bad: NOW + MINUTE },
    });
  });
});

/** A tenant's keyset with a wrapped and a kms key, a MAC key and the legacy one. */
const keyset = (tenantId: string): TenantKeyset => ({
  tenantId,
  signing: [
    {
      kid: 'k1',
      alg: 'ES256',
      mode: 'wrapped',
      publicJwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' },
      createdAt: NOW,
      activeFrom: NOW,
      sealed: 'kms:AQID',
    },
    {
      kid: 'k2',
      alg: 'PS256',
      mode: 'kms',
      publicJwk: { kty: 'RSA', n: 'n', e: 'AQAB' },
      createdAt: NOW,
      activeFrom: NOW + 60_000,
      kmsKeyId: 'arn:aws:kms:eu-west-1:111122223333:key/k2',
    },
  ],
  mac: [
    { id: 'legacy', mode: 'kms', createdAt: NOW, kmsKeyId: 'arn:aws:kms:eu-west-1:111122223333:key/h', legacy: true },
    { id: 'm1', mode: 'wrapped', createdAt: NOW, sealed: 'kms:BAUG' },
  ],
  createdAt: NOW,
  updatedAt: NOW,
});

/** A local mode key item of the layout before keysets (only read now, to import it). */
const putLocalLayoutKey = (tenantId: string, kid: string) =>
  t.client.send(
    new PutItemCommand({
      TableName: DIRECTORY_TABLE_DEFAULT,
      Item: marshall({
        pk: `T#${tenantId}`,
        sk: `KEY#${kid}`,
        tenant_id: tenantId,
        kid,
        alg: 'ES256',
        private_jwk: { kty: 'EC', crv: 'P-256', d: 'd' },
        created_at: NOW,
      }),
    }),
  );

describe('tenant keys', () => {
  it('keeps the keyset as one directory item beside the tenant', async () => {
    const tenantId = uid('t');
    await s.keysets.save(keyset(tenantId), null);
    expect(await rawDirectoryItem(`T#${tenantId}`, 'KEYS')).toMatchObject({
      tenant_id: tenantId,
      signing: [
        { kid: 'k1', public_jwk: { kty: 'EC' }, active_from: NOW, sealed: 'kms:AQID' },
        { kms_key_id: 'arn:aws:kms:eu-west-1:111122223333:key/k2' },
      ],
      mac: [
        { id: 'legacy', legacy: true },
        { id: 'm1', sealed: 'kms:BAUG' },
      ],
    });
  });

  it('reads the keys of the layout before keysets (local mode imports them)', async () => {
    const tenantId = uid('t');
    await putLocalLayoutKey(tenantId, 'k1');
    await putLocalLayoutKey(tenantId, 'k2');
    expect(await t.local.getSigningKeys(tenantId)).toEqual([
      { kid: 'k1', alg: 'ES256', privateJwk: { kty: 'EC', crv: 'P-256', d: 'd' }, createdAt: NOW },
      expect.objectContaining({ kid: 'k2' }),
    ]);
    expect(await t.local.getSigningKeys(uid('other'))).toEqual([]);
  });
});

describe('auth requests', () => {
  it('removes a decided request from the pending-by-user index', async () => {
    const r = request();
    await s.requests.create(r);
    await s.decisions.decide(r.txn, { tenantId: r.tenantId, sub: r.sub }, 'approved', evidence(), NOW + 1);
    expect((await rawLedgerItem(`REQ#${r.txn}`))?.pending_key).toBeUndefined();
  });

  it('gives an enrollment ticket the TTL of its expiry', async () => {
    const hash = uid('ticket');
    await s.tickets.create(hash, { tenantId: 'acme', sub: 'alice' }, NOW);
    expect((await rawLedgerItem(`TICKET#${hash}`))?.ttl).toBe(Math.ceil(NOW / 1000));
  });

  it('sets the TTL an hour after expiry for a poll request, a day for ping and push (callbacks), with its bucket', async () => {
    const r = request();
    await s.requests.create(r);
    const raw = await rawLedgerItem(`REQ#${r.txn}`);
    expect(raw?.ttl).toBe(Math.ceil(r.expiresAt / 1000) + 3_600);
    expect(raw?.exp_bucket).toBe(String(Math.floor(raw?.ttl / 3_600)));
    expect(raw?.pending_key).toBe(`${r.tenantId}#${r.sub}`);
    const ping = request({ deliveryMode: 'ping', clientNotificationToken: 'tok' });
    await s.requests.create(ping);
    expect((await rawLedgerItem(`REQ#${ping.txn}`))?.ttl).toBe(Math.ceil(ping.expiresAt / 1000) + 86_400);
  });
});

describe('useDeviceProof', () => {
  const enrolled = async () => {
    const u = user(uid('t'));
    await s.users.save(u, null);
    const d = device(u.tenantId, u.sub);
    expect(await createDevice(d.device, d.summary)).toBe('ok');
    return d.device;
  };

  it('creates no item for an unknown device', async () => {
    const d = await enrolled();
    expect(await useProof(d.tenantId, 'unknown', uid('jti'), NOW, NOW)).toBeUndefined();
    expect(await rawDirectoryItem(`T#${d.tenantId}`, 'DEVICE#unknown')).toBeUndefined();
  });

  it('works on a device stored before the jti map existed, and still refuses a replay there', async () => {
    const d = await enrolled();
    const raw = await rawDirectoryItem(`T#${d.tenantId}`, `DEVICE#${d.deviceId}`);
    delete raw!.jtis;
    await t.client.send(new PutItemCommand({ TableName: DIRECTORY_TABLE_DEFAULT, Item: marshall(raw!) }));
    const jti = uid('jti');
    const results = await Promise.all(
      Array.from({ length: 16 }, () => useProof(d.tenantId, d.deviceId, jti, NOW + MINUTE, NOW)),
    );
    expect(results.filter((r) => r !== undefined)).toEqual([d]);
    expect(await useProof(d.tenantId, d.deviceId, uid('jti'), NOW + MINUTE, NOW)).toEqual(d);
  });
});

describe('admitTenantRequest', () => {
  const limits = { clientPerMinute: 3, tenantPerMinute: 5, maxPending: 100 };
  const admit = (
    tenantId: string,
    clientId: string,
    now = NOW,
    options: { limits?: typeof limits; memory?: ReturnType<typeof admissionMemory> } = {},
  ) =>
    admitTenantRequest(
      s.admission,
      { tenantId, clientId, limits: options.limits ?? limits, pendingWindowMs: 5 * MINUTE, now, random: () => 0 },
      options.memory,
    );

  it('keeps each counter shard on its own item with short attribute names', async () => {
    const tenantId = uid('t');
    const memory = admissionMemory();
    // Three shards (the smallest limit): shard 0 holds 2 of the tenant's 5, 1 of each client's 3.
    for (const c of ['a', 'b', 'a']) await admit(tenantId, c, NOW, { memory });
    expect(await rawLedgerItem(`QUOTA#TENANT#${tenantId}#0`)).toMatchObject({ t: 2, cc: { a: 1, b: 1 }, ps: 2, pp: 0 });
    expect(await rawLedgerItem(`QUOTA#TENANT#${tenantId}#1`)).toMatchObject({ t: 1, cc: { a: 1 }, ps: 1, pp: 0 });
    expect(await rawLedgerItem(`QUOTA#TENANT#${tenantId}`)).toBeUndefined();
  });

  it('costs one request per admitted request once the windows of its shard are open', async () => {
    const tenantId = uid('t');
    const wide = { clientPerMinute: 100, tenantPerMinute: 500, maxPending: 1000 };
    await admit(tenantId, 'a', NOW, { limits: wide });
    const counter = countDynamoDbRequests(t.client);
    await admit(tenantId, 'a', NOW + 1, { limits: wide });
    await admit(tenantId, 'b', NOW + 2, { limits: wide });
    expect(counter.count).toBe(2);
  });

  it('costs no request for a refusal this process already knows: a client over its limit writes no shard', async () => {
    const tenantId = uid('t');
    const memory = admissionMemory();
    // Two shards (a client limit of 2), one of the client's requests a minute on each.
    const narrow = { clientPerMinute: 2, tenantPerMinute: 100, maxPending: 100 };
    for (let i = 0; i < 2; i++)
      expect(await admit(tenantId, 'a', NOW, { limits: narrow, memory })).toMatchObject({ admitted: true });
    expect(await admit(tenantId, 'a', NOW + 1, { limits: narrow, memory })).toMatchObject({
      admitted: false,
      limit: 'client',
    });
    const counter = countDynamoDbRequests(t.client);
    for (let i = 0; i < 5; i++) {
      expect(await admit(tenantId, 'a', NOW + 2, { limits: narrow, memory })).toMatchObject({
        admitted: false,
        limit: 'client',
      });
    }
    expect(counter.count).toBe(0);
    // Another process does not know: it asks each shard once.
    expect(await admit(tenantId, 'a', NOW + 2, { limits: narrow })).toMatchObject({ admitted: false, limit: 'client' });
    expect(counter.count).toBe(4);
    // The other clients go on.
    expect(await admit(tenantId, 'b', NOW + 3, { limits: narrow, memory })).toMatchObject({ admitted: true });
  });
});

describe('expiry sweep (local mode)', () => {
  it('deletes ledger items whose ttl has passed and keeps the rest', async () => {
    const jti = uid('jti');
    const ticket = uid('ticket');
    await s.replay.useOnce(`thumb#${jti}`, NOW);
    await s.tickets.create(ticket, { tenantId: 'acme', sub: 'alice' }, NOW + 10 * MINUTE);
    const deleted = await t.dynamodb.sweep(NOW + MINUTE);
    expect(deleted).toBeGreaterThanOrEqual(1);
    expect(await rawLedgerItem(`JTI#thumb#${jti}`)).toBeUndefined();
    expect(await rawLedgerItem(`TICKET#${ticket}`)).toBeDefined();
  });
});

describe('request counting', () => {
  it('counts every command sent through the client', async () => {
    const counter = countDynamoDbRequests(t.client);
    await s.tenants.get('acme');
    await s.replay.useOnce(`thumb#${uid('jti')}`, NOW);
    expect(counter.count).toBe(2);
    counter.reset();
    expect(counter.count).toBe(0);
  });
});
