import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteItemCommand, type DynamoDBClient, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { DIRECTORY_TABLE_DEFAULT } from '../../lib/adapters/dynamodb-schema.ts';
import { startEmbeddedDynamoDb } from '../../lib/local/embedded-dynamodb.ts';
import {
  createTenantFixture,
  enrollDevice,
  postForm,
  startTestService,
  type TestDevice,
  type TestService,
} from '../helpers/service.ts';
import { SoftPasskey } from '../helpers/soft-passkey.ts';

type Raw = Record<string, unknown>;

const directoryItems = async (dataDir: string, change?: (items: Raw[], client: DynamoDBClient) => Promise<void>) => {
  const store = await startEmbeddedDynamoDb({ dataDir });
  try {
    const out = await store.client.send(new ScanCommand({ TableName: DIRECTORY_TABLE_DEFAULT }));
    const items = (out.Items ?? []).map((i) => unmarshall(i));
    await change?.(items, store.client);
    return items;
  } finally {
    await store.stop();
  }
};

/**
 * Rewrites a data directory's directory table as the release before per-user and per-device keys left it: every user
 * and device item back under `T#{tenant}` (over its membership item), no item of its own key, no layout record.
 */
const toLayoutBefore = async (dataDir: string) => {
  let rewritten = 0;
  await directoryItems(dataDir, async (items, client) => {
    for (const item of items) {
      const own = /^(T#[^#]+)#(USER|DEVICE)#/.exec(String(item.pk));
      if (own) {
        rewritten++;
        await client.send(
          new PutItemCommand({ TableName: DIRECTORY_TABLE_DEFAULT, Item: marshall({ ...item, pk: own[1] }) }),
        );
        await client.send(
          new DeleteItemCommand({ TableName: DIRECTORY_TABLE_DEFAULT, Key: marshall({ pk: item.pk, sk: item.sk }) }),
        );
      } else if (item.pk === 'LAYOUT') {
        await client.send(
          new DeleteItemCommand({ TableName: DIRECTORY_TABLE_DEFAULT, Key: marshall({ pk: 'LAYOUT', sk: 'LAYOUT' }) }),
        );
      }
    }
  });
  return rewritten;
};

describe('a data directory of the directory layout before per-user and per-device keys', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  it('is moved at start: its users, devices and passkeys are found, and a device with its passkey still approves', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'ciba-directory-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const tenant = 'layout';

    // Today's release: alice with a device and its passkey, bob with a device.
    let svc: TestService = await startTestService({ dataDir });
    const fx = await createTenantFixture(svc, tenant, {
      user_verification: 'passkey',
      user_rate_limit_per_minute: 100,
    });
    await svc.admin('PUT', `/admin/tenants/${tenant}/users/bob`, { email: 'bob@example.com' });
    const device = await enrollDevice(svc, fx);
    const bobs = await enrollDevice(svc, fx, 'bob');
    const passkey = new SoftPasskey(svc.url);
    const creation = (await device.call('POST', '/device/passkey/registration-options', {})).body;
    expect((await device.call('POST', '/device/passkey', { response: passkey.register(creation) })).status).toBe(201);
    await svc.stop();

    expect(await toLayoutBefore(dataDir)).toBe(4); // alice, bob and their devices

    svc = await startTestService({ dataDir, port: Number(new URL(svc.url).port) });
    cleanup.push(() => svc.stop());
    const moved = svc.logs.find((l) => l.includes('users and devices moved to their own partition keys'));
    expect(moved && JSON.parse(moved)).toMatchObject({ items: 4 });

    const alice = await svc.admin('GET', `/admin/tenants/${tenant}/users/alice/devices`);
    expect(alice.status).toBe(200);
    expect(alice.body.devices.map((d: { device_id: string }) => d.device_id)).toEqual([device.deviceId]);
    expect((await svc.admin('GET', `/admin/tenants/${tenant}/users/bob`)).status).toBe(200);
    expect((await bobs.pending()).status).toBe(200);

    // alice's device authenticates, and her passkey verifies an approval.
    const approve = async (d: TestDevice) => {
      const ack = await postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice' }, fx.client);
      expect(ack.status, JSON.stringify(ack.body)).toBe(200);
      const txn = ack.body.auth_req_id.split('.')[0] as string;
      const details = await d.call('GET', `/device/transactions/${txn}`);
      const url = `${fx.issuer}/device/transactions/${txn}`;
      return d.call(
        'POST',
        `/device/transactions/${txn}`,
        { decision: 'approve', webauthn: passkey.assert(details.body.webauthn) },
        await d.proof('POST', url, { txn, decision: 'approve' }),
      );
    };
    expect((await approve(device)).status).toBe(200);
  });
});
