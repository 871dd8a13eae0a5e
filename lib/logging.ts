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

/** One JSON object per line on stdout/stderr; secret-looking fields are redacted. */
export const jsonLogger = (opts: { level?: Level; write?: (line: string) => void } = {}): Logger => {
  const min = ORDER[opts.level ?? 'info'];
  const write = opts.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const log = (level: Level) => (message: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
    write(JSON.stringify({ time: new Date().toISOString(), level, message, ...redact(fields) }));
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
};

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Human-readable lines for the local terminal; the same redaction as the JSON logger. */
export const consoleLogger = (opts: { level?: Level } = {}): Logger => {
  const min = ORDER[opts.level ?? 'info'];
  const log = (level: Level) => (message: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
    const time = new Date().toISOString().slice(11, 19);
    const extra = Object.entries(redact(fields) ?? {})
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    const line = `${time} ${level.padEnd(5)} ${message}${extra ? `  ${extra}` : ''}`;
    (level === 'error' || level === 'warn' ? process.stderr : process.stdout).write(`${line}\n`);
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
};
