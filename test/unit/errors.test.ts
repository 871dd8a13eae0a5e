import { describe, expect, it } from 'vitest';
import {
  AccessDenied,
  InvalidBindingCode,
  InvalidClient,
  InvalidRequest,
  NotFound,
  OAuthError,
  SlowDown,
  sanitizeDescription,
  WireError,
} from '../../lib/errors.ts';

/** RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E. */
const RFC6749_CHARSET = /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/;

describe('sanitizeDescription (RFC 6749 §5.2 character set)', () => {
  const cases: [string, string, string][] = [
    ['keeps printable ASCII', 'scope must include openid', 'scope must include openid'],
    ['replaces a double quote', 'the "scope" parameter', "the 'scope' parameter"],
    ['replaces a backslash', 'C:\\path', "C:'path"],
    ['turns a line feed into a space', 'first\nsecond', 'first second'],
    ['collapses CR LF and tabs', 'a\r\n\tb', 'a b'],
    ['replaces non-ASCII letters', 'café', 'caf'],
    ['replaces an emoji (both surrogates)', 'ok 👍 done', 'ok done'],
    ['replaces a bidi override', 'pay \u202e01', 'pay 01'],
    ['replaces DEL and NUL', 'a\u007fb\u0000c', 'a b c'],
    ['trims', '  padded  ', 'padded'],
    ['keeps every other printable character', "!#$%&'()*+,-./:;<=>?@[]^_`{|}~", "!#$%&'()*+,-./:;<=>?@[]^_`{|}~"],
    ['can end empty', '\n\u00e9\t', ''],
  ];
  for (const [label, input, output] of cases) {
    it(`${label}`, () => {
      const out = sanitizeDescription(input);
      expect(out).toBe(output);
      expect(out).toMatch(RFC6749_CHARSET);
    });
  }

  it('never lets a character outside the charset through, for every code unit', () => {
    let all = '';
    for (let c = 0; c < 0x10000; c++) all += String.fromCharCode(c);
    expect(sanitizeDescription(all)).toMatch(RFC6749_CHARSET);
  });
});

describe('wire errors', () => {
  it('serializes to error and a sanitized error_description only', () => {
    const error = new InvalidRequest('bad "value"\nhere', { headers: { 'X-Extra': '1' } });
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      error: 'invalid_request',
      error_description: "bad 'value' here",
    });
  });

  it('omits an empty description', () => {
    expect(new SlowDown('\n').toJSON()).toEqual({ error: 'slow_down' });
  });

  it('keeps code, headers and description when the status is overridden (access_denied 403 → 400)', () => {
    const denied = new AccessDenied('no');
    expect(denied.status).toBe(403);
    const at400 = denied.withStatus(400);
    expect(at400).toMatchObject({ error: 'access_denied', status: 400, message: 'no' });
    expect(at400).toBeInstanceOf(AccessDenied);
    expect(denied.status).toBe(403);
  });

  it('adds machine-readable fields after error and error_description, kept through a status override', () => {
    const error = new InvalidBindingCode('wrong code').withFields({ attempts_left: 2 });
    const body = error.withStatus(409).withFields({ status: 'pending' }).toJSON();
    expect(body).toEqual({
      error: 'invalid_binding_code',
      error_description: 'wrong code',
      attempts_left: 2,
      status: 'pending',
    });
    expect(Object.keys(body).slice(0, 2)).toEqual(['error', 'error_description']);
  });

  it('never lets a field replace error or error_description', () => {
    const error = new InvalidRequest('real').withFields({ error: 'other', error_description: 'fake' });
    expect(error.toJSON()).toEqual({ error: 'invalid_request', error_description: 'real' });
  });

  it('adds WWW-Authenticate to invalid_client only when Basic was used', () => {
    expect(new InvalidClient('x', true).headers).toEqual({ 'WWW-Authenticate': 'Basic realm="ciba"' });
    expect(new InvalidClient('x', false).headers).toEqual({});
    expect(new InvalidClient('x', false).status).toBe(401);
  });

  it('keeps the internal detail out of the wire body', () => {
    const error = new InvalidRequest('scope is required', { detail: 'form had 3 parameters' });
    expect(error.detail).toBe('form had 3 parameters');
    expect(JSON.stringify(error)).not.toContain('parameters');
  });

  it("one class per code: OAuth codes are OAuthErrors, the service's own codes are not", () => {
    expect(new InvalidRequest('x')).toBeInstanceOf(OAuthError);
    expect(new NotFound('x')).not.toBeInstanceOf(OAuthError);
    expect(new NotFound('x')).toBeInstanceOf(WireError);
    expect(new NotFound('x')).toMatchObject({ error: 'not_found', status: 404, name: 'NotFound' });
    expect(new InvalidRequest('x', { status: 413 }).status).toBe(413);
  });
});
