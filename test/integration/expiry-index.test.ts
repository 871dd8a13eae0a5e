/**
 * Issue 20: expiry costs what is expired, not what exists. The embedded store's sweep finds due items through the
 * local by-expiry index (an hour of TTLs per partition), and a start finds the callbacks to resume through the local
 * open-callbacks index, and the channel fallbacks to set again through the pending-fallbacks index: none scans the
 * ledger. A data directory's ledger of a layout before is copied once.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { localStoreOf } from '../../lib/adapters/dynamodb/local.ts';
import { buildCreateTableInput } from '../../lib/adapters/dynamodb/tables.ts';
import {
  DIRECTORY_TABLE_DEFAULT,
  LEDGER_SCHEMA,
  LEDGER_TABLE_DEFAULT,
  type TableSchema,
} from '../../lib/adapters/dynamodb-schema.ts';
import { startEmbeddedDynamoDb } from '../../lib/local/embedded-dynamodb.ts';
import type { AuthRequest } from '../../lib/model.ts';
import { startTestStore, type TestStore } from '../helpers/dynalite.ts';
import { startTestService } from '../helpers/service.ts';

const NOW = 1_750_000_000_000;
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** Every command the client sends, and how many items the store examined for them (ScannedCount). */
const watch = (client: DynamoDBClient) => {
  const seen = { commands: [] as string[], examined: 0 };
  const send = client.send.bind(client) as (command: unknown) => Promise<{ ScannedCount?: number }>;
  (client as { send: unknown }).send = async (command: { constructor: { name: string } }) => {
    seen.commands.push(command.constructor.name);
    const out = await send(command);
    seen.examined += out.ScannedCount ?? 0;
    return out;
  };
  return seen;
};

const request = (overrides: Partial<AuthRequest> = {}): AuthRequest => {
  const txn = randomBytes(16).toString('base64url');
  return {
    txn,
    authReqId: `${txn}.${randomBytes(20).toString('base64url')}`,
    tenantId: 'acme',
    clientId: 'rp',
    sub: 'alice',
    claims: {},
    scope: 'openid',
    deliveryMode: 'poll',
    status: 'pending',
    createdAt: NOW,
    expiresAt: NOW + 5 * MINUTE,
    interval: 5,
    ...overrides,
  };
};

describe('the local expiry sweep', () => {
  let t: TestStore | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  it('examines only what has expired, whatever else the ledger holds', async () => {
    t = await startTestStore();
    for (let i = 0; i < 300; i++)
      await t.store.tickets.create(`live-${i}`, { tenantId: 'acme', sub: 'alice' }, NOW + 2 * 60 * MINUTE);
    for (let i = 0; i < 5; i++) await t.store.replay.useOnce(`thumb#old-${i}`, NOW);
    const seen = watch(t.client);
    expect(await t.dynamodb.sweep(NOW + MINUTE)).toBe(5);
    expect(seen.commands).not.toContain('ScanCommand');
    expect(seen.examined).toBe(5);
    expect(await t.store.tickets.consume('live-0', NOW + MINUTE)).toBeDefined();
  });

  it('catches up on the hours the service was down', async () => {
    t = await startTestStore();
    expect(await t.dynamodb.sweep(NOW)).toBe(0);
    await t.store.replay.useOnce('thumb#jti-day-1', NOW + DAY);
    await t.store.replay.useOnce('thumb#jti-day-5', NOW + 5 * DAY);
    const seen = watch(t.client);
    expect(await t.dynamodb.sweep(NOW + 3 * DAY)).toBe(1);
    expect(seen.commands).not.toContain('ScanCommand');
    expect(await t.store.replay.useOnce('thumb#jti-day-1', NOW + 4 * DAY)).toBe(true);
    expect(await t.store.replay.useOnce('thumb#jti-day-5', NOW + 3 * DAY)).toBe(false);
  });

  it('keeps a request an hour after its expiry, a ping or push request a day (its callback may still be sent)', async () => {
    t = await startTestStore();
    const poll = request();
    const push = request({ deliveryMode: 'push', clientNotificationToken: 'tok' });
    await t.store.requests.create(poll);
    await t.store.requests.create(push);
    expect(await t.dynamodb.sweep(poll.expiresAt + 59 * MINUTE)).toBe(0);
    expect(await t.dynamodb.sweep(poll.expiresAt + 61 * MINUTE)).toBe(1);
    expect(await t.store.requests.get(poll.txn)).toBeUndefined();
    expect(await t.store.requests.get(push.txn)).toBeDefined();
    expect(await t.dynamodb.sweep(push.expiresAt + DAY + MINUTE)).toBe(1);
    expect(await t.store.requests.get(push.txn)).toBeUndefined();
  });
});

