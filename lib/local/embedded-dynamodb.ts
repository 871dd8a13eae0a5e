import { fork } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { Agent } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  type AttributeValue,
  DeleteItemCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { createStoreClient, leanForDynalite, UNSIGNED_FOR_DYNALITE } from '../adapters/dynamodb/client.ts';
import { moveLegacyDirectory } from '../adapters/dynamodb/directory-layout.ts';
import { localStoreOf } from '../adapters/dynamodb/local.ts';
import { localIndexKeys } from '../adapters/dynamodb/requests.ts';
import { ensureTables } from '../adapters/dynamodb/tables.ts';
import {
  DIRECTORY_TABLE_DEFAULT,
  expiryBucket,
  LEDGER_TABLE_DEFAULT,
  LEGACY_LEDGER_TABLES,
  TTL_ATTRIBUTE,
} from '../adapters/dynamodb-schema.ts';
import type { Clock } from '../ports.ts';
import { dynalite, prepareFolder } from './dynalite.mjs';
import { readStoreOwner, StoreHeldError } from './store-owner.ts';
import { inThreadPort, type StorePort, workerTransport } from './worker-transport.ts';

const SWEEP_INTERVAL_MS = 60_000;

/** Where embedded dynalite runs (startEmbeddedDynamoDb). */
export const EMBEDDED_STORE_MODES = ['worker', 'direct', 'child', 'inline'] as const;
export type EmbeddedStoreMode = (typeof EMBEDDED_STORE_MODES)[number];

/** `CIBA_EMBEDDED_STORE`: `worker` when unset; anything not in EMBEDDED_STORE_MODES is refused. */
export const embeddedStoreMode = (value: string | undefined): EmbeddedStoreMode => {
  if (!value) return 'worker';
  if ((EMBEDDED_STORE_MODES as readonly string[]).includes(value)) return value as EmbeddedStoreMode;
  throw new Error(`CIBA_EMBEDDED_STORE must be one of ${EMBEDDED_STORE_MODES.join(', ')} (got "${value}")`);
};

export interface EmbeddedDynamoDb {
  endpoint: string;
  /** The store's own process, when it runs in a child process. */
  pid?: number;
  client: DynamoDBClient;
  /** Tables a killed first start had left CREATING, made usable again on this start (prepareFolder). */
  repairedTables: string[];
  /** Items copied on this start from a ledger of the layout before (copyLegacyLedger). */
  copiedItems: number;
  /**
   * Users and devices moved on this start from the directory layout before per-user and per-device keys
   * (moveLegacyDirectory: once; later starts read one item).
   */
  movedDirectoryItems: number;
  /** Deletes ledger items whose TTL has passed; returns how many (dynalite has no TTL deletion). */
  sweep(nowMs?: number): Promise<number>;
  stop(): Promise<void>;
}

/**
 * A client for a local or self-hosted endpoint (embedded dynalite, or DYNAMODB_ENDPOINT). `dynalite`: the endpoint
 * is the embedded dynalite, which never verifies signatures, so requests skip SigV4 (UNSIGNED_FOR_DYNALITE) and the
 * headers only AWS reads (leanForDynalite).
 */
export function createDynamoDbClient(
  endpoint: string,
  { dynalite = false, worker }: { dynalite?: boolean; worker?: StorePort } = {},
): DynamoDBClient {
  const client = createStoreClient({
    region: 'local',
    endpoint: dynalite ? parsedOnce(endpoint) : endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 3,
    // dynalite on a worker thread is reached over its message port (or in this thread behind the same port, `direct`);
    // over HTTP, keep-alive (every store call otherwise pays a TCP handshake).
    requestHandler: worker ? workerTransport(worker) : { httpAgent: new Agent({ keepAlive: true }) },
    ...(dynalite ? { httpAuthSchemes: [UNSIGNED_FOR_DYNALITE] } : {}),
  });
  return dynalite ? leanForDynalite(client) : client;
}

/** The embedded dynalite's `http://127.0.0.1:{port}` as the SDK's endpoint object: a string is parsed on every call. */
const parsedOnce = (endpoint: string) => {
  const { protocol, hostname, port, pathname } = new URL(endpoint);
  return { protocol, hostname, ...(port ? { port: Number(port) } : {}), path: pathname };
};

interface RunningDynalite {
  port: number;
  pid?: number;
  worker?: StorePort;
  stopServer(): Promise<void>;
}

