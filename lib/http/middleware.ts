import middy, { type MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyResultV2 } from 'aws-lambda';
import { SlowDown, TemporarilyUnavailable, WireError } from '../errors.ts';
import { CIBA_GRANT_TYPE } from '../model.ts';
import type { Logger } from '../ports.ts';
import type { HttpEvent } from './event.ts';
import { type HttpResult, json } from './response.ts';
import { isTransientError, TRANSIENT_RETRY_AFTER_SECONDS } from './transient.ts';

const SECURITY_HEADERS: Record<string, string> = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

const withSecurityHeaders = (response: HttpResult): HttpResult => ({
  ...response,
  headers: { ...SECURITY_HEADERS, 'Cache-Control': 'no-store', ...response.headers },
});

/** CIBA §11: slow_down asks the client to add 5 s to its interval; Retry-After says the same. */
const SLOW_DOWN_RETRY_AFTER_SECONDS = 5;

const isCibaPoll = (event: HttpEvent | undefined): boolean => {
  if (!event?.routeKey?.endsWith(' /{tenant}/oauth/token') || !event.body) return false;
  try {
    const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
    return new URLSearchParams(text).get('grant_type') === CIBA_GRANT_TYPE;
  } catch {
    return false;
  }
};

/**
 * The answer to a transient failure of a dependency (lib/http/transient.ts): retryable, never a 500. At the token
 * endpoint a CIBA poll gets `400 slow_down` with Retry-After: it is the one answer that makes a conformant client
 * (openid-client, RFC 6749 clients) keep polling, a little slower, where a 5xx makes it give up; nothing of the
 * request is lost (a failed redemption is restored, poll-ciba-grant.ts). Everywhere else `503
 * temporarily_unavailable` with Retry-After (RFC 6749 §4.1.2.1, RFC 9110 §10.2.3).
 */
const transientAnswer = (event: HttpEvent | undefined): WireError =>
  isCibaPoll(event)
    ? new SlowDown('the service is busy: poll again after the interval', {
        headers: { 'Retry-After': String(SLOW_DOWN_RETRY_AFTER_SECONDS) },
      })
    : new TemporarilyUnavailable('the service is temporarily unavailable: retry shortly', {
        headers: { 'Retry-After': String(TRANSIENT_RETRY_AFTER_SECONDS) },
      });

/**
 * The outermost middleware: an exposed WireError becomes its status and `{error, error_description}`; a
 * transient failure of a dependency (throttling, timeout) a retryable answer (`transientAnswer`); anything else a
 * generic 500 server_error, with the detail only in the log. Every response gets the security headers, and
 * no-store unless the handler chose a cache policy.
 */
export const httpEnvelope = (logger: Logger): MiddlewareObj<HttpEvent, HttpResult> => ({
  name: 'httpEnvelope',
  before: (request) => {
    logger.addContext?.(request.context);
  },
  after: (request) => {
    if (request.response) request.response = withSecurityHeaders(request.response);
  },
  onError: (request) => {
    const error = request.error;
    if (error instanceof WireError) {
      // The internal detail is the operator's, never the caller's.
      if (error.detail !== undefined) {
        logger.info('request refused', { error: error.error, detail: error.detail, route: request.event?.routeKey });
      }
      request.response = withSecurityHeaders(json(error.status, error.toJSON(), error.headers));
      return;
    }
    if (isTransientError(error)) {
      logger.warn('transient dependency failure', {
        error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
        route: request.event?.routeKey,
      });
      const answer = transientAnswer(request.event);
      request.response = withSecurityHeaders(json(answer.status, answer.toJSON(), answer.headers));
      return;
    }
    logger.error('unhandled error', {
      error: error instanceof Error ? { name: error.name, message: error.message, stack: error.stack } : String(error),
      route: request.event?.routeKey,
    });
    request.response = withSecurityHeaders(json(500, { error: 'server_error', error_description: 'internal error' }));
  },
});

export type HttpHandler = (event: HttpEvent) => Promise<HttpResult>;

/** The standard middy chain for an HTTP function: envelope first (outermost), then the handler. */
export const httpFunction = (logger: Logger, handler: HttpHandler) =>
  middy<HttpEvent, APIGatewayProxyResultV2>()
    .use(httpEnvelope(logger) as MiddlewareObj<HttpEvent, APIGatewayProxyResultV2>)
    .handler(handler);
