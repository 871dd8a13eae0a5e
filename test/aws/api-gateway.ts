import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HarnessClock } from './clock.ts';
import { readBody } from './fakes/endpoint.ts';
import type { Caller, IamEvaluator, PolicyDocument } from './iam.ts';
import type { LambdaRuntime } from './lambda.ts';
import { type IncomingSignedRequest, SignatureError } from './sigv4.ts';

/**
 * An API Gateway HTTP API for the harness: the template's routes (route keys, `AWS_IAM` authorization), Lambda
 * proxy integrations (payload format 2.0) and the `$default` stage, served on 127.0.0.1. A request becomes the event
 * API Gateway builds (headers lower-cased and joined, cookies apart, query parameters, path parameters, a
 * base64-encoded body unless it is text, the request context with source IP and, for IAM routes, the caller), the
 * function must allow API Gateway to invoke it (its resource policy, for the route's source ARN), and its answer
 * becomes the HTTP response as API Gateway maps it (a result without `statusCode` is JSON with 200; a function error
 * is `500 {"message":"Internal Server Error"}`). IAM routes need a valid SigV4 signature for `execute-api` and an
 * identity policy allowing `execute-api:Invoke` on the route's ARN.
 *
 * The stage's access log (`AccessLogSettings.Format` of the template's `AWS::ApiGatewayV2::Stage`) is written as API
 * Gateway writes it, one line per request into `accessLogs`: each `$context` variable of the format replaced by the
 * request's value, `-` where it has none; a variable this class does not know fails the stage's creation.
 *
 * Not covered: stage throttling, custom domains and mutual TLS (requests carry no client certificate), Lambda and
 * JWT authorizers, CORS, request size limits other than Lambda's.
 */

export interface HttpRoute {
  routeKey: string;
  authorization: string;
  integration: string;
}

export interface HttpIntegration {
  functionArn: string;
  payloadFormatVersion: string;
}

export interface ApiContext {
  account: string;
  region: string;
  clock: HarnessClock;
  iam: IamEvaluator;
  lambda: LambdaRuntime;
  authenticate(request: IncomingSignedRequest, signingName: string): Promise<Caller>;
  functionPolicy(functionArn: string): PolicyDocument | undefined;
  track(work: Promise<unknown>): void;
}

const TEXT = /^(text\/|application\/(json|xml|javascript|[\w.+-]+\+json|[\w.+-]+\+xml)\b)/i;

const matchRoute = (pattern: string, path: string): Record<string, string> | undefined => {
  const p = pattern.split('/').slice(1);
  const s = path.split('/').slice(1);
  const params: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    const part = p[i]!;
    if (/^\{.+\+\}$/.test(part)) {
      if (i >= s.length) return undefined;
      params[part.slice(1, -2)] = s.slice(i).map(decodeURIComponent).join('/');
      return params;
    }
    if (i >= s.length) return undefined;
    if (/^\{.+\}$/.test(part)) {
      if (s[i] === '') return undefined;
      params[part.slice(1, -1)] = decodeURIComponent(s[i]!);
    } else if (part !== s[i]) return undefined;
  }
  return p.length === s.length ? params : undefined;
};

/** HTTP API precedence: more literal segments first, then fewer variables, greedy last. */
const specificity = (pattern: string) => {
  const parts = pattern.split('/').slice(1);
  return [parts.filter((x) => !x.startsWith('{')).length, -parts.filter((x) => x.endsWith('+}')).length];
};

/** The `$context` variables an access-log format may use here, from the request as the harness served it. */
const ACCESS_LOG_VARIABLES = {
  requestId: (r: Served) => r.requestId,
  'identity.sourceIp': (r: Served) => r.sourceIp,
  requestTimeEpoch: (r: Served) => String(r.start),
  httpMethod: (r: Served) => r.method,
  routeKey: (r: Served) => r.routeKey,
  path: (r: Served) => r.path,
  status: (r: Served) => String(r.status),
  responseLatency: (r: Served) => String(r.latency),
  integrationErrorMessage: (r: Served) => r.integrationError,
  'identity.userArn': (r: Served) => r.caller,
  'identity.clientCert.serialNumber': () => undefined,
} satisfies Record<string, (r: Served) => string | undefined>;

interface Served {
  requestId: string;
  sourceIp: string;
  start: number;
  method: string;
  path: string;
  routeKey: string;
  status: number;
  latency: number;
  integrationError?: string;
  caller?: string;
}

const CONTEXT_VARIABLE = /\$context\.([A-Za-z.]+[A-Za-z])/g;