const startInline = async (
  path: string | undefined,
): Promise<RunningDynalite & { handleRequest: (req: unknown, res: unknown) => void }> => {
  const server = dynalite({ ...(path && { path }), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    // dynalite's own request handler, which `direct` calls without HTTP.
    handleRequest: server.listeners('request')[0] as (req: unknown, res: unknown) => void,
    stopServer: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err?: Error) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
};

/** dynalite in a child process (lib/local/dynalite-process.mjs), which exits when this process goes away. */
const startChild = async (path: string | undefined): Promise<RunningDynalite> => {
  const child = fork(fileURLToPath(new URL('./dynalite-process.mjs', import.meta.url)), path ? [path] : [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message: { port?: number; error?: string }) =>
      message.port ? resolve(message.port) : reject(new Error(`the embedded store did not start: ${message.error}`)),
    );
    child.once('exit', (code) => reject(new Error(`the embedded store exited with code ${code}`)));
  });
  return {
    port,
    ...(child.pid !== undefined ? { pid: child.pid } : {}),
    stopServer: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.send('stop');
      }),
  };
};

/**
 * dynalite in this thread, its request handler called without HTTP (inThreadPort): no hand-over to another thread, so
 * one request at a time is served sooner, but the store's work shares this thread (docs/performance.md). It still
 * listens on a loopback port, as the other modes do.
 */
const startDirect = async (path: string | undefined): Promise<RunningDynalite> => {
  const { port, handleRequest, stopServer } = await startInline(path);
  return { port, worker: inThreadPort(handleRequest), stopServer };
};

/** dynalite on a worker thread (lib/local/dynalite-worker.mjs), reached over its message port. */
const startWorker = async (path: string | undefined): Promise<RunningDynalite> => {
  const worker = new Worker(fileURLToPath(new URL('./dynalite-worker.mjs', import.meta.url)), {
    workerData: { path },
  });
  let exited = false;
  worker.once('exit', () => {
    exited = true;
  });
  const port = await new Promise<number>((resolve, reject) => {
    const onMessage = (message: { port?: number; error?: string }) => {
      if (message.port) resolve(message.port);
      else if (message.error) reject(new Error(`the embedded store did not start: ${message.error}`));
    };
    worker.on('message', onMessage);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the embedded store exited with code ${code}`)));
  });
  return {
    port,
    worker,
    stopServer: () =>
      new Promise<void>((resolve) => {
        if (exited) return resolve();
        worker.once('exit', () => resolve());
        worker.postMessage('stop');
      }),
  };
};

/**
 * Starts dynalite (in this process, on a worker thread, or in a child process) on 127.0.0.1 (a free port), persisted
 * under `{dataDir}/dynamodb` or in memory, creates the tables and sweeps expired ledger items every minute.
 */
export async function startEmbeddedDynamoDb({
  dataDir,
  process: where = 'inline',
  clock = { now: () => Date.now() },
}: {
  dataDir: string | 'memory';
  /**
   * `worker`: dynalite on a worker thread, reached over its message port (the embedded default of `npm start`);
   * `direct`: in this thread, its handler called without HTTP; `child`: in a child process, over HTTP; `inline`: in
   * this process, over HTTP.
   */
  process?: EmbeddedStoreMode;
  /** The service's clock: the sweep deletes what has expired by its time (tests move it). */
  clock?: Clock;
}): Promise<EmbeddedDynamoDb> {
  let path: string | undefined;
  let repairedTables: string[] = [];
  if (dataDir !== 'memory') {
    path = join(dataDir, 'dynamodb');
    await mkdir(path, { recursive: true });
    const folder = await prepareFolder(path);
    if (folder.held) throw new StoreHeldError(dataDir, await readStoreOwner(dataDir));
    repairedTables = folder.repaired;
  }
  const start = { inline: startInline, child: startChild, worker: startWorker, direct: startDirect }[where];
  const { port, pid, worker, stopServer } = await start(path);
  const endpoint = `http://127.0.0.1:${port}`;
  const client = createDynamoDbClient(endpoint, { dynalite: true, ...(worker ? { worker } : {}) });
  let copiedItems = 0;
  let movedDirectoryItems = 0;
  try {
    await ensureTables(client, { directory: DIRECTORY_TABLE_DEFAULT, ledger: LEDGER_TABLE_DEFAULT });
    copiedItems = await copyLegacyLedger(client, LEDGER_TABLE_DEFAULT, clock.now());
    movedDirectoryItems = await moveLegacyDirectory({
      client,
      directory: DIRECTORY_TABLE_DEFAULT,
      ledger: LEDGER_TABLE_DEFAULT,
    });
  } catch (err) {
    client.destroy();
    await stopServer();
    throw err;
  }

  const sweep = (nowMs = clock.now()) => sweepExpired(client, LEDGER_TABLE_DEFAULT, nowMs);
  let sweeping: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (sweeping) return;
    sweeping = sweep()
      .then(
        () => undefined,
        () => {
          // The next sweep retries; expiry is checked in code on every read anyway.
        },
      )
      .finally(() => {
        sweeping = undefined;
      });
  }, SWEEP_INTERVAL_MS);
  timer.unref();

  return {
    endpoint,
    ...(pid !== undefined ? { pid } : {}),
    client,
    repairedTables,
    copiedItems,
    movedDirectoryItems,
    sweep,
    async stop() {
      clearInterval(timer);
      // A sweep under way finishes first: dynalite throws on a write to a closed database.
      await sweeping;
      client.destroy();
      await stopServer();
    },
  };
}

