import * as z from 'zod';
import { displayStringProblem } from '../display-string.ts';
import { InvalidAuthorizationDetails, InvalidRequest } from '../errors.ts';
import type { DetailDisplay, DisplayField } from '../model.ts';

/**
 * What the user reads about an `authorization_details` element (RFC 9396): a title and labelled fields, rendered by
 * the service from the type's display template, or generically from the element's members when the type has none.
 * The device shows these strings as they are; every one passes the display-string rules (hardening rule 5), so a
 * payee name with a bidi override is refused at bc-authorize (`invalid_authorization_details`), never shown.
 *
 * A template is registered with the type, beside its JSON schema (tenant setting `authorization_details_types`):
 *
 * ```json
 * {"payment_initiation": {"type": "object", "properties": {...},
 *   "display": {"title": "Pay {instructedAmount.amount} {instructedAmount.currency} to {creditorName}",
 *               "fields": [{"label": "From account", "value": "{debtorAccount.iban}"}]}}}
 * ```
 *
 * Placeholders are JSON paths into the element (`{a.b}`, `{items.0.name}`), nothing else: no formatting, no
 * conditions. A path must be one the type's schema declares (checked when the tenant is saved); a value that is
 * absent, null, empty or not a string, number or boolean renders as an em dash, and a field that is nothing but such
 * a placeholder is left out (an optional member the request does not carry shows no empty row).
 */

export interface DisplayTemplate {
  title: string;
  fields?: DisplayField[];
}

/** Fields of one template. */
export const MAX_DISPLAY_FIELDS = 10;
/** Lengths in grapheme clusters: what fits a phone's line or two. */
export const MAX_TITLE_LENGTH = 120;
export const MAX_LABEL_LENGTH = 64;
export const MAX_VALUE_LENGTH = 256;
/** A generic rendering lists at most this many values, then says how many more the request holds. */
const MAX_GENERIC_FIELDS = 30;
const MAX_GENERIC_DEPTH = 5;

/** What stands for a value that is absent, null, or not a string, number or boolean. */
export const MISSING_VALUE = '—';

const SEGMENT = '[A-Za-z0-9_$-]+';
const PLACEHOLDER = new RegExp(`\\{(${SEGMENT}(?:\\.${SEGMENT})*)\\}`, 'g');

const TemplateShape = z.strictObject({
  title: z.string().min(1).max(512),
  fields: z
    .array(z.strictObject({ label: z.string().min(1).max(256), value: z.string().min(1).max(512) }))
    .max(MAX_DISPLAY_FIELDS, `at most ${MAX_DISPLAY_FIELDS} fields`)
    .optional(),
});

type Schema = Record<string, unknown>;

