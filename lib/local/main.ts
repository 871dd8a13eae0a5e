import { resolve } from 'node:path';
import { issueEnrollmentTicket } from '../admin/users.ts';
import { randomToken } from '../crypto.ts';
import { consoleLogger, logLevel } from '../logging.ts';
import { ensureWebAssets } from '../web/build.ts';
import { startLocalService } from './app.ts';
import { LOCAL_PORT } from './defaults.ts';
import { parseCacheSetting } from './dynalite-parse-cache.mjs';
import { embeddedStoreMode } from './embedded-dynamodb.ts';
import { DEMO_TENANT, DEMO_USER, seedDemo } from './seed.ts';
import { type LocalState, localStatePath, readLocalStateFile, writeLocalStateFile } from './state-file.ts';
import { tlsOptionsFromEnv } from './tls.ts';

const env = process.env;
// Node 20 is this project's local runtime; the SDK's advice to upgrade is noise for a newcomer here.
env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const dataDir = env.CIBA_DATA_DIR || '.data';
const inMemory = dataDir === 'memory';
// What the server remembers between starts and where it listens (lib/local/state-file.ts): the CLI reads it.
const statePath = localStatePath(dataDir, process.cwd());

/** An http(s) base URL from the environment, or a clear error naming the variable. */
const baseUrlFrom = (name: string): string | undefined => {
  const value = env[name];
  if (!value) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || !['http:', 'https:'].includes(url.protocol) || url.search || url.hash) {
    throw new Error(`${name} must be an http or https URL without query or fragment, not ${value}`);
  }
  return value.replace(/\/+$/, '');
};

/** `  command   # comment` lines with the comments in one column. */
const aligned = (rows: [string, string][]): string[] => {
  const width = Math.max(...rows.map(([command]) => command.length));
  return rows.map(([command, comment]) => `  ${command.padEnd(width)}   # ${comment}`);
};

