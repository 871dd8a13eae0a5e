import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { hostname, networkInterfaces } from 'node:os';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
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

/** The headers of every JSON answer the server gives itself (refusals before a handler runs). */
const JSON_HEADERS: Record<string, string> = {
  'Content-Type': 'application/json',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { ...JSON_HEADERS, ...headers });
  res.end(JSON.stringify(body));
};

/** What Node's parser refuses before any route sees the request: status, reason phrase, description. */
const CLIENT_ERRORS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large', 'request line and headers exceed 16 KB'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout', 'request not received in time'],
};

/**
 * Answers a request Node's parser refused (a request line or headers too large, a malformed or timed-out request) as
 * every other refusal: a JSON error with the security headers, then the connection closed. Node's own answer has
 * neither. A connection reset, or one whose answer has started, is just closed.
 */
const answerClientError = (error: NodeJS.ErrnoException, socket: Duplex): void => {
  const started = (socket as Duplex & { _httpMessage?: ServerResponse })._httpMessage?.headersSent;
  if (error.code === 'ECONNRESET' || !socket.writable || started) {
    socket.destroy();
    return;
  }
  const [status, reason, description] = CLIENT_ERRORS[error.code ?? ''] ?? [400, 'Bad Request', 'malformed request'];
  const body = JSON.stringify({ error: 'invalid_request', error_description: description });
  const headers = { ...JSON_HEADERS, 'Content-Length': String(Buffer.byteLength(body)), Connection: 'close' };
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  socket.end(`HTTP/1.1 ${status} ${reason}\r\n${head.join('')}\r\n${body}`);
};

/** The body, up to MAX_BODY_BYTES; `aborted` when the client went away (or requestTimeout closed it) before the end. */
const readBody = (req: IncomingMessage): Promise<Buffer | 'too_large' | 'aborted'> =>
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
    req.on('close', () => {
      if (!req.complete) resolve('aborted');
    });
    req.on('error', (error) => (req.complete ? reject(error) : resolve('aborted')));
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
      // The Host header was checked against the names this server has (createLocalServer, hardening rule 8).
      domainName: canonicalDomainName(req) ?? headers.host?.toLowerCase() ?? 'localhost',
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
   * Requests handled at once; one more is shed with 503 temporarily_unavailable and Retry-After (API Gateway's
   * throttling does this in AWS), so that requests already accepted keep their latency. Default 256. A request takes
   * its slot only once its body has arrived: clients that send slowly hold a connection, never a slot.
   */
  maxInFlight?: number;
  /** The address the server listens on (HOST): decides which Host headers name it (hostAllowed). */
  host: string;
  /** CIBA_PUBLIC_URL: every URL comes from it, so the Host header is not checked. */
  publicUrl?: string;
  /**
   * SECURITY.md hardening rule 9: how long a client may take to send a request's headers, and the whole request with
   * its body (default 10 s each); a connection that takes longer is closed.
   */
  requestTimeoutMs?: number;
}

export const DEFAULT_MAX_IN_FLIGHT = 256;
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

export interface LocalHttpServer {
  server: Server;
  /**
   * Starts the drain: requests under way finish and are answered with `Connection: close`; every request that
   * arrives from now on, on a new or a kept-alive connection, is answered 503 temporarily_unavailable with
   * `Connection: close` instead of being reset.
   */
  startDraining(): void;
}

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];
const ALL_INTERFACES = ['0.0.0.0', '::', ''];

/** A host as it appears in a Host header: IPv6 addresses in brackets, lower case, no trailing dot. */
const hostForm = (address: string) => {
  const plain = address.toLowerCase().replace(/\.$/, '');
  return plain.includes(':') && !plain.startsWith('[') ? `[${plain}]` : plain;
};

/**
 * SECURITY.md hardening rule 8: the names a Host header may give this server, since the issuer and every URL derived
 * from it are built from that header when CIBA_PUBLIC_URL is unset: loopback names, the address it is bound to, and
 * every address of the machine (and its host name) when it is bound to all interfaces.
 */
export const localHostNames = (host: string): Set<string> => {
  const names = new Set(LOOPBACK_NAMES);
  if (!ALL_INTERFACES.includes(host)) return names.add(hostForm(host));
  names.add(hostForm(hostname()));
  for (const addresses of Object.values(networkInterfaces())) {
    for (const { address } of addresses ?? []) names.add(hostForm(address.replace(/%.*$/, '')));
  }
  return names;
};

