import type { Command } from 'commander';
import { DeviceApiError } from '../../device/errors.ts';
import { type CliContext, CliError } from '../context.ts';
import { type Globals, globalsOf } from '../globals.ts';
import { ApiError, NetworkError } from '../http.ts';

/** Commander collector for repeatable options. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** `42` → 42, `true` → true, `["a"]` → array, `{"a":1}` → object, `null` → null; anything else stays a string. */
export const parseValue = (raw: string): unknown => {
  const t = raw.trim();
  if (/^(true|false|null)$/.test(t) || /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(t) || /^[[{"]/.test(t)) {
    try {
      return JSON.parse(t);
    } catch {
      throw new CliError('invalid_option', `not valid JSON: ${raw}`);
    }
  }
  return raw;
};

/** `["a=1", "b=x"]` → `{a: 1, b: "x"}` */
export const parseAssignments = (pairs: string[] = [], option = '--set'): Record<string, unknown> => {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    if (i <= 0) throw new CliError('invalid_option', `${option} expects key=value, got "${pair}"`);
    out[pair.slice(0, i).trim()] = parseValue(pair.slice(i + 1));
  }
  return out;
};

export const parsePositiveInt = (value: string): number => {
  if (!/^\d+$/.test(value) || Number(value) <= 0)
    throw new CliError('invalid_option', `expected a positive integer, got "${value}"`);
  return Number(value);
};

/** Prints an error as `error: <error> — <description>` on stderr. */
export const reportError = (ctx: CliContext, e: unknown): number => {
  if (e instanceof ApiError || e instanceof DeviceApiError || e instanceof CliError) {
    ctx.stderr(`error: ${e.error}${e.description ? ` — ${e.description}` : ''}\n`);
    return e instanceof CliError ? e.exitCode : 1;
  }
  const err = e as NodeJS.ErrnoException;
  ctx.stderr(`error: ${err?.code ?? 'failed'} — ${err?.message ?? String(e)}\n`);
  return 1;
};

export interface ActionArgs<O> {
  args: string[];
  opts: O;
  g: Globals;
  cmd: Command;
}

/** Wraps a command handler: resolves globals, maps errors to the exit code, stores the exit code on ctx. */
export const action =
  <O = Record<string, unknown>>(ctx: CliContext, fn: (a: ActionArgs<O>) => Promise<unknown>) =>
  async (...raw: unknown[]): Promise<void> => {
    const cmd = raw[raw.length - 1] as Command;
    let g: Globals | undefined;
    try {
      g = await globalsOf(cmd, ctx);
      // Commands that take service-made ids let unknown options through as values (lib/cli/main.ts): an id is
      // never `--anything`.
      const unknown = (cmd.processedArgs as unknown[]).find((a) => typeof a === 'string' && a.startsWith('--'));
      if (unknown !== undefined) throw new CliError('invalid_option', `unknown option '${unknown}'`);
      const code = await fn({ args: cmd.processedArgs as string[], opts: cmd.opts() as O, g, cmd });
      ctx.exitCode = typeof code === 'number' ? code : 0;
    } catch (e) {
      ctx.exitCode = reportError(ctx, g ? explainUnreachable(e, g) : e);
    }
  };

/** A service that cannot be reached at the base URL: say where that URL came from and what to do. */
export const explainUnreachable = (e: unknown, g: Globals): unknown => {
  if (!(e instanceof NetworkError) || e.origin !== new URL(g.baseUrl).origin) return e;
  const remedy =
    g.baseUrlFrom === '--base-url' || g.baseUrlFrom === 'CIBA_BASE_URL'
      ? 'is the service running there?'
      : 'start the server with npm start, or set CIBA_BASE_URL to where it runs';
  return new CliError('network_error', `cannot reach ${g.baseUrl} (${e.reason}; from ${g.baseUrlFrom}): ${remedy}`);
};
