/**
 * Embedded dynalite in each place it can run (lib/local/embedded-dynamodb.ts): on a worker thread over its message
 * port (the default of `npm start`), in a child process or in this process over HTTP. The DynamoDB adapter must
 * behave the same through each transport: conditional writes and their races, indexes, errors, persistence.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { dynamoDbStore } from '../../lib/adapters/dynamodb/index.ts';
import { DIRECTORY_TABLE_DEFAULT, LEDGER_TABLE_DEFAULT } from '../../lib/adapters/dynamodb-schema.ts';
import { soleMatch } from '../../lib/ciba/hint-match.ts';
import { admitUserRequest } from '../../lib/ciba/user-rate-window.ts';
import {
  EMBEDDED_STORE_MODES,
  type EmbeddedDynamoDb,
  embeddedStoreMode,
  startEmbeddedDynamoDb,
} from '../../lib/local/embedded-dynamodb.ts';
import { inThreadPort, workerTransport } from '../../lib/local/worker-transport.ts';
import type { User } from '../../lib/model.ts';

const NOW = 1_750_000_000_000;
const alice = (tenantId: string): User => ({
  tenantId,
  sub: 'alice',
  claims: { name: 'Alice', email: 'Alice@Example.com' },
  devices: [],
  createdAt: NOW,
  updatedAt: NOW,
});
const storeOf = (db: EmbeddedDynamoDb) =>
  dynamoDbStore({ client: db.client, directoryTable: DIRECTORY_TABLE_DEFAULT, ledgerTable: LEDGER_TABLE_DEFAULT });

describe.each(EMBEDDED_STORE_MODES)('embedded dynalite: %s', (mode) => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const fn of cleanup.reverse()) await fn();
  });

  it('serves the store: conditional writes, a race with exactly one winner per unit of budget, an index, errors', async () => {
    const db = await startEmbeddedDynamoDb({ dataDir: 'memory', process: mode });
    cleanup.push(() => db.stop());
    const store = storeOf(db);
    expect(await store.users.save(alice('modes'), null)).toBe('ok');
    expect(await store.users.save(alice('modes'), null)).toBe('conflict');
    expect(soleMatch(await store.users.findByEmail('modes', 'alice@example.com'))).toBe('alice');
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        admitUserRequest(store, { tenantId: 'modes', sub: 'alice', limitPerMinute: 5, now: NOW }),
      ),
    );
    expect(results.filter((r) => r && 'user' in r)).toHaveLength(5);
    // A request DynamoDB refuses surfaces as the SDK's own error, by name.
    await expect(
      db.client.send(new GetItemCommand({ TableName: 'no-such-table', Key: { pk: { S: 'x' } } })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });

  it('keeps the data in its folder across a restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), `ciba-store-${mode}-`));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const first = await startEmbeddedDynamoDb({ dataDir, process: mode });
    expect(await storeOf(first).users.save(alice('kept'), null)).toBe('ok');
    await first.stop();
    const second = await startEmbeddedDynamoDb({ dataDir, process: mode });
    cleanup.push(() => second.stop());
    expect(await storeOf(second).users.get('kept', 'alice')).toMatchObject({ sub: 'alice', claims: { name: 'Alice' } });
  });
});

describe('the worker transport', () => {
  it('fails the requests a worker holds when it exits, and every later one, with the reason', async () => {
    // A stand-in for dynalite that dies on its first request.
    const worker = new Worker("require('node:worker_threads').parentPort.on('message', () => process.exit(3))", {
      eval: true,
    });
    const transport = workerTransport(worker) as { handle(request: unknown): Promise<unknown> };
    const request = { method: 'POST', path: '/', headers: {}, body: '{}' };
    await expect(transport.handle(request)).rejects.toThrow('the embedded store stopped (exit code 3)');
    await expect(transport.handle(request)).rejects.toThrow('the embedded store stopped (exit code 3)');
  });
});

describe('dynalite in this thread (direct)', () => {
  it('answers through the same transport, and a request its handler throws on fails alone, with the reason', async () => {
    let calls = 0;
    const port = inThreadPort((_req, res) => {
      calls++;
      if (calls === 1) throw new Error('broken request');
      const response = res as { statusCode: number; setHeader(n: string, v: string): void; end(b: string): void };
      response.setHeader('Content-Type', 'application/x-amz-json-1.0');
      response.end('{}');
    });
    const transport = workerTransport(port) as {
      handle(request: unknown): Promise<{ response: { statusCode: number; headers: Record<string, string> } }>;
    };
    const request = { method: 'POST', path: '/', headers: {}, body: '{}' };
    await expect(transport.handle(request)).rejects.toThrow('embedded store: Error: broken request');
    const { response } = await transport.handle(request);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/x-amz-json-1.0');
  });
});

describe('CIBA_EMBEDDED_STORE', () => {
  it('is worker when unset, takes each mode, and refuses anything else with the choices', () => {
    expect(embeddedStoreMode(undefined)).toBe('worker');
    expect(embeddedStoreMode('')).toBe('worker');
    for (const mode of EMBEDDED_STORE_MODES) expect(embeddedStoreMode(mode)).toBe(mode);
    expect(() => embeddedStoreMode('thread')).toThrow(
      'CIBA_EMBEDDED_STORE must be one of worker, direct, child, inline',
    );
  });
});
