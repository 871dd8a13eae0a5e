/**
 * The local service for the load test, in its own process (so the load generator does not share its event loop):
 * store in memory, logs at warn on stderr. Prints one JSON line `{url, adminToken, pid}` when ready; stops on SIGTERM.
 * Options: CIBA_MAX_IN_FLIGHT (the in-flight limit to shed load at).
 */
import { randomToken } from '../../lib/crypto.ts';
import { startLocalService } from '../../lib/local/app.ts';
import { jsonLogger } from '../../lib/logging.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const adminToken = randomToken(24);
const maxInFlight = process.env.CIBA_MAX_IN_FLIGHT ? Number(process.env.CIBA_MAX_IN_FLIGHT) : undefined;
const service = await startLocalService({
  port: 0,
  dataDir: 'memory',
  adminToken,
  logger: jsonLogger({ level: 'warn', write: (line) => process.stderr.write(`${line}\n`) }),
  ...(maxInFlight ? { maxInFlight } : {}),
});
process.stdout.write(`${JSON.stringify({ url: service.url, adminToken, pid: process.pid })}\n`);
const stop = () => service.stop().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
