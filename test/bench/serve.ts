/**
 * The local service for the benchmark (`npm run bench`), in its own process so that its CPU and memory can be read
 * from /proc and the load generator does not share its event loop. The same `startLocalService` as `npm start`
 * (embedded dynalite; `CIBA_DATA_DIR` as there, default `memory` here), logs at warn on stderr.
 *
 * Benchmark hooks live here, never in the service: they exist only in this process, which only the benchmark starts.
 * - The store's DynamoDB client is instrumented (an SDK middleware) and so are the ports that are AWS services in
 *   Lambda (EventBridge, Scheduler, SNS), through test/bench/aws-terms.ts's meter, which files each call under the HTTP
 *   request that made it. The parent asks for the counts over IPC (`{type: 'count'}` → `{type: 'count', count,
 *   commands, capacity, partitions, items, meter, logBytes}`: requests and their capacity units, writes per partition
 *   key and per item, round trips per endpoint and calls per service, bytes logged at info). `BENCH_METER=0` leaves
 *   the meter and the counters out (test/bench/compare-peer.sh: the service as `npm start` runs it).
 * - `BENCH_TRACE=FILE`: a timeline of every HTTP request (the service's and the hook's), every store call (into and
 *   out of the SDK client) and every hand-over to the store (the client's transport), written to FILE as JSON when the
 *   server stops; `tsx test/bench/flow-trace.ts FILE` shows where a flow's time goes at c = 1.
 * - An approval hook for the peer's flow shape (no device work): `POST {hookUrl}?tenant=T` with the form body
 *   `auth_req_id=…&login_hint=<sub>` approves through the store, as node-oidc-provider's bench approves through its
 *   own (`Grant.save` + `backchannelResult`): one conditional `decideRequest` write (its decided event follows from
 *   the store, as every decision's), without the device API, DPoP proofs or the pending list. It listens on its own loopback port, not on the service's.
 *
 * Prints one JSON line `{url, adminToken, pid, storePid, hookUrl}` when ready; stops on SIGTERM or when the parent goes away.
 */

import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetItemCommand, type GetItemCommandInput } from '@aws-sdk/client-dynamodb';
import { addStoreMiddleware } from '../../lib/adapters/dynamodb/client.ts';
import {
  DIRECTORY_SCHEMA,
  DIRECTORY_TABLE_DEFAULT,
  LEDGER_SCHEMA,
  LEDGER_TABLE_DEFAULT,
  type TableSchema,
} from '../../lib/adapters/dynamodb-schema.ts';
import { callbackRulePattern } from '../../lib/adapters/eventbridge-format.ts';
import { txnOf } from '../../lib/ciba/poll-ciba-grant.ts';
import { randomToken } from '../../lib/crypto.ts';
import { startLocalService } from '../../lib/local/app.ts';
import { embeddedStoreMode } from '../../lib/local/embedded-dynamodb.ts';
import { jsonLogger } from '../../lib/logging.ts';
import {
  CLIENT_ENDPOINT,
  endpointOf,
  INVOCATIONS,
  indexWriteUnits,
  itemSize,
  meterEventBus,
  meterPort,
  RoundTripMeter,
  SCHEDULER_DELETE,
  type WireItem,
  writeUnits,
} from './aws-terms.ts';
import { writeTargets, writtenItems, writtenPartitions } from './partition-writes.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const adminToken = process.env.CIBA_ADMIN_TOKEN || randomToken(24);
const logBytes = { info: 0, lines: 0 };
/**
 * Lines only local mode writes: the local notifier's line per push (lib/local/local-notifier.ts), which stands in for
 * SNS, where a push is one `Publish` and no line (the AWS-shape harness's flow writes none: test/aws/flow-calls.test.ts).
 */
const LOCAL_ONLY_LINE = /^push to device /;
// AWS terms (test/bench/aws-terms.ts): every store call and every call of a port that is an AWS service in Lambda
// (EventBridge, Scheduler, SNS) goes through the meter, which files it under the HTTP request that made it; calls that
// overlap in time count as one round trip on that request's critical path. The callback function's invocations (ping
// and push: the bus's rule or the scheduler invokes it) are filed apart, as `callback`, with their outbound call to the
// client's notification endpoint (`Client endpoint`: a round trip on that path, not an AWS call); so are the decision
// feed's publishes of `Request Decided` (lib/local/decision-feed.ts), as `stream`: in AWS the table stream's consumer
// function publishes it, off the deciding request's path.
// `BENCH_METER=0` leaves the meter and the store's counters out (test/bench/compare-peer.sh: flows/s and CPU against
// another server, of the service as `npm start` runs it; the meter's AsyncLocalStorage puts a hook on every promise).
const metered = process.env.BENCH_METER !== '0';
const meter = new RoundTripMeter();
const service = await startLocalService({
  port: Number(process.env.PORT ?? 0),
  dataDir: process.env.CIBA_DATA_DIR || 'memory',
  adminToken,
  // Lines at info and above count towards the log bytes of the cost model as the functions write them: each line's
  // message and fields, to which the functions' logger adds its envelope (test/bench/cost-model.ts,
  // `appLogEnvelopeBytes`); lines of local stand-ins that no function writes are left out. Warn and above are shown.
  logger: jsonLogger({
    level: 'info',
    write: (line) => {
      const { time: _, level, ...entry } = JSON.parse(line) as { time: string; level: string; message: string };
      if (level !== 'info') process.stderr.write(`${line}\n`);
      if (LOCAL_ONLY_LINE.test(entry.message)) return;
      logBytes.info += Buffer.byteLength(JSON.stringify(entry));
      logBytes.lines++;
    },
  }),
  // The load generator decides the concurrency; shedding would only add noise.
  maxInFlight: 10_000,
  // The embedded default of `npm start` (CIBA_EMBEDDED_STORE=child or inline to compare).
  embeddedStore: embeddedStoreMode(process.env.CIBA_EMBEDDED_STORE),
  ...(metered
    ? {
        invocation: (name: keyof typeof INVOCATIONS, invoke: () => Promise<void>) =>
          meter.invocation(name, INVOCATIONS[name], invoke),
      }
    : {}),
});
const { deps } = service;

