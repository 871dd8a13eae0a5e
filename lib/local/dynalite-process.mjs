// dynalite in its own process (lib/local/embedded-dynamodb.ts forks this file): the store then runs on the other
// core instead of sharing the service's event loop. Argument: the LevelDB folder, or nothing for memory.
// It exits when its parent disconnects, so a killed service never leaves a store holding the data folder's lock.
import { dynalite } from './dynalite.mjs';

const path = process.argv[2];
const server = dynalite({ ...(path ? { path } : {}), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
server.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port }));
server.on('error', (error) => {
  process.send?.({ error: String(error) });
  process.exit(1);
});
process.on('disconnect', () => process.exit(0));
process.on('message', (message) => {
  if (message === 'stop') server.close(() => process.exit(0));
});
