import middy, { type MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyResultV2 } from 'aws-lambda';
import { OAuthError } from '../oauth/errors.ts';
import type { Logger } from '../ports.ts';
import type { HttpEvent } from './event.ts';
import { type HttpResult, json } from './response.ts';

const SECURITY_HEADERS: Record<string, string> = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

const withSecurityHeaders = (response: HttpResult): HttpResult => ({
  ...response,
  headers: { ...SECURITY_HEADERS, 'Cache-Control': 'no-store', ...response.headers },
});

/**
 * The outermost middleware: an exposed OAuthError becomes its status and `{error, error_description}`;
 * anything else a generic 500 server_error, with the detail only in the log. Every response gets the
 * security headers, and no-store unless the handler chose a cache policy.
 */
export const httpEnvelope = (logger: Logger): MiddlewareObj<HttpEvent, HttpResult> => ({
  name: 'httpEnvelope',
  after: (request) => {
    if (request.response) request.response = withSecurityHeaders(request.response);
  },
  onError: (request) => {
    const error = request.error;
    if (error instanceof OAuthError) {
      request.response = withSecurityHeaders(json(error.status, error.toJSON(), error.headers));
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