/** Checks an access-log format's variables: each must be one the harness can fill. */
export const checkAccessLogFormat = (format: string): void => {
  const unknown = [...format.matchAll(CONTEXT_VARIABLE)]
    .map((m) => m[1]!)
    .filter((name) => !(name in ACCESS_LOG_VARIABLES));
  if (unknown.length > 0) throw new Error(`access log format: $context variables not modelled: ${unknown.join(', ')}`);
};

const accessLogLine = (format: string, served: Served): string =>
  format.replace(
    CONTEXT_VARIABLE,
    (_, name: keyof typeof ACCESS_LOG_VARIABLES) => ACCESS_LOG_VARIABLES[name](served) || '-',
  );

/** An HTTP API request id as API Gateway makes them (`apigw-requestid`, `$context.requestId`): 16 characters. */
const requestIdOf = () => randomBytes(11).toString('base64').slice(0, 15).concat('=');

export class HttpApi {
  readonly routes = new Map<string, HttpRoute>();
  readonly integrations = new Map<string, HttpIntegration>();
  readonly requests: { routeKey: string; status: number; function?: string }[] = [];
  /** The stage's access-log format (`AccessLogSettings.Format`), once the stage exists. */
  accessLogFormat?: string;
  /** The access log's lines, one per request, when the stage has a format. */
  readonly accessLogs: string[] = [];
  #server?: Server;
  url = '';

  constructor(
    readonly apiId: string,
    readonly stage: string,
    readonly ctx: ApiContext,
  ) {}

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      this.ctx.track(this.#serve(req, res));
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  #find(method: string, path: string): { route: HttpRoute; params: Record<string, string> } | undefined {
    const candidates = [...this.routes.values()]
      .map((route) => {
        const [m, pattern] = route.routeKey.split(' ') as [string, string];
        if (route.routeKey === '$default' || (m !== method && m !== 'ANY')) return undefined;
        const params = matchRoute(pattern, path);
        return params ? { route, params, score: specificity(pattern) } : undefined;
      })
      .filter((c) => c !== undefined)
      .sort((a, b) => b.score[0]! - a.score[0]! || b.score[1]! - a.score[1]!);
    if (candidates[0]) return candidates[0];
    const fallback = this.routes.get('$default');
    return fallback ? { route: fallback, params: {} } : undefined;
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = requestIdOf();
    const started = performance.now();
    const now = this.ctx.clock.now();
    const sourceIp = req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1';
    const [rawPath, rawQueryString = ''] = (req.url ?? '/').split('?') as [string, string?];
    const method = req.method ?? 'GET';
    /** The request as served: `requests`, and its access-log line when the stage has a format. */
    const record = (
      entry: { routeKey: string; status: number; function?: string },
      more: { integrationError?: string; caller?: string } = {},
    ) => {
      this.requests.push(entry);
      if (this.accessLogFormat === undefined) return;
      this.accessLogs.push(
        accessLogLine(this.accessLogFormat, {
          requestId,
          sourceIp,
          start: now,
          method,
          path: rawPath,
          routeKey: entry.routeKey,
          status: entry.status,
          latency: Math.round(performance.now() - started),
          ...more,
        }),
      );
    };
    const send = (status: number, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', 'apigw-requestid': requestId, ...headers });
      res.end(body);
    };
    const body = await readBody(req);
    const found = this.#find(method, rawPath);
    if (!found) {
      record({ routeKey: '-', status: 404 });
      return send(404, '{"message":"Not Found"}');
    }
    const { route, params } = found;
    const integration = this.integrations.get(route.integration);
    if (!integration) return send(500, '{"message":"Internal Server Error"}');

    let authorizer: Record<string, unknown> | undefined;
    let callerArn: string | undefined;
    if (route.authorization === 'AWS_IAM') {
      let caller: Caller;
      try {
        caller = await this.ctx.authenticate(
          { method, path: rawPath, query: rawQueryString, headers: req.headers, body },
          'execute-api',
        );
      } catch (error) {
        const message =
          error instanceof SignatureError && error.code !== 'MissingAuthenticationToken' ? error.message : 'Forbidden';
        record({ routeKey: route.routeKey, status: 403 });
        return send(403, JSON.stringify({ message }));
      }
      const resource = `arn:aws:execute-api:${this.ctx.region}:${this.ctx.account}:${this.apiId}/${this.stage}/${method}${rawPath}`;
      const decision = await this.ctx.iam.authorize({ caller, action: 'execute-api:Invoke', resource });
      if (!decision.allowed) {
        record({ routeKey: route.routeKey, status: 403 }, { caller: caller.arn });
        return send(403, JSON.stringify({ message: decision.message }));
      }
      callerArn = caller.arn;
      authorizer = {
        iam: {
          accessKey: /Credential=([^/]+)/.exec(String(req.headers.authorization))?.[1],
          accountId: this.ctx.account,
          callerId: caller.arn.split('/').slice(-2).join(':'),
          cognitoIdentity: null,
          principalOrgId: null,
          userArn: caller.arn,
          userId: caller.arn.split('/').slice(-2).join(':'),
        },
      };
    }

    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (name === 'cookie' || value === undefined) continue;
      headers[name] = Array.isArray(value) ? value.join(',') : value;
    }
    const cookies = req.headers.cookie?.split(/;\s*/).filter(Boolean);
    const query: Record<string, string> = {};
    for (const [k, v] of new URLSearchParams(rawQueryString)) query[k] = k in query ? `${query[k]},${v}` : v;
    const text = TEXT.test(headers['content-type'] ?? '');
    const event = {
      version: '2.0',
      routeKey: route.routeKey,
      rawPath,
      rawQueryString,
      ...(cookies?.length ? { cookies } : {}),
      headers,
      ...(rawQueryString ? { queryStringParameters: query } : {}),
      requestContext: {
        accountId: this.ctx.account,
        apiId: this.apiId,
        ...(authorizer ? { authorizer } : {}),
        domainName: headers.host ?? '',
        domainPrefix: (headers.host ?? '').split('.')[0],
        http: {
          method,
          path: rawPath,
          protocol: `HTTP/${req.httpVersion}`,
          sourceIp,
          userAgent: headers['user-agent'] ?? '',
        },
        requestId,
        routeKey: route.routeKey,
        stage: this.stage,
        time: new Date(now).toUTCString(),
        timeEpoch: now,
      },
      ...(Object.keys(params).length > 0 ? { pathParameters: params } : {}),
      ...(body.length > 0 ? { body: text ? body.toString('utf8') : body.toString('base64') } : {}),
      isBase64Encoded: body.length > 0 && !text,
    };