describe('the callbacks a start resumes', () => {
  let t: TestStore | undefined;
  afterAll(() => t?.stop());

  it('are read through the open-callbacks index, without the history', async () => {
    t = await startTestStore();
    const store = t.store;
    for (let i = 0; i < 100; i++) await store.requests.create(request());
    const decidedPing = async () => {
      const r = request({ deliveryMode: 'ping', clientNotificationToken: 'tok' });
      await store.requests.create(r);
      await store.decisions.decide(
        r.txn,
        r,
        'approved',
        { proof: 'p', deviceId: 'd', decision: 'approve', receivedAt: NOW },
        NOW,
      );
      return r;
    };
    for (let i = 0; i < 50; i++) {
      const r = await decidedPing();
      await store.callbacks.claim(r.txn, { attempt: 1, now: NOW, leaseUntil: NOW + 30_000 });
      await store.callbacks.record(
        r.txn,
        { attempt: 1, at: NOW, status: 204 },
        { state: 'delivered', deliveredAt: NOW },
      );
    }
    const open = await decidedPing();
    const pushPending = request({ deliveryMode: 'push', clientNotificationToken: 'tok' });
    await store.requests.create(pushPending);
    const pingPending = request({ deliveryMode: 'ping', clientNotificationToken: 'tok' });
    await store.requests.create(pingPending);
    const pingExpired = request({ deliveryMode: 'ping', clientNotificationToken: 'tok', expiresAt: NOW - MINUTE });
    await store.requests.create(pingExpired);

    const seen = watch(t.client);
    const found: string[] = [];
    for await (const o of t.local.openCallbacks(NOW)) found.push(o.request.txn);
    expect(found.sort()).toEqual([open.txn, pushPending.txn, pingPending.txn].sort());
    expect(seen.commands).not.toContain('ScanCommand');
    expect(seen.examined).toBe(3);
  });
});

describe('the channel fallbacks a start sets again', () => {
  let t: TestStore | undefined;
  afterAll(() => t?.stop());

  it('are read through the pending-fallbacks index: pending, unexpired requests with a fallback only', async () => {
    t = await startTestStore();
    const store = t.store;
    for (let i = 0; i < 50; i++) await store.requests.create(request());
    for (let i = 0; i < 10; i++) {
      const r = request({ fallbackAt: NOW + MINUTE });
      await store.requests.create(r);
      await store.decisions.decide(r.txn, r, 'denied', { decision: 'deny', receivedAt: NOW, channel: 'email' }, NOW);
    }
    const pending = request({ fallbackAt: NOW + MINUTE });
    await store.requests.create(pending);
    const due = request({ fallbackAt: NOW - MINUTE, createdAt: NOW - 2 * MINUTE });
    await store.requests.create(due);
    await store.requests.create(request({ fallbackAt: NOW - 2 * MINUTE, expiresAt: NOW - MINUTE }));

    const seen = watch(t.client);
    const found: AuthRequest[] = [];
    for await (const r of t.local.pendingFallbacks(NOW)) found.push(r);
    expect(found.map((r) => r.txn).sort()).toEqual([pending.txn, due.txn].sort());
    expect(found.find((r) => r.txn === due.txn)?.fallbackAt).toBe(NOW - MINUTE);
    expect(seen.commands).not.toContain('ScanCommand');
    expect(seen.examined).toBe(2);
  });
});

