import type { CliContext } from './context.ts';

/** Replaces control and format characters (terminal escapes, bidi overrides) before display. */
export const safe = (value: unknown): string => String(value).replace(/[\p{Cc}\p{Cf}\p{Co}]/gu, '\uFFFD');

export const printJson = (ctx: CliContext, value: unknown): void => ctx.stdout(`${JSON.stringify(value, null, 2)}\n`);

const show = (v: unknown): string => (typeof v === 'object' && v !== null ? JSON.stringify(v) : safe(v));

/** Epoch-seconds fields (`*_at`) also shown as ISO time. */
const showField = (k: string, v: unknown): string =>
  k.endsWith('_at') && typeof v === 'number' && v > 1e9 && v < 1e11
    ? `${new Date(v * 1000).toISOString()} (${v})`
    : show(v);

/** `key: value` lines, aligned; undefined values are skipped. */
export const printFields = (ctx: CliContext, fields: Record<string, unknown> | [string, unknown][]): void => {
  const entries = (Array.isArray(fields) ? fields : Object.entries(fields)).filter(([, v]) => v !== undefined);
  const width = Math.max(0, ...entries.map(([k]) => k.length));
  for (const [k, v] of entries) ctx.stdout(`${`${k}:`.padEnd(width + 2)}${showField(k, v)}\n`);
};

/** A plain text table. */
export const printTable = (ctx: CliContext, headers: string[], rows: unknown[][]): void => {
  const cells = rows.map((r) => r.map((c) => (c === undefined || c === null ? '' : show(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    `${r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd()}\n`;
  ctx.stdout(line(headers));
  for (const r of cells) ctx.stdout(line(r));
};

/** `4m 05s`, `12s`, `expired`. */
export const formatDuration = (seconds: number): string => {
  if (seconds <= 0) return 'expired';
  const s = Math.ceil(seconds);
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m ${String(s % 60).padStart(2, '0')}s` : `${s}s`;
};

export const formatTime = (epochSeconds: unknown): string | undefined =>
  typeof epochSeconds === 'number' ? new Date(epochSeconds * 1000).toISOString() : undefined;

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** A spinner on stderr, drawn only when stderr is a terminal; `stop()` clears its line. */
export const startSpinner = (ctx: CliContext, text: () => string): { stop: () => void } => {
  if (!ctx.stderrIsTTY) return { stop: () => {} };
  let i = 0;
  const draw = () => ctx.stderr(`\r\x1b[K${FRAMES[i++ % FRAMES.length]} ${text()}`);
  draw();
  const timer = setInterval(draw, 100);
  return {
    stop: () => {
      clearInterval(timer);
      ctx.stderr('\r\x1b[K');
    },
  };
};
