/** At most this many parsed expressions are kept per parser; the least recently used goes first. */
export const PARSE_CACHE_SIZE: number;

/** `CIBA_DYNALITE_PARSE_CACHE`: `on` when unset, or `off`; anything else throws, naming the variable. */
export function parseCacheSetting(value: string | undefined): 'on' | 'off';

/** A dynalite expression parser's `parse(text, { context })`. */
export type ExpressionParse = (text: string, options: { context: Record<string, unknown> }) => unknown;

/** `parse` that reuses what an earlier parse of the same text, names and value types gave. */
export function cachingParse(parse: ExpressionParse, size?: number): ExpressionParse;

/** Puts the cache in front of dynalite's three expression parsers. */
export function cacheExpressionParses(dynalitePath: string): void;
