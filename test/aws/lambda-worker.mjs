// One Lambda execution environment of the AWS-shape harness (test/aws/lambda.ts starts it as a worker thread with the
// function's environment variables): it imports the bundle as the Node.js runtime does (ESM, the handler's export),
// once per cold start, then runs one invocation at a time. Two things of the sandbox are simulated here, before the
// bundle loads:
// - the clock: `Date` follows the harness clock (real time plus an offset the tests move), shared through memory;
// - the internet: host names the tests register (a client's notification endpoint, a Web Push service) resolve to
//   public addresses, so the service's outbound guard sees what it would see in AWS, and connections to them reach
//   the test's loopback servers, with the test CA trusted for those names only.
import { randomBytes } from 'node:crypto';
import dns from 'node:dns';
import net from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';

const offset = new Float64Array(workerData.clock);
const RealDate = Date;
class HarnessDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(RealDate.now() + offset[0]);
    else super(...args);
  }
  static now() {
    return RealDate.now() + offset[0];
  }
}
globalThis.Date = HarnessDate;

/** host name → { address (public), port (the loopback server's), ca (PEM) } */
const internet = new Map(Object.entries(workerData.internet ?? {}));

const realLookup = dns.lookup;
const realPromiseLookup = dns.promises.lookup;
const fakeAnswer = (host, options) => {
  const entry = internet.get(String(host).toLowerCase());
  if (!entry) return undefined;
  const one = { address: entry.address, family: 4 };
  return options?.all ? [one] : one;
};
dns.promises.lookup = async (host, options) => fakeAnswer(host, options) ?? realPromiseLookup(host, options);
dns.lookup = (host, options, callback) => {
  const cb = typeof options === 'function' ? options : callback;
  const opts = typeof options === 'function' ? {} : typeof options === 'number' ? { family: options } : options;
  const answer = fakeAnswer(host, opts);
  if (!answer) return realLookup(host, options, callback);
  process.nextTick(() => (opts?.all ? cb(null, answer) : cb(null, answer.address, answer.family)));
};

/** Connections to a registered host go to its loopback server, after whatever lookup (and check) the caller did. */
const reroute = (options) => {
  const host = String(options?.host ?? options?.servername ?? '').toLowerCase();
  const entry = internet.get(host);
  if (!entry) return options;
  const lookup = options.lookup ?? dns.lookup;
  return {
    ...options,
    port: entry.port,
    servername: options.servername ?? host,
    ca: [...tls.rootCertificates, entry.ca],
    lookup: (h, o, cb) =>
      lookup(h, o, (err, address, family) => {
        if (err) return cb(err, address, family);
        if (Array.isArray(address))
          return cb(
            null,
            address.map((a) => ({ ...a, address: '127.0.0.1', family: 4 })),
          );
        cb(null, '127.0.0.1', 4);
      }),
  };
};
const realTlsConnect = tls.connect;
tls.connect = (...args) =>
  typeof args[0] === 'object' && args[0] !== null
    ? realTlsConnect(reroute(args[0]), ...args.slice(1))
    : realTlsConnect(...args);
const realNetConnect = net.createConnection;
net.createConnection = (...args) =>
  typeof args[0] === 'object' && args[0] !== null
    ? realNetConnect(reroute(args[0]), ...args.slice(1))
    : realNetConnect(...args);
net.connect = net.createConnection;

const [file, exportName] = workerData.handler.split('.');
let handler;
try {
  const module = await import(pathToFileURL(join(workerData.codeDir, `${file}.mjs`)).href);
  handler = module[exportName];
  if (typeof handler !== 'function') throw new Error(`${workerData.handler} is undefined or not exported`);
  parentPort.postMessage({ type: 'ready' });
} catch (error) {
  parentPort.postMessage({
    type: 'init-error',
    error: {
      errorType: error?.name ?? 'Error',
      errorMessage: String(error?.message ?? error),
      trace: String(error?.stack ?? '').split('\n'),
    },
  });
}

/**
 * Resolves once the main thread has taken every line the invocation wrote: a worker's stdout and stderr reach it on a
 * port of their own, and a write's callback runs once the main thread has read it. So an invocation's result never
 * arrives before its last log lines (Lambda's logs hold an invocation's lines before its END).
 */
const logsFlushed = () =>
  Promise.all([process.stdout, process.stderr].map((stream) => new Promise((resolve) => stream.write('', resolve))));

parentPort.on('message', async (message) => {
  if (message.type === 'internet') {
    internet.clear();
    for (const [host, entry] of Object.entries(message.internet)) internet.set(host, entry);
    return;
  }
  if (message.type !== 'invoke') return;
  const deadline = RealDate.now() + message.timeoutMs;
  // Lambda gives every invocation an X-Ray trace header; the deployment's functions run without active tracing, so
  // X-Ray samples none of them.
  process.env._X_AMZN_TRACE_ID = `Root=1-${Math.floor(RealDate.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')};Parent=${randomBytes(8).toString('hex')};Sampled=0`;
  const context = {
    awsRequestId: message.requestId,
    functionName: workerData.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: workerData.functionArn,
    memoryLimitInMB: String(workerData.memorySize),
    logGroupName: workerData.logGroupName,
    logStreamName: workerData.logStreamName,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - RealDate.now()),
  };
  // How long this environment's thread was busy in the invocation (its event loop not waiting), which the AWS-shape
  // harness reports as the invocation's CPU.
  const busy = performance.eventLoopUtilization();
  const activeMs = () => performance.eventLoopUtilization(busy).active;
  try {
    const result = await handler(message.event, context);
    const active = activeMs();
    await logsFlushed();
    parentPort.postMessage({
      type: 'result',
      id: message.id,
      result: result === undefined ? null : result,
      activeMs: active,
    });
  } catch (error) {
    const active = activeMs();
    await logsFlushed();
    parentPort.postMessage({
      type: 'result',
      id: message.id,
      activeMs: active,
      error: {
        errorType: error?.name ?? 'Error',
        errorMessage: String(error?.message ?? error),
        trace: String(error?.stack ?? '').split('\n'),
      },
    });
  }
});
