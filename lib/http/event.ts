import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { InvalidRequest, NotFound, type WireErrorClass } from '../errors.ts';
import { parseJsonInput } from '../json-input.ts';
import type { RuntimeConfig } from '../ports.ts';
import { isValidTenantId } from './routes.ts';

/** Request bodies over 64 KB are 413 invalid_request (SECURITY.md, "Hostile input"). */
export const MAX_BODY_BYTES = 64 * 1024;

export type HttpEvent = APIGatewayProxyEventV2;

/** API Gateway v2 lower-cases header names and joins repeated headers with commas. */
export const header = (event: HttpEvent, name: string): string | undefined => event.headers?.[name.toLowerCase()];

export const pathParam = (event: HttpEvent, name: string): string => {
  const value = event.pathParameters?.[name];
  if (value === undefined || value === '') throw new InvalidRequest(`missing path parameter ${name}`);
  return value;
};

/** The tenant from the path; every lookup is scoped by it. */
export const tenantParam = (event: HttpEvent): string => {
  const tenant = event.pathParameters?.tenant ?? '';
  if (!isValidTenantId(tenant)) throw new NotFound('unknown tenant');
  return tenant;
};

export const bodyBytes = (event: HttpEvent): Buffer => {
  if (!event.body) return Buffer.alloc(0);
  const bytes = event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
  if (bytes.length > MAX_BODY_BYTES)
    throw new InvalidRequest(`request body exceeds ${MAX_BODY_BYTES} bytes`, { status: 413 });
  return bytes;
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The body as text. Bytes that are not UTF-8 are refused rather than replaced by U+FFFD and stored. */
const bodyText = (bytes: Buffer): string => {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new InvalidRequest('the request body is not valid UTF-8');
  }
};

const mediaType = (event: HttpEvent): string =>
  (header(event, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();

/**
 * An application/x-www-form-urlencoded body as a flat record. RFC 6749 §3.1: parameters without a value
 * are treated as omitted, and a parameter sent more than once is invalid_request (CIBA §13).
 */
export const formBody = (event: HttpEvent): Record<string, string> => {
  let form = parsedForms.get(event);
  if (!form) {
    form = parseForm(event);
    parsedForms.set(event, form);
  }
  return form;
};

/** Each event's form, parsed once (the token function's transient answer looks at it again). */
const parsedForms = new WeakMap<HttpEvent, Record<string, string>>();

const parseForm = (event: HttpEvent): Record<string, string> => {
  const bytes = bodyBytes(event);
  if (mediaType(event) !== 'application/x-www-form-urlencoded') {
    throw new InvalidRequest('the request body must be application/x-www-form-urlencoded');
  }
  const params = new URLSearchParams(bodyText(bytes));
  const form: Record<string, string> = {};
  const seen = new Set<string>();
  for (const [key, value] of params) {
    if (seen.has(key)) throw new InvalidRequest(`parameter ${key} is included more than once`);
    seen.add(key);
    if (value !== '') form[key] = value;
  }
  return form;
};

/**
 * A JSON body (admin and device APIs, the console), through the one validation step for JSON input
 * (lib/json-input.ts): hostile keys and numbers are the endpoint's 400 (`invalid`, invalid_request unless the
 * endpoint has its own code), before anything is stored or spent. An empty body is an empty object.
 */
export const jsonBody = (event: HttpEvent, invalid: WireErrorClass = InvalidRequest): unknown => {
  const bytes = bodyBytes(event);
  if (bytes.length === 0) return {};
  if (mediaType(event) !== 'application/json') throw new InvalidRequest('the request body must be application/json');
  return parseJsonInput(bodyText(bytes), { what: 'the request body', invalid });
};

/**
 * The base URL as the caller sees it. CIBA_PUBLIC_URL decides behind a proxy; otherwise API Gateway's
 * domain name (always https in AWS) or the local Host header.
 */
export const baseUrl = (event: HttpEvent, config: RuntimeConfig): string => {
  if (config.publicUrl) return config.publicUrl;
  const host = event.requestContext?.domainName || header(event, 'host') || '127.0.0.1';
  const scheme = config.capabilities.requestScheme;
  return `${scheme}://${host}`;
};

export const issuerOf = (event: HttpEvent, config: RuntimeConfig, tenantId: string): string =>
  `${baseUrl(event, config)}/${tenantId}`;

/** The URL of this request without query, as the caller sees it (the DPoP `htu`). */
export const requestUrl = (event: HttpEvent, config: RuntimeConfig): string =>
  `${baseUrl(event, config)}${event.rawPath}`;