/** Where the sweep has got to: every expiry bucket before this one is empty (an item in the ledger without a TTL). */
const SWEEP_CURSOR_PK = 'SWEEP#cursor';

/**
 * What DynamoDB TTL does in AWS: deletes items whose `ttl` (epoch seconds) has passed. It reads only the expiry buckets
 * (hours of TTLs, the local by-expiry index) from the one it stopped at through the current one, and in them only what
 * has expired: it costs what is due, never what exists. Each delete is conditional on the item still being expired,
 * so an item written again meanwhile survives.
 */
export async function sweepExpired(client: DynamoDBClient, table: string, nowMs = Date.now()): Promise<number> {
  const now = Math.floor(nowMs / 1000);
  const store = localStoreOf({ client, directory: DIRECTORY_TABLE_DEFAULT, ledger: table });
  const cursorKey = marshall({ pk: SWEEP_CURSOR_PK });
  const current = Number(expiryBucket(now));
  const saved = await client.send(new GetItemCommand({ TableName: table, Key: cursorKey, ConsistentRead: true }));
  // A new ledger (or one just copied from the layout before) holds nothing that expired before the last hour.
  const from = saved.Item ? (unmarshall(saved.Item).bucket as number) : current - 1;
  const values = marshall({ ':now': now });
  let deleted = 0;
  for (let bucket = from; bucket <= current; bucket++) {
    for await (const pk of store.expiredKeys(String(bucket), now)) {
      try {
        await client.send(
          new DeleteItemCommand({
            TableName: table,
            Key: marshall({ pk }),
            ConditionExpression: '#ttl < :now',
            ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
            ExpressionAttributeValues: values,
          }),
        );
        deleted++;
      } catch (err) {
        if ((err as Error).name !== 'ConditionalCheckFailedException') throw err;
      }
    }
  }
  // The current hour still fills up, and the one before may get a late write: they are read again next time.
  if (!saved.Item || from !== current - 1) {
    await client.send(
      new PutItemCommand({ TableName: table, Item: marshall({ pk: SWEEP_CURSOR_PK, bucket: current - 1 }) }),
    );
  }
  return deleted;
}

/**
 * Copies a data directory's ledgers of the layouts before (LEGACY_LEDGER_TABLES, oldest first: LEDGER_TABLE_DEFAULT
 * says why the name changes) into the current one, once, with the keys of the local indexes, leaving out what has
 * expired, then deletes each. Killed half way, the next start copies again (the copy writes the same items; nothing
 * is served before it ends). Returns how many items it copied.
 */
export async function copyLegacyLedger(client: DynamoDBClient, table: string, nowMs = Date.now()): Promise<number> {
  let copied = 0;
  for (const legacy of LEGACY_LEDGER_TABLES) copied += await copyLedger(client, legacy, table, nowMs);
  return copied;
}

async function copyLedger(client: DynamoDBClient, from: string, table: string, nowMs: number): Promise<number> {
  try {
    const legacy = await client.send(new DescribeTableCommand({ TableName: from }));
    // DELETING: copied already, and the process stopped while dynalite deleted it.
    if (legacy.Table?.TableStatus !== 'ACTIVE') return 0;
  } catch (err) {
    if ((err as Error).name === 'ResourceNotFoundException') return 0;
    throw err;
  }
  const now = Math.floor(nowMs / 1000);
  let copied = 0;
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: from, ExclusiveStartKey: start }));
    for (const item of page.Items ?? []) {
      const raw = unmarshall(item);
      if (typeof raw.ttl === 'number' && raw.ttl < now) continue;
      await client.send(
        new PutItemCommand({
          TableName: table,
          Item: marshall(
            { ...raw, ...localIndexKeys(raw) },
            { removeUndefinedValues: true, convertClassInstanceToMap: true },
          ),
        }),
      );
      copied++;
    }
    start = page.LastEvaluatedKey;
  } while (start);
  await client.send(new DeleteTableCommand({ TableName: from }));
  return copied;
}
