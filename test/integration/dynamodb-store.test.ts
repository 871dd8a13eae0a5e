import { randomBytes, randomUUID } from 'node:crypto';
import {
  CreateTableCommand,
  DescribeTableCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addStoreMiddleware } from '../../lib/adapters/dynamodb/client.ts';
import { countDynamoDbRequests, dynamoDbStore } from '../../lib/adapters/dynamodb/index.ts';
import { buildCreateTableInput, ensureTables } from '../../lib/adapters/dynamodb/tables.ts';
import {
  DIRECTORY_TABLE_DEFAULT,
  LEDGER_SCHEMA,
  LEDGER_TABLE_DEFAULT,
  PENDING_VIEW_ATTRIBUTES,
} from '../../lib/adapters/dynamodb-schema.ts';
import { addDevice } from '../../lib/ciba/device-api.ts';
import { admissionMemory, admitTenantRequest } from '../../lib/ciba/tenant-admission.ts';
import { admitUserRequest, RateWindowHints } from '../../lib/ciba/user-rate-window.ts';
import { useDeviceProof } from '../../lib/ciba/verify-device-proof.ts';
import { createDpopProof } from '../../lib/device/dpop.ts';
import { DeviceKey } from '../../lib/device/key.ts';
import type { Device, DeviceSummary, User } from '../../lib/model.ts';
import { itemSize } from '../bench/aws-terms.ts';
import { startTestStore, type TestStore } from '../helpers/dynalite.ts';
import { device, evidence, keyset, MINUTE, NOW, request, tenant, uid, user } from '../helpers/store-fixtures.ts';

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

async function rawLedgerItem(pk: string) {
  const out = await t.client.send(
    new GetItemCommand({ TableName: LEDGER_TABLE_DEFAULT, Key: marshall({ pk }), ConsistentRead: true }),
  );
  return out.Item && unmarshall(out.Item);
}

/** What the pending-by-user index holds for a user, as stored. */
async function pendingIndexItems(ledgerTable: string, tenantId: string, sub: string) {
  const out = await t.client.send(
    new QueryCommand({
      TableName: ledgerTable,
      IndexName: 'pending-by-user',
      KeyConditionExpression: 'pending_key = :k',
      ExpressionAttributeValues: marshall({ ':k': `${tenantId}#${sub}` }),
    }),
  );
  return (out.Items ?? []).map((item) => unmarshall(item));
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

  it('creates a new ledger with pending-by-user projecting the pending view (INCLUDE)', async () => {
    const described = await t.client.send(new DescribeTableCommand({ TableName: LEDGER_TABLE_DEFAULT }));
    expect(described.Table?.GlobalSecondaryIndexes?.find((i) => i.IndexName === 'pending-by-user')?.Projection).toEqual(
      { ProjectionType: 'INCLUDE', NonKeyAttributes: PENDING_VIEW_ATTRIBUTES },
    );
  });
});

describe('tenants', () => {
  it('deletes the tenant’s signing keys with it (local mode)', async () => {
    const record = tenant();
    await s.tenants.save(record, null);
    await putLocalLayoutKey(record.tenantId, 'k1');
    await s.keysets.save(keyset(record.tenantId), null);
    expect(await s.tenants.delete(record.tenantId)).toBe('deleted');
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
    const raw = await rawDirectoryItem(`T#${u.tenantId}#USER#${u.sub}`, `USER#${u.sub}`);
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
        Key: marshall({ pk: `T#${u.tenantId}#USER#${u.sub}`, sk: `USER#${u.sub}` }),
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
    const counted = async (u: User) =>
      (await rawDirectoryItem(`T#${u.tenantId}#USER#${u.sub}`, `USER#${u.sub}`))?.rl_sum ?? 0;
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
    expect(await rawDirectoryItem(`T#${u.tenantId}#USER#${u.sub}`, `USER#${u.sub}`)).toMatchObject({
      report_shields: { bad: NOW + MINUTE },
    });
  });
});

