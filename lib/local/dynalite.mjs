// dynalite, loaded with the one fix it needs to run for days (lib/local/embedded-dynamodb.ts and the store's worker
// thread and child process all load it from here; nothing else requires 'dynalite').
//
// dynalite 4.0.0 (db/index.js, createKeyStream/createValueStream) ends every LevelDB iterator it reads with
// `iterator.return()`, guarded by `if (iterator.return)`. The iterators of level 10 (abstract-level 3) have no
// `return()`: they end with `close()`. So no iterator is ever closed: each Query and Scan keeps a LevelDB snapshot
// with its memtable and table files alive until the process exits (issue 20: 3,000 queries pinned 57 table files and
// 350 MB). The fix: give abstract-level's iterators the async-iterator `return()` that dynalite calls, as `close()`.
// It is defined only where missing, so a fixed dynalite or abstract-level makes it a no-op. Upstream fix:
// docs/upstream/dynalite-iterator-close.md.
import { createRequire } from 'node:module';

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

/** dynalite's factory: `dynalite(options)` returns its HTTP server. */
export const dynalite = require('dynalite');