    const fn = this.ctx.lambda.find(integration.functionArn);
    const sourceArn = `arn:aws:execute-api:${this.ctx.region}:${this.ctx.account}:${this.apiId}/${this.stage}/${method}${route.routeKey.split(' ')[1] ?? ''}`;
    const policy = fn ? this.ctx.functionPolicy(fn.arn) : undefined;
    const invokeAllowed =
      fn &&
      (
        await this.ctx.iam.authorize({
          caller: { arn: 'apigateway.amazonaws.com', policies: [] },
          action: 'lambda:InvokeFunction',
          resource: fn.arn,
          ...(policy ? { resourcePolicy: policy } : {}),
          context: { 'aws:SourceArn': sourceArn, 'aws:SourceAccount': this.ctx.account },
        })
      ).allowed;
    if (!fn || !invokeAllowed) {
      record({ routeKey: route.routeKey, status: 500 }, { integrationError: 'Internal Server Error' });
      return send(500, '{"message":"Internal Server Error"}');
    }
    let outcome: Awaited<ReturnType<LambdaRuntime['invoke']>>;
    try {
      outcome = await this.ctx.lambda.invoke(fn.arn, event);
    } catch {
      record(
        { routeKey: route.routeKey, status: 500, function: fn.name },
        { integrationError: 'Internal Server Error' },
      );
      return send(500, '{"message":"Internal Server Error"}');
    }
    if ('error' in outcome) {
      record(
        { routeKey: route.routeKey, status: 500, function: fn.name },
        { integrationError: 'The Lambda function returned the following error: Internal Server Error' },
      );
      return send(500, '{"message":"Internal Server Error"}');
    }
    const result = outcome.result as Record<string, unknown> | string | null;
    if (!result || typeof result !== 'object' || !('statusCode' in result)) {
      record({ routeKey: route.routeKey, status: 200, function: fn.name }, { caller: callerArn });
      return send(200, typeof result === 'string' ? result : JSON.stringify(result));
    }
    const status = Number(result.statusCode);
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries((result.headers ?? {}) as Record<string, unknown>)) out[k] = String(v);
    if (Array.isArray(result.cookies)) out['set-cookie'] = result.cookies.map(String);
    if (!Object.keys(out).some((k) => k.toLowerCase() === 'content-type')) out['content-type'] = 'application/json';
    const payload =
      result.body === undefined
        ? Buffer.alloc(0)
        : result.isBase64Encoded
          ? Buffer.from(String(result.body), 'base64')
          : Buffer.from(String(result.body));
    record({ routeKey: route.routeKey, status, function: fn.name }, { caller: callerArn });
    res.writeHead(status, { 'apigw-requestid': requestId, ...out });
    res.end(payload);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      if (!this.#server) return resolve();
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}
