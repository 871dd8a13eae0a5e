import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda';
import { MAX_BODY_BYTES } from '../http/event.ts';
import { type FunctionName, ROUTES, type Route } from '../http/routes.ts';
import type { Logger } from '../ports.ts';
import { canonicalDomainName, clientCertificateContext } from './tls.ts';

export type LambdaHttpHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyResultV2>;

interface CompiledRoute extends Route {
  pattern: RegExp;
  names: string[];
}

const compile = (route: Route): CompiledRoute => {
  const names: string[] = [];
  const source = route.path
    .split('/')
    .map((segment) => {
      const param = /^\{(\w+)\}$/.exec(segment);
      if (!param) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(param[1]!);
      return '([^/]+)';
    })
    .join('/');
  return { ...route, pattern: new RegExp(`^${source}$`), names };
};

export const lambdaContext = (requestId: string, functionName: string): Context =>
  ({
    awsRequestId: requestId,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '256',
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => 29_000,
    done() {},
    fail() {},
    succeed() {},
  }) as Context;

const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    ...headers,
  });
  res.end(JSON.stringify(body));
};

const readBody = (req: IncomingMessage): Promise<Buffer | 'too_large'> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve('too_large');
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });

/**
 * Turns an HTTP request into an API Gateway HTTP API (payload v2) event, exactly as API Gateway would,
 * and calls the same middy handler that runs in Lambda.
 */
export const toApiGatewayEvent = (
  req: IncomingMessage,
  url: URL,
  route: CompiledRoute,
  pathParameters: Record<string, string>,
  body: Buffer,
): APIGatewayProxyEventV2 => {
  const headers: Record<string, string> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    const value = req.rawHeaders[i + 1]!;
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  const text = body.toString('utf8');
  const isText = Buffer.from(text, 'utf8').equals(body);
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = query[k] === undefined ? v : `${query[k]},${v}`;
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: `${route.method} ${route.path}`,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    ...(url.search ? { queryStringParameters: query } : {}),
    pathParameters,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: canonicalDomainName(req) ?? headers.host ?? 'localhost',
      domainPrefix: (headers.host ?? 'localhost').split('.')[0]!,
      http: {
        method: req.method ?? 'GET',
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: `${route.method} ${route.path}`,
      stage: '$default',
      time: new Date(now).toUTCString(),
      timeEpoch: now,
      // Mutual TLS (local HTTPS listener): the peer certificate, as API Gateway passes it.
      ...clientCertificateContext(req),
    },
    ...(body.length > 0 ? { body: isText ? text : body.toString('base64') } : {}),
    isBase64Encoded: body.length > 0 && !isText,
  };
};

export interface LocalServerOptions {
  handlers: Partial<Record<FunctionName, LambdaHttpHandler>>;
  logger: Logger;
  /** Extra non-API routes (health). Return true when handled. */
  extra?: (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>;
  /**
   * Requests handled at once; one more is shed at the door with 503 temporarily_unavailable and Retry-After (API
   * Gateway's throttling does this in AWS), so that requests already accepted keep their latency. Default 256.
   */
  maxInFlight?: number;
}

export const DEFAULT_MAX_IN_FLIGHT = 256;

export const createLocalServer = (options: LocalServerOptions): Server => {
  const routes = ROUTES.filter((r) => options.handlers[r.fn]).map(compile);
  const maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  let inFlight = 0;
  return createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      // Extra routes (health, the device event stream) are not API calls and hold no slot.
      if (options.extra && (await options.extra(req, res, url))) return;
      if (inFlight >= maxInFlight) {
        req.resume();
        return sendJson(
          res,
          503,
          { error: 'temporarily_unavailable', error_description: 'the server is busy: retry shortly' },
          { 'Retry-After': '1' },
        );
      }
      inFlight++;
      res.once('close', () => inFlight--);
      const matching = routes
        .map((route) => ({ route, match: route.pattern.exec(url.pathname) }))
        .filter((m) => m.match !== null);
      if (matching.length === 0)
        return sendJson(res, 404, { error: 'not_found', error_description: 'no such endpoint' });
      const hit = matching.find((m) => m.route.method === req.method);
      if (!hit) {
        const allow = [...new Set(matching.map((m) => m.route.method))].join(', ');
        return sendJson(
          res,
          405,
          { error: 'invalid_request', error_description: `method not allowed; use ${allow}` },
          { Allow: allow },
        );
      }
      const body = await readBody(req);
      if (body === 'too_large') {
        return sendJson(res, 413, {
          error: 'invalid_request',
          error_description: `request body exceeds ${MAX_BODY_BYTES} bytes`,
        });
      }
      const pathParameters: Record<string, string> = {};
      let badEncoding = false;
      hit.route.names.forEach((name, i) => {
        try {
          pathParameters[name] = decodeURIComponent(hit.match![i + 1]!);
        } catch {
          badEncoding = true;
        }
      });
      if (badEncoding)
        return sendJson(res, 400, { error: 'invalid_request', error_description: 'malformed path encoding' });
      const event = toApiGatewayEvent(req, url, hit.route, pathParameters, body);
      const handler = options.handlers[hit.route.fn]!;
      const result = await handler(event, lambdaContext(event.requestContext.requestId, hit.route.fn));
      if (typeof result === 'string' || result === undefined || result === null) {
        return sendJson(res, 200, result ?? null);
      }
      const headers = { ...(result.headers as Record<string, string> | undefined) };
      res.writeHead(result.statusCode ?? 200, headers);
      res.end(result.body ? Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8') : undefined);
    } catch (error) {
      options.logger.error('local server error', { error });
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: 'internal error' });
      else res.end();
    }
  });
};
