/**
 * How the CLI finds the local server (`npm start`) and its credentials: the state file the server writes
 * (lib/local/state-file.ts) names its URL, process and instance. Credentials in it are used only with the server
 * that wrote them: the server at the base URL must answer the same instance on `GET /health`.
 */
import { relative } from 'node:path';
import { type LocalState, localStatePath, readLocalStateFile } from '../local/state-file.ts';
import { type CliContext, CliError } from './context.ts';
import { send } from './http.ts';

export interface LocalStateFile {
  path: string;
  /** The path as the user would type it (relative to the working directory when below it). */
  shown: string;
  state: LocalState;
}

const shownPath = (path: string, cwd: string): string => {
  const rel = relative(cwd, path);
  return rel && !rel.startsWith('..') ? rel : path;
};

/** Where the state file would be, as the user would type it (for messages when there is none). */
export const expectedStatePath = (ctx: Pick<CliContext, 'env' | 'cwd'>): string => {
  const path = localStatePath(ctx.env['CIBA_DATA_DIR'], ctx.cwd);
  return path ? shownPath(path, ctx.cwd) : 'a state file (CIBA_DATA_DIR=memory keeps none)';
};

/** The state file of `${CIBA_DATA_DIR:-.data}` under the working directory, if there is one. */
export const findLocalState = async (ctx: Pick<CliContext, 'env' | 'cwd'>): Promise<LocalStateFile | undefined> => {
  const path = localStatePath(ctx.env['CIBA_DATA_DIR'], ctx.cwd);
  if (!path) return undefined;
  const state = await readLocalStateFile(path);
  return state ? { path, shown: shownPath(path, ctx.cwd), state } : undefined;
};

/** Whether a process runs (signal 0 checks without sending anything; EPERM means it runs as another user). */
export const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** `the server at http://127.0.0.1:19787 (pid 4242, no longer running; started 2026-11-23 10:32:05 UTC)` */
export const describeWriter = (state: LocalState): string => {
  const facts = [
    ...(typeof state.pid === 'number' ? [`pid ${state.pid}${isRunning(state.pid) ? '' : ', no longer running'}`] : []),
    ...(typeof state.startedAt === 'number'
      ? [`started ${new Date(state.startedAt * 1000).toISOString().slice(0, 19).replace('T', ' ')} UTC`]
      : []),
  ];
  return `the server${state.url ? ` at ${state.url}` : ''}${facts.length ? ` (${facts.join('; ')})` : ''}`;
};

/** The `instance` a server answers on `GET /health` (undefined when it answers none: not a local server). */
const instanceAt = async (ctx: Pick<CliContext, 'fetch'>, baseUrl: string): Promise<string | undefined> => {
  const answer = await send<{ instance?: unknown }>(ctx, `${baseUrl}/health`);
  const instance = answer.status === 200 ? answer.body?.instance : undefined;
  return typeof instance === 'string' ? instance : undefined;
};

/** One check per state file and base URL in a CLI run (smoke makes many admin calls). */
const verified = new Map<string, Promise<void>>();

/**
 * The state of `local` for using its credentials (`what`: "admin token", "demo client") against `baseUrl`: only
 * when the server there is the one that wrote the file. Otherwise a CliError that says whose credentials they are
 * and what to do (`remedy`), instead of sending one server's credentials to another.
 */
export const localCredentialsFor = async (
  ctx: Pick<CliContext, 'fetch'>,
  local: LocalStateFile,
  baseUrl: string,
  what: string,
  remedy: string,
): Promise<LocalState> => {
  const { state } = local;
  // A file written before servers named themselves: nothing to compare.
  if (state.instanceId === undefined) return state;
  const key = `${local.path} ${state.instanceId} ${baseUrl}`;
  let check = verified.get(key);
  if (!check) {
    check = instanceAt(ctx, baseUrl).then((instance) => {
      if (instance === state.instanceId) return;
      throw new CliError(
        'other_server',
        `the server at ${baseUrl} is not the one that wrote ${local.shown} (${describeWriter(state)}), so that ` +
          `file's ${what} is not for it: ${remedy}`,
      );
    });
    verified.set(key, check);
  }
  await check;
  return state;
};
