import { describe, expect, it } from 'vitest';
import { consoleLogger, escapeLogText, jsonLogger, type Level, logLevel, redact } from '../../lib/logging.ts';

describe('redact (SECURITY.md: secrets, tokens, hints never reach a log line)', () => {
  it('redacts secret-looking keys at the top level', () => {
    const out = redact({
      client_secret: 's1',
      clientSecret: 's2',
      access_token: 't1',
      id_token: 't2',
      refresh_token: 't3',
      client_notification_token: 't4',
      Authorization: 'Basic xyz',
      password: 'p',
      login_hint: 'alice@example.com',
      id_token_hint: 'eyJ',
      user_code: '1234',
      userCode: '1234',
      proof: 'eyJ.proof',
      dpop_proof: 'eyJ',
      client_assertion: 'eyJ',
      ticket: 'tkt',
      cookie: 'c',
      privateJwk: { d: 'x' },
      d: 'private scalar',
    });
    for (const [key, value] of Object.entries(out!)) expect(value, key).toBe('[redacted]');
  });

  it('keeps ordinary fields', () => {
    expect(redact({ tenant: 'acme', txn: 'abc', status: 'approved', count: 3, ok: true, none: null })).toEqual({
      tenant: 'acme',
      txn: 'abc',
      status: 'approved',
      count: 3,
      ok: true,
      none: null,
    });
  });

  it('redacts nested objects at any depth', () => {
    expect(
      redact({
        request: {
          headers: { authorization: 'Bearer x', 'content-type': 'json' },
          body: { client_secret: 's', scope: 'openid' },
        },
      }),
    ).toEqual({
      request: {
        headers: { authorization: '[redacted]', 'content-type': 'json' },
        body: { client_secret: '[redacted]', scope: 'openid' },
      },
    });
  });

  it('redacts objects inside arrays', () => {
    expect(redact({ attempts: [{ status: 500, access_token: 'leak' }, 'plain', 3] })).toEqual({
      attempts: [{ status: 500, access_token: '[redacted]' }, 'plain', 3],
    });
  });

  it('turns errors into name and message (no stack, no attached fields)', () => {
    const error = Object.assign(new Error('boom'), { secret: 'attached' });
    expect(redact({ error })).toEqual({ error: { name: 'Error', message: 'boom' } });
  });

  it('is undefined for no fields', () => {
    expect(redact(undefined)).toBeUndefined();
  });

  it('applies to every line of the JSON logger', () => {
    const lines: string[] = [];
    const logger = jsonLogger({ level: 'debug', write: (line) => lines.push(line) });
    logger.info('token issued', { tenant: 'acme', access_token: 'eyJ.secret.sig', nested: { client_secret: 'sss' } });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('eyJ.secret.sig');
    expect(lines[0]).not.toContain('sss');
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'info', message: 'token issued', tenant: 'acme' });
  });
});

describe('logLevel (CIBA_LOG_LEVEL)', () => {
  it('takes each level, falls back when unset, and refuses anything else with the choices', () => {
    for (const level of ['debug', 'info', 'warn', 'error'] as const) expect(logLevel(level, 'info')).toBe(level);
    expect(logLevel(undefined, 'info')).toBe('info');
    expect(logLevel('', 'warn')).toBe('warn');
    expect(() => logLevel('verbose', 'info')).toThrow('CIBA_LOG_LEVEL must be one of debug, info, warn, error');
    expect(() => logLevel('toString', 'info')).toThrow('CIBA_LOG_LEVEL must be one of');
  });
});

describe('log lines cannot be forged (SECURITY.md, hardening rule 10)', () => {
  const forged = 'x\n23:59:59 error FORGED\x1b[31m red\r\u2028\u009b2J';
  const capture = () => {
    const lines: string[] = [];
    return { lines, write: (line: string, _level?: Level) => lines.push(line) };
  };

  it('writes a device name with a newline and an escape sequence on one line, escaped, in the terminal logger', () => {
    const { lines, write } = capture();
    const logger = consoleLogger({ level: 'debug', write });
    logger.info('device enrolled', { name: forged, [`k\ney`]: 1 });
    logger.warn(`message ${forged}`);
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line).not.toMatch(/[\p{Cc}\u2028\u2029]/u);
      expect(line).toContain('x\\n23:59:59 error FORGED\\x1b[31m red\\r\\u2028\\x9b2J');
    }
    expect(lines[0]).toContain('k\\ney=1');
  });

  it('writes the same on one line in the JSON logger', () => {
    const { lines, write } = capture();
    jsonLogger({ write }).info('device enrolled', { name: forged });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(/[\p{Cc}\u2028\u2029]/u);
    expect(JSON.parse(lines[0]!).name).toBe(forged);
  });

  it('leaves printable text as it is', () => {
    expect(escapeLogText('Alice’s phone 📱 — 東京')).toBe('Alice’s phone 📱 — 東京');
  });
});
