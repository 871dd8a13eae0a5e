import { isDeepStrictEqual } from 'node:util';
import * as z from 'zod';
import { InvalidAuthorizationDetails, InvalidRequest } from '../errors.ts';
import { parseJsonInput } from '../json-input.ts';
import type { Client, Tenant } from '../model.ts';
import { checkDisplayTemplate, schemaOf } from './display-template.ts';

/**
 * RFC 9396 Rich Authorization Requests. A tenant registers its types (setting `authorization_details_types`:
 * `{"<type>": <JSON schema of one element>}`); each schema is compiled once with zod's JSON-schema importer
 * (JSON Schema draft 2020-12 minus `if/then/else`, `not`, `dependent*`, `unevaluated*` and external `$ref`, which
 * are refused when the tenant is saved). A type may carry a `display` template beside its schema keywords
 * (lib/oauth/display-template.ts), taken out before the schema is compiled.
 */
const MAX_TYPES = 50;
const MAX_SCHEMA_BYTES = 16 * 1024;
const MAX_ELEMENTS = 20;
const TYPE_NAME = /^[\x21-\x7e]{1,200}$/;

const compiled = new Map<string, z.ZodType>();

const compile = (schema: Record<string, unknown>): z.ZodType => {
  const key = JSON.stringify(schema);
  let out = compiled.get(key);
  if (!out) {
    out = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
    if (compiled.size > 1000) compiled.clear();
    compiled.set(key, out);
  }
  return out;
};

/** Checks the tenant setting; every problem is 400 invalid_request naming the type. */
export const validateAuthorizationDetailsTypes = (
  types: Record<string, Record<string, unknown>>,
): Record<string, Record<string, unknown>> => {
  const names = Object.keys(types);
  if (names.length > MAX_TYPES) throw new InvalidRequest(`authorization_details_types: at most ${MAX_TYPES} types`);
  for (const name of names) {
    const schema = types[name]!;
    if (!TYPE_NAME.test(name)) throw new InvalidRequest(`authorization_details_types: invalid type name ${name}`);
    if (JSON.stringify(schema).length > MAX_SCHEMA_BYTES) {
      throw new InvalidRequest(`authorization_details_types.${name}: the schema exceeds ${MAX_SCHEMA_BYTES} bytes`);
    }
    if (schema.type !== 'object') {
      throw new InvalidRequest(
        `authorization_details_types.${name}: the schema must describe an object ("type": "object")`,
      );
    }
    try {
      compile(schemaOf(schema));
    } catch (error) {
      throw new InvalidRequest(
        `authorization_details_types.${name}: unsupported JSON schema: ${error instanceof Error ? error.message : 'invalid'}`,
      );
    }
    if (schema.display !== undefined) checkDisplayTemplate(name, schemaOf(schema), schema.display);
  }
  return types;
};

/** Discovery: the types the tenant accepts. */
export const authorizationDetailsTypesSupported = (tenant: Tenant): string[] =>
  Object.keys(tenant.settings.authorizationDetailsTypes ?? {});

/** The parameter's JSON, through the one validation step for JSON input (hardening rule 4). */
const parseArray = (raw: string): unknown[] => {
  const value = parseJsonInput(raw, {
    what: 'authorization_details',
    invalid: InvalidAuthorizationDetails,
    malformed: InvalidAuthorizationDetails,
  });
  if (!Array.isArray(value) || value.length === 0) {
    throw new InvalidAuthorizationDetails('authorization_details must be a non-empty JSON array');
  }
  if (value.length > MAX_ELEMENTS)
    throw new InvalidAuthorizationDetails(`at most ${MAX_ELEMENTS} authorization_details`);
  return value;
};

/**
 * RFC 9396 §2, §5: a JSON array of objects, each with a `type` the tenant registered and the client may use, valid
 * against that type's schema. Returns the parsed array (as sent: the schema decides what is allowed, nothing is
 * dropped or coerced), or undefined when the parameter is absent.
 */
export const parseAuthorizationDetails = (
  tenant: Tenant,
  client: Client,
  raw: string | undefined,
): unknown[] | undefined => {
  if (raw === undefined) return undefined;
  const details = parseArray(raw);
  const types = tenant.settings.authorizationDetailsTypes ?? {};
  details.forEach((element, i) => {
    if (!element || typeof element !== 'object' || Array.isArray(element)) {
      throw new InvalidAuthorizationDetails(`authorization_details[${i}] is not an object`);
    }
    const type = (element as Record<string, unknown>).type;
    if (typeof type !== 'string')
      throw new InvalidAuthorizationDetails(`authorization_details[${i}] has no string type`);
    const schema = Object.hasOwn(types, type) ? types[type] : undefined;
    if (!schema) throw new InvalidAuthorizationDetails(`authorization_details type ${type} is not supported`);
    if (client.authorizationDetailsTypes && !client.authorizationDetailsTypes.includes(type)) {
      throw new InvalidAuthorizationDetails(`authorization_details type ${type} is not allowed for this client`);
    }
    const result = compile(schemaOf(schema)).safeParse(element);
    if (!result.success) {
      const problem = z.prettifyError(result.error).replace(/\n+/g, '; ').replace(/✖ /g, '');
      throw new InvalidAuthorizationDetails(`authorization_details[${i}] (${type}) is invalid: ${problem}`);
    }
  });
  return details;
};

/**
 * RFC 9396 §6: a refresh request may ask for the granted authorization details or fewer of them, never more.
 * Absent: all that were granted.
 */
export const grantedSubset = (granted: unknown[] | undefined, raw: string | undefined): unknown[] | undefined => {
  if (raw === undefined) return granted;
  const requested = parseArray(raw);
  for (const element of requested) {
    if (!(granted ?? []).some((g) => isDeepStrictEqual(g, element))) {
      throw new InvalidAuthorizationDetails('authorization_details exceed what was granted');
    }
  }
  return requested;
};