/** A tenant's keyset with a wrapped and a kms key, a MAC key and the legacy one. */

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

  it('keeps a device’s signed proof as bytes, a decided request under 1 KB, and reads back the text that was signed', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const { kty, crv, x, y } = await exportJWK(publicKey);
    const r = request({ scope: 'openid', bindingMessage: 'Bench', issuer: 'https://ciba.example.com/acme' });
    const proof = await new SignJWT({
      htm: 'POST',
      htu: `${r.issuer}/device/transactions/${r.txn}`,
      jti: randomUUID(),
      txn: r.txn,
      decision: 'approve',
    })
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } })
      .setIssuedAt()
      .sign(privateKey);
    await s.requests.create(r);
    const decided = { ...evidence(), proof, deviceId: await calculateJwkThumbprint({ kty, crv, x, y }) };
    await s.decisions.decide(r.txn, { tenantId: r.tenantId, sub: r.sub }, 'approved', decided, NOW + 1);
    const raw = await rawLedgerItem(`REQ#${r.txn}`);
    // Format 2 under `dpop`: the release before reads `proof` only (and could not decode format 2).
    expect(raw?.evidence.dpop).toBeInstanceOf(Uint8Array);
    expect(raw?.evidence.dpop[0]).toBe(2);
    expect(raw?.evidence).not.toHaveProperty('proof');
    // DynamoDB bills a write by the item's size: the decision and the redeeming poll are one write unit each.
    expect(itemSize(marshall(raw!) as never)).toBeLessThan(1024);
    expect((await s.requests.get(r.txn))?.evidence).toEqual(decided);
  });

  it('keeps a ping request at one write unit at each write from its creation to its redemption (issue 18)', async () => {
    // A request as bc-authorize makes it for a ping client with a 32-character notification token (the bench's), an
    // approval by the device SDK's proof, the callback's claim, the redeeming token request and the callback's
    // result (in the order that leaves the item largest: the result after the redemption).
    const txn = randomBytes(16).toString('base64url');
    const issuer = 'https://ciba.example.com/t/bench-mx69c164';
    const r = request({
      txn,
      authReqId: `${txn}.${randomBytes(20).toString('base64url')}`,
      tenantId: 'bench-mx69c164',
      clientId: 'bench-client-mx69c164',
      sub: 'user-1',
      claims: {},
      scope: 'openid',
      bindingMessage: 'Bench 1',
      authorizationDetails: undefined,
      deliveryMode: 'ping',
      clientNotificationToken: randomBytes(24).toString('base64url'),
      issuer,
      tenantGeneration: randomBytes(12).toString('base64url'),
      clientGeneration: randomBytes(12).toString('base64url'),
    });
    expect(r.clientNotificationToken).toHaveLength(32);
    const key = await DeviceKey.generate();
    const proof = await createDpopProof(key, {
      htm: 'POST',
      htu: `${issuer}/device/transactions/${txn}`,
      extraClaims: { txn, decision: 'approve' },
    });
    const decided = {
      proof,
      deviceId: await calculateJwkThumbprint(key.publicJwk),
      decision: 'approve' as const,
      receivedAt: NOW + 1000,
    };
    const owner = { tenantId: r.tenantId, sub: r.sub };

    // The write units DynamoDB reports for each write (dynalite: the larger of the item before and after, per KB).
    const units: Record<string, number | undefined> = {};
    const sizes: Record<string, number> = {};
    let step = '';
    // addStoreMiddleware: the client caches each command's handler (and so would miss a middleware added later).
    addStoreMiddleware(t.client, (stack) =>
      stack.add(
        (next) => async (args) => {
          if (!step) return next(args);
          (args.input as { ReturnConsumedCapacity?: string }).ReturnConsumedCapacity = 'TOTAL';
          const result = await next(args);
          units[step] = (
            result.output as { ConsumedCapacity?: { CapacityUnits?: number } }
          ).ConsumedCapacity?.CapacityUnits;
          return result;
        },
        { step: 'initialize', name: 'pingWriteUnits' },
      ),
    );
    const write = async (name: string, run: () => Promise<unknown>) => {
      step = name;
      try {
        expect(await run()).not.toBe('conflict');
      } finally {
        step = '';
      }
      sizes[name] = itemSize(marshall(await rawLedgerItem(`REQ#${txn}`)) as never);
    };
    try {
      await write('create', () => s.requests.create(r));
      await write('decision', () => s.decisions.decide(txn, owner, 'approved', decided, NOW + 1000));
      await write('claim', () => s.callbacks.claim(txn, { attempt: 1, now: NOW + 1100, leaseUntil: NOW + 31_100 }));
      await write('token request', () =>
        s.polls.poll(txn, r.authReqId, { tenantId: r.tenantId, clientId: r.clientId }, NOW + 1200),
      );
      await write('result', () =>
        s.callbacks.record(
          txn,
          { attempt: 1, at: NOW + 1150, status: 204 },
          { state: 'delivered', deliveredAt: NOW + 1150 },
        ),
      );
    } finally {
      addStoreMiddleware(t.client, (stack) => stack.remove('pingWriteUnits'));
    }
    expect(units).toEqual({ create: 1, decision: 1, claim: 1, 'token request': 1, result: 1 });
    for (const size of Object.values(sizes)) expect(size).toBeLessThanOrEqual(1024);
    // The item is the bench's: its evidence, notification token and delivered callback all there.
    const raw = await rawLedgerItem(`REQ#${txn}`);
    expect(raw).toMatchObject({
      client_notification_token: r.clientNotificationToken,
      callback: { state: 'delivered' },
    });
    expect(raw?.evidence.dpop).toBeInstanceOf(Uint8Array);
    expect(sizes.result).toBeGreaterThan(900);
    expect((await s.requests.get(txn))?.evidence).toEqual(decided);
  });

  it('reads a request decided by the release before, its proof stored as bytes in format 1', async () => {
    const r = request();
    await s.requests.create(r);
    await s.decisions.decide(r.txn, { tenantId: r.tenantId, sub: r.sub }, 'approved', evidence(), NOW + 1);
    const raw = await rawLedgerItem(`REQ#${r.txn}`);
    // proofToBytes of the release before for a proof of the device SDK (test/unit/adapters/proof-bytes.test.ts).
    const proof =
      'eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwiY3J2IjoiUC0yNTYiLCJ4Ijoib3prOVZ2U1YwUDBoNUhHTzJJZzZ5NjhnNVQzNXo3VkdiNXlCcHBTTzZtZyIsInkiOiJ6QXpSbUt2NVZpTWxuTVdRYW54Q2dxNlotdFBVcXRTVDc0UHZwaWo2MVU4In19.eyJ0eG4iOiJ3cFdZbVJiZHNnRU95SjRMSGRQZHpnIiwiZGVjaXNpb24iOiJhcHByb3ZlIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vY2liYS5leGFtcGxlLmNvbS9hY21lL2RldmljZS90cmFuc2FjdGlvbnMvd3BXWW1SYmRzZ0VPeUo0TEhkUGR6ZyIsImlhdCI6MTc5NjIyMzkwMywianRpIjoiMjQ4bGtMMGtJcVlMaUZXQkRwdXhxQSJ9.u5_XkoT1JlvXni4mrJ--Sj_YLwObMels5QdIc9xrxPxNdHdzWDJ7ur6rE2unU7UnbuS08LkvPPjJvLPdTEgxag';
    raw!.evidence.proof = Buffer.from(
      'AQECAKM5PVb0ldD9IeRxjtiIOsuvIOU9+c+1Rm+cgaaUjupozAzRmKv5ViMlnMWQanxCgq6Z+tPUqtST74Pvpij61U8Aw3sidHhuIjoid3BXWW1SYmRzZ0VPeUo0TEhkUGR6ZyIsImRlY2lzaW9uIjoiYXBwcm92ZSIsImh0bSI6IlBPU1QiLCJodHUiOiJodHRwczovL2NpYmEuZXhhbXBsZS5jb20vYWNtZS9kZXZpY2UvdHJhbnNhY3Rpb25zL3dwV1ltUmJkc2dFT3lKNExIZFBkemciLCJpYXQiOjE3OTYyMjM5MDMsImp0aSI6IjI0OGxrTDBrSXFZTGlGV0JEcHV4cUEifbuf15KE9SZb154uJqyfvko/2C8DmzHpbOUHSHPca8T8TXR3c1gye7q+qxNrp1O1J27ktPC5Lzz4ybyz3UxIMWo=',
      'base64',
    );
    await t.client.send(new PutItemCommand({ TableName: LEDGER_TABLE_DEFAULT, Item: marshall(raw!) }));
    expect((await s.requests.get(r.txn))?.evidence).toEqual({ ...evidence(), proof });
  });

  it('reads a request decided by the release before, its proof stored as text', async () => {
    const r = request();
    await s.requests.create(r);
    await s.decisions.decide(r.txn, { tenantId: r.tenantId, sub: r.sub }, 'approved', evidence(), NOW + 1);
    const raw = await rawLedgerItem(`REQ#${r.txn}`);
    const proof = 'eyJhbGciOiJFUzI1NiJ9.eyJodG0iOiJQT1NUIn0.c2lnbmF0dXJlLWJ5dGVzLW9mLWEtZGV2aWNl';
    raw!.evidence.proof = proof;
    await t.client.send(new PutItemCommand({ TableName: LEDGER_TABLE_DEFAULT, Item: marshall(raw!) }));
    expect((await rawLedgerItem(`REQ#${r.txn}`))?.evidence.proof).toBe(proof);
    expect((await s.requests.get(r.txn))?.evidence).toEqual({ ...evidence(), proof });
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

  it('lists what the pending list shows, from an index that polls and slow_down do not write', async () => {
    const tenantId = uid('t');
    const r = request({
      tenantId,
      acrValues: 'urn:acr:strong',
      display: [{ type: 'payment_initiation', title: 'Pay', fields: [] }],
      tenantGeneration: 'g3',
    });
    await s.requests.create(r);
    await s.polls.poll(r.txn, r.authReqId, { tenantId, clientId: r.clientId }, NOW + 1000);
    await s.polls.slowDown(r.txn, 5);
    const [listed] = await s.requests.listPending(tenantId, r.sub, NOW + 2000);
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
    const [indexed] = await pendingIndexItems(LEDGER_TABLE_DEFAULT, tenantId, r.sub);
    expect(Object.keys(indexed!)).not.toContain('last_polled_at');
    expect(indexed!.interval).toBeUndefined();
    expect(await rawLedgerItem(`REQ#${r.txn}`)).toMatchObject({ last_polled_at: NOW + 1000, interval: 10 });
  });

  it('lists the same from a ledger whose pending-by-user index projects ALL (a data directory or deployment before INCLUDE)', async () => {
    const ledgerTable = uid('ledger-all');
    await t.client.send(
      new CreateTableCommand(
        buildCreateTableInput(ledgerTable, {
          ...LEDGER_SCHEMA,
          indexes: LEDGER_SCHEMA.indexes.map((index) => ({ ...index, projection: 'ALL', nonKeyAttributes: undefined })),
        }),
      ),
    );
    // Local mode's start (ensureTables) leaves an existing table's index as it is.
    await ensureTables(t.client, { directory: DIRECTORY_TABLE_DEFAULT, ledger: ledgerTable });
    const described = await t.client.send(new DescribeTableCommand({ TableName: ledgerTable }));
    expect(described.Table?.GlobalSecondaryIndexes?.find((i) => i.IndexName === 'pending-by-user')?.Projection).toEqual(
      { ProjectionType: 'ALL' },
    );
    const older = dynamoDbStore({ client: t.client, directoryTable: DIRECTORY_TABLE_DEFAULT, ledgerTable });
    const tenantId = uid('t');
    const r = request({ tenantId, acrValues: 'urn:acr:strong', tenantGeneration: 'g3' });
    for (const store of [s, older]) {
      await store.requests.create(r);
      await store.polls.poll(r.txn, r.authReqId, { tenantId, clientId: r.clientId }, NOW + 1000);
      await store.polls.slowDown(r.txn, 5);
    }
    // The index holds the whole item (the poll's last_polled_at too); the list answers with the view alone.
    const [indexed] = await pendingIndexItems(ledgerTable, tenantId, r.sub);
    expect(indexed).toMatchObject({ last_polled_at: NOW + 1000, interval: 10 });
    const listed = await older.requests.listPending(tenantId, r.sub, NOW + 2000);
    expect(listed).toEqual(await s.requests.listPending(tenantId, r.sub, NOW + 2000));
    expect(listed).toHaveLength(1);
    // A decision takes it off either index.
    await older.decisions.decide(r.txn, { tenantId, sub: r.sub }, 'approved', evidence(), NOW + 3000);
    expect(await older.requests.listPending(tenantId, r.sub, NOW + 4000)).toEqual([]);
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
    expect(await rawDirectoryItem(`T#${d.tenantId}#DEVICE#unknown`, 'DEVICE#unknown')).toBeUndefined();
    expect(await rawDirectoryItem(`T#${d.tenantId}`, 'DEVICE#unknown')).toBeUndefined();
  });

  it('works on a device stored before the jti map existed, and still refuses a replay there', async () => {
    const d = await enrolled();
    const raw = await rawDirectoryItem(`T#${d.tenantId}#DEVICE#${d.deviceId}`, `DEVICE#${d.deviceId}`);
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
      // Without a memory: a request from a new process, trying shard 0 first.
      options.memory ?? admissionMemory(),
    );

  it('keeps each counter shard on its own item, its counts named by their minute and window', async () => {
    const tenantId = uid('t');
    const memory = admissionMemory();
    // Three shards (the smallest limit), each with a share of 1 of each client's 3 and 2, 2, 1 of the tenant's 5. Each
    // request of a process takes the next shard: a, b, a, b on 0, 1, 2, 0.
    for (const c of ['a', 'b', 'a', 'b']) await admit(tenantId, c, NOW, { memory });
    const [m, w] = [Math.floor(NOW / MINUTE), Math.floor(NOW / (5 * MINUTE))];
    const shard = async (i: number) => {
      const {
        pk: _pk,
        ttl: _ttl,
        exp_bucket: _bucket,
        ...counts
      } = (await rawLedgerItem(`QUOTA#SHARD#${tenantId}#${i}`))!;
      return counts;
    };
    // `t.{minute}` the tenant's, `c.{minute}.{client}` a client's, `p.{length}.{window}` the requests of that window
    // and the one before.
    expect(await shard(0)).toEqual({
      [`t.${m}`]: 2,
      [`c.${m}.a`]: 1,
      [`c.${m}.b`]: 1,
      [`p.300000.${w}`]: 2,
      [`p.300000.${w + 1}`]: 2,
    });
    expect(await shard(1)).toEqual({ [`t.${m}`]: 1, [`c.${m}.b`]: 1, [`p.300000.${w}`]: 1, [`p.300000.${w + 1}`]: 1 });
    expect(await shard(2)).toEqual({ [`t.${m}`]: 1, [`c.${m}.a`]: 1, [`p.300000.${w}`]: 1, [`p.300000.${w + 1}`]: 1 });
    expect(await rawLedgerItem(`QUOTA#SHARD#${tenantId}#3`)).toBeUndefined();
    expect(await rawLedgerItem(`QUOTA#TENANT#${tenantId}#0`)).toBeUndefined();
  });

  it("costs one request for a shard's first request of a new minute and of a new window, and keeps the item small", async () => {
    const tenantId = uid('t');
    const wide = { clientPerMinute: 100, tenantPerMinute: 500, maxPending: 1000 };
    const window = 5 * MINUTE;
    const start = Math.floor(NOW / window) * window;
    // Every request from a new process: shard 0 first.
    expect(await admit(tenantId, 'a', start, { limits: wide })).toMatchObject({ admitted: true, shard: 0 });
    const counter = countDynamoDbRequests(t.client);
    // A new minute, then a new window and minute, each with a client of its own: one conditional write each.
    for (let i = 1; i <= 12; i++) {
      counter.reset();
      expect(await admit(tenantId, `client-${i}`, start + i * MINUTE, { limits: wide })).toMatchObject({
        admitted: true,
        shard: 0,
      });
      expect(counter.count).toBe(1);
    }
    // The minutes and windows before are gone (the last minute's client with the next write of this process).
    const item = (await rawLedgerItem(`QUOTA#SHARD#${tenantId}#0`))!;
    const [m, w] = [Math.floor((start + 12 * MINUTE) / MINUTE), Math.floor((start + 12 * MINUTE) / window)];
    expect(Object.keys(item).sort()).toEqual(
      [
        'pk',
        'ttl',
        'exp_bucket',
        `t.${m}`,
        `c.${m}.client-12`,
        `c.${m - 1}.client-11`,
        `p.300000.${w}`,
        `p.300000.${w + 1}`,
      ].sort(),
    );
    expect(itemSize(marshall(item))).toBeLessThan(200);
  });

  it("counts the pending requests and this minute's counts of a shard item of the layout before, once, when it creates its item", async () => {
    const window = 5 * MINUTE;
    const [m, w] = [Math.floor(NOW / MINUTE), Math.floor(NOW / window)];
    const legacy = async (tenantId: string, item: Record<string, unknown>) =>
      t.client.send(
        new PutItemCommand({
          TableName: LEDGER_TABLE_DEFAULT,
          Item: marshall({ pk: `QUOTA#TENANT#${tenantId}#0`, v: 3, ttl: NOW / 1000 + 3600, ...item }),
        }),
      );
    // One shard (a limit of 1). The old item counted the tenant's one request of this minute.
    const busy = uid('t');
    await legacy(busy, { m, t: 1, cc: { a: 1 }, pl: window, pw: w, ps: 1, pp: 0 });
    expect(
      await admit(busy, 'b', NOW, { limits: { clientPerMinute: 100, tenantPerMinute: 1, maxPending: 100 } }),
    ).toMatchObject({
      admitted: false,
      limit: 'tenant',
    });
    expect(
      await admit(busy, 'b', NOW + MINUTE, { limits: { clientPerMinute: 100, tenantPerMinute: 1, maxPending: 100 } }),
    ).toMatchObject({
      admitted: true,
    });
    // Pending: the old item's window and the one before hold 2, 1 of them its own window's: 2 pending.
    const pending = uid('t');
    await legacy(pending, { m: m - 3, t: 9, cc: { a: 9 }, pl: window, pw: w, ps: 2, pp: 1 });
    const capped = { limits: { clientPerMinute: 100, tenantPerMinute: 100, maxPending: 1 } };
    // (A cap of 1 is one shard: the old item's 2 fill it.)
    expect(await admit(pending, 'a', NOW, capped)).toMatchObject({ admitted: false, limit: 'pending' });
    const three = { limits: { clientPerMinute: 1, tenantPerMinute: 100, maxPending: 3 } };
    expect(await admit(pending, 'a', NOW, three)).toMatchObject({ admitted: true, shard: 0 });
    // Created with the old counts and this request; the minute the old item held has passed.
    const item = (await rawLedgerItem(`QUOTA#SHARD#${pending}#0`))!;
    expect(item).toMatchObject({ [`t.${m}`]: 1, [`c.${m}.a`]: 1, [`p.300000.${w}`]: 3, [`p.300000.${w + 1}`]: 2 });
    expect(item[`t.${m - 3}`]).toBeUndefined();
    // The next window: the old item's request of its own window and the one above still count (2 of 3): one more.
    expect(await admit(pending, 'b', (w + 1) * window, three)).toMatchObject({ admitted: true, shard: 0 });
    expect(await admit(pending, 'c', (w + 1) * window, three)).toMatchObject({ admitted: false, limit: 'pending' });
    // Read once: a change to the old item (old code still running) is no longer seen.
    await legacy(pending, { m, t: 0, cc: {}, pl: window, pw: w + 2, ps: 3, pp: 0 });
    expect(await admit(pending, 'd', (w + 2) * window, three)).toMatchObject({ admitted: true, shard: 0 });
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