describe('a data directory of the layout before', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  /**
   * A data directory whose ledger is a layout before: `table` made with `schema` (its local indexes then), holding
   * `items`. dynalite answers CreateTable with the table CREATING; a write before it is ACTIVE finds no table.
   */
  const legacyDataDir = async (table: string, schema: TableSchema, items: Record<string, unknown>[]) => {
    const dataDir = await mkdtemp(join(tmpdir(), `${table}-`));
    dirs.push(dataDir);
    const first = await startEmbeddedDynamoDb({ dataDir, process: 'inline' });
    await first.client.send(new CreateTableCommand(buildCreateTableInput(table, schema)));
    await vi.waitFor(async () => {
      const described = await first.client.send(new DescribeTableCommand({ TableName: table }));
      expect(described.Table?.TableStatus).toBe('ACTIVE');
    });
    for (const item of items) await first.client.send(new PutItemCommand({ TableName: table, Item: marshall(item) }));
    await first.stop();
    return dataDir;
  };

  /** The next start on it: the old ledger copied and dropped (DeleteTable answers DELETING; dynalite drops it later). */
  const startAgain = async (dataDir: string, table: string) => {
    const second = await startEmbeddedDynamoDb({ dataDir, process: 'inline' });
    try {
      await vi.waitFor(async () => {
        const tables = await second.client.send(new ListTablesCommand({}));
        expect(tables.TableNames).not.toContain(table);
      });
    } catch (error) {
      await second.stop();
      throw error;
    }
    const store = localStoreOf({
      client: second.client,
      directory: DIRECTORY_TABLE_DEFAULT,
      ledger: LEDGER_TABLE_DEFAULT,
    });
    return { second, store };
  };

  it('has its ledger copied once into the new layout, expired items left out', async () => {
    const now = Date.now();
    const push = request({ deliveryMode: 'push', clientNotificationToken: 'tok', expiresAt: now + 5 * MINUTE });
    const legacyItems = [
      {
        pk: `REQ#${push.txn}`,
        txn: push.txn,
        auth_req_id: push.authReqId,
        tenant_id: 'acme',
        client_id: 'rp',
        sub: 'alice',
        claims: {},
        scope: 'openid',
        delivery_mode: 'push',
        client_notification_token: 'tok',
        status: 'pending',
        created_at: now,
        expires_at: push.expiresAt,
        interval: 5,
        ttl: Math.ceil(push.expiresAt / 1000) + 86_400,
      },
      {
        pk: 'TICKET#t1',
        tenant_id: 'acme',
        sub: 'alice',
        expires_at: now + 10 * MINUTE,
        ttl: Math.ceil((now + 10 * MINUTE) / 1000),
      },
      { pk: 'JTI#thumb#old', expires_at: now - MINUTE, ttl: Math.floor((now - MINUTE) / 1000) },
    ];
    // The ledger as the version before created it: no local indexes, under its old name.
    const dataDir = await legacyDataDir('ciba-ledger', { ...LEDGER_SCHEMA, localIndexes: [] }, legacyItems);
    const { second, store } = await startAgain(dataDir, 'ciba-ledger');
    try {
      expect(second.copiedItems).toBe(2);
      const open: string[] = [];
      for await (const o of store.openCallbacks(now)) open.push(o.request.txn);
      expect(open).toEqual([push.txn]);
      const ticket = await second.client.send(
        new GetItemCommand({ TableName: LEDGER_TABLE_DEFAULT, Key: marshall({ pk: 'TICKET#t1' }) }),
      );
      expect(unmarshall(ticket.Item!).exp_bucket).toBe(String(Math.floor(unmarshall(ticket.Item!).ttl / 3600)));
      expect(await second.sweep(now + 11 * MINUTE)).toBe(1);
    } finally {
      await second.stop();
    }
  });
  it('has a ledger of the layout before the fallback index copied too, its pending fallbacks found again', async () => {
    const now = Date.now();
    const item = (txn: string, status: string, fallbackAt?: number) => ({
      pk: `REQ#${txn}`,
      txn,
      auth_req_id: `${txn}.secret`,
      tenant_id: 'acme',
      client_id: 'rp',
      sub: 'alice',
      claims: {},
      scope: 'openid',
      delivery_mode: 'poll',
      status,
      created_at: now,
      expires_at: now + 5 * MINUTE,
      ...(fallbackAt !== undefined ? { fallback_at: fallbackAt } : {}),
      interval: 5,
      ttl: Math.ceil((now + 5 * MINUTE) / 1000) + 3600,
      exp_bucket: String(Math.floor((Math.ceil((now + 5 * MINUTE) / 1000) + 3600) / 3600)),
    });
    // The ledger as the version before created it: by-expiry and open-callbacks, under its name then.
    const before = {
      ...LEDGER_SCHEMA,
      localIndexes: LEDGER_SCHEMA.localIndexes!.filter((i) => i.name !== 'pending-fallbacks'),
    };
    const items = [
      item('fb1', 'pending', now + MINUTE),
      item('fb2', 'approved', now + MINUTE),
      item('nofb', 'pending'),
    ];
    const dataDir = await legacyDataDir('ciba-ledger-2', before, items);
    const { second, store } = await startAgain(dataDir, 'ciba-ledger-2');
    try {
      expect(second.copiedItems).toBe(3);
      const found: string[] = [];
      for await (const r of store.pendingFallbacks(now)) found.push(r.txn);
      expect(found).toEqual(['fb1']);
    } finally {
      await second.stop();
    }
  });
  it("is copied from a DYNAMODB_ENDPOINT's ledger of the layout before too", async () => {
    // The endpoint: a store of its own, holding a ledger under the name of the layout before.
    const external = await startEmbeddedDynamoDb({ dataDir: 'memory', process: 'inline' });
    try {
      const before = { ...LEDGER_SCHEMA, localIndexes: [] };
      await external.client.send(new CreateTableCommand(buildCreateTableInput('ciba-ledger-2', before)));
      await vi.waitFor(async () => {
        const described = await external.client.send(new DescribeTableCommand({ TableName: 'ciba-ledger-2' }));
        expect(described.Table?.TableStatus).toBe('ACTIVE');
      });
      const kept = { pk: 'REVOKED#access_token#a1', ttl: Math.ceil(Date.now() / 1000) + 3600 };
      await external.client.send(new PutItemCommand({ TableName: 'ciba-ledger-2', Item: marshall(kept) }));

      const svc = await startTestService({ dynamoDbEndpoint: external.endpoint });
      try {
        expect(svc.logs.some((l) => l.includes('ledger copied into the layout') && l.includes('"items":1'))).toBe(true);
        const copied = await external.client.send(
          new GetItemCommand({ TableName: LEDGER_TABLE_DEFAULT, Key: marshall({ pk: kept.pk }) }),
        );
        expect(unmarshall(copied.Item!)).toMatchObject(kept);
      } finally {
        await svc.stop();
      }
    } finally {
      await external.stop();
    }
  });
});
