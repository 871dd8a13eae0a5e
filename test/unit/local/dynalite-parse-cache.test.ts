/**
 * The cache of dynalite's expression parses (lib/local/dynalite-parse-cache.mjs) must give dynalite exactly what a
 * parse would: the same tree with the request's own value objects in it, the same error, the same unused names and
 * values. Checked against dynalite's own `validateExpressions` with the cache on and off, on expressions of the kinds
 * the store sends, with values drawn anew for each request.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cachingParse, parseCacheSetting } from '../../../lib/local/dynalite-parse-cache.mjs';
import '../../../lib/local/dynalite.mjs';

const require = createRequire(import.meta.url);
const fromDynalite = createRequire(require.resolve('dynalite'));
const validations = fromDynalite('./validations') as { validateExpressions: (data: Request) => string | undefined };
type Parser = {
  parse: ((...args: unknown[]) => unknown) & { cached?: boolean; original?: (...args: unknown[]) => unknown };
};
const parsers = ['./db/conditionParser', './db/updateParser', './db/projectionParser'].map(
  (module) => fromDynalite(module) as Parser,
);

type Value = Record<string, unknown>;
interface Request {
  UpdateExpression?: string;
  ConditionExpression?: string;
  KeyConditionExpression?: string;
  FilterExpression?: string;
  ProjectionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, Value>;
  [parsed: `_${string}`]: unknown;
}

const PARSED = ['_updates', '_condition', '_keyCondition', '_filter', '_projection'] as const;

/** dynalite's validation of the request's expressions, with the cache (as the store runs) or without it. */
const validate = (request: Request, cached: boolean) => {
  const data = structuredClone(request);
  const saved = parsers.map((parser) => parser.parse);
  if (!cached) for (const parser of parsers) parser.parse = parser.parse.original ?? parser.parse;
  try {
    return { error: validations.validateExpressions(data), data };
  } finally {
    parsers.forEach((parser, i) => {
      parser.parse = saved[i] as Parser['parse'];
    });
  }
};

const parsedOf = (data: Request) => Object.fromEntries(PARSED.map((key) => [key, data[key]]));

/** Every value object of the request found in the parsed trees, by identity. */
const valueObjectsIn = (node: unknown, values: Set<unknown>, found = new Set<unknown>()): Set<unknown> => {
  if (node === null || typeof node !== 'object') return found;
  if (values.has(node)) found.add(node);
  else for (const child of Object.values(node)) valueObjectsIn(child, values, found);
  return found;
};

