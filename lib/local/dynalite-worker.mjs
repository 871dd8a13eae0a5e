// dynalite on a worker thread (lib/local/embedded-dynamodb.ts starts it; the embedded default of `npm start`): the
// store runs on the other core, and the service's DynamoDB client reaches it over the thread's message port instead
// of HTTP (lib/local/worker-transport.ts), so neither side spends CPU on sockets and HTTP parsing. Each request is
// answered by dynalite's own request handler, exactly as over HTTP. dynalite also listens on a loopback port, for
// other tools and for its graceful close. workerData: the LevelDB folder, or nothing for memory.
import { parentPort, workerData } from 'node:worker_threads';
import { dynalite } from './dynalite.mjs';
import { serveRequest } from './dynalite-serve.mjs';

const path = workerData?.path;
const server = dynalite({ ...(path ? { path } : {}), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
const handleRequest = server.listeners('request')[0];

parentPort.on('message', (message) => {
  if (message === 'stop') {
    server.close(() => process.exit(0));
    return;
  }
  try {
    serveRequest(handleRequest, message, (answer) => parentPort.postMessage(answer));
  } catch (error) {
    parentPort.postMessage({ id: message.id, error: String(error) });
  }
});
server.on('error', (error) => parentPort.postMessage({ error: String(error) }));
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
