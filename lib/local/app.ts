import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHandler as adminHandler } from '../../functions/admin/handler.ts';
import { createHandler as bcAuthorizeHandler } from '../../functions/bc-authorize/handler.ts';
import { createHandler as deviceHandler } from '../../functions/device/handler.ts';
import { createHandler as discoveryHandler } from '../../functions/discovery/handler.ts';
import { createHandler as tokenHandler } from '../../functions/token/handler.ts';
import { createHandler as userinfoHandler } from '../../functions/userinfo/handler.ts';
import { DIRECTORY_TABLE_DEFAULT, LEDGER_TABLE_DEFAULT } from '../adapters/dynamodb-schema.ts';
import { DynamoDbStore } from '../adapters/dynamodb-store.ts';
import { ensureTables } from '../adapters/dynamodb-tables.ts';
import { LocalKeys } from '../adapters/local-keys.ts';
import { withSettingsCache } from '../cache.ts';
import type { Clock, Deps, Logger } from '../ports.ts';
import { createDynamoDbClient, startEmbeddedDynamoDb } from './embedded-dynamodb.ts';
import { InProcessEventBus } from './in-process-event-bus.ts';
import { LocalNotifier } from './local-notifier.ts';
import { createLocalServer, type LambdaHttpHandler } from './server.ts';

export interface LocalServiceOptions {
  port?: number;
  host?: string;
  /** `memory` keeps nothing on disk. */
  dataDir: string;
  adminToken: string;
  publicUrl?: string;
  dynamoDbEndpoint?: string;
  logger: Logger;
  clock?: Clock;
}

export interface LocalService {
  url: string;
  server: Server;
  deps: Deps & { notifier: LocalNotifier; events: InProcessEventBus };
  stop(): Promise<void>;
}

/** The local mode: the same handlers as Lambda, on one HTTP server, with the store in embedded dynalite. */
export const startLocalService = async (options: LocalServiceOptions): Promise<LocalService> => {
  const clock = options.clock ?? { now: () => Date.now() };
  let stopStore: () => Promise<void>;
  let client: ReturnType<typeof createDynamoDbClient>;
  if (options.dynamoDbEndpoint) {
    client = createDynamoDbClient(options.dynamoDbEndpoint);
    await ensureTables(client, { directory: DIRECTORY_TABLE_DEFAULT, ledger: LEDGER_TABLE_DEFAULT });
    stopStore = async () => client.destroy();
  } else {
    const embedded = await startEmbeddedDynamoDb({ dataDir: options.dataDir });
    client = embedded.client;
    stopStore = embedded.stop;
  }
  const store = withSettingsCache(
    new DynamoDbStore({ client, directoryTable: DIRECTORY_TABLE_DEFAULT, ledgerTable: LEDGER_TABLE_DEFAULT }),
    clock,
  );
  const deps = {
    store,
    keys: new LocalKeys(store, clock),
    notifier: new LocalNotifier(options.logger),
    events: new InProcessEventBus(options.logger),
    clock,
    logger: options.logger,
    config: {
      mode: 'local' as const,
      adminToken: options.adminToken,
      ...(options.publicUrl ? { publicUrl: options.publicUrl.replace(/\/+$/, '') } : {}),
    },
  };
  const handlers: Record<string, LambdaHttpHandler> = {
    discovery: discoveryHandler(deps) as LambdaHttpHandler,
    'bc-authorize': bcAuthorizeHandler(deps) as LambdaHttpHandler,
    token: tokenHandler(deps) as LambdaHttpHandler,
    userinfo: userinfoHandler(deps) as LambdaHttpHandler,
    device: deviceHandler(deps) as LambdaHttpHandler,
    admin: adminHandler(deps) as LambdaHttpHandler,
  };
  const server = createLocalServer({
    handlers,
    logger: options.logger,
    extra: (req, res, url) => {
      if (url.pathname !== '/health') return false;
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(JSON.stringify({ status: 'ok' }));
      return true;
    },
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}`,
    server,
    deps,
    stop: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await stopStore();
    },
  };
};
