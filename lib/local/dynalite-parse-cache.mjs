// dynalite parses every request's expressions (condition, update, key condition, filter, projection) with its PEG
// parsers, on every call: about a third of the embedded store's CPU per call (docs/performance.md, "Where a flow's
// time goes at c = 1"). The service sends the same few expression texts over and over with new values, so this
// keeps what a parse produced for an expression text, its attribute names and the types of its values, and gives
// the next request with the same ones a copy with its own values in place, instead of parsing again.
//
// Why a copy is exactly what a parse would give: a parser puts each `:value` it uses into its tree as the request's
// own object (`resolveAttrVal` returns `attrVals[name]`), and reads nothing of a value but its type, except in
// BETWEEN (compares the bounds) and attribute_type (reads the type name): expressions with either are never cached.
// Names are resolved into the tree as strings and checked against each other (overlapping paths), so they are part
// of the key, as is each value's type and the set of value names. A parse that fails (a message or a thrown error)
// is never cached. What a parse does to the request's context (it deletes the names and values it used from
// `unusedAttrNames` and `unusedAttrVals`, which tells the request about unused ones) is recorded and done again.
// The tree is copied for each request, since dynalite writes into it (`applyUpdateExpression` sets `section.val`).
import { createRequire } from 'node:module';

/** At most this many parsed expressions are kept per parser; the least recently used goes first. */
export const PARSE_CACHE_SIZE = 1000;

/**
 * `CIBA_DYNALITE_PARSE_CACHE`: `on` when unset, `off` has dynalite parse every expression as it ships (to measure the
 * cache, or to rule it out when the embedded store misbehaves); anything else is refused, by `npm start`
 * (lib/local/main.ts). Applied where dynalite is loaded (lib/local/dynalite.mjs, in every thread and process that runs
 * it).
 */
export const parseCacheSetting = (value) => {
  if (!value) return 'on';
  if (value === 'on' || value === 'off') return value;
  throw new Error(`CIBA_DYNALITE_PARSE_CACHE must be one of on, off (got "${value}")`);
};

const VALUE = Symbol('expression attribute value');
const UNCACHEABLE = /between|attribute_type/i;

/** Each value's name and type: what of the values a parse may depend on, once BETWEEN and attribute_type are out. */
const valueTypes = (values) => {
  if (values == null) return '';
  let signature = '';
  for (const name of Object.keys(values)) {
    const value = values[name];
    signature += `${name}=${value !== null && typeof value === 'object' ? Object.keys(value).join('|') : typeof value};`;
  }
  return signature;
};

const isPlain = (node) => {
  const prototype = Object.getPrototypeOf(node);
  return prototype === Object.prototype || prototype === null;
};

/** The parse tree with each of the request's value objects replaced by a marker naming it; undefined if not plain. */
const toTemplate = (node, names) => {
  if (node === null || typeof node !== 'object') return node;
  const name = names.get(node);
  if (name !== undefined) return { [VALUE]: name };
  if (Array.isArray(node)) {
    const copy = new Array(node.length);
    for (let i = 0; i < node.length; i++) {
      const item = toTemplate(node[i], names);
      if (item === undefined && node[i] !== undefined) return undefined;
      copy[i] = item;
    }
    return copy;
  }
  if (!isPlain(node)) return undefined;
  const copy = Object.getPrototypeOf(node) === null ? Object.create(null) : {};
  for (const key of Object.keys(node)) {
    const item = toTemplate(node[key], names);
    if (item === undefined && node[key] !== undefined) return undefined;
    copy[key] = item;
  }
  return copy;
};

/** A fresh tree from a template, with this request's value objects where the markers are. */
const fromTemplate = (node, values) => {
  if (node === null || typeof node !== 'object') return node;
  if (Array.isArray(node)) {
    const copy = new Array(node.length);
    for (let i = 0; i < node.length; i++) copy[i] = fromTemplate(node[i], values);
    return copy;
  }
  if (VALUE in node) return values[node[VALUE]];
  const copy = Object.getPrototypeOf(node) === null ? Object.create(null) : {};
  for (const key of Object.keys(node)) copy[key] = fromTemplate(node[key], values);
  return copy;
};

/** `parse(text, { context })` that reuses what an earlier parse of the same text, names and value types gave. */
export const cachingParse = (parse, size = PARSE_CACHE_SIZE) => {
  const cache = new Map();
  const cachingParse = (text, options) => {
    const context = options?.context;
    if (typeof text !== 'string' || context == null || UNCACHEABLE.test(text)) return parse(text, options);
    const key = `${text}\u0000${JSON.stringify(context.attrNames ?? null)}\u0000${valueTypes(context.attrVals)}`;
    const hit = cache.get(key);
    if (hit !== undefined) {
      // Most recently used last: expressions whose names change with each request (a proof's `jti`) pass through
      // without pushing out the ones every request sends.
      cache.delete(key);
      cache.set(key, hit);
      for (const name of hit.usedNames) delete context.unusedAttrNames?.[name];
      for (const name of hit.usedValues) delete context.unusedAttrVals?.[name];
      return fromTemplate(hit.template, context.attrVals ?? {});
    }
    // Parse with every name and value marked unused, to learn which ones this expression uses whatever the
    // request's other expressions used before it.
    const allNames = Object.fromEntries(Object.keys(context.attrNames ?? {}).map((name) => [name, true]));
    const allValues = Object.fromEntries(Object.keys(context.attrVals ?? {}).map((name) => [name, true]));
    const tree = parse(text, {
      ...options,
      context: { ...context, unusedAttrNames: allNames, unusedAttrVals: allValues },
    });
    const usedNames = Object.keys(context.attrNames ?? {}).filter((name) => !(name in allNames));
    const usedValues = Object.keys(context.attrVals ?? {}).filter((name) => !(name in allValues));
    for (const name of usedNames) delete context.unusedAttrNames?.[name];
    for (const name of usedValues) delete context.unusedAttrVals?.[name];
    if (tree === null || typeof tree !== 'object') return tree;
    const values = new Map();
    for (const name of Object.keys(context.attrVals ?? {})) {
      const value = context.attrVals[name];
      if (value !== null && typeof value === 'object') values.set(value, name);
    }
    const template = toTemplate(tree, values);
    if (template !== undefined) {
      if (cache.size >= size) cache.delete(cache.keys().next().value);
      cache.set(key, { template, usedNames, usedValues });
    }
    return tree;
  };
  return cachingParse;
};

/** Puts the cache in front of dynalite's three expression parsers (its validations call `parser.parse`). */
export const cacheExpressionParses = (dynalitePath) => {
  const fromDynalite = createRequire(dynalitePath);
  for (const module of ['./db/conditionParser', './db/updateParser', './db/projectionParser']) {
    const parser = fromDynalite(module);
    if (parser.parse.cached) continue;
    const original = parser.parse;
    const parse = cachingParse(original.bind(parser));
    parse.cached = true;
    parse.original = original;
    parser.parse = parse;
  }
};
