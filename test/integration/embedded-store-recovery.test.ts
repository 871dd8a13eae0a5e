/**
 * Issue 20: a first start killed between CreateTable (the table written as CREATING) and the moment dynalite marks
 * it ACTIVE used to brick the data directory: every later start waited 300 s for the table and failed. The next start
 * repairs it (lib/local/dynalite.mjs prepareFolder).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, expect, it } from 'vitest';
import { dynamoDbStore } from '../../lib/adapters/dynamodb/index.ts';
import { buildCreateTableInput } from '../../lib/adapters/dynamodb/tables.ts';
import {
  DIRECTORY_SCHEMA,
  DIRECTORY_TABLE_DEFAULT,
  LEDGER_SCHEMA,
  LEDGER_TABLE_DEFAULT,
} from '../../lib/adapters/dynamodb-schema.ts';
import { dynalite } from '../../lib/local/dynalite.mjs';
import { createDynamoDbClient, startEmbeddedDynamoDb } from '../../lib/local/embedded-dynamodb.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

it('repairs tables that a killed first start left CREATING, and starts', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'ciba-first-start-'));
  dirs.push(dataDir);
  const path = join(dataDir, 'dynamodb');
  await mkdir(path, { recursive: true });
  // A first start that stops right after CreateTable: the tables stay CREATING on disk.
  const server = dynalite({ path, createTableMs: 3_600_000 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  const client = createDynamoDbClient(`http://127.0.0.1:${port}`, { dynalite: true });
  await client.send(new CreateTableCommand(buildCreateTableInput(DIRECTORY_TABLE_DEFAULT, DIRECTORY_SCHEMA)));
  await client.send(new CreateTableCommand(buildCreateTableInput(LEDGER_TABLE_DEFAULT, LEDGER_SCHEMA)));
  const status = await client.send(new DescribeTableCommand({ TableName: LEDGER_TABLE_DEFAULT }));
  expect(status.Table?.TableStatus).toBe('CREATING');
  client.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));

  const db = await startEmbeddedDynamoDb({ dataDir, process: 'worker' });
  try {
    expect(db.repairedTables.sort()).toEqual([DIRECTORY_TABLE_DEFAULT, LEDGER_TABLE_DEFAULT].sort());
    const store = dynamoDbStore({
      client: db.client,
      directoryTable: DIRECTORY_TABLE_DEFAULT,
      ledgerTable: LEDGER_TABLE_DEFAULT,
    });
    const user = { tenantId: 't', sub: 'alice', claims: {}, devices: [], createdAt: 1, updatedAt: 1 };
    expect(await store.users.save(user, null)).toBe('ok');
    expect(await store.users.findByEmail('t', 'nobody@example.com')).toEqual([]);
  } finally {
    await db.stop();
  }
});
