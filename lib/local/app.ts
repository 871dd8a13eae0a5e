import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHandler as adminHandler } from '../../functions/admin/handler.ts';
import { createHandler as bcAuthorizeHandler } from '../../functions/bc-authorize/handler.ts';
import { createHandler as callbackHandler } from '../../functions/callback/handler.ts';
import { createHandler as consentHandler } from '../../functions/consent/handler.ts';
import { createHandler as deviceHandler } from '../../functions/device/handler.ts';
import { createHandler as discoveryHandler } from '../../functions/discovery/handler.ts';
import { createHandler as tokenHandler } from '../../functions/token/handler.ts';
import { createHandler as userinfoHandler } from '../../functions/userinfo/handler.ts';
import { createHandler as webHandler } from '../../functions/web/handler.ts';
import { moveLegacyDirectory } from '../adapters/dynamodb/directory-layout.ts';
import { dynamoDbStore, tablesOf } from '../adapters/dynamodb/index.ts';
import { localStoreOf } from '../adapters/dynamodb/local.ts';
import { ensureTables } from '../adapters/dynamodb/tables.ts';
import { DIRECTORY_TABLE_DEFAULT, LEDGER_TABLE_DEFAULT } from '../adapters/dynamodb-schema.ts';
import { toEventBridgeEvent } from '../adapters/eventbridge-format.ts';
import { GuardedOutboundHttp, type GuardedOutboundHttpOptions } from '../adapters/guarded-outbound-http.ts';
import { LocalKeys } from '../adapters/local-keys.ts';
import { withSettingsCache } from '../cache.ts';
import { publishDecision, withdrawDecidedTimers } from '../ciba/publish-decision.ts';
import { randomToken } from '../crypto.ts';
import { matchesCallbackRule } from '../events.ts';
import type { CibaEvent, Clock, Deps, Logger } from '../ports.ts';
import { LOCAL_CAPABILITIES } from './capabilities.ts';
import { DecisionFeed, type StoredDecision, withDecisionFeed } from './decision-feed.ts';
import { DevMailbox } from './dev-mailbox.ts';
import { deviceEvents } from './device-events.ts';
import {
  copyLegacyLedger,
  createDynamoDbClient,
  type EmbeddedStoreMode,
  startEmbeddedDynamoDb,
} from './embedded-dynamodb.ts';
import { InFlight } from './in-flight.ts';
import { InProcessEventBus } from './in-process-event-bus.ts';
import { LocalNotifier } from './local-notifier.ts';
import { LocalScheduler } from './local-scheduler.ts';
import type { LocalStore } from './local-store.ts';
import { recoverTimers } from './recover-timers.ts';
import { createLocalServer, type LambdaHttpHandler, lambdaContext } from './server.ts';
import { StoreDeadLetters } from './store-dead-letters.ts';
import { removeStoreOwner, writeStoreOwner } from './store-owner.ts';
import { type LocalTlsOptions, splitPemBundle, startTlsListener } from './tls.ts';

export interface LocalServiceOptions {
  port?: number;
  host?: string;
  /** `memory` keeps nothing on disk. */
  dataDir: string;
  adminToken: string;
  publicUrl?: string;
  dynamoDbEndpoint?: string;
  /** Where embedded dynalite runs (lib/local/embedded-dynamodb.ts): `inline` (this process, over HTTP: the default here), `worker` or `child`. */
  embeddedStore?: EmbeddedStoreMode;
  logger: Logger;
  clock?: Clock;
  /** Where the built web assets are (default: lib/web/dist). */
  webAssetDirs?: string[];
  /**
   * Callback timings (tests shorten them): outbound client options (also used for device webhooks and Web Push), the retry backoff, and the delays before a callback
   * event whose handling failed (store or signing unavailable) is handed over again.
   */
  callbacks?: {
    outbound?: GuardedOutboundHttpOptions;
    backoff?: { baseMs: number; capMs: number };
    redeliveryDelaysMs?: number[];
  };
  /** Requests handled at once before the server sheds load with 503 (lib/local/server.ts, default 256). */
  maxInFlight?: number;
  /**
   * How long stop() waits for requests, decision events and callback deliveries under way before it closes the store
   * (default 10 s).
   */
  stopTimeoutMs?: number;
  /** An HTTPS listener that asks for client certificates (mutual TLS: RFC 8705 client auth and bound tokens). */
  tls?: LocalTlsOptions;
  /** How long a client may take to send its request headers, and its whole request (default 10 s: server.ts). */
  requestTimeoutMs?: number;
  /** Names this run in `GET /health` (`instance`), so the CLI can tell it from another server at the same URL. */
  instanceId?: string;
  /**
   * Runs each invocation of a function that no HTTP request makes, as Lambda would run it apart from the request that
   * caused it: `callback` (by the bus's rule or the scheduler) and `stream` (the table stream's consumer, which
   * publishes a stored decision: lib/local/decision-feed.ts). The benchmark (test/bench/serve.ts) meters each as its
   * own critical path. Default: `invoke()`.
   */
  invocation?: (functionName: 'callback' | 'stream', invoke: () => Promise<void>) => Promise<void>;
}