const isObject = (value: unknown): value is Schema =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A local `$ref` (`#/$defs/x`, `#/definitions/x`) resolved in the root schema; others stay unresolved. */
const resolve = (schema: Schema, root: Schema, seen = 0): Schema => {
  const ref = schema.$ref;
  if (typeof ref !== 'string' || !ref.startsWith('#/') || seen > 20) return schema;
  let target: unknown = root;
  for (const part of ref.slice(2).split('/')) {
    target = isObject(target) ? target[part.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
  }
  return isObject(target) ? resolve(target, root, seen + 1) : schema;
};

const branches = (schema: Schema): Schema[] =>
  (['allOf', 'anyOf', 'oneOf'] as const).flatMap((k) => (Array.isArray(schema[k]) ? schema[k].filter(isObject) : []));

/** A value a placeholder may name: not declared as an object or array only. */
const isScalarSchema = (schema: Schema): boolean => {
  const types = schema.type === undefined ? [] : [schema.type].flat();
  return types.length === 0 || types.some((t) => t !== 'object' && t !== 'array');
};

/** Whether the schema declares the path (through `properties`, `items`, `prefixItems`, local `$ref`s and combinators). */
const declares = (schema: Schema, path: string[], root: Schema): boolean => {
  const s = resolve(schema, root);
  if (path.length === 0) return isScalarSchema(s);
  const [head, ...rest] = path as [string, ...string[]];
  if (branches(s).some((b) => declares(b, path, root))) return true;
  if (isObject(s.properties) && Object.hasOwn(s.properties, head) && isObject(s.properties[head])) {
    if (declares(s.properties[head], rest, root)) return true;
  }
  if (/^\d+$/.test(head)) {
    const i = Number(head);
    if (Array.isArray(s.prefixItems) && isObject(s.prefixItems[i]) && declares(s.prefixItems[i], rest, root)) {
      return true;
    }
    if (isObject(s.items) && declares(s.items, rest, root)) return true;
  }
  return false;
};

const placeholders = (text: string): string[] => [...text.matchAll(PLACEHOLDER)].map((m) => m[1]!);

/** `{a.b}` and nothing else. */
const isLonePlaceholder = (text: string): boolean => {
  const [match, ...more] = [...text.matchAll(PLACEHOLDER)];
  return match !== undefined && more.length === 0 && match[0] === text;
};

/**
 * Checks a type's `display` template when the tenant is saved: its shape, at most 10 fields, literal text that is
 * safe to show, no brace that is not a placeholder, and placeholders the type's schema declares. Every problem is
 * 400 invalid_request naming the type.
 */
export const checkDisplayTemplate = (type: string, schema: Schema, display: unknown): DisplayTemplate => {
  const where = `authorization_details_types.${type}.display`;
  const parsed = TemplateShape.safeParse(display);
  if (!parsed.success) {
    throw new InvalidRequest(`${where}: ${z.prettifyError(parsed.error).replace(/\n+/g, '; ').replace(/✖ /g, '')}`);
  }
  const template = parsed.data;
  const texts: [string, string, boolean, number][] = [
    ['title', template.title, true, MAX_TITLE_LENGTH],
    ...(template.fields ?? []).flatMap((f, i): [string, string, boolean, number][] => [
      [`fields[${i}].label`, f.label, false, MAX_LABEL_LENGTH],
      [`fields[${i}].value`, f.value, true, MAX_VALUE_LENGTH],
    ]),
  ];
  for (const [name, text, mayHoldPlaceholders, max] of texts) {
    const literal = text.replace(PLACEHOLDER, mayHoldPlaceholders ? 'x' : '{}');
    if (/[{}]/.test(literal)) {
      throw new InvalidRequest(
        mayHoldPlaceholders
          ? `${where}.${name}: braces only enclose placeholders, {a.b} (letters, digits, _ $ - and dots)`
          : `${where}.${name}: a label is plain text, without placeholders or braces`,
      );
    }
    const problem = displayStringProblem(literal.normalize('NFC'), 'the text', max);
    if (problem) throw new InvalidRequest(`${where}.${name}: ${problem}`);
    for (const path of mayHoldPlaceholders ? placeholders(text) : []) {
      if (!declares(schema, path.split('.'), schema)) {
        throw new InvalidRequest(
          `${where}.${name}: {${path}} is not a string, number or boolean member that the type's schema declares`,
        );
      }
    }
  }
  return template;
};

const valueAt = (detail: unknown, path: string): string => {
  let value: unknown = detail;
  for (const segment of path.split('.')) {
    if (Array.isArray(value) && /^\d+$/.test(segment)) value = value[Number(segment)];
    else if (isObject(value) && Object.hasOwn(value, segment)) value = value[segment];
    else return MISSING_VALUE;
  }
  return (typeof value === 'string' && value !== '') || typeof value === 'number' || typeof value === 'boolean'
    ? String(value)
    : MISSING_VALUE;
};

const fill = (template: string, detail: unknown): string =>
  template.replace(PLACEHOLDER, (_, path: string) => valueAt(detail, path)).normalize('NFC');

/** `payment_initiation` → `Payment initiation`, `creditorName` → `Creditor name`. */
export const humanize = (key: string): string => {
  // A URI or other name that is not an identifier is shown as it is.
  if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(key)) return key;
  const words = key
    .replace(/[_-]+/g, ' ')
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/\s+/g, ' ')
    .trim();
  if (!words) return key;
  return words.charAt(0).toUpperCase() + words.slice(1).replace(/\b([A-Z])(?=[a-z])/g, (c) => c.toLowerCase());
};