// The timeline (BENCH_TRACE): [event, ms] pairs. One request at a time (c = 1) reads as one line of events.
const traceFile = process.env.BENCH_TRACE;
const timeline: [string, number][] = [];
const trace = traceFile ? (event: string) => timeline.push([event, performance.now()]) : () => {};
const traceRequest = (name: string, res: ServerResponse) => {
  trace(`req ${name}`);
  res.once('finish', () => trace(`fin ${name} ${res.statusCode}`));
};
if (traceFile) {
  service.server.prependListener('request', (req: IncomingMessage, res: ServerResponse) =>
    traceRequest(new URL(req.url ?? '/', 'http://x').pathname.split('/').pop() ?? '', res),
  );
  addStoreMiddleware(service.dynamoDb, (stack) =>
    stack.add(
      (next, context) => async (args) => {
        trace(`store ${context.commandName}`);
        try {
          return await next(args);
        } finally {
          trace('store end');
        }
      },
      { step: 'initialize', name: 'benchTrace', priority: 'high' },
    ),
  );
  const transport = service.dynamoDb.config.requestHandler as { handle: (...args: unknown[]) => Promise<unknown> };
  const handle = transport.handle.bind(transport);
  transport.handle = async (...args) => {
    trace('hand-over');
    try {
      return await handle(...args);
    } finally {
      trace('hand-over end');
    }
  };
}
if (metered) {
  service.server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const path = meter.begin();
    res.once('finish', () =>
      meter.end(path, endpointOf(req.method ?? 'GET', new URL(req.url ?? '/', 'http://x').pathname, res.statusCode)),
    );
  });
  // `ciba:events` `matched` (default): a deployment whose bus has only its own rule puts only what that rule may take.
  meterEventBus(meter, deps.events, process.env.BENCH_EVENTS === 'all' ? undefined : [callbackRulePattern()]);
  meterPort(meter, 'Scheduler', deps.scheduler, ['schedule']);
  meterPort(meter, SCHEDULER_DELETE, deps.scheduler, ['cancel']);
  meterPort(meter, 'SNS', deps.notifier, ['notify']);
  meterPort(meter, CLIENT_ENDPOINT, deps.outbound, ['postJson']);
}

