import type { CliContext } from './context.ts';

/** A non-2xx answer (or no answer) from the service, with its OAuth-style error. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description?: string,
  ) {
    super(description ? `${error}: ${description}` : error);
  }
}

export interface OutgoingRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

/** No answer at all: the service at `origin` could not be reached. */
export class NetworkError extends ApiError {
  constructor(
    readonly origin: string,
    readonly reason: string,
  ) {
    super(0, 'network_error', `cannot reach ${origin} (${reason})`);
  }
}

/** Adds authentication headers to a request (bearer token, SigV4, client credentials). */
export type Authorizer = (request: OutgoingRequest) => Promise<Record<string, string>>;

export interface Answer<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

export interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Sent as `application/json`. */
  json?: unknown;
  /** Sent as `application/x-www-form-urlencoded`. */
  form?: URLSearchParams;
  auth?: Authorizer;
}

/** Sends a request and parses a JSON answer; never throws on HTTP status, only when the service is unreachable. */
export const send = async <T = unknown>(
  ctx: Pick<CliContext, 'fetch'>,
  url: string,
  options: SendOptions = {},
): Promise<Answer<T>> => {
  const method = options.method ?? (options.json !== undefined || options.form ? 'POST' : 'GET');
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  let body: string | undefined;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = options.form.toString();
  }
  const request: OutgoingRequest = { method, url, headers, ...(body !== undefined ? { body } : {}) };
  if (options.auth) Object.assign(headers, await options.auth(request));
  let response: Response;
  try {
    response = await ctx.fetch(url, { method, headers, ...(body !== undefined ? { body } : {}), redirect: 'manual' });
  } catch (cause) {
    const inner = (cause as { cause?: { code?: string; message?: string; errors?: { code?: string }[] } }).cause;
    const reason = inner?.code ?? inner?.errors?.[0]?.code ?? inner?.message ?? (cause as Error).message;
    throw new NetworkError(new URL(url).origin, String(reason));
  }
  const text = await response.text();
  let parsed: unknown = text;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
  } else {
    parsed = undefined;
  }
  return { status: response.status, headers: response.headers, body: parsed as T };
};

/** The ApiError for a failed answer. */
export const apiErrorOf = (answer: Answer): ApiError => {
  const b = typeof answer.body === 'object' && answer.body !== null ? (answer.body as Record<string, unknown>) : {};
  if (typeof b['error'] === 'string') {
    return new ApiError(
      answer.status,
      b['error'],
      typeof b['error_description'] === 'string' ? b['error_description'] : undefined,
    );
  }
  const text = typeof answer.body === 'string' ? `: ${answer.body.slice(0, 200)}` : '';
  return new ApiError(answer.status, 'unexpected_response', `HTTP ${answer.status}${text}`);
};

/** Sends a request and returns the parsed body of a 2xx answer; throws ApiError otherwise. */
export const request = async <T = unknown>(
  ctx: Pick<CliContext, 'fetch'>,
  url: string,
  options: SendOptions = {},
): Promise<T> => {
  const answer = await send<T>(ctx, url, options);
  if (answer.status < 200 || answer.status >= 300) throw apiErrorOf(answer);
  return answer.body;
};

export const bearer =
  (token: string): Authorizer =>
  async () => ({ authorization: `Bearer ${token}` });