const main = async () => {
  const publicUrl = baseUrlFrom('CIBA_PUBLIC_URL');
  const dynamoDbEndpoint = baseUrlFrom('DYNAMODB_ENDPOINT');
  const port = env.PORT ? Number(env.PORT) : LOCAL_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`PORT must be a port number, not ${env.PORT}`);
  if (
    env.CIBA_MAX_IN_FLIGHT &&
    !(Number.isInteger(Number(env.CIBA_MAX_IN_FLIGHT)) && Number(env.CIBA_MAX_IN_FLIGHT) > 0)
  )
    throw new Error(`CIBA_MAX_IN_FLIGHT must be a positive integer, not ${env.CIBA_MAX_IN_FLIGHT}`);
  const logger = consoleLogger({ level: logLevel(env.CIBA_LOG_LEVEL, 'info') });
  // Applied where dynalite is loaded (lib/local/dynalite.mjs); checked here so that a typo stops the start.
  parseCacheSetting(env.CIBA_DYNALITE_PARSE_CACHE);
  const state: LocalState = (statePath ? await readLocalStateFile(statePath) : undefined) ?? {};
  // Tells this run from any other at the same address (GET /health answers it; the CLI compares).
  const instanceId = randomToken(9);
  // A token given in the environment is used and never printed; otherwise one is generated once and kept.
  const tokenFromEnv = env.CIBA_ADMIN_TOKEN;
  const adminToken = tokenFromEnv || state.adminToken || randomToken(24);
  // Mutual TLS (optional): CIBA_TLS_CERT, CIBA_TLS_KEY, CIBA_TLS_CA file paths, CIBA_TLS_PORT.
  const tlsOptions = tlsOptionsFromEnv(env);
  // The web authenticator and console are static files built from lib/web/browser (a few hundred ms).
  await ensureWebAssets((message) => logger.warn(message));
  const service = await startLocalService({
    port,
    host: env.HOST || '127.0.0.1',
    dataDir: inMemory ? 'memory' : resolve(dataDir),
    adminToken,
    ...(publicUrl ? { publicUrl } : {}),
    ...(dynamoDbEndpoint ? { dynamoDbEndpoint } : {}),
    // dynalite on a worker thread uses the second core without HTTP in between (docs/performance.md).
    embeddedStore: embeddedStoreMode(env.CIBA_EMBEDDED_STORE),
    ...(tlsOptions ? { tls: tlsOptions } : {}),
    ...(env.CIBA_MAX_IN_FLIGHT ? { maxInFlight: Number(env.CIBA_MAX_IN_FLIGHT) } : {}),
    instanceId,
    logger,
  });
  const seeded = await seedDemo(service.deps);
  const base = publicUrl ?? service.url;
  const next: LocalState = {
    url: base,
    pid: process.pid,
    instanceId,
    startedAt: Math.floor(Date.now() / 1000),
    ...(tokenFromEnv ? {} : { adminToken }),
    ...(seeded ? { demoClient: seeded } : state.demoClient ? { demoClient: state.demoClient } : {}),
    demoUser: DEMO_USER,
  };
  if (statePath) await writeLocalStateFile(statePath, next);

  const issuer = `${base}/${DEMO_TENANT}`;
  const demo = next.demoClient;
  // A fresh one-time link that makes a browser alice's authenticator (the admin API's enrollment_uri).
  const enrollment = await issueEnrollmentTicket(service.deps, DEMO_TENANT, DEMO_USER, issuer).catch(() => undefined);
  const lines = [
    '',
    `ciba-service is running at ${base}  (data: ${inMemory ? 'in memory' : resolve(dataDir)})`,
    '',
    `  issuer         ${issuer}`,
    `  discovery      ${issuer}/.well-known/openid-configuration`,
    ...(service.tlsUrl ? [`  mutual TLS     ${service.tlsUrl}/${DEMO_TENANT}  (client certificates)`] : []),
    demo
      ? `  client         ${demo.client_id} / ${demo.client_secret}`
      : '  client         demo-client (its secret was shown on the first start only)',
    `  demo user      ${DEMO_USER}  (alice@example.com, +15555550100)`,
    tokenFromEnv ? '  admin token    from CIBA_ADMIN_TOKEN' : `  admin token    ${adminToken}`,
    '',
    'Try it in the browser (README: Your first flow):',
    `  operator console     ${issuer}/console`,
    `  authenticator        ${issuer}/authenticator`,
    ...(enrollment
      ? [
          `  enroll as ${DEMO_USER}      ${enrollment.enrollment_uri}`,
          `                       (single use, 10 minutes; a new one: npx ciba user enroll-link ${DEMO_USER} --qr)`,
        ]
      : []),
    '  Open the enrollment link in one window and the console in another; press Send, then Approve.',
    '',
    'Or in another terminal (README: The same flow in a terminal):',
    // The CLI finds this server through the state file; without one (CIBA_DATA_DIR=memory) it needs the URL.
    ...(statePath ? [] : [`  export CIBA_BASE_URL=${base} CIBA_ADMIN_TOKEN=<the admin token above>`]),
    ...aligned([
      [
        `npx ciba user enroll-link ${DEMO_USER} | npx ciba device enroll --ticket -`,
        `this terminal: ${DEMO_USER}'s device`,
      ],
      ['npx ciba device approve --wait 60 &', 'the device approves the next request'],
      [`npx ciba authorize --login-hint ${DEMO_USER} --binding-message "Code 4F-22"`, 'the client asks and polls'],
    ]),
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  // SIGTERM from a supervisor, or Ctrl-C (SIGINT), which a terminal sends to npm and to this process and npm passes
  // on once more: the first starts the drain (service.stop logs its start and its end); later ones change nothing, the
  // drain being bounded (stopTimeoutMs).
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    service.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`ciba-service did not stop cleanly: ${error instanceof Error ? error.message : error}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
};

main().catch((error: unknown) => {
  process.stderr.write(`ciba-service failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
