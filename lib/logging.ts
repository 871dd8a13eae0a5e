import type { Logger } from './ports.ts';

/** Field names whose values never reach a log line (SECURITY.md, "Secrets in logs": secrets, tokens, hints, proofs). */
const SECRET_FIELD = /secret|token|password|authorization|proof|user_?code|hint|assertion|ticket|cookie|private|^d$/i;

const redactValue = (value: unknown): unknown => {
  if (value instanceof Error) return { name: value.name, message: value.message };
  // Arrays too: a list of attempts or records must not carry a token past the redaction.
  if (Array.isArray(value)) return value.map(redactValue);
  if (value && typeof value === 'object') return redact(value as Record<string, unknown>);
  return value;
};

export const redact = (fields: Record<string, unknown> | undefined): Record<string, unknown> | undefined => {
  if (!fields) return undefined;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    out[key] = SECRET_FIELD.test(key) ? '[redacted]' : redactValue(value);
  }
  return out;
};

export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** A log level from configuration (`CIBA_LOG_LEVEL`): `fallback` when unset; anything else is refused. */
export const logLevel = (value: string | undefined, fallback: Level): Level => {
  if (!value) return fallback;
  if (Object.hasOwn(ORDER, value)) return value as Level;
  throw new Error(`CIBA_LOG_LEVEL must be one of ${Object.keys(ORDER).join(', ')} (got "${value}")`);
};

/**
 * One JSON object per line on stdout/stderr; secret-looking fields are redacted. JSON.stringify escapes control
 * characters; the line and paragraph separators, which it leaves, are escaped too (hardening rule 10).
 */
export const jsonLogger = (opts: { level?: Level; write?: (line: string) => void } = {}): Logger => {
  const min = ORDER[opts.level ?? 'info'];
  const write = opts.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const log = (level: Level) => (message: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
    write(escapeJsonLine(JSON.stringify({ time: new Date().toISOString(), level, message, ...redact(fields) })));
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
};

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * SECURITY.md hardening rule 10: text from requests (device names, client names, hints...) cannot start a new log line
 * or a terminal escape sequence. Control characters (C0, DEL, C1: newline, carriage return, ESC...) and the Unicode
 * line and paragraph separators are written as escapes (`\n`, `\x1b`, `\u2028`); everything else as it is.
 */
const UNSAFE = /[\p{Cc}\u2028\u2029]/gu;

export const escapeLogText = (text: string): string =>
  text.replace(UNSAFE, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
  });

/** The same for a JSON line, as JSON escapes (JSON.stringify leaves C1 controls and the separators as they are). */
const escapeJsonLine = (line: string): string =>
  line.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** Human-readable lines for the local terminal; the same redaction as the JSON logger, every part escaped. */
export const consoleLogger = (opts: { level?: Level; write?: (line: string, level: Level) => void } = {}): Logger => {
  const min = ORDER[opts.level ?? 'info'];
  const write =
    opts.write ??
    ((line: string, level: Level) =>
      (level === 'error' || level === 'warn' ? process.stderr : process.stdout).write(`${line}\n`));
  const log = (level: Level) => (message: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
    const time = new Date().toISOString().slice(11, 19);
    const extra = Object.entries(redact(fields) ?? {})
      .map(([k, v]) => `${escapeLogText(k)}=${escapeLogText(typeof v === 'string' ? v : String(JSON.stringify(v)))}`)
      .join(' ');
    write(`${time} ${level.padEnd(5)} ${escapeLogText(message)}${extra ? `  ${extra}` : ''}`, level);
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
};