/**
 * Whether a Host header names this server: one of `names` with the port the request came in on (which may be left
 * out only when it is the scheme's default).
 */
export const hostAllowed = (
  header: string | undefined,
  { names, localPort, tls }: { names: Set<string>; localPort: number; tls: boolean },
): boolean => {
  if (!header) return false;
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(header.toLowerCase());
  if (!match || !names.has(hostForm(match[1]!))) return false;
  return match[2] === undefined ? localPort === (tls ? 443 : 80) : Number(match[2]) === localPort;
};

const MISDIRECTED = {
  error: 'invalid_request',
  error_description: 'the Host header does not name this server (set CIBA_PUBLIC_URL when it runs behind a proxy)',
};
const DRAINING = { error: 'temporarily_unavailable', error_description: 'the server is stopping: retry shortly' };
const BUSY = { error: 'temporarily_unavailable', error_description: 'the server is busy: retry shortly' };

export const createLocalServer = (options: LocalServerOptions): LocalHttpServer => {
  const routes = ROUTES.filter((r) => options.handlers[r.fn]).map(compile);
  const maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  const timeout = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const names = localHostNames(options.host);
  // With CIBA_PUBLIC_URL every URL comes from it and the Host header decides nothing: a proxy may pass on any name
  // (nginx sends its upstream's by default).
  const checkHost = !options.publicUrl;
  let inFlight = 0;
  let draining = false;
  const server = createServer(
    {
      // Hardening rule 9: headers, and the whole request with its body, within the timeout (Node's defaults are
      // 60 s and 300 s), checked every second instead of every 30 s.
      headersTimeout: timeout,
      requestTimeout: timeout,
      connectionsCheckingInterval: Math.min(1_000, timeout),
    },
    async (req, res) => {
      try {
        if (draining) {
          req.resume();
          return sendJson(res, 503, DRAINING, { 'Retry-After': '1', Connection: 'close' });
        }
        const tls = req.socket instanceof TLSSocket;
        const localPort = req.socket.localPort ?? 0;
        if (checkHost && !hostAllowed(req.headers.host, { names, localPort, tls })) {
          req.resume();
          // RFC 9110 §15.5.20: 421 Misdirected Request, for a request this server is not configured to answer.
          return sendJson(res, 421, MISDIRECTED, { Connection: 'close' });
        }
        const url = new URL(req.url ?? '/', 'http://localhost');
        // Extra routes (health, the device event stream) are not API calls and hold no slot.
        if (options.extra && (await options.extra(req, res, url))) return;
        const matching = routes
          .map((route) => ({ route, match: route.pattern.exec(url.pathname) }))
          .filter((m) => m.match !== null);
        if (matching.length === 0) {
          req.resume();
          return sendJson(res, 404, { error: 'not_found', error_description: 'no such endpoint' });
        }
        const hit = matching.find((m) => m.route.method === req.method);
        if (!hit) {
          req.resume();
          const allow = [...new Set(matching.map((m) => m.route.method))].join(', ');
          return sendJson(
            res,
            405,
            { error: 'invalid_request', error_description: `method not allowed; use ${allow}` },
            { Allow: allow },
          );
        }
        // The body first (bounded by size and by requestTimeout), then a slot: a slow client holds only its socket.
        const body = await readBody(req);
        if (body === 'aborted') return;
        if (body === 'too_large') {
          return sendJson(res, 413, {
            error: 'invalid_request',
            error_description: `request body exceeds ${MAX_BODY_BYTES} bytes`,
          });
        }
        if (inFlight >= maxInFlight) return sendJson(res, 503, BUSY, { 'Retry-After': '1' });
        inFlight++;
        res.once('close', () => inFlight--);
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
        const closing: Record<string, string> = draining ? { Connection: 'close' } : {};
        if (typeof result === 'string' || result === undefined || result === null) {
          return sendJson(res, 200, result ?? null, closing);
        }
        const headers = { ...(result.headers as Record<string, string> | undefined), ...closing };
        res.writeHead(result.statusCode ?? 200, headers);
        res.end(result.body ? Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8') : undefined);
      } catch (error) {
        options.logger.error('local server error', { error });
        if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: 'internal error' });
        else res.end();
      }
    },
  );
  server.on('clientError', answerClientError);
  return {
    server,
    startDraining: () => {
      draining = true;
    },
  };
};
