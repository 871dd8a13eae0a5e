/**
 * The local service for the benchmark (`npm run bench`), in its own process so that its CPU and memory can be read
 * from /proc and the load generator does not share its event loop. The same `startLocalService` as `npm start`
 * (embedded dynalite; `CIBA_DATA_DIR` as there, default `memory` here), logs at warn on stderr.
 *
 * Benchmark hooks live here, never in the service: they exist only in this process, which only the benchmark starts.
 * - The store's DynamoDB client is instrumented (`countDynamoDbRequests`); the parent asks for the count over IPC
 *   (`{type: 'count'}` → `{type: 'count', count, capacity, partitions}`, `partitions` and `items` the writes per partition key and per item).
 * - An approval hook for the peer's flow shape (no device work): `POST {hookUrl}?tenant=T` with the form body
 *   `auth_req_id=…&login_hint=<sub>` approves through the store, as node-oidc-provider's bench approves through its
 *   own (`Grant.save` + `backchannelResult`): one conditional `decideRequest` write and the decided event, without the
 *   device API, DPoP proofs or the pending list. It listens on its own loopback port, not on the service's.
 *
 * Prints one JSON line `{url, adminToken, pid, storePid, hookUrl}` when ready; stops on SIGTERM or when the parent goes away.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { addStoreMiddleware } from '../../lib/adapters/dynamodb/client.ts';
import { countDynamoDbRequests } from '../../lib/adapters/dynamodb/index.ts';
import { txnOf } from '../../lib/ciba/poll-ciba-grant.ts';
import { publishDecision } from '../../lib/ciba/publish-decision.ts';
import { randomToken } from '../../lib/crypto.ts';
import { startLocalService } from '../../lib/local/app.ts';
import { embeddedStoreMode } from '../../lib/local/embedded-dynamodb.ts';
import { jsonLogger } from '../../lib/logging.ts';
import { writtenItems, writtenPartitions } from './partition-writes.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const adminToken = process.env.CIBA_ADMIN_TOKEN || randomToken(24);
const service = await startLocalService({
  port: Number(process.env.PORT ?? 0),
  dataDir: process.env.CIBA_DATA_DIR || 'memory',
  adminToken,
  logger: jsonLogger({ level: 'warn', write: (line) => process.stderr.write(`${line}\n`) }),
  // The load generator decides the concurrency; shedding would only add noise.
  maxInFlight: 10_000,
  // The embedded default of `npm start` (CIBA_EMBEDDED_STORE=child or inline to compare).
  embeddedStore: embeddedStoreMode(process.env.CIBA_EMBEDDED_STORE),
});
const requests = countDynamoDbRequests(service.dynamoDb);
// Capacity units as dynalite reports them (it sizes items as DynamoDB does, but leaves out index writes and the units
// of writes whose condition failed): the cost model adds those (docs/performance.md).
const capacity = { read: 0, write: 0 };
// Writes per partition key, counted before they are sent: a write whose condition fails costs its partition too.
const partitions: Record<string, number> = {};
const items: Record<string, number> = {};
const READS = new Set(['GetItemCommand', 'QueryCommand', 'ScanCommand', 'BatchGetItemCommand']);
addStoreMiddleware(service.dynamoDb, (stack) =>
  stack.add(
    (next, context) => async (args) => {
      for (const partition of writtenPartitions(context.commandName ?? '', args.input as Record<string, unknown>)) {
        partitions[partition] = (partitions[partition] ?? 0) + 1;
      }
      for (const item of writtenItems(context.commandName ?? '', args.input as Record<string, unknown>)) {
        items[item] = (items[item] ?? 0) + 1;
      }
      (args.input as { ReturnConsumedCapacity?: string }).ReturnConsumedCapacity = 'TOTAL';
      const result = await next(args);
      const consumed = (result.output as { ConsumedCapacity?: { CapacityUnits?: number } }).ConsumedCapacity;
      const units = consumed?.CapacityUnits ?? 0;
      if (READS.has(context.commandName ?? '')) capacity.read += units;
      else capacity.write += units;
      return result;
    },
    { step: 'initialize', name: 'benchCapacity' },
  ),
);
const { deps } = service;

const hook = createServer(async (req, res) => {
  try {
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
    await publishDecision(deps, decided, 'approved', now);
    res.writeHead(204).end();
  } catch (error) {
    res.writeHead(500).end(String(error));
  }
});
await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', () => resolve()));
const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/bench/approve`;

process.on('message', (message: { type?: string }) => {
  if (message?.type === 'count') process.send?.({ type: 'count', count: requests.count, capacity, partitions, items });
});
process.stdout.write(
  `${JSON.stringify({ url: service.url, adminToken, pid: process.pid, storePid: service.storePid, hookUrl })}\n`,
);

const stop = () => {
  hook.close();
  service.stop().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
