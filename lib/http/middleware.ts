import middy, { type MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyResultV2 } from 'aws-lambda';
import { TemporarilyUnavailable, WireError } from '../errors.ts';
import type { Logger } from '../ports.ts';
import type { HttpEvent } from './event.ts';
import { type HttpResult, json } from './response.ts';
import { isTransientError, TRANSIENT_RETRY_AFTER_SECONDS } from './transient.ts';

/**
 * The middy chain of every HTTP function: small middlewares with one concern each, in middy's order (the first used
 * is the outermost: its `before` runs first, its `after` and `onError` last).
 */

type HttpMiddleware = MiddlewareObj<HttpEvent, HttpResult>;

/** Tags the invocation's log lines (a Lambda logger adds the request id). */
export const loggerContext = (logger: Logger): HttpMiddleware => ({
  name: 'loggerContext',
  before: (request) => {
    logger.addContext?.(request.context);
  },
});

const SECURITY_HEADERS: Record<string, string> = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

const withSecurityHeaders = (response: HttpResult): HttpResult => ({
  ...response,
  headers: { ...SECURITY_HEADERS, 'Cache-Control': 'no-store', ...response.headers },
});

/** Every answer, error or not, gets the security headers, and no-store unless the handler chose a cache policy. */
export const securityHeaders = (): HttpMiddleware => {
  const add = (request: { response: HttpResult | null | undefined }) => {
    if (request.response) request.response = withSecurityHeaders(request.response);
  };
  return { name: 'securityHeaders', after: add, onError: add };
};

export interface WireErrorsOptions {
  /**
   * The answer to a transient failure of a dependency (throttling, timeouts) for this request, when the endpoint has
   * its own (the token endpoint answers a CIBA poll slow_down); by default `503 temporarily_unavailable` with
   * Retry-After (RFC 6749 §4.1.2.1, RFC 9110 §10.2.3): retryable, never a 500.
   */
  transientAnswer?: (event: HttpEvent) => WireError | undefined;
}

const defaultTransientAnswer = () =>
  new TemporarilyUnavailable('the service is temporarily unavailable: retry shortly', {
    headers: { 'Retry-After': String(TRANSIENT_RETRY_AFTER_SECONDS) },
  });

/**
 * Errors as answers: a WireError becomes its status and `{error, error_description}` (its internal detail only
 * logged); a transient failure of a dependency (lib/http/transient.ts) the endpoint's transient answer; anything else
 * a generic 500 server_error, with the detail only in the log.
 */
export const wireErrors = (logger: Logger, options: WireErrorsOptions = {}): HttpMiddleware => {
  if (options.transientAnswer !== undefined && typeof options.transientAnswer !== 'function') {
    throw new TypeError('wireErrors: transientAnswer must be a function');
  }
  const answer = (error: WireError) => json(error.status, error.toJSON(), error.headers);
  return {
    name: 'wireErrors',
    onError: (request) => {
      const { error, event } = request;
      if (error instanceof WireError) {
        // The internal detail is the operator's, never the caller's.
        if (error.detail !== undefined) {
          logger.info('request refused', { error: error.error, detail: error.detail, route: event?.routeKey });
        }
        request.response = answer(error);
        return;
      }
      if (isTransientError(error)) {
        logger.warn('transient dependency failure', {
          error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
          route: event?.routeKey,
        });
        request.response = answer((event && options.transientAnswer?.(event)) ?? defaultTransientAnswer());
        return;
      }
      logger.error('unhandled error', {
        error:
          error instanceof Error ? { name: error.name, message: error.message, stack: error.stack } : String(error),
        route: event?.routeKey,
      });
      request.response = json(500, { error: 'server_error', error_description: 'internal error' });
    },
  };
};

export type HttpHandler = (event: HttpEvent) => Promise<HttpResult>;

/** The chain of an HTTP function: logger context, security headers, errors as answers, then the handler. */
export const httpFunction = (logger: Logger, handler: HttpHandler, options: WireErrorsOptions = {}) =>
  middy<HttpEvent, APIGatewayProxyResultV2>()
    .use(loggerContext(logger) as MiddlewareObj<HttpEvent, APIGatewayProxyResultV2>)
    .use(securityHeaders() as MiddlewareObj<HttpEvent, APIGatewayProxyResultV2>)
    .use(wireErrors(logger, options) as MiddlewareObj<HttpEvent, APIGatewayProxyResultV2>)
    .handler(handler);
