// dynalite, loaded with the one fix it needs to run for days and a cache of its expression parses
// (lib/local/dynalite-parse-cache.mjs: the service sends the same expressions over and over, and dynalite parsed
// each one on every call; CIBA_DYNALITE_PARSE_CACHE=off leaves it out) (lib/local/embedded-dynamodb.ts and the
// store's worker thread and child process all load it from here; nothing else requires 'dynalite').
//
// dynalite 4.0.0 (db/index.js, createKeyStream/createValueStream) ends every LevelDB iterator it reads with
// `iterator.return()`, guarded by `if (iterator.return)`. The iterators of level 10 (abstract-level 3) have no
// `return()`: they end with `close()`. So no iterator is ever closed: each Query and Scan keeps a LevelDB snapshot
// with its memtable and table files alive until the process exits (issue 20: 3,000 queries pinned 57 table files and
// 350 MB). The fix: give abstract-level's iterators the async-iterator `return()` that dynalite calls, as `close()`.
// It is defined only where missing, so a fixed dynalite or abstract-level makes it a no-op. Upstream fix:
// docs/upstream/dynalite-iterator-close.md.
import { createRequire } from 'node:module';
import { cacheExpressionParses } from './dynalite-parse-cache.mjs';

const require = createRequire(import.meta.url);
const dynalitePath = require.resolve('dynalite');

/** Every copy of abstract-level that dynalite's storage can be built on (level on disk, memory-level in memory). */
const abstractLevels = () => {
  const fromDynalite = createRequire(dynalitePath);
  const fromLevel = createRequire(fromDynalite.resolve('level'));
  const owners = [
    fromDynalite.resolve('level'),
    fromLevel.resolve('classic-level'),
    fromDynalite.resolve('memory-level'),
  ];
  return [...new Set(owners.map((owner) => createRequire(owner).resolve('abstract-level')))].map((path) =>
    require(path),
  );
};

/** The async-iterator `return()` (closes the iterator; resolves to a done result), where the iterator lacks one. */
export const closeIteratorsOnReturn = () => {
  let patched = 0;
  for (const { AbstractIterator } of abstractLevels()) {
    // The common base of AbstractIterator, AbstractKeyIterator and AbstractValueIterator.
    const common = Object.getPrototypeOf(AbstractIterator.prototype);
    if (typeof common.return === 'function') continue;
    Object.defineProperty(common, 'return', {
      configurable: true,
      writable: true,
      value: async function (value) {
        await this.close();
        return { done: true, value };
      },
    });
    patched++;
  }
  return patched;
};

closeIteratorsOnReturn();
// Unless CIBA_DYNALITE_PARSE_CACHE=off (parseCacheSetting: `npm start` refuses any value but on and off).
if (process.env.CIBA_DYNALITE_PARSE_CACHE !== 'off') cacheExpressionParses(dynalitePath);

/** dynalite's factory: `dynalite(options)` returns its HTTP server. */
export const dynalite = require('dynalite');

/** Where dynalite keeps a table's description (db/index.js: a `table~` prefix in the main LevelDB, JSON values). */
const TABLE_PREFIX = 'table~';

/**
 * Opens dynalite's LevelDB folder on its own before dynalite does, to tell two things dynalite cannot: whether another
 * process holds it (LevelDB's lock; dynalite would only answer "Database is closed" to every request later), and
 * whether a table was left CREATING by a process killed between CreateTable and the moment dynalite marks it ACTIVE
 * (`createTableMs` later, in memory only). Such a table has its whole description and no items yet, so it is marked
 * ACTIVE, as dynalite would have done; otherwise every later start would wait for it forever.
 * Returns `{ held: true }` when another process holds the folder, else `{ held: false, repaired: [table names] }`.
 */
export const prepareFolder = async (path) => {
  const { Level } = createRequire(dynalitePath)('level');
  const db = new Level(path, { valueEncoding: 'json' });
  try {
    await db.open();
  } catch (error) {
    if (error?.cause?.code === 'LEVEL_LOCKED' || error?.code === 'LEVEL_LOCKED') return { held: true };
    throw error;
  }
  const repaired = [];
  try {
    for await (const [key, table] of db.iterator({ gte: TABLE_PREFIX, lt: `${TABLE_PREFIX}\xff` })) {
      if (table?.TableStatus !== 'CREATING') continue;
      table.TableStatus = 'ACTIVE';
      for (const index of table.GlobalSecondaryIndexes ?? []) index.IndexStatus = 'ACTIVE';
      await db.put(key, table);
      repaired.push(table.TableName);
    }
  } finally {
    await db.close();
  }
  return { held: false, repaired };
};