/** Requests like the store's (names fixed per case, values drawn per request). */
const CASES: { name: string; request: (s: string, n: number) => Request }[] = [
  {
    name: 'a counter update with a condition (the admission shard)',
    request: (s, n) => ({
      UpdateExpression: 'SET #t = if_not_exists(#t, :zero) + :one, #c = if_not_exists(#c, :zero) + :one REMOVE #old',
      ConditionExpression: '(attribute_not_exists(#t) OR #t < :share) AND (attribute_not_exists(#c) OR #c < :share)',
      ExpressionAttributeNames: { '#t': 't.29000000', '#c': 'c.29000000.client', '#old': 't.28999999' },
      ExpressionAttributeValues: {
        ':zero': { N: '0' },
        ':one': { N: String(n % 9) },
        ':share': { N: `${n}${s.length}` },
      },
    }),
  },
  {
    name: 'a replay record in a map (the device proof)',
    request: (s, n) => ({
      UpdateExpression: 'SET jtis.#jti = :exp, last_seen = :now',
      ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(jtis.#jti)',
      ExpressionAttributeNames: { '#jti': 'a-fixed-jti' },
      ExpressionAttributeValues: { ':exp': { N: String(n) }, ':now': { N: String(n + s.length) } },
    }),
  },
  {
    name: 'a decision (state, owner and expiry in the condition)',
    request: (s, n) => ({
      UpdateExpression: 'SET #status = :approved, decided_at = :now, evidence = :evidence REMOVE pending_key',
      ConditionExpression: '#status = :pending AND #sub = :sub AND expires_at > :now',
      ExpressionAttributeNames: { '#status': 'status', '#sub': 'sub' },
      ExpressionAttributeValues: {
        ':approved': { S: 'approved' },
        ':pending': { S: 'pending' },
        ':sub': { S: s },
        ':now': { N: String(n) },
        ':evidence': { M: { device_id: { S: s }, proof: { B: Buffer.from(s).toString('base64') } } },
      },
    }),
  },
  {
    name: 'a list append, ADD and DELETE on sets',
    request: (s, n) => ({
      UpdateExpression:
        'SET events = list_append(if_not_exists(events, :empty), :event) ADD seen :ids, hits :n DELETE gone :ids',
      ExpressionAttributeValues: {
        ':empty': { L: [] },
        ':event': { L: [{ S: s }] },
        ':ids': { SS: [`${s}x`] },
        ':n': { N: String(n) },
      },
    }),
  },
  {
    name: 'a query with a key condition, a filter and a projection',
    request: (s, n) => ({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      FilterExpression: 'expires_at > :now AND #status IN (:pending, :other) AND size(binding) < :n',
      ProjectionExpression: 'pk, sk, #status, claims.email, acr[0]',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: {
        ':pk': { S: `T#${s}` },
        ':prefix': { S: 'REQ#' },
        ':now': { N: String(n) },
        ':pending': { S: 'pending' },
        ':other': { S: s },
        ':n': { N: String(n) },
      },
    }),
  },
];

const text = fc.string({ minLength: 1, maxLength: 12 });
const number = fc.integer({ min: 1, max: 1_000_000 });

describe('dynalite expression parse cache', () => {
  it('is in front of all three of dynalite’s parsers once dynalite is loaded', () => {
    for (const parser of parsers) expect(parser.parse.cached).toBe(true);
  });

  for (const { name, request } of CASES) {
    it(`gives dynalite what a parse gives, with each request's own values: ${name}`, () => {
      fc.assert(
        fc.property(text, number, (s, n) => {
          const input = request(s, n);
          const cached = validate(input, true);
          const fresh = validate(input, false);
          expect(cached.error).toBeUndefined();
          expect(fresh.error).toBeUndefined();
          expect(parsedOf(cached.data)).toEqual(parsedOf(fresh.data));
          // The trees hold this request's value objects, not an earlier request's.
          const values = new Set(Object.values(cached.data.ExpressionAttributeValues ?? {}));
          const found = valueObjectsIn(parsedOf(cached.data), values);
          expect(found.size).toBe(values.size);
        }),
        { numRuns: 40 },
      );
    });
  }

  it('gives each request a tree of its own: what dynalite writes into one is not in the next', () => {
    const input = CASES[0]?.request('a', 5) as Request;
    const first = validate(input, true).data as Request & { _updates: { sections: { val: unknown }[] } };
    for (const section of first._updates.sections) section.val = 'written by applyUpdateExpression';
    const second = validate(input, true).data;
    expect(parsedOf(second)).toEqual(parsedOf(validate(input, false).data));
  });

  it('refuses what a parse refuses after the same text was accepted: a value of another type, one missing, one unused', () => {
    const good: Request = {
      UpdateExpression: 'SET n = n + :one',
      ExpressionAttributeValues: { ':one': { N: '1' } },
    };
    expect(validate(good, true).error).toBeUndefined();
    const variants: Request[] = [
      { ...good, ExpressionAttributeValues: { ':one': { S: '1' } } },
      { ...good, ExpressionAttributeValues: { ':two': { N: '1' } } },
      { ...good, ExpressionAttributeValues: { ':one': { N: '1' }, ':spare': { N: '2' } } },
      { ...good, ExpressionAttributeNames: { '#unused': 'x' } },
    ];
    for (const variant of variants) {
      const cached = validate(variant, true).error;
      expect(cached).toBeTruthy();
      expect(cached).toBe(validate(variant, false).error);
    }
  });

  it('counts a value used by two expressions of one request as used, whichever parse came from the cache', () => {
    const condition = 'attribute_not_exists(pk) OR expires_at < :now';
    // The condition is first parsed alone, then in a request whose update uses :now before it.
    expect(
      validate({ ConditionExpression: condition, ExpressionAttributeValues: { ':now': { N: '1' } } }, true).error,
    ).toBeUndefined();
    const both: Request = {
      UpdateExpression: 'SET seen = :now',
      ConditionExpression: condition,
      ExpressionAttributeValues: { ':now': { N: '2' } },
    };
    expect(validate(both, true).error).toBeUndefined();
    const withExtra: Request = {
      ConditionExpression: condition,
      ExpressionAttributeValues: { ':now': { N: '3' }, ':late': { N: '4' } },
    };
    expect(validate(withExtra, true).error).toBe(validate(withExtra, false).error);
    expect(validate(withExtra, true).error).toMatch(/unused in expressions: keys: \{:late\}/);
  });

  it('parses BETWEEN and attribute_type every time: their checks read the values', () => {
    const between = (low: string, high: string): Request => ({
      ConditionExpression: 'n BETWEEN :low AND :high',
      ExpressionAttributeValues: { ':low': { N: low }, ':high': { N: high } },
    });
    expect(validate(between('1', '2'), true).error).toBeUndefined();
    expect(validate(between('3', '2'), true).error).toMatch(/upper bound to be greater than or equal to lower bound/);
    const typed = (type: string): Request => ({
      ConditionExpression: 'attribute_type(x, :type)',
      ExpressionAttributeValues: { ':type': { S: type } },
    });
    expect(validate(typed('S'), true).error).toBeUndefined();
    expect(validate(typed('nope'), true).error).toMatch(/Invalid attribute type name found/);
  });

  it('keeps at most its size, the least recently used out first, and never keeps a failed parse', () => {
    let parses = 0;
    const parse = (text: string) => {
      parses++;
      if (text === 'bad') return 'Syntax error';
      return { text };
    };
    const cache = cachingParse(parse, 2);
    const context = () => ({ attrNames: {}, attrVals: {}, unusedAttrNames: {}, unusedAttrVals: {} });
    for (const text of ['a', 'b', 'a', 'b']) cache(text, { context: context() });
    expect(parses).toBe(2);
    cache('c', { context: context() });
    cache('b', { context: context() });
    expect(parses).toBe(3);
    cache('a', { context: context() });
    expect(parses).toBe(4);
    cache('bad', { context: context() });
    cache('bad', { context: context() });
    expect(parses).toBe(6);
    // An entry in use stays while one-off texts pass through: 'a' is used between each of them.
    for (const text of ['d', 'a', 'e', 'a', 'f', 'a']) cache(text, { context: context() });
    expect(parses).toBe(9);
  });

  it('is left out with CIBA_DYNALITE_PARSE_CACHE=off, in the loading process and on the store’s worker thread', async () => {
    expect(parseCacheSetting(undefined)).toBe('on');
    expect(parseCacheSetting('')).toBe('on');
    expect(parseCacheSetting('on')).toBe('on');
    expect(parseCacheSetting('off')).toBe('off');
    expect(() => parseCacheSetting('no')).toThrow('CIBA_DYNALITE_PARSE_CACHE must be one of on, off (got "no")');
    // What each of dynalite's parsers is once dynalite.mjs is loaded: in this process and on a worker thread.
    // Which of dynalite's parsers are cached once dynalite.mjs is loaded, in a fresh process and on its worker thread
    // (the eval'd code of both is an ES module: the probe runs with --input-type=module, which the worker inherits).
    const loader = new URL('../../../lib/local/dynalite.mjs', import.meta.url);
    const report = `
      import { createRequire } from 'node:module';
      await import(${JSON.stringify(loader.href)});
      const fromDynalite = createRequire(createRequire(${JSON.stringify(loader.pathname)}).resolve('dynalite'));
      const cached = ['./db/conditionParser', './db/updateParser', './db/projectionParser']
        .map((m) => Boolean(fromDynalite(m).parse.cached));`;
    const probe = `${report}
      import { Worker } from 'node:worker_threads';
      const worker = new Worker(${JSON.stringify(`${report}
        (await import('node:worker_threads')).parentPort.postMessage(cached);`)}, { eval: true });
      worker.once('message', (there) => { console.log(JSON.stringify({ here: cached, there })); worker.terminate(); });
    `;
    const run = (value: string | undefined) =>
      new Promise<{ here: boolean[]; there: boolean[] }>((resolve, reject) => {
        const env: NodeJS.ProcessEnv = { ...process.env };
        delete env.CIBA_DYNALITE_PARSE_CACHE;
        if (value !== undefined) env.CIBA_DYNALITE_PARSE_CACHE = value;
        execFile(
          process.execPath,
          ['--input-type=module', '-e', probe],
          { env, cwd: process.cwd() },
          (error, stdout) => (error ? reject(error) : resolve(JSON.parse(stdout.trim()))),
        );
      });
    expect(await run('off')).toEqual({ here: [false, false, false], there: [false, false, false] });
    expect(await run(undefined)).toEqual({ here: [true, true, true], there: [true, true, true] });
  }, 30_000);
});