const clip = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** Every scalar member as a labelled field (nested names joined with ›), arrays of scalars as one list. */
const genericFields = (detail: Record<string, unknown>): DisplayField[] => {
  const fields: DisplayField[] = [];
  let hidden = 0;
  const visit = (value: unknown, label: string[], depth: number) => {
    const push = (text: string) => {
      if (fields.length < MAX_GENERIC_FIELDS) {
        fields.push({ label: clip(label.join(' › ') || 'Value', MAX_LABEL_LENGTH), value: text.normalize('NFC') });
      } else hidden++;
    };
    if (value === null || typeof value !== 'object')
      return push(value === null || value === '' ? MISSING_VALUE : String(value));
    if (depth >= MAX_GENERIC_DEPTH) return push(JSON.stringify(value));
    if (Array.isArray(value)) {
      if (value.every((v) => v === null || typeof v !== 'object')) {
        return push(
          value.length ? value.map((v) => (v === null ? MISSING_VALUE : String(v))).join(', ') : MISSING_VALUE,
        );
      }
      for (const [i, v] of value.entries()) visit(v, [...label, String(i + 1)], depth + 1);
      return;
    }
    for (const [key, member] of Object.entries(value)) visit(member, [...label, humanize(key)], depth + 1);
  };
  for (const [key, member] of Object.entries(detail)) {
    if (key !== 'type') visit(member, [humanize(key)], 1);
  }
  if (hidden > 0)
    fields.push({ label: 'More', value: `${hidden} more value${hidden === 1 ? '' : 's'} in this request` });
  return fields;
};

/**
 * Renders each element of a request's (already validated) `authorization_details` for the device, in order: by its
 * type's template, or generically. Every rendered string must be safe to show; otherwise 400
 * invalid_authorization_details naming the element and the string.
 */
export const renderDetailDisplays = (
  details: unknown[],
  types: Record<string, Record<string, unknown>>,
): DetailDisplay[] =>
  details.map((element, i) => {
    const detail = element as Record<string, unknown>;
    const type = String(detail.type);
    const registered = Object.hasOwn(types, type) ? types[type] : undefined;
    const template = registered?.display as DisplayTemplate | undefined;
    const display: DetailDisplay = template
      ? {
          type,
          title: fill(template.title, detail),
          fields: (template.fields ?? [])
            .filter((f) => !isLonePlaceholder(f.value) || valueAt(detail, f.value.slice(1, -1)) !== MISSING_VALUE)
            .map((f) => ({ label: f.label, value: fill(f.value, detail) })),
        }
      : { type, title: clip(humanize(type), MAX_TITLE_LENGTH), fields: genericFields(detail) };
    const check = (text: string, name: string, max: number) => {
      const problem = displayStringProblem(text, name, max);
      if (problem) throw new InvalidAuthorizationDetails(`authorization_details[${i}] (${type}): ${problem}`);
    };
    check(display.title, 'the display title', MAX_TITLE_LENGTH);
    display.fields.forEach((field, j) => {
      check(field.label, `the label of display field ${j + 1}`, MAX_LABEL_LENGTH);
      check(field.value, `the value of display field ${j + 1}`, MAX_VALUE_LENGTH);
    });
    return display;
  });

/** A type's schema without its display template (`display` is not a JSON Schema keyword). */
export const schemaOf = (registered: Record<string, unknown>): Record<string, unknown> => {
  const { display: _display, ...schema } = registered;
  return schema;
};
