import { randomUUID } from 'node:crypto';
import { GetItemCommand, PutItemCommand, QueryCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIRECTORY_TABLE_DEFAULT, LEDGER_TABLE_DEFAULT } from '../../lib/adapters/dynamodb-schema.ts';
import { countDynamoDbRequests } from '../../lib/adapters/dynamodb-store.ts';
import { ensureTables } from '../../lib/adapters/dynamodb-tables.ts';
import {
  type AuthRequest,
  type Client,
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

let t: TestStore;

beforeAll(async () => {
  t = await startTestStore();
});

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

function client(tenantId: string, clientId = uid('c')): Client {
  return {
    tenantId,
    clientId,
    clientName: 'Support desk',
    secretHash: 'hash',
    tokenEndpointAuthMethod: 'client_secret_basic',
    grantTypes: ['urn:openid:params:grant-type:ciba'],
    backchannelTokenDeliveryMode: 'poll',
    backchannelUserCodeParameter: false,
    createdAt: NOW,
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
  it('creates a tenant once and reads it back', async () => {
    const record = tenant();
    expect(await t.store.saveTenant(record, null)).toBe('ok');
    expect(await t.store.getTenant(record.tenantId)).toEqual(record);
    expect(await t.store.saveTenant(record, null)).toBe('conflict');
  });

  it('returns undefined for an unknown tenant', async () => {
    expect(await t.store.getTenant(uid('nobody'))).toBeUndefined();
  });

  it('updates a tenant only when updatedAt is what the caller read', async () => {
    const record = tenant();
    await t.store.saveTenant(record, null);
    const updated = { ...record, settings: { ...record.settings, displayName: 'ACME' }, updatedAt: NOW + 1 };
    expect(await t.store.saveTenant(updated, NOW)).toBe('ok');
    const stale = { ...record, settings: { ...record.settings, displayName: 'Stale' }, updatedAt: NOW + 2 };
    expect(await t.store.saveTenant(stale, NOW)).toBe('conflict');
    expect((await t.store.getTenant(record.tenantId))?.settings.displayName).toBe('ACME');
  });

  it('does not update a tenant that does not exist', async () => {
    expect(await t.store.saveTenant(tenant(), NOW)).toBe('conflict');
  });

  it('deletes a tenant with everything under it', async () => {
    const record = tenant();
    await t.store.saveTenant(record, null);
    const clients = Array.from({ length: 30 }, () => client(record.tenantId));
    await Promise.all(clients.map((c) => t.store.createClient(c)));
    const u = user(record.tenantId);
    await t.store.saveUser(u, null);
    const d = device(record.tenantId, u.sub);
    await t.store.createDevice(d.device, d.summary);
    await putLocalLayoutKey(record.tenantId, 'k1');
    await t.store.saveTenantKeys(keyset(record.tenantId), null);

    expect(await t.store.deleteTenant(record.tenantId)).toBe(true);

    expect(await t.store.getTenant(record.tenantId)).toBeUndefined();
    expect(await t.store.getClient(record.tenantId, clients[0]!.clientId)).toBeUndefined();
    expect(await t.store.getUser(record.tenantId, u.sub)).toBeUndefined();
    expect(await t.store.getDevice(record.tenantId, d.device.deviceId)).toBeUndefined();
    expect(await t.store.getSigningKeys(record.tenantId)).toEqual([]);
    expect(await t.store.getTenantKeys(record.tenantId)).toBeUndefined();
    expect(await t.store.findUserByEmail(record.tenantId, 'ada@example.com')).toBeUndefined();
  });

  it('reports false when deleting a tenant that does not exist', async () => {
    expect(await t.store.deleteTenant(uid('nobody'))).toBe(false);
  });
});

describe('clients', () => {
  it('creates a client once, reads it and deletes it', async () => {
    const c = { ...client('acme'), scope: 'openid profile', backchannelClientNotificationEndpoint: 'https://rp/cb' };
    expect(await t.store.createClient(c)).toBe('ok');
    expect(await t.store.createClient(c)).toBe('conflict');
    expect(await t.store.getClient('acme', c.clientId)).toEqual(c);
    expect(await t.store.deleteClient('acme', c.clientId)).toBe(true);
    expect(await t.store.deleteClient('acme', c.clientId)).toBe(false);
    expect(await t.store.getClient('acme', c.clientId)).toBeUndefined();
  });

  it('does not find a client under another tenant', async () => {
    const c = client('tenant-a');
    await t.store.createClient(c);
    expect(await t.store.getClient('tenant-b', c.clientId)).toBeUndefined();
  });
});

describe('users', () => {
  it('creates a user once and reads it back', async () => {
    const u = user(uid('t'), uid('u'), { userCodeHash: 'code-hash' });
    expect(await t.store.saveUser(u, null)).toBe('ok');
    expect(await t.store.getUser(u.tenantId, u.sub)).toEqual(u);
    expect(await t.store.saveUser(u, null)).toBe('conflict');
  });

  it('updates a user only when updatedAt is what the caller read', async () => {
    const u = user(uid('t'));
    await t.store.saveUser(u, null);
    const renamed = { ...u, claims: { ...u.claims, name: 'Ada King' }, updatedAt: NOW + 1 };
    expect(await t.store.saveUser(renamed, NOW)).toBe('ok');
    expect(await t.store.saveUser({ ...u, claims: { name: 'Stale' }, updatedAt: NOW + 2 }, NOW)).toBe('conflict');
    expect((await t.store.getUser(u.tenantId, u.sub))?.claims.name).toBe('Ada King');
  });

  it('does not update a user that does not exist', async () => {
    expect(await t.store.saveUser(user(uid('t')), NOW)).toBe('conflict');
  });

  it('finds a user by email case-insensitively', async () => {
    const u = user(uid('t'));
    await t.store.saveUser(u, null);
    expect(await t.store.findUserByEmail(u.tenantId, 'ada@example.com')).toBe(u.sub);
    expect(await t.store.findUserByEmail(u.tenantId, 'ADA@EXAMPLE.COM')).toBe(u.sub);
    expect(await t.store.findUserByEmail(u.tenantId, 'bob@example.com')).toBeUndefined();
  });

  it('finds a user by phone number', async () => {
    const u = user(uid('t'));
    await t.store.saveUser(u, null);
    expect(await t.store.findUserByPhone(u.tenantId, '+15551234567')).toBe(u.sub);
    expect(await t.store.findUserByPhone(u.tenantId, '+15550000000')).toBeUndefined();
  });

  it('does not find a user of tenant A through tenant B', async () => {
    const u = user(uid('tenant-a'));
    await t.store.saveUser(u, null);
    const other = uid('tenant-b');
    expect(await t.store.findUserByEmail(other, 'ada@example.com')).toBeUndefined();
    expect(await t.store.findUserByPhone(other, '+15551234567')).toBeUndefined();
    expect(await t.store.getUser(other, u.sub)).toBeUndefined();
    expect(await t.store.admitUserRequest(other, u.sub, 5, NOW)).toBeUndefined();
  });

  it('does not resolve an email that several users share', async () => {
    const tenantId = uid('t');
    await t.store.saveUser(user(tenantId), null);
    await t.store.saveUser(user(tenantId), null);
    expect(await t.store.findUserByEmail(tenantId, 'ada@example.com')).toBeUndefined();
  });

  it('drops the lookup keys when email and phone are removed', async () => {
    const u = user(uid('t'), uid('u'), { userCodeHash: 'code-hash' });
    await t.store.saveUser(u, null);
    const { userCodeHash: _, ...withoutCode } = u;
    await t.store.saveUser({ ...withoutCode, claims: { name: 'Ada' }, updatedAt: NOW + 1 }, NOW);
    expect(await t.store.findUserByEmail(u.tenantId, 'ada@example.com')).toBeUndefined();
    expect(await t.store.findUserByPhone(u.tenantId, '+15551234567')).toBeUndefined();
    const raw = await rawDirectoryItem(`T#${u.tenantId}`, `USER#${u.sub}`);
    expect(raw).not.toHaveProperty('email_key');
    expect(raw).not.toHaveProperty('phone_key');
    expect(raw).not.toHaveProperty('user_code_hash');
  });

  it('keeps devices and rate-limit counters when the profile is saved', async () => {
    const u = user(uid('t'));
    await t.store.saveUser(u, null);
    const d = device(u.tenantId, u.sub);
    await t.store.createDevice(d.device, d.summary);
    await t.store.admitUserRequest(u.tenantId, u.sub, 2, NOW);
    await t.store.saveUser({ ...u, devices: [], claims: { name: 'Renamed' }, updatedAt: NOW + 1 }, NOW);

    expect((await t.store.getUser(u.tenantId, u.sub))?.devices).toEqual([d.summary]);
    expect(await t.store.admitUserRequest(u.tenantId, u.sub, 2, NOW)).toHaveProperty('user');
    expect(await t.store.admitUserRequest(u.tenantId, u.sub, 2, NOW)).toEqual({ rateLimited: true });
  });
});

describe('admitUserRequest', () => {
  it('admits up to the limit per minute and then rate-limits', async () => {
    const u = user(uid('t'));
    await t.store.saveUser(u, null);
    for (let i = 0; i < 3; i++) {
      const admitted = await t.store.admitUserRequest(u.tenantId, u.sub, 3, NOW + i);
      expect(admitted).toEqual({ user: u });
    }
    expect(await t.store.admitUserRequest(u.tenantId, u.sub, 3, NOW + 10)).toEqual({ rateLimited: true });
  });

  it('counts the previous minute too, and opens a new budget once a whole minute has passed', async () => {
    const u = user(uid('t'));
    await t.store.saveUser(u, null);
    expect(await t.store.admitUserRequest(u.tenantId, u.sub, 1, NOW)).toHaveProperty('user');
    expect(await t.store.admitUserRequest(u.tenantId, u.sub, 1, NOW)).toEqual({ rateLimited: true });
    expect(await t.store.admitUserRequest(u.tenantId, u.sub, 1, NOW + MINUTE)).toEqual({ rateLimited: true });
    expect(await t.store.admitUserRequest(u.tenantId, u.sub, 1, NOW + 2 * MINUTE)).toHaveProperty('user');
  });

  it('never admits more than the limit within 60 s, also across a minute boundary', async () => {
    const u = user(uid('t'));
    await t.store.saveUser(u, null);
    const start = Math.floor(NOW / MINUTE) * MINUTE;
    const admit = (at: number) => t.store.admitUserRequest(u.tenantId, u.sub, 3, at);
    for (const at of [start + 58_000, start + 59_000, start + 59_500]) expect(await admit(at)).toHaveProperty('user');
    // One fixed window alone would admit three more here, a second later.
    expect(await admit(start + MINUTE + 500)).toEqual({ rateLimited: true });
    expect(await admit(start + 2 * MINUTE + 500)).toHaveProperty('user');
  });

  it('carries the previous minute’s count: a budget of 3 after 1 request is 2', async () => {
    const u = user(uid('t'));
    await t.store.saveUser(u, null);
    const start = Math.floor(NOW / MINUTE) * MINUTE;
    const admit = (at: number) => t.store.admitUserRequest(u.tenantId, u.sub, 3, at);
    expect(await admit(start + 30_000)).toHaveProperty('user');
    expect(await admit(start + MINUTE + 10_000)).toHaveProperty('user');
    expect(await admit(start + MINUTE + 20_000)).toHaveProperty('user');
    expect(await admit(start + MINUTE + 30_000)).toEqual({ rateLimited: true });
    // The minute after: the two of the previous minute count.
    expect(await admit(start + 2 * MINUTE + 1_000)).toHaveProperty('user');
    expect(await admit(start + 2 * MINUTE + 2_000)).toEqual({ rateLimited: true });
  });

  it('counts a lagging clock in the newer window instead of refusing or resetting it', async () => {
    const u = user(uid('t'));
    await t.store.saveUser(u, null);
    expect(await t.store.admitUserRequest(u.tenantId, u.sub, 2, NOW + MINUTE)).toHaveProperty('user');
    expect(await t.store.admitUserRequest(u.tenantId, u.sub, 2, NOW)).toHaveProperty('user');
    expect(await t.store.admitUserRequest(u.tenantId, u.sub, 2, NOW)).toEqual({ rateLimited: true });
    expect(await t.store.admitUserRequest(u.tenantId, u.sub, 2, NOW + MINUTE)).toEqual({ rateLimited: true });
  });

  it('takes over a window stored before the previous minute was counted (no rl_sum)', async () => {
    const u = user(uid('t'));
    await t.store.saveUser(u, null);
    await t.client.send(
      new UpdateItemCommand({
        TableName: DIRECTORY_TABLE_DEFAULT,
        Key: marshall({ pk: `T#${u.tenantId}`, sk: `USER#${u.sub}` }),
        UpdateExpression: 'SET rl_minute = :m, rl_count = :c',
        ExpressionAttributeValues: marshall({ ':m': Math.floor(NOW / MINUTE), ':c': 5 }),
      }),
    );
    expect(await t.store.admitUserRequest(u.tenantId, u.sub, 2, NOW)).toHaveProperty('user');
    expect(await t.store.admitUserRequest(u.tenantId, u.sub, 2, NOW)).toHaveProperty('user');
    expect(await t.store.admitUserRequest(u.tenantId, u.sub, 2, NOW)).toEqual({ rateLimited: true });
  });

  it('does not let a lagging clock reopen an older window', async () => {
    const u = user(uid('t'));
    await t.store.saveUser(u, null);
    expect(await t.store.admitUserRequest(u.tenantId, u.sub, 1, NOW + MINUTE)).toHaveProperty('user');
    expect(await t.store.admitUserRequest(u.tenantId, u.sub, 1, NOW)).toEqual({ rateLimited: true });
  });

  it('refuses a user over the budget in at most four requests once this process has seen the window', async () => {
    const u = user(uid('t'));
    await t.store.saveUser(u, null);
    expect(await t.store.admitUserRequest(u.tenantId, u.sub, 1, NOW)).toHaveProperty('user');
    const counter = countDynamoDbRequests(t.client);
    expect(await t.store.admitUserRequest(u.tenantId, u.sub, 1, NOW)).toEqual({ rateLimited: true });
    // increment, open, increment (the conditions the window could still meet) and the read that tells refused from
    // unknown
    expect(counter.count).toBe(4);
  });

  it('rate-limits every request when the limit is zero', async () => {
    const u = user(uid('t'));
    await t.store.saveUser(u, null);
    expect(await t.store.admitUserRequest(u.tenantId, u.sub, 0, NOW)).toEqual({ rateLimited: true });
  });

  it('returns undefined for an unknown user', async () => {
    expect(await t.store.admitUserRequest('acme', uid('nobody'), 5, NOW)).toBeUndefined();
    expect(await t.store.admitUserRequest('acme', uid('nobody'), 0, NOW)).toBeUndefined();
  });

  it('admits exactly the limit out of 20 concurrent requests', async () => {
    const u = user(uid('t'));
    await t.store.saveUser(u, null);
    const results = await Promise.all(
      Array.from({ length: 20 }, () => t.store.admitUserRequest(u.tenantId, u.sub, 5, NOW)),
    );
    expect(results.filter((r) => r && 'user' in r)).toHaveLength(5);
    expect(results.filter((r) => r && 'rateLimited' in r)).toHaveLength(15);
  });

  it('admits exactly the rest of the budget out of 20 concurrent first requests of a minute', async () => {
    const u = user(uid('t'));
    await t.store.saveUser(u, null);
    const admit = (at: number) => t.store.admitUserRequest(u.tenantId, u.sub, 5, at);
    expect(await admit(NOW)).toHaveProperty('user');
    expect(await admit(NOW)).toHaveProperty('user');
    const results = await Promise.all(Array.from({ length: 20 }, () => admit(NOW + MINUTE)));
    expect(results.filter((r) => r && 'user' in r)).toHaveLength(3);
    expect(results.filter((r) => r && 'rateLimited' in r)).toHaveLength(17);
  });
});

describe('admission gate and report shields (lib/ciba/report-shield.ts)', () => {
  const gate = (clientId: string) => ({ clientId, requireDevice: true });

  const withDevice = async () => {
    const u = user(uid('t'));
    await t.store.saveUser(u, null);
    const d = device(u.tenantId, u.sub);
    await t.store.createDevice(d.device, d.summary);
    return u;
  };

  /** The user's per-minute count as stored, to see that a refusal counted nothing. */
  const counted = async (u: User) => (await rawDirectoryItem(`T#${u.tenantId}`, `USER#${u.sub}`))?.rl_sum ?? 0;

  it('refuses a user without a device, counting nothing, and admits once a device is enrolled', async () => {
    const u = user(uid('t'));
    await t.store.saveUser(u, null);
    for (let i = 0; i < 3; i++) {
      expect(await t.store.admitUserRequest(u.tenantId, u.sub, 2, NOW, gate('c1'))).toEqual({ refused: 'unreachable' });
    }
    expect(await counted(u)).toBe(0);
    // Without the gate (a caller that does not ask) the same user is admitted.
    expect(await t.store.admitUserRequest(u.tenantId, u.sub, 2, NOW)).toHaveProperty('user');
    const d = device(u.tenantId, u.sub);
    await t.store.createDevice(d.device, d.summary);
    expect(await t.store.admitUserRequest(u.tenantId, u.sub, 2, NOW, gate('c1'))).toHaveProperty('user');
    expect(await t.store.admitUserRequest(u.tenantId, u.sub, 2, NOW, gate('c1'))).toEqual({ rateLimited: true });
    expect(await t.store.admitUserRequest(uid('t'), u.sub, 2, NOW, gate('c1'))).toBeUndefined();
  });

  it('refuses a shielded client until the shield ends, counting nothing; other clients are admitted', async () => {
    const u = await withDevice();
    await t.store.shieldClient(u.tenantId, u.sub, 'bad client', NOW + 3_600_000);
    expect(await t.store.admitUserRequest(u.tenantId, u.sub, 5, NOW, gate('bad client'))).toEqual({
      refused: 'shielded',
      until: NOW + 3_600_000,
    });
    expect(await counted(u)).toBe(0);
    const other = await t.store.admitUserRequest(u.tenantId, u.sub, 5, NOW, gate('good'));
    expect(other).toHaveProperty('user');
    expect((other as { user: User }).user.reportShields).toEqual({ 'bad client': NOW + 3_600_000 });
    // The shield ends: admitted again, in a later minute.
    expect(await t.store.admitUserRequest(u.tenantId, u.sub, 5, NOW + 3_600_000, gate('bad client'))).toHaveProperty(
      'user',
    );
  });

  it('never shortens a running shield, extends it, and lifts it once', async () => {
    const u = await withDevice();
    await t.store.shieldClient(u.tenantId, u.sub, 'c', NOW + 2000);
    await t.store.shieldClient(u.tenantId, u.sub, 'c', NOW + 1000);
    await t.store.shieldClient(u.tenantId, u.sub, 'd', NOW + 500);
    expect((await t.store.getUser(u.tenantId, u.sub))?.reportShields).toEqual({ c: NOW + 2000, d: NOW + 500 });
    await t.store.shieldClient(u.tenantId, u.sub, 'c', NOW + 3000);
    expect((await t.store.getUser(u.tenantId, u.sub))?.reportShields?.c).toBe(NOW + 3000);
    expect(await t.store.liftShield(u.tenantId, u.sub, 'c')).toBe(true);
    expect(await t.store.liftShield(u.tenantId, u.sub, 'c')).toBe(false);
    expect((await t.store.getUser(u.tenantId, u.sub))?.reportShields).toEqual({ d: NOW + 500 });
    expect(await t.store.admitUserRequest(u.tenantId, u.sub, 5, NOW, gate('c'))).toHaveProperty('user');
  });

  it('keeps shields when the profile is saved, and writes none for a user that does not exist', async () => {
    const u = await withDevice();
    await t.store.shieldClient(u.tenantId, u.sub, 'c', NOW + 2000);
    await t.store.saveUser({ ...u, claims: { name: 'Renamed' }, updatedAt: NOW + 1 }, NOW);
    expect((await t.store.getUser(u.tenantId, u.sub))?.reportShields).toEqual({ c: NOW + 2000 });
    const ghost = uid('ghost');
    await t.store.shieldClient(u.tenantId, ghost, 'c', NOW + 2000);
    expect(await rawDirectoryItem(`T#${u.tenantId}`, `USER#${ghost}`)).toBeUndefined();
    expect(await t.store.liftShield(u.tenantId, ghost, 'c')).toBe(false);
  });

  it('of concurrent first shields of two clients, both are kept', async () => {
    const u = await withDevice();
    await Promise.all([
      t.store.shieldClient(u.tenantId, u.sub, 'a', NOW + 1000),
      t.store.shieldClient(u.tenantId, u.sub, 'b', NOW + 1000),
    ]);
    expect((await t.store.getUser(u.tenantId, u.sub))?.reportShields).toEqual({ a: NOW + 1000, b: NOW + 1000 });
  });
});

describe('devices', () => {
  it('creates a device once and lists it on its user', async () => {
    const u = user(uid('t'));
    await t.store.saveUser(u, null);
    const d = device(u.tenantId, u.sub);
    expect(await t.store.createDevice(d.device, d.summary)).toBe('ok');
    expect(await t.store.createDevice(d.device, d.summary)).toBe('conflict');
    expect(await t.store.getDevice(u.tenantId, d.device.deviceId)).toEqual(d.device);
    expect((await t.store.getUser(u.tenantId, u.sub))?.devices).toEqual([d.summary]);
  });

  it('does not create a device for a user that does not exist', async () => {
    const d = device(uid('t'), uid('ghost'));
    expect(await t.store.createDevice(d.device, d.summary)).toBe('conflict');
    expect(await t.store.getDevice(d.device.tenantId, d.device.deviceId)).toBeUndefined();
  });

  it('deletes a device and removes it from the user list', async () => {
    const u = user(uid('t'));
    await t.store.saveUser(u, null);
    const [a, b, c] = [device(u.tenantId, u.sub), device(u.tenantId, u.sub), device(u.tenantId, u.sub)];
    for (const d of [a!, b!, c!]) await t.store.createDevice(d.device, d.summary);

    expect(await t.store.deleteDevice(u.tenantId, u.sub, b!.device.deviceId)).toBe(true);
    expect(await t.store.getDevice(u.tenantId, b!.device.deviceId)).toBeUndefined();
    expect((await t.store.getUser(u.tenantId, u.sub))?.devices).toEqual([a!.summary, c!.summary]);
    expect(await t.store.deleteDevice(u.tenantId, u.sub, b!.device.deviceId)).toBe(false);
  });

  it('does not delete the device of another user', async () => {
    const owner = user(uid('t'));
    await t.store.saveUser(owner, null);
    const d = device(owner.tenantId, owner.sub);
    await t.store.createDevice(d.device, d.summary);
    expect(await t.store.deleteDevice(owner.tenantId, 'mallory', d.device.deviceId)).toBe(false);
    expect(await t.store.getDevice(owner.tenantId, d.device.deviceId)).toBeDefined();
  });

  it('removes both devices when two are deleted concurrently', async () => {
    const u = user(uid('t'));
    await t.store.saveUser(u, null);
    const list = [device(u.tenantId, u.sub), device(u.tenantId, u.sub), device(u.tenantId, u.sub)];
    for (const d of list) await t.store.createDevice(d.device, d.summary);
    await Promise.all(list.slice(0, 2).map((d) => t.store.deleteDevice(u.tenantId, u.sub, d.device.deviceId)));
    expect((await t.store.getUser(u.tenantId, u.sub))?.devices).toEqual([list[2]!.summary]);
  });

  it('disables push on the device and on the user list', async () => {
    const u = user(uid('t'));
    await t.store.saveUser(u, null);
    const [a, b] = [device(u.tenantId, u.sub), device(u.tenantId, u.sub)];
    await t.store.createDevice(a.device, a.summary);
    await t.store.createDevice(b.device, b.summary);

    await t.store.disableDevicePush(u.tenantId, u.sub, b.device.deviceId);

    expect((await t.store.getDevice(u.tenantId, b.device.deviceId))?.push).toEqual({
      ...b.device.push,
      disabled: true,
    });
    const devices = (await t.store.getUser(u.tenantId, u.sub))?.devices;
    expect(devices?.[0]?.push?.disabled).toBeUndefined();
    expect(devices?.[1]?.push).toEqual({ ...b.summary.push, disabled: true });
  });

  it('ignores disabling push for an unknown device', async () => {
    await expect(t.store.disableDevicePush('acme', 'alice', uid('nothing'))).resolves.toBeUndefined();
  });

  it('round-trips an APNs push channel', async () => {
    const u = user(uid('t'));
    await t.store.saveUser(u, null);
    const d = device(u.tenantId, u.sub);
    const push = { type: 'apns' as const, token: 'tok', endpointArn: 'arn:aws:sns:endpoint' };
    await t.store.createDevice({ ...d.device, push }, { ...d.summary, push });
    expect((await t.store.getDevice(u.tenantId, d.device.deviceId))?.push).toEqual(push);
    expect((await t.store.getUser(u.tenantId, u.sub))?.devices[0]?.push).toEqual(push);
  });

  it('writes a passkey only over the one expected (hardening rule 1), and removes it for its user only', async () => {
    const u = user(uid('t'));
    await t.store.saveUser(u, null);
    const d = device(u.tenantId, u.sub);
    await t.store.createDevice(d.device, d.summary);
    const passkey = (credentialId: string, counter = 0) => ({ credentialId, publicKey: 'pk', counter, createdAt: NOW });
    const stored = async () => (await t.store.getDevice(u.tenantId, d.device.deviceId))?.passkey?.credentialId;
    const set = (credentialId: string, expected: string | null) =>
      t.store.setDevicePasskey(u.tenantId, d.device.deviceId, passkey(credentialId), expected);

    expect(await set('first', null)).toBe('ok');
    // A second "first" registration (it saw no passkey) and a replacement checked against another passkey lose.
    expect(await set('racer', null)).toBe('conflict');
    expect(await set('swap', 'someone-else')).toBe('conflict');
    expect(await stored()).toBe('first');
    expect(await set('second', 'first')).toBe('ok');
    expect(await stored()).toBe('second');

    expect(await t.store.removeDevicePasskey(u.tenantId, 'mallory', d.device.deviceId)).toBeUndefined();
    expect((await t.store.removeDevicePasskey(u.tenantId, u.sub, d.device.deviceId))?.credentialId).toBe('second');
    expect(await stored()).toBeUndefined();
    expect(await t.store.removeDevicePasskey(u.tenantId, u.sub, d.device.deviceId)).toBeUndefined();
    // A counter update of the removed passkey does not bring it back.
    expect(await t.store.setDevicePasskey(u.tenantId, d.device.deviceId, passkey('second', 7), 'second')).toBe(
      'conflict',
    );
    expect(await stored()).toBeUndefined();
    expect(await t.store.setDevicePasskey(u.tenantId, uid('gone'), passkey('x'), null)).toBe('conflict');
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
  it('keeps a keyset per tenant: created once, replaced only over the version that was read', async () => {
    const tenantId = uid('t');
    const first = keyset(tenantId);
    expect(await t.store.saveTenantKeys(first, null)).toBe('ok');
    expect(await t.store.saveTenantKeys(first, null)).toBe('conflict');
    expect(await t.store.getTenantKeys(tenantId)).toEqual(first);
    const next = { ...first, signing: first.signing.slice(1), updatedAt: NOW + 1 };
    expect(await t.store.saveTenantKeys(next, NOW - 1)).toBe('conflict');
    expect(await t.store.saveTenantKeys(next, NOW)).toBe('ok');
    expect(await t.store.getTenantKeys(tenantId)).toEqual(next);
    expect(await t.store.getTenantKeys(uid('other'))).toBeUndefined();
  });

  it('reads the keys of the layout before keysets (local mode imports them)', async () => {
    const tenantId = uid('t');
    await putLocalLayoutKey(tenantId, 'k1');
    await putLocalLayoutKey(tenantId, 'k2');
    expect(await t.store.getSigningKeys(tenantId)).toEqual([
      { kid: 'k1', alg: 'ES256', privateJwk: { kty: 'EC', crv: 'P-256', d: 'd' }, createdAt: NOW },
      expect.objectContaining({ kid: 'k2' }),
    ]);
    expect(await t.store.getSigningKeys(uid('other'))).toEqual([]);
  });
});

describe('auth requests', () => {
  it('creates a request once and reads it back', async () => {
    const r = request({ acrValues: 'urn:acr:mfa', clientNotificationToken: 'cnt' });
    expect(await t.store.createRequest(r)).toBe('ok');
    expect(await t.store.createRequest(r)).toBe('conflict');
    expect(await t.store.getRequest(r.txn)).toEqual(r);
    expect(await t.store.getRequest(uid('nothing'))).toBeUndefined();
  });

  it('sets the TTL an hour after expiry for a poll request, a day for ping and push (callbacks), with its bucket', async () => {
    const r = request();
    await t.store.createRequest(r);
    const raw = await rawLedgerItem(`REQ#${r.txn}`);
    expect(raw?.ttl).toBe(Math.ceil(r.expiresAt / 1000) + 3_600);
    expect(raw?.exp_bucket).toBe(String(Math.floor(raw?.ttl / 3_600)));
    expect(raw?.pending_key).toBe(`${r.tenantId}#${r.sub}`);
    const ping = request({ deliveryMode: 'ping', clientNotificationToken: 'tok' });
    await t.store.createRequest(ping);
    expect((await rawLedgerItem(`REQ#${ping.txn}`))?.ttl).toBe(Math.ceil(ping.expiresAt / 1000) + 86_400);
  });

  it('approves a pending request and marks the grant pending', async () => {
    const r = request();
    await t.store.createRequest(r);
    const decided = await t.store.decideRequest(
      r.txn,
      { tenantId: r.tenantId, sub: r.sub },
      'approved',
      evidence(),
      NOW + 1,
    );
    expect(decided).toEqual({
      ...r,
      status: 'approved',
      decidedAt: NOW + 1,
      authTime: NOW + 1,
      evidence: evidence(),
      grantPending: true,
    });
    expect(await t.store.getRequest(r.txn)).toEqual(decided);
    expect((await rawLedgerItem(`REQ#${r.txn}`))?.pending_key).toBeUndefined();
  });

  it('denies a pending request without a grant', async () => {
    const r = request();
    await t.store.createRequest(r);
    const decided = await t.store.decideRequest(
      r.txn,
      { tenantId: r.tenantId, sub: r.sub },
      'denied',
      evidence('deny'),
      NOW,
    );
    expect(decided).toMatchObject({ status: 'denied', evidence: evidence('deny') });
    expect(decided).not.toHaveProperty('grantPending');
  });

  it('refuses a decision by another tenant or user, after expiry, or twice', async () => {
    const r = request();
    await t.store.createRequest(r);
    const owner = { tenantId: r.tenantId, sub: r.sub };
    expect(await t.store.decideRequest(r.txn, { ...owner, tenantId: 'other' }, 'approved', evidence(), NOW)).toBe(
      'conflict',
    );
    expect(await t.store.decideRequest(r.txn, { ...owner, sub: 'mallory' }, 'approved', evidence(), NOW)).toBe(
      'conflict',
    );
    expect(await t.store.decideRequest(r.txn, owner, 'approved', evidence(), r.expiresAt)).toBe('conflict');
    expect(await t.store.decideRequest(uid('nothing'), owner, 'approved', evidence(), NOW)).toBe('conflict');
    expect(await t.store.decideRequest(r.txn, owner, 'approved', evidence(), NOW)).not.toBe('conflict');
    expect(await t.store.decideRequest(r.txn, owner, 'approved', evidence(), NOW)).toBe('conflict');
  });

  it('lets exactly one of a concurrent approve and deny win', async () => {
    const r = request();
    await t.store.createRequest(r);
    const owner = { tenantId: r.tenantId, sub: r.sub };
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        i % 2 === 0
          ? t.store.decideRequest(r.txn, owner, 'approved', evidence(), NOW)
          : t.store.decideRequest(r.txn, owner, 'denied', evidence('deny'), NOW),
      ),
    );
    const winners = results.filter((x) => x !== 'conflict');
    expect(winners).toHaveLength(1);
    expect((await t.store.getRequest(r.txn))?.status).toBe((winners[0] as AuthRequest).status);
  });

  const owner = (r: AuthRequest) => ({ tenantId: r.tenantId, clientId: r.clientId });

  it('records polls and returns the request as it was before the poll', async () => {
    const r = request();
    await t.store.createRequest(r);
    const first = await t.store.pollRequest(r.txn, r.authReqId, owner(r), NOW + 5000);
    expect(first).toEqual(r);
    const second = await t.store.pollRequest(r.txn, r.authReqId, owner(r), NOW + 10_000);
    expect(second?.lastPolledAt).toBe(NOW + 5000);
  });

  it('does not poll with a wrong auth_req_id, tenant, client or txn', async () => {
    const r = request();
    await t.store.createRequest(r);
    expect(await t.store.pollRequest(r.txn, `${r.txn}.wrong`, owner(r), NOW)).toBeUndefined();
    expect(
      await t.store.pollRequest(r.txn, r.authReqId, { tenantId: r.tenantId, clientId: 'other-client' }, NOW),
    ).toBeUndefined();
    // Another tenant's client that chose the same client_id.
    expect(
      await t.store.pollRequest(r.txn, r.authReqId, { tenantId: 'other-tenant', clientId: r.clientId }, NOW),
    ).toBeUndefined();
    expect(await t.store.pollRequest(uid('nothing'), r.authReqId, owner(r), NOW)).toBeUndefined();
    expect((await t.store.getRequest(r.txn))?.lastPolledAt).toBeUndefined();
  });

  it('redeems an approved grant exactly once among 50 concurrent polls', async () => {
    const r = request();
    await t.store.createRequest(r);
    await t.store.decideRequest(r.txn, { tenantId: r.tenantId, sub: r.sub }, 'approved', evidence(), NOW);
    const polls = await Promise.all(
      Array.from({ length: 50 }, (_, i) => t.store.pollRequest(r.txn, r.authReqId, owner(r), NOW + i)),
    );
    expect(polls.filter((p) => p?.grantPending === true)).toHaveLength(1);
    expect(polls.every((p) => p?.status === 'approved')).toBe(true);
    expect((await t.store.getRequest(r.txn))?.grantPending).toBeUndefined();
  });

  it('restores a grant on an approved request only', async () => {
    const r = request();
    await t.store.createRequest(r);
    await t.store.restoreGrant(r.txn);
    expect((await t.store.getRequest(r.txn))?.grantPending).toBeUndefined();

    await t.store.decideRequest(r.txn, { tenantId: r.tenantId, sub: r.sub }, 'approved', evidence(), NOW);
    expect((await t.store.pollRequest(r.txn, r.authReqId, owner(r), NOW))?.grantPending).toBe(true);
    expect((await t.store.pollRequest(r.txn, r.authReqId, owner(r), NOW))?.grantPending).toBeUndefined();
    await t.store.restoreGrant(r.txn);
    expect((await t.store.pollRequest(r.txn, r.authReqId, owner(r), NOW))?.grantPending).toBe(true);
    await expect(t.store.restoreGrant(uid('nothing'))).resolves.toBeUndefined();
  });

  it('adds slow_down penalties to the interval', async () => {
    const r = request();
    await t.store.createRequest(r);
    await t.store.slowDown(r.txn, 5);
    await t.store.slowDown(r.txn, 5);
    expect((await t.store.getRequest(r.txn))?.interval).toBe(15);
    await expect(t.store.slowDown(uid('nothing'), 5)).resolves.toBeUndefined();
    expect(await t.store.getRequest('nothing')).toBeUndefined();
  });

  it('lists a user’s pending unexpired requests newest first', async () => {
    const tenantId = uid('t');
    const sub = 'alice';
    const older = request({ tenantId, sub, createdAt: NOW - 2000 });
    const newer = request({ tenantId, sub, createdAt: NOW - 1000 });
    const expired = request({ tenantId, sub, createdAt: NOW - 600_000, expiresAt: NOW - 300_000 });
    const decided = request({ tenantId, sub, createdAt: NOW - 500 });
    const otherUser = request({ tenantId, sub: 'bob' });
    const otherTenant = request({ tenantId: uid('t'), sub });
    for (const r of [older, newer, expired, decided, otherUser, otherTenant]) await t.store.createRequest(r);
    await t.store.decideRequest(decided.txn, { tenantId, sub }, 'denied', evidence('deny'), NOW);

    const pending = await t.store.listPending(tenantId, sub, NOW);
    expect(pending.map((r) => r.txn)).toEqual([newer.txn, older.txn]);
  });

  it('lists what the pending list shows, from an index that polls and slow_down do not write', async () => {
    const tenantId = uid('t');
    const r = request({
      tenantId,
      acrValues: 'urn:acr:strong',
      display: [{ type: 'payment_initiation', title: 'Pay', fields: [] }],
      tenantGeneration: 'g3',
    });
    await t.store.createRequest(r);
    await t.store.pollRequest(r.txn, r.authReqId, { tenantId, clientId: r.clientId }, NOW + 1000);
    await t.store.slowDown(r.txn, 5);
    const [listed] = await t.store.listPending(tenantId, r.sub, NOW + 2000);
    expect(listed).toEqual({
      txn: r.txn,
      authReqId: r.authReqId,
      tenantId,
      clientId: r.clientId,
      sub: r.sub,
      claims: {},
      scope: r.scope,
      acrValues: 'urn:acr:strong',
      bindingMessage: r.bindingMessage,
      authorizationDetails: r.authorizationDetails,
      display: r.display,
      status: 'pending',
      createdAt: r.createdAt,
      expiresAt: r.expiresAt,
      tenantGeneration: 'g3',
    });
    // The index holds none of what the poll and slow_down wrote (the table does): they did not write the index.
    const index = await t.client.send(
      new QueryCommand({
        TableName: LEDGER_TABLE_DEFAULT,
        IndexName: 'pending-by-user',
        KeyConditionExpression: 'pending_key = :k',
        ExpressionAttributeValues: marshall({ ':k': `${tenantId}#${r.sub}` }),
      }),
    );
    expect(Object.keys(unmarshall(index.Items![0]!))).not.toContain('last_polled_at');
    expect(unmarshall(index.Items![0]!).interval).toBeUndefined();
    expect(await rawLedgerItem(`REQ#${r.txn}`)).toMatchObject({ last_polled_at: NOW + 1000, interval: 10 });
  });
});

describe('enrollment tickets', () => {
  it('consumes a ticket once and returns its owner', async () => {
    const hash = uid('ticket');
    await t.store.createEnrollmentTicket(hash, 'acme', 'alice', NOW + 10 * MINUTE);
    expect(await t.store.consumeEnrollmentTicket(hash, NOW)).toEqual({ tenantId: 'acme', sub: 'alice' });
    expect(await t.store.consumeEnrollmentTicket(hash, NOW)).toBeUndefined();
  });

  it('refuses an expired or unknown ticket', async () => {
    const hash = uid('ticket');
    await t.store.createEnrollmentTicket(hash, 'acme', 'alice', NOW);
    expect(await t.store.consumeEnrollmentTicket(hash, NOW)).toBeUndefined();
    expect(await t.store.consumeEnrollmentTicket(uid('nothing'), NOW)).toBeUndefined();
    expect((await rawLedgerItem(`TICKET#${hash}`))?.ttl).toBe(Math.ceil(NOW / 1000));
  });

  it('gives a ticket to exactly one of 10 concurrent consumers', async () => {
    const hash = uid('ticket');
    await t.store.createEnrollmentTicket(hash, 'acme', 'alice', NOW + MINUTE);
    const results = await Promise.all(Array.from({ length: 10 }, () => t.store.consumeEnrollmentTicket(hash, NOW)));
    expect(results.filter((r) => r !== undefined)).toEqual([{ tenantId: 'acme', sub: 'alice' }]);
  });
});

describe('proof replay', () => {
  it('records a jti once and reports the replay', async () => {
    const jti = uid('jti');
    expect(await t.store.recordProofJti('thumb', jti, NOW + MINUTE)).toBe(true);
    expect(await t.store.recordProofJti('thumb', jti, NOW + MINUTE)).toBe(false);
    expect(await t.store.recordProofJti('other-thumb', jti, NOW + MINUTE)).toBe(true);
  });

  it('accepts exactly one of concurrent uses of the same jti', async () => {
    const jti = uid('jti');
    const results = await Promise.all(Array.from({ length: 10 }, () => t.store.recordProofJti('thumb', jti, NOW)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });
});

describe('expiry sweep (local mode)', () => {
  it('deletes ledger items whose ttl has passed and keeps the rest', async () => {
    const jti = uid('jti');
    const ticket = uid('ticket');
    await t.store.recordProofJti('thumb', jti, NOW);
    await t.store.createEnrollmentTicket(ticket, 'acme', 'alice', NOW + 10 * MINUTE);
    const deleted = await t.dynamodb.sweep(NOW + MINUTE);
    expect(deleted).toBeGreaterThanOrEqual(1);
    expect(await rawLedgerItem(`JTI#thumb#${jti}`)).toBeUndefined();
    expect(await rawLedgerItem(`TICKET#${ticket}`)).toBeDefined();
  });
});

describe('request counting', () => {
  it('counts every command sent through the client', async () => {
    const counter = countDynamoDbRequests(t.client);
    await t.store.getTenant('acme');
    await t.store.recordProofJti('thumb', uid('jti'), NOW);
    expect(counter.count).toBe(2);
    counter.reset();
    expect(counter.count).toBe(0);
  });
});

describe('useDeviceProof (the device and its proof jti in one conditional write)', () => {
  const enrolled = async () => {
    const u = user(uid('t'));
    await t.store.saveUser(u, null);
    const d = device(u.tenantId, u.sub);
    expect(await t.store.createDevice(d.device, d.summary)).toBe('ok');
    return d.device;
  };

  it('returns the device for a new jti and nothing for the same jti again', async () => {
    const d = await enrolled();
    const jti = uid('jti');
    expect(await t.store.useDeviceProof(d.tenantId, d.deviceId, jti, NOW + 2 * MINUTE, NOW)).toEqual(d);
    expect(await t.store.useDeviceProof(d.tenantId, d.deviceId, jti, NOW + 2 * MINUTE, NOW)).toBeUndefined();
    expect(await t.store.useDeviceProof(d.tenantId, d.deviceId, uid('jti'), NOW + 2 * MINUTE, NOW)).toEqual(d);
  });

  it('returns nothing for an unknown device or another tenant, and creates no item', async () => {
    const d = await enrolled();
    expect(await t.store.useDeviceProof(d.tenantId, uid('unknown'), uid('jti'), NOW, NOW)).toBeUndefined();
    expect(await t.store.useDeviceProof(uid('other'), d.deviceId, uid('jti'), NOW, NOW)).toBeUndefined();
    expect(await t.store.useDeviceProof(d.tenantId, 'x'.repeat(2000), uid('jti'), NOW, NOW)).toBeUndefined();
    expect(await rawDirectoryItem(`T#${d.tenantId}`, 'DEVICE#unknown')).toBeUndefined();
  });

  it('gives the device to exactly one of 32 concurrent uses of one proof', async () => {
    const d = await enrolled();
    const jti = uid('jti');
    const results = await Promise.all(
      Array.from({ length: 32 }, () => t.store.useDeviceProof(d.tenantId, d.deviceId, jti, NOW + MINUTE, NOW)),
    );
    expect(results.filter((r) => r !== undefined)).toHaveLength(1);
  });

  it('works on a device stored before the jti map existed, and still refuses a replay there', async () => {
    const d = await enrolled();
    const raw = await rawDirectoryItem(`T#${d.tenantId}`, `DEVICE#${d.deviceId}`);
    delete raw!.jtis;
    await t.client.send(new PutItemCommand({ TableName: DIRECTORY_TABLE_DEFAULT, Item: marshall(raw!) }));
    const jti = uid('jti');
    const results = await Promise.all(
      Array.from({ length: 16 }, () => t.store.useDeviceProof(d.tenantId, d.deviceId, jti, NOW + MINUTE, NOW)),
    );
    expect(results.filter((r) => r !== undefined)).toEqual([d]);
    expect(await t.store.useDeviceProof(d.tenantId, d.deviceId, uid('jti'), NOW + MINUTE, NOW)).toEqual(d);
  });

  it('drops expired jtis once enough have gathered, and keeps the unexpired ones', async () => {
    const d = await enrolled();
    const old = Array.from({ length: 8 }, () => uid('old'));
    for (const jti of old) await t.store.useDeviceProof(d.tenantId, d.deviceId, jti, NOW, NOW - 2 * MINUTE);
    const fresh = uid('fresh');
    await t.store.useDeviceProof(d.tenantId, d.deviceId, fresh, NOW + 4 * MINUTE, NOW + 2 * MINUTE);
    const jtis = (await rawDirectoryItem(`T#${d.tenantId}`, `DEVICE#${d.deviceId}`))!.jtis;
    expect(Object.keys(jtis)).toEqual([fresh]);
    // A dropped jti belongs to a proof whose iat no longer passes; a kept one is still refused.
    expect(
      await t.store.useDeviceProof(d.tenantId, d.deviceId, fresh, NOW + 4 * MINUTE, NOW + 2 * MINUTE),
    ).toBeUndefined();
  });
});

describe('admitTenantRequest (client, tenant and pending budgets in one write)', () => {
  const limits = { clientPerMinute: 3, tenantPerMinute: 5, maxPending: 100 };
  const admit = (
    tenantId: string,
    clientId: string,
    now = NOW,
    overrides: Partial<typeof limits> = {},
    pendingWindowMs = 5 * MINUTE,
  ) => t.store.admitTenantRequest({ tenantId, clientId, limits: { ...limits, ...overrides }, pendingWindowMs, now });

  it('admits each client up to its limit a minute, then refuses until the minute ends', async () => {
    const tenantId = uid('t');
    for (let i = 0; i < 3; i++) expect(await admit(tenantId, 'a', NOW + i)).toMatchObject({ admitted: true });
    expect(await admit(tenantId, 'a', NOW + 10)).toEqual({
      admitted: false,
      limit: 'client',
      retryAfterSeconds: Math.ceil(((Math.floor(NOW / MINUTE) + 1) * MINUTE - NOW - 10) / 1000),
    });
    expect(await admit(tenantId, 'b', NOW + 10)).toMatchObject({ admitted: true });
    expect(await admit(tenantId, 'a', NOW + MINUTE)).toMatchObject({ admitted: true });
  });

  it('limits the tenant across clients, and a refused request counts nowhere', async () => {
    const tenantId = uid('t');
    for (const c of ['a', 'b', 'a', 'b', 'c']) expect(await admit(tenantId, c)).toMatchObject({ admitted: true });
    expect(await admit(tenantId, 'c')).toMatchObject({ admitted: false, limit: 'tenant' });
    expect(await admit(tenantId, 'a')).toMatchObject({ admitted: false, limit: 'tenant' });
    const item = await rawLedgerItem(`QUOTA#TENANT#${tenantId}`);
    expect(item).toMatchObject({ t: 5, cc: { a: 2, b: 2, c: 1 }, ps: 5 });
  });

  it('counts pending requests over the current and the previous window', async () => {
    const tenantId = uid('t');
    const window = 2 * MINUTE;
    const start = Math.floor(NOW / window) * window;
    const wide = { clientPerMinute: 100, tenantPerMinute: 100, maxPending: 3 };
    for (let i = 0; i < 2; i++)
      expect(await admit(tenantId, 'a', start + i, wide, window)).toMatchObject({ admitted: true });
    // The next window: the previous one's 2 still count.
    expect(await admit(tenantId, 'a', start + window, wide, window)).toMatchObject({ admitted: true });
    expect(await admit(tenantId, 'a', start + window + 1, wide, window)).toEqual({
      admitted: false,
      limit: 'pending',
      // This window's requests count until the next window ends.
      retryAfterSeconds: Math.ceil((2 * window - 1) / 1000),
    });
    // Two windows later only the last window's request counts.
    expect(await admit(tenantId, 'a', start + 2 * window, wide, window)).toMatchObject({ admitted: true });
  });

  it('admits exactly the limit out of 25 concurrent requests, also when they create the item', async () => {
    const tenantId = uid('t');
    const results = await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        admit(tenantId, `c${i % 2}`, NOW, { clientPerMinute: 100, tenantPerMinute: 7 }),
      ),
    );
    expect(results.filter((r) => r.admitted)).toHaveLength(7);
    expect(results.filter((r) => !r.admitted).every((r) => !r.admitted && r.limit === 'tenant')).toBe(true);
    expect(await rawLedgerItem(`QUOTA#TENANT#${tenantId}`)).toMatchObject({ t: 7, ps: 7 });
  });

  it('does not let a lagging clock restart a newer minute', async () => {
    const tenantId = uid('t');
    expect(await admit(tenantId, 'a', NOW + MINUTE, { clientPerMinute: 1 })).toMatchObject({ admitted: true });
    expect(await admit(tenantId, 'a', NOW, { clientPerMinute: 1 })).toMatchObject({ admitted: false, limit: 'client' });
  });

  it('gives a pending slot back in the window it was counted in, or in the next one, and never below zero', async () => {
    const tenantId = uid('t');
    const window = 2 * MINUTE;
    const start = Math.floor(NOW / window) * window;
    const wide = { clientPerMinute: 100, tenantPerMinute: 100, maxPending: 2 };
    const release = (pendingWindow: number) =>
      t.store.releaseTenantRequest({ tenantId, pendingWindow, pendingWindowMs: window });
    const first = await admit(tenantId, 'a', start, wide, window);
    const second = await admit(tenantId, 'a', start + 1, wide, window);
    expect(first).toEqual({ admitted: true, pendingWindow: start / window });
    expect(second).toEqual({ admitted: true, pendingWindow: start / window });
    expect(await admit(tenantId, 'a', start + 2, wide, window)).toMatchObject({ admitted: false, limit: 'pending' });
    // Given back in the same window: room for one more.
    await release(start / window);
    expect(await rawLedgerItem(`QUOTA#TENANT#${tenantId}`)).toMatchObject({ ps: 1, pp: 0 });
    expect(await admit(tenantId, 'a', start + 3, wide, window)).toMatchObject({ admitted: true });
    // The next window: both still count (a refusal does not roll the item), and one is given back.
    expect(await admit(tenantId, 'a', start + window, wide, window)).toMatchObject({
      admitted: false,
      limit: 'pending',
    });
    await release(start / window);
    expect(await admit(tenantId, 'a', start + window + 1, wide, window)).toMatchObject({ admitted: true });
    // Rolled: the first window's last one is the previous window's share, and is given back from it.
    expect(await rawLedgerItem(`QUOTA#TENANT#${tenantId}`)).toMatchObject({ pw: start / window + 1, ps: 2, pp: 1 });
    await release(start / window);
    expect(await rawLedgerItem(`QUOTA#TENANT#${tenantId}`)).toMatchObject({ ps: 1, pp: 0 });
    // Nothing more to give back from it, nor from a window that no longer counts.
    await release(start / window);
    await release(start / window - 5);
    expect(await rawLedgerItem(`QUOTA#TENANT#${tenantId}`)).toMatchObject({ ps: 1, pp: 0 });
  });

  it('costs one request per admitted request once the windows are open', async () => {
    const tenantId = uid('t');
    await admit(tenantId, 'a');
    const counter = countDynamoDbRequests(t.client);
    await admit(tenantId, 'a', NOW + 1);
    await admit(tenantId, 'b', NOW + 2);
    expect(counter.count).toBe(2);
  });
});
