/**
 * EventBridge event patterns and input transformers, as the EventBridge user guide defines them ("Event patterns",
 * "Content filtering", "Input transformation"). No package on the registry implements them, so this is a focused
 * implementation of what EventBridge documents, with tests of its own (test/aws/event-pattern.test.ts).
 *
 * Patterns: exact values (strings, numbers, booleans, null), `prefix`, `suffix` (each optionally
 * `equals-ignore-case`), `equals-ignore-case`, `anything-but` (a value, a list, or `{prefix}`/`{suffix}`), `numeric`
 * (comparisons and ranges), `exists`, `wildcard`, `cidr` (IPv4), nested objects and `$or`. An array in the event
 * matches when any of its elements matches.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const isObject = (v: unknown): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

const wildcard = (pattern: string, value: string): boolean => {
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
    's',
  );
  return re.test(value);
};

const ipv4 = (ip: string): number | undefined => {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  return (((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!) >>> 0;
};

const numeric = (ops: Json[], value: Json): boolean => {
  if (typeof value !== 'number') return false;
  for (let i = 0; i < ops.length; i += 2) {
    const op = ops[i] as string;
    const bound = ops[i + 1] as number;
    const ok = {
      '=': value === bound,
      '<': value < bound,
      '<=': value <= bound,
      '>': value > bound,
      '>=': value >= bound,
    }[op];
    if (!ok) return false;
  }
  return true;
};

/** One pattern item (a literal or a content filter) against one scalar event value. */
const matchItem = (item: Json, value: Json | undefined): boolean => {
  if (!isObject(item)) return value !== undefined && item === value;
  const [[filter, arg]] = Object.entries(item) as [[string, Json]];
  if (filter === 'exists') return arg ? value !== undefined : value === undefined;
  if (value === undefined) return filter === 'anything-but';
  switch (filter) {
    case 'prefix':
      if (isObject(arg))
        return (
          typeof value === 'string' && value.toLowerCase().startsWith(String(arg['equals-ignore-case']).toLowerCase())
        );
      return typeof value === 'string' && value.startsWith(String(arg));
    case 'suffix':
      if (isObject(arg))
        return (
          typeof value === 'string' && value.toLowerCase().endsWith(String(arg['equals-ignore-case']).toLowerCase())
        );
      return typeof value === 'string' && value.endsWith(String(arg));
    case 'equals-ignore-case':
      return typeof value === 'string' && value.toLowerCase() === String(arg).toLowerCase();
    case 'wildcard':
      return typeof value === 'string' && wildcard(String(arg), value);
    case 'numeric':
      return numeric(arg as Json[], value);
    case 'cidr': {
      const [net, bits] = String(arg).split('/');
      const a = ipv4(String(value));
      const n = ipv4(net!);
      if (a === undefined || n === undefined) return false;
      const mask = Number(bits) === 0 ? 0 : (~0 << (32 - Number(bits))) >>> 0;
      return (a & mask) === (n & mask);
    }
    case 'anything-but': {
      if (isObject(arg)) {
        if ('prefix' in arg) return !(typeof value === 'string' && value.startsWith(String(arg.prefix)));
        if ('suffix' in arg) return !(typeof value === 'string' && value.endsWith(String(arg.suffix)));
        if ('equals-ignore-case' in arg) {
          const list = [arg['equals-ignore-case']].flat().map((v) => String(v).toLowerCase());
          return !(typeof value === 'string' && list.includes(value.toLowerCase()));
        }
        throw new Error(`unsupported anything-but filter ${JSON.stringify(arg)}`);
      }
      return ![arg].flat().includes(value);
    }
    default:
      throw new Error(`unsupported event pattern filter ${filter}`);
  }
};

/** Does `event` match `pattern`? */
export const matchesPattern = (pattern: Record<string, Json>, event: Json | undefined): boolean =>
  Object.entries(pattern).every(([key, expected]) => {
    if (key === '$or')
      return (expected as Record<string, Json>[]).some((alternative) => matchesPattern(alternative, event));
    const value = isObject(event) ? event[key] : undefined;
    if (isObject(expected)) {
      if (Array.isArray(value)) return value.some((v) => matchesPattern(expected, v));
      return matchesPattern(expected, value);
    }
    if (!Array.isArray(expected)) throw new Error(`event pattern field ${key} must be an array or an object`);
    const values = Array.isArray(value) ? value : [value];
    return expected.some((item) =>
      isObject(item) && ('exists' in item || 'anything-but' in item)
        ? Array.isArray(value)
          ? value.some((v) => matchItem(item, v)) || (value.length === 0 && matchItem(item, undefined))
          : matchItem(item, value)
        : values.some((v) => v !== undefined && matchItem(item, v)),
    );
  });

/** A JSONPath of the simple form EventBridge accepts in InputPath and InputPathsMap: `$`, `$.a.b`, `$.a[0]`. */
export const selectPath = (event: Json, path: string): Json | undefined => {
  if (path === '$') return event;
  if (!path.startsWith('$.')) throw new Error(`unsupported JSONPath ${path}`);
  let current: Json | undefined = event;
  for (const part of path.slice(2).split('.')) {
    const m = /^([^[\]]+)((?:\[\d+\])*)$/.exec(part);
    if (!m) throw new Error(`unsupported JSONPath ${path}`);
    current = isObject(current) ? current[m[1]!] : undefined;
    for (const index of m[2]!.matchAll(/\[(\d+)\]/g)) {
      current = Array.isArray(current) ? current[Number(index[1])] : undefined;
    }
  }
  return current;
};

/**
 * An input transformer's output. Placeholders `<name>` take the values of InputPathsMap and the reserved
 * `aws.events.*` variables. Inside a JSON string the value is inserted as text; elsewhere as JSON. A path that
 * selects nothing gives `null` (as JSON) or nothing (inside a string).
 */
export const transformInput = (
  transformer: { InputPathsMap?: Record<string, string>; InputTemplate: string },
  event: Json,
  rule: { arn: string; name: string; ingestionTime: string },
): string => {
  const values: Record<string, Json | undefined> = {
    'aws.events.event': event,
    'aws.events.event.json': event,
    'aws.events.rule-arn': rule.arn,
    'aws.events.rule-name': rule.name,
    'aws.events.event.ingestion-time': rule.ingestionTime,
  };
  for (const [name, path] of Object.entries(transformer.InputPathsMap ?? {})) values[name] = selectPath(event, path);
  let out = '';
  let inString = false;
  const template = transformer.InputTemplate;
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (c === '"' && template[i - 1] !== '\\') inString = !inString;
    const m = c === '<' ? /^<([A-Za-z0-9_.-]+)>/.exec(template.slice(i)) : null;
    if (m && m[1]! in values) {
      const value = values[m[1]!];
      if (inString)
        out +=
          typeof value === 'string'
            ? JSON.stringify(value).slice(1, -1)
            : value === undefined
              ? ''
              : JSON.stringify(value);
      else out += value === undefined ? 'null' : JSON.stringify(value);
      i += m[0].length - 1;
      continue;
    }
    out += c;
  }
  return out;
};