export interface LocalService {
  url: string;
  server: Server;
  /** The HTTPS (mutual TLS) listener's base URL, when `tls` was given. */
  tlsUrl?: string;
  deps: Deps & {
    notifier: LocalNotifier;
    events: InProcessEventBus;
    scheduler: LocalScheduler;
    sender: DevMailbox;
  };
  /** The DynamoDB client of the store (tests snapshot the tables with it). */
  dynamoDb: ReturnType<typeof createDynamoDbClient>;
  /** The embedded store's process, when it runs in a child process (benchmarks count its CPU too). */
  storePid?: number;
  stop(): Promise<void>;
}

/** How long stop() waits for requests and callback deliveries under way (a callback may wait 3 + 5 s for its endpoint). */
const DEFAULT_STOP_TIMEOUT_MS = 10_000;

/** Lambda's asynchronous retries of a failed callback invocation (retryAttempts 2). */
const DEFAULT_REDELIVERY_DELAYS_MS = [60_000, 120_000];

/** The local mode: the same handlers as Lambda, on one HTTP server, with the store in embedded dynalite. */
export const startLocalService = async (options: LocalServiceOptions): Promise<LocalService> => {
  const clock = options.clock ?? { now: () => Date.now() };
  let stopStore: () => Promise<void>;
  let client: ReturnType<typeof createDynamoDbClient>;
  let storePid: number | undefined;
  // The data directory whose embedded store this service holds (named in running.json while it runs).
  let ownedDir: string | undefined;
  let copiedItems: number;
  let movedItems: number;
  if (options.dynamoDbEndpoint) {
    client = createDynamoDbClient(options.dynamoDbEndpoint);
    await ensureTables(client, { directory: DIRECTORY_TABLE_DEFAULT, ledger: LEDGER_TABLE_DEFAULT });
    // The endpoint's ledger of a layout before holds what must survive the upgrade too (revocations, refresh tokens).
    copiedItems = await copyLegacyLedger(client, LEDGER_TABLE_DEFAULT, clock.now());
    movedItems = await moveLegacyDirectory({
      client,
      directory: DIRECTORY_TABLE_DEFAULT,
      ledger: LEDGER_TABLE_DEFAULT,
    });
    stopStore = async () => client.destroy();
  } else {
    const embedded = await startEmbeddedDynamoDb({
      dataDir: options.dataDir,
      process: options.embeddedStore ?? 'inline',
      clock,
    });
    client = embedded.client;
    stopStore = embedded.stop;
    storePid = embedded.pid;
    if (options.dataDir !== 'memory') ownedDir = options.dataDir;
    copiedItems = embedded.copiedItems;
    movedItems = embedded.movedDirectoryItems;
    if (embedded.repairedTables.length > 0) {
      options.logger.warn('tables left unfinished by an interrupted first start were repaired', {
        tables: embedded.repairedTables,
      });
    }
  }
  if (copiedItems > 0) {
    options.logger.info('ledger copied into the layout with the expiry, callback and fallback indexes', {
      items: copiedItems,
    });
  }
  if (movedItems > 0) {
    options.logger.info('users and devices moved to their own partition keys', { items: movedItems });
  }
  const tables = { client, directoryTable: DIRECTORY_TABLE_DEFAULT, ledgerTable: LEDGER_TABLE_DEFAULT };
  const stores = dynamoDbStore(tables);
  const cached = withSettingsCache(stores, clock);
  const localStore: LocalStore = localStoreOf(tablesOf(tables));
  // The one outbound client (hardening rule 3): callbacks, device webhooks, Web Push.
  const outbound = new GuardedOutboundHttp(options.callbacks?.outbound);
  const invocation = options.invocation ?? ((_name, invoke) => invoke());
  // Work under way, which stop() lets finish before the store closes.
  const inFlight = new InFlight();
  // The table's stream, locally: each decision the store takes is published after it, off the deciding request's
  // path, by the one loop started here (AWS: the stream's consumer function, functions/events).
  const feed = new DecisionFeed(
    ({ request, status, decidedAt }) =>
      invocation('stream', async () => {
        await Promise.all([publishDecision(deps, request, status, decidedAt), withdrawDecidedTimers(deps, request)]);
      }),
    options.logger,
  );
  feed.start();
  const feedDecision = (decision: StoredDecision) => void inFlight.add(feed.push(decision));
  const deps = {
    ...stores,
    ...cached,
    decisions: withDecisionFeed(stores.decisions, feedDecision),
    keys: new LocalKeys({ keysets: stores.keysets, legacyKeys: localStore }, clock),
    // Local mode has no SNS: tenants' push_credentials are kept, and its notifier needs none.
    platforms: { apply: async () => ({}), remove: async () => {} },
    notifier: new LocalNotifier(options.logger, { tenants: cached.tenants, outbound }),
    events: new InProcessEventBus(options.logger),
    scheduler: new LocalScheduler(clock, options.logger),
    deadLetters: new StoreDeadLetters(localStore, options.logger),
    outbound,
    clock,
    logger: options.logger,
    // Approval links (kept in the ledger, `links`) are "sent" into the development mailbox (GET {issuer}/mailbox).
    sender: new DevMailbox(options.logger, clock),
    config: {
      capabilities: LOCAL_CAPABILITIES,
      adminToken: options.adminToken,
      ...(options.publicUrl ? { publicUrl: options.publicUrl.replace(/\/+$/, '') } : {}),
      ...(options.callbacks?.backoff ? { callbackBackoff: options.callbacks.backoff } : {}),
      // Filled in once the HTTPS listener is up (it needs the port).
      mtls: {} as { baseUrl?: string; trustedCaPems?: string[] },
    },
  };
  // The callback function, fed as in AWS: the bus stands in for the EventBridge rule, the scheduler for
  // EventBridge Scheduler; both hand over the event in EventBridge's shape.
  const callback = callbackHandler(deps);
  const invokeCallback = (event: CibaEvent) =>
    invocation('callback', async () => {
      const id = randomToken(12);
      await callback(toEventBridgeEvent(event, { id, time: clock.now() }), lambdaContext(id, 'callback'));
    });
  // A failed invocation is retried as Lambda retries a failed asynchronous invocation (twice, after about one and
  // two minutes: infra/service-stack.ts), later than the callback lease, so the retry can take a claimed attempt over.
  const redeliveryDelays = options.callbacks?.redeliveryDelaysMs ?? DEFAULT_REDELIVERY_DELAYS_MS;
  const redeliveries = new Set<NodeJS.Timeout>();
  const invokeWithRedelivery = async (event: CibaEvent, failures = 0): Promise<void> => {
    try {
      await invokeCallback(event);
    } catch (error) {
      const delay = redeliveryDelays[failures];
      if (delay === undefined) throw error;
      options.logger.warn('callback event failed; redelivering', {
        type: event.type,
        tenant: event.tenantId,
        retry: failures + 1,
        error,
      });
      const timer = setTimeout(() => {
        redeliveries.delete(timer);
        redeliver(event, failures + 1).catch((last: unknown) =>
          options.logger.error('callback event failed after every redelivery', {
            type: event.type,
            tenant: event.tenantId,
            error: last,
          }),
        );
      }, delay);
      timer.unref();
      redeliveries.add(timer);
    }
  };
  const redeliver = inFlight.wrap(invokeWithRedelivery);
  const deliver = (event: CibaEvent) => redeliver(event);
  // The bus stands in for the tenant's rule: only what the rule passes reaches the callback function.
  deps.events.subscribe((event) => (matchesCallbackRule(event) ? deliver(event) : Promise.resolve()));
  deps.scheduler.setTarget(deliver);
  // The timers a previous run held in memory (callback retries, expiry pushes), set again from the store, and the
  // decisions whose callback never started (their event was still in the feed), fed again.
  await recoverTimers({
    store: localStore,
    scheduler: deps.scheduler,
    feed: feedDecision,
    clock,
    logger: options.logger,
  });
  const functions: Record<string, LambdaHttpHandler> = {
    discovery: discoveryHandler(deps) as LambdaHttpHandler,
    'bc-authorize': bcAuthorizeHandler(deps) as LambdaHttpHandler,
    token: tokenHandler(deps) as LambdaHttpHandler,
    userinfo: userinfoHandler(deps) as LambdaHttpHandler,
    consent: consentHandler(deps) as LambdaHttpHandler,
    device: deviceHandler(deps) as LambdaHttpHandler,
    admin: adminHandler(deps) as LambdaHttpHandler,
    web: webHandler(deps, options.webAssetDirs ? { assetDirs: options.webAssetDirs } : {}) as LambdaHttpHandler,
  };
  const handlers = Object.fromEntries(
    Object.entries(functions).map(([name, handler]) => [name, inFlight.wrap(handler)]),
  ) as Record<string, LambdaHttpHandler>;
  const events = deviceEvents(deps, deps.notifier, deps.events);
  const host = options.host ?? '127.0.0.1';
  const { server, startDraining } = createLocalServer({
    handlers,
    logger: options.logger,
    host,
    ...(options.publicUrl ? { publicUrl: options.publicUrl } : {}),
    ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
    ...(options.maxInFlight !== undefined ? { maxInFlight: options.maxInFlight } : {}),
    extra: (req, res, url) => {
      if (url.pathname.endsWith('/device/events')) return events(req, res, url);
      if (url.pathname.endsWith('/mailbox')) return deps.sender.serve(req, res, url);
      if (url.pathname !== '/health') return false;
      res.writeHead(200, {
        'Content-Type': 'application/json',
        'Cache-Control': 'no-store',
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
      });
      res.end(JSON.stringify({ status: 'ok', ...(options.instanceId ? { instance: options.instanceId } : {}) }));
      return true;
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const tls = options.tls
    ? await startTlsListener(server, `${shownHost}:${port}`, { host, ...options.tls })
    : undefined;
  if (tls && options.tls) {
    deps.config.mtls.baseUrl = tls.url;
    deps.config.mtls.trustedCaPems = splitPemBundle(options.tls.ca ?? '');
  }
  const url = `http://${shownHost}:${port}`;
  if (ownedDir) await writeStoreOwner(ownedDir, { pid: process.pid, url: options.publicUrl ?? url });
  return {
    url,
    server,
    ...(tls ? { tlsUrl: tls.url } : {}),
    deps,
    dynamoDb: client,
    ...(storePid !== undefined ? { storePid } : {}),
    stop: async () => {
      deps.scheduler.stop();
      for (const timer of redeliveries) clearTimeout(timer);
      // The drain: requests under way and the callbacks they started finish (their answers close their connections);
      // every request that arrives meanwhile, on a new or a kept-alive connection, is answered 503 with Connection:
      // close rather than reset. Then the listeners close, what is left is cut off (idle connections, live-update
      // streams) and the store closes.
      startDraining();
      const listeners = tls ? [server, tls.server] : [server];
      options.logger.info(
        `stopping: waiting for ${inFlight.size} requests, decision events and callback deliveries under way`,
      );
      const deadline = Date.now() + (options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS);
      if (!(await inFlight.settled(deadline))) {
        options.logger.warn('stopping with work still under way', { running: inFlight.size, decisions: feed.size });
      }
      feed.close();
      const closed = listeners.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
      for (const s of listeners) s.closeAllConnections();
      await Promise.all(closed);
      await stopStore();
      if (ownedDir) await removeStoreOwner(ownedDir);
      options.logger.info('stopped');
    },
  };
};
