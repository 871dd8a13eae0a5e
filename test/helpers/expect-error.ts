import { expect } from 'vitest';

export interface HttpAnswer {
  status: number;
  body: any;
  headers: Headers;
}

/** fetch's Headers, or a node:http(s) header record (tlsRequest). */
type AnyHeaders = Headers | Record<string, string | string[] | undefined>;

const contentType = (headers: AnyHeaders): string | null | undefined =>
  headers instanceof Headers ? headers.get('content-type') : ([headers['content-type']].flat()[0] ?? null);

/**
 * RFC 6749 §5.2: an error answer is JSON `{error, error_description?, error_uri?}` and nothing else, the
 * description in the RFC 6749 §5.2 character set.
 */
export const expectError = (
  res: { status: number; body: any; headers: AnyHeaders },
  status: number,
  error: string,
  label = '',
) => {
  expect(res.status, `${label} status (body ${JSON.stringify(res.body)})`).toBe(status);
  expect(contentType(res.headers), `${label} content-type`).toMatch(/^application\/json/);
  expect(res.body?.error, `${label} error`).toBe(error);
  expect(Object.keys(res.body).filter((k) => !['error', 'error_description', 'error_uri'].includes(k))).toEqual([]);
  if (res.body.error_description !== undefined) {
    expect(res.body.error_description).toMatch(/^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/);
  }
};

/** A request with full control over the bytes; the answer's body parsed when it is JSON. */
export const rawRequest = async (
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string | Uint8Array<ArrayBuffer> } = {},
): Promise<HttpAnswer & { text: string }> => {
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    headers: init.headers ?? {},
    ...(init.body !== undefined ? { body: init.body } : {}),
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = { unparsable: text };
  }
  return { status: res.status, body, headers: res.headers, text };
};
