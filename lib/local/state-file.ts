/**
 * The local server's state file, `${CIBA_DATA_DIR:-.data}/local.json` (mode 0600): where `npm start` listens and
 * the credentials it made for the developer. `npm start` writes it; the CLI and docs/examples read it, so they find
 * a server on any `PORT` without being told. One definition for the writer and the readers.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { writePrivateFile } from '../private-file.ts';

export interface LocalState {
  /** The base URL clients use: `CIBA_PUBLIC_URL` when set, else the address the server listens on. */
  url?: string;
  /** The server's process id (a reader can tell whether it still runs). */
  pid?: number;
  /** Random per start; `GET /health` answers it, so a reader can tell this server from another at the same URL. */
  instanceId?: string;
  /** Epoch seconds of the start. */
  startedAt?: number;
  /** The generated admin token (absent when `CIBA_ADMIN_TOKEN` was given: that one is never written). */
  adminToken?: string;
  /** The seeded demo client (its secret exists only here; the store keeps its hash). */
  demoClient?: { client_id: string; client_secret: string };
  demoUser?: string;
}

export const LOCAL_STATE_FILE = 'local.json';

/** The state file of `dataDir` (`CIBA_DATA_DIR`, default `.data`), or undefined for `memory` (nothing on disk). */
export const localStatePath = (dataDir: string | undefined, cwd: string): string | undefined => {
  const dir = dataDir || '.data';
  return dir === 'memory' ? undefined : resolve(cwd, dir, LOCAL_STATE_FILE);
};

/** The state, or undefined when there is no readable file. */
export const readLocalStateFile = async (path: string): Promise<LocalState | undefined> => {
  try {
    const parsed: unknown = JSON.parse(await readFile(path, 'utf8'));
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as LocalState) : undefined;
  } catch {
    return undefined;
  }
};

/** Writes the state readable by its owner only (0600), replacing the file at once so no reader sees half of it. */
export const writeLocalStateFile = (path: string, state: LocalState): Promise<void> =>
  // The data directory is created by the store first; 0755 if it is not, as before.
  writePrivateFile(path, `${JSON.stringify(state, null, 2)}\n`, 0o755);
