/** Node only: files that hold secrets (private keys, local credentials), readable by their owner only. */
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Writes `text` to `path` with mode 0600, replacing the file at once (a reader never sees half of it, and the mode
 * holds from the first byte); a missing directory is created with `dirMode` (0700 unless it is shared with data
 * that others may read).
 */
export const writePrivateFile = async (path: string, text: string, dirMode = 0o700): Promise<void> => {
  await mkdir(dirname(path), { recursive: true, mode: dirMode });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
};
