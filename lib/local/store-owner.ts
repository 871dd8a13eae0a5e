import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The service that holds a data directory's embedded store, recorded next to it while it runs (`running.json`), so
 * that a second start on the same directory can say who holds it. LevelDB's own lock decides whether it is held
 * (lib/local/dynalite.mjs prepareFolder): this file only names the holder, and a file left by a killed process is
 * ignored once its process is gone.
 */
export interface StoreOwner {
  pid: number;
  url: string;
}

const ownerPath = (dataDir: string) => join(dataDir, 'running.json');

/** Whether a process with this id runs (under any user). */
export const processAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

export const writeStoreOwner = (dataDir: string, owner: StoreOwner) =>
  writeFile(ownerPath(dataDir), `${JSON.stringify(owner)}\n`, { mode: 0o600 });

export const removeStoreOwner = (dataDir: string) => rm(ownerPath(dataDir), { force: true });

/** The recorded holder, when its process still runs. */
export const readStoreOwner = async (dataDir: string): Promise<StoreOwner | undefined> => {
  try {
    const owner = JSON.parse(await readFile(ownerPath(dataDir), 'utf8')) as Partial<StoreOwner>;
    if (!Number.isInteger(owner.pid) || typeof owner.url !== 'string' || !processAlive(owner.pid!)) return undefined;
    return owner as StoreOwner;
  } catch {
    return undefined;
  }
};

/** Another process holds the data directory's store (issue 20: it used to surface as "Database is closed"). */
export class StoreHeldError extends Error {
  constructor(
    readonly dataDir: string,
    readonly owner: StoreOwner | undefined,
  ) {
    const who = owner ? `another ciba-service (pid ${owner.pid}, ${owner.url})` : 'another process';
    super(
      `the data directory ${dataDir} is in use by ${who}: stop it first, or start this one with another CIBA_DATA_DIR`,
    );
    this.name = 'StoreHeldError';
  }
}