// The store's requests, and their capacity units: dynalite's for the table (it sizes items as DynamoDB does), plus
// what dynalite leaves out, computed from the item before and after each write (read with the same client, not
// counted: `BENCH_ITEM_IMAGES=0` turns this off where only flows/s matter): the writes of the AWS tables' global
// secondary indexes (DIRECTORY_SCHEMA/LEDGER_SCHEMA `indexes`, not local mode's own) and the units of a write whose
// condition failed (DynamoDB charges them; dynalite answers an error without units).
const images = process.env.BENCH_ITEM_IMAGES !== '0';
const SCHEMAS: Record<string, TableSchema> = {
  [DIRECTORY_TABLE_DEFAULT]: DIRECTORY_SCHEMA,
  [LEDGER_TABLE_DEFAULT]: LEDGER_SCHEMA,
};
const internal = new WeakSet<object>();
const store = { requests: 0, commands: {} as Record<string, number> };
const capacity = { read: 0, write: 0, indexWrite: 0, failedWrite: 0, indexWriteAllProjected: 0 };
// The AWS deployment's default ledger: its `pending-by-user` index projects every attribute (`ALL`, infra/ciba-app.ts,
// unless ciba:pendingIndexProjection=INCLUDE, which new deployments opt into), so a pending poll writes that index
// too. The same writes' index units under it are counted apart (`indexWriteAllProjected`): the bench's store
// projects INCLUDE, as local mode creates it.
const ALL_PROJECTED: Record<string, TableSchema> = {
  ...SCHEMAS,
  [LEDGER_TABLE_DEFAULT]: {
    ...LEDGER_SCHEMA,
    indexes: LEDGER_SCHEMA.indexes.map((index) => ({ ...index, projection: 'ALL' as const })),
  },
};
// Writes per partition key, counted before they are sent: a write whose condition fails costs its partition too.
const partitions: Record<string, number> = {};
const items: Record<string, number> = {};
const READS = new Set(['GetItemCommand', 'QueryCommand', 'ScanCommand', 'BatchGetItemCommand']);
const image = async (table: string, item: WireItem): Promise<WireItem | undefined> => {
  const schema = SCHEMAS[table];
  if (!schema) return undefined;
  const Key: WireItem = { [schema.partitionKey]: item[schema.partitionKey]! };
  if (schema.sortKey) Key[schema.sortKey] = item[schema.sortKey]!;
  const input = { TableName: table, Key, ConsistentRead: true } as GetItemCommandInput;
  internal.add(input);
  return (await service.dynamoDb.send(new GetItemCommand(input))).Item as WireItem | undefined;
};
addStoreMiddleware(service.dynamoDb, (stack) =>
  stack.add(
    (next, context) => async (args) => {
      const input = args.input as Record<string, unknown>;
      if (!metered || internal.has(input)) return next(args);
      const command = context.commandName ?? '';
      store.requests++;
      store.commands[command] = (store.commands[command] ?? 0) + 1;
      for (const partition of writtenPartitions(command, input)) {
        partitions[partition] = (partitions[partition] ?? 0) + 1;
      }
      for (const item of writtenItems(command, input)) items[item] = (items[item] ?? 0) + 1;
      // The whole call is one entry on the request's critical path, the item images included, so that the images'
      // reads never split calls that overlap into two round trips.
      return meter.call('DynamoDB', async () => {
        const targets = images && !READS.has(command) ? writeTargets(command, input) : [];
        const before = await Promise.all(targets.map((t) => image(t.table, t.item as WireItem)));
        input.ReturnConsumedCapacity = 'TOTAL';
        let result: Awaited<ReturnType<typeof next>>;
        try {
          result = await next(args);
        } catch (error) {
          if ((error as Error).name === 'ConditionalCheckFailedException') {
            for (const b of before) capacity.failedWrite += writeUnits(b ? itemSize(b) : 0);
          }
          throw error;
        }
        const consumed = (result.output as { ConsumedCapacity?: { CapacityUnits?: number } }).ConsumedCapacity;
        const units = consumed?.CapacityUnits ?? 0;
        if (READS.has(command)) capacity.read += units;
        else capacity.write += units;
        if (targets.length > 0) {
          const after = await Promise.all(targets.map((t) => image(t.table, t.item as WireItem)));
          targets.forEach((t, i) => {
            const schema = SCHEMAS[t.table];
            for (const index of schema?.indexes ?? []) {
              capacity.indexWrite += indexWriteUnits(schema!, index, before[i], after[i]);
            }
            const all = ALL_PROJECTED[t.table];
            for (const index of all?.indexes ?? []) {
              capacity.indexWriteAllProjected += indexWriteUnits(all!, index, before[i], after[i]);
            }
          });
        }
        return result;
      });
    },
    { step: 'initialize', name: 'benchCapacity' },
  ),
);

const hook = createServer(async (req, res) => {
  try {
    traceRequest('hook', res);
    const url = new URL(req.url ?? '/', 'http://localhost');
    let body = '';
    for await (const chunk of req) body += chunk;
    const form = new URLSearchParams(body);
    const tenantId = url.searchParams.get('tenant') ?? '';
    const txn = txnOf(form.get('auth_req_id') ?? '');
    const sub = form.get('login_hint') ?? '';
    if (req.method !== 'POST' || url.pathname !== '/bench/approve' || !txn || !tenantId) {
      res.writeHead(404).end();
      return;
    }
    const now = deps.clock.now();
    const evidence = { proof: 'bench-approve-hook', deviceId: 'bench', decision: 'approve' as const, receivedAt: now };
    const decided = await deps.decisions.decide(txn, { tenantId, sub }, 'approved', evidence, now);
    if (decided === 'conflict') {
      res.writeHead(409).end();
      return;
    }
    // Its Request Decided event follows from the stored decision (the decision feed, off this request's path).
    res.writeHead(204).end();
  } catch (error) {
    res.writeHead(500).end(String(error));
  }
});
await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', () => resolve()));
const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/bench/approve`;

process.on('message', (message: { type?: string }) => {
  if (message?.type === 'count') {
    process.send?.({
      type: 'count',
      count: store.requests,
      commands: store.commands,
      capacity,
      partitions,
      items,
      meter: meter.snapshot(),
      logs: logBytes,
    });
  }
});
process.stdout.write(
  `${JSON.stringify({ url: service.url, adminToken, pid: process.pid, storePid: service.storePid, hookUrl })}\n`,
);

const stop = () => {
  if (traceFile) writeFileSync(traceFile, JSON.stringify(timeline));
  hook.close();
  service.stop().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
