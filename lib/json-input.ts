import { parse } from 'lossless-json';
import { InvalidRequest, type WireErrorClass } from './errors.ts';

/**
 * The one validation step for JSON input (SECURITY.md, hardening rule 4): every JSON body (admin API, device API, the
 * console) and every JSON value embedded in a request (`authorization_details`, request-object and assertion claims,
 * a JSON `login_hint`) is parsed here, before anything is stored or spent. JSON that parses but that the service
 * could not keep or compare safely is refused as the caller's 400:
 *
 * - the keys `__proto__`, `constructor` and `prototype`, at any depth (prototype pollution, and keys that make
 *   `obj[key]` lookups in validators lie);
 * - numbers whose source text JSON.parse would silently change: beyond the double range (`1e400` becomes Infinity),
 *   integers above 2^53 (precision is lost and DynamoDB's marshaller refuses them), and non-zero numbers that
 *   underflow to 0 or below DynamoDB's smallest magnitude (1e-130);
 * - strings and keys with unpaired surrogates (not Unicode text; `\ud800` escapes);
 * - nesting deeper than MAX_JSON_DEPTH, and an object that repeats a key with another value (JSON.parse would keep
 *   the last one silently).
 *
 * Numbers are judged from their source text: lossless-json hands each number's text to `checkedNumber`
 * (JSON.parse's reviver sees only the converted value on Node 20).
 */
export const MAX_JSON_DEPTH = 64;

/** Keys no JSON input may carry anywhere. */
export const FORBIDDEN_JSON_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** DynamoDB numbers: magnitudes from 1e-130 (38 digits of precision; a double has 17 at most). */
const SMALLEST_STORABLE = 1e-130;

/**
 * A problem with JSON input, which the caller turns into its endpoint's 400 error: `syntax` when the text is not
 * JSON at all, `content` when it is JSON the service refuses.
 */
export class JsonInputProblem extends Error {
  constructor(
    message: string,
    readonly kind: 'syntax' | 'content' = 'content',
  ) {
    super(message);
  }
}

const checkedNumber = (text: string): number => {
  const value = Number(text);
  if (!Number.isFinite(value)) throw new JsonInputProblem(`the number ${clip(text)} is outside the range of a double`);
  if (Math.abs(value) > Number.MAX_SAFE_INTEGER) {
    throw new JsonInputProblem(
      `the number ${clip(text)} is above 2^53 (numbers must be within +-${Number.MAX_SAFE_INTEGER})`,
    );
  }
  const mantissa = text.split(/[eE]/)[0]!;
  if (value === 0 ? /[1-9]/.test(mantissa) : Math.abs(value) < SMALLEST_STORABLE) {
    throw new JsonInputProblem(`the number ${clip(text)} is too small to keep`);
  }
  return value;
};

/** With the `u` flag a surrogate pair is one astral code point: only an unpaired half is General_Category Cs. */
const LONE_SURROGATE = /\p{Cs}/u;

const clip = (text: string) => (text.length > 40 ? `${text.slice(0, 40)}...` : text);

/**
 * The deepest nesting of arrays and objects in `text`, stopping as soon as it passes `limit`: checked before
 * parsing, because the parser recurses once per level.
 */
const nestingExceeds = (text: string, limit: number): boolean => {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
};

const checkTree = (value: unknown, path: string): void => {
  if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) throw new JsonInputProblem(`${path || 'the value'} has an unpaired surrogate`);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) checkTree(item, `${path}[${i}]`);
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    if (FORBIDDEN_JSON_KEYS.has(key))
      throw new JsonInputProblem(`the key ${key} is not allowed${path ? ` in ${path}` : ''}`);
    if (LONE_SURROGATE.test(key))
      throw new JsonInputProblem(`a key${path ? ` in ${path}` : ''} has an unpaired surrogate`);
    checkTree(item, path ? `${path}.${key}` : key);
  }
};

/**
 * Parses JSON text under the rules above. Syntax errors and refused content both throw JsonInputProblem, with a
 * description fit for an error_description; `what` names the input in it ("the request body", "authorization_details").
 */
export const parseJsonText = (text: string, what = 'the JSON input'): unknown => {
  if (nestingExceeds(text, MAX_JSON_DEPTH)) {
    throw new JsonInputProblem(`${what} is nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  let value: unknown;
  try {
    value = parse(text, null, {
      parseNumber: checkedNumber,
      onDuplicateKey: ({ key }) => {
        throw new JsonInputProblem(`the key ${clip(key)} appears twice with different values`);
      },
    });
  } catch (error) {
    if (error instanceof JsonInputProblem) throw new JsonInputProblem(`${what}: ${error.message}`);
    throw new JsonInputProblem(`${what} is not valid JSON`, 'syntax');
  }
  try {
    checkTree(value, '');
  } catch (error) {
    throw new JsonInputProblem(`${what}: ${(error as Error).message}`);
  }
  return value;
};

/**
 * `parseJsonText` for a request: refused content becomes the endpoint's 400 (`invalid`: invalid_request by default,
 * invalid_client_metadata at client registration, invalid_authorization_details for authorization_details), text
 * that is not JSON at all `malformed` (invalid_request by default).
 */
export const parseJsonInput = (
  text: string,
  options: {
    what: string;
    invalid?: WireErrorClass;
    malformed?: WireErrorClass;
  },
): unknown => {
  try {
    return parseJsonText(text, options.what);
  } catch (error) {
    if (!(error instanceof JsonInputProblem)) throw error;
    const Fail = error.kind === 'syntax' ? (options.malformed ?? InvalidRequest) : (options.invalid ?? InvalidRequest);
    throw new Fail(error.message);
  }
};
