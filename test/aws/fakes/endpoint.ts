import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HarnessClock } from '../clock.ts';
import type { Caller, IamEvaluator, PolicyDocument } from '../iam.ts';
import { type IncomingSignedRequest, SignatureError } from '../sigv4.ts';

/**
 * What every fake service shares: one HTTP server on 127.0.0.1 per service, speaking the service's wire protocol
 * (as the installed SDK clients speak it), every request's SigV4 signature verified to learn the caller (a function's
 * role session), every operation authorized against the caller's policies before it runs, every call recorded.
 */

export type Protocol = 'json' | 'rest-json' | 'query';

/** An AWS error as the service answers it: code, message, HTTP status. */
export class AwsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    readonly sender = true,
  ) {
    super(message);
    this.name = code;
  }
}

export interface AwsCall {
  service: string;
  action: string;
  resource: string;
  function?: string;
  principal: string;
  outcome: 'ok' | 'denied' | 'error';
  error?: string;
  at: number;
  /**
   * When the call's request reached the fake and when its answer left (`performance.now()`, the machine's time, not
   * the harness clock): calls of one function whose spans overlap were in flight together. Unset for calls that
   * reach no endpoint (a rule's invocation of a function).
   */
  started?: number;
  ended?: number;
}

/** The part of the cloud the fakes use. */
export interface Core {
  account: string;
  region: string;
  clock: HarnessClock;
  iam: IamEvaluator;
  /** The caller behind a verified SigV4 signature (throws `SignatureError`). */
  authenticate(request: IncomingSignedRequest, signingName: string): Promise<Caller>;
  calls: AwsCall[];
  /**
   * How long every endpoint holds its answer, in ms (default 0): a service's round trip, so that calls a function
   * makes side by side overlap at the fakes however fast they answer, and calls made one after the other do not.
   */
  latencyMs?: number;
  /** Tracks background work so `settle()` can wait for it. */
  track(work: Promise<unknown>): void;
}

/** The request an endpoint is answering: when it arrived, and the calls recorded while answering it. */
const answering = new AsyncLocalStorage<{ started: number; calls: AwsCall[] }>();

export interface FakeRequest extends IncomingSignedRequest {
  caller: Caller;
}

export interface FakeResponse {
  status: number;
  headers?: Record<string, string>;
  body: string | Buffer;
}

export interface AccessDeniedStyle {
  code: string;
  status: number;
}

/**
 * Authorizes one call of `caller`, records it, and throws the service's access-denied error when the policies do
 * not allow it.
 */
export const authorize = async (
  core: Core,
  service: string,
  denied: AccessDeniedStyle,
  caller: Caller,
  action: string,
  resource: string,
  options: { context?: Record<string, string | string[]>; resourcePolicy?: PolicyDocument } = {},
): Promise<void> => {
  const decision = await core.iam.authorize({ caller, action, resource, ...options });
  const served = answering.getStore();
  const call: AwsCall = {
    service,
    action,
    resource,
    ...(caller.functionName ? { function: caller.functionName } : {}),
    principal: caller.arn,
    outcome: decision.allowed ? 'ok' : 'denied',
    at: core.clock.now(),
    ...(served ? { started: served.started } : {}),
  };
  core.calls.push(call);
  served?.calls.push(call);
  if (!decision.allowed) throw new AwsError(denied.code, decision.message, denied.status);
};

export const readBody = (req: IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });

const xmlEscape = (s: string) =>
  s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

/** An error in the protocol's shape. */
export const errorResponse = (
  protocol: Protocol,
  error: AwsError,
  options: {
    jsonVersion?: '1.0' | '1.1';
    queryNamespace?: string;
    typePrefix?: string;
    queryCompatible?: boolean;
  } = {},
): FakeResponse => {
  const requestId = randomUUID();
  switch (protocol) {
    case 'json':
      return {
        status: error.status,
        headers: {
          'content-type': `application/x-amz-json-${options.jsonVersion ?? '1.1'}`,
          'x-amzn-requestid': requestId,
          ...(options.queryCompatible
            ? { 'x-amzn-query-error': `${error.code};${error.sender ? 'Sender' : 'Receiver'}` }
            : {}),
        },
        body: JSON.stringify({ __type: `${options.typePrefix ?? ''}${error.code}`, message: error.message }),
      };
    case 'rest-json':
      return {
        status: error.status,
        headers: { 'content-type': 'application/json', 'x-amzn-errortype': error.code, 'x-amzn-requestid': requestId },
        body: JSON.stringify({ Message: error.message }),
      };
    case 'query':
      return {
        status: error.status,
        headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId },
        body: `<ErrorResponse xmlns="${options.queryNamespace ?? ''}"><Error><Type>${error.sender ? 'Sender' : 'Receiver'}</Type><Code>${xmlEscape(error.code)}</Code><Message>${xmlEscape(error.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
      };
  }
};

export { xmlEscape };

export interface Endpoint {
  url: string;
  close(): Promise<void>;
}

/**
 * Starts a fake service endpoint. `handle` gets the authenticated request; an `AwsError` it throws (or a signature
 * problem) is answered in the protocol's error shape, anything else as an internal error (a harness bug, logged).
 */
export const startEndpoint = async (
  core: Core,
  options: {
    signingName: string;
    protocol: Protocol;
    errorOptions?: Parameters<typeof errorResponse>[2];
    handle(request: FakeRequest): Promise<FakeResponse>;
  },
): Promise<Endpoint> => {
  const server: Server = createServer((req, res) => {
    const served = { started: performance.now(), calls: [] as AwsCall[] };
    const work = answering.run(served, async () => {
      const body = await readBody(req);
      const [path, query = ''] = (req.url ?? '/').split('?') as [string, string?];
      const incoming: IncomingSignedRequest = { method: req.method ?? 'GET', path, query, headers: req.headers, body };
      let response: FakeResponse;
      try {
        const caller = await core.authenticate(incoming, options.signingName);
        response = await options.handle({ ...incoming, caller });
      } catch (error) {
        if (error instanceof SignatureError) {
          response = errorResponse(
            options.protocol,
            new AwsError(error.code, error.message, 403),
            options.errorOptions,
          );
        } else if (error instanceof AwsError) {
          response = errorResponse(options.protocol, error, options.errorOptions);
        } else {
          console.error(`fake ${options.signingName}: ${(error as Error).stack ?? String(error)}`);
          response = errorResponse(
            options.protocol,
            new AwsError('InternalFailure', `harness: ${(error as Error).message}`, 500, false),
            options.errorOptions,
          );
        }
      }
      if (core.latencyMs) await sleep(core.latencyMs);
      // The SDK corrects its clock from the answer's Date header: it must be the harness clock, not the machine's.
      res.writeHead(response.status, { ...response.headers, date: new Date(core.clock.now()).toUTCString() });
      const ended = performance.now();
      for (const call of served.calls) call.ended = ended;
      res.end(response.body);
    });
    core.track(work);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
};

/** JSON protocol: the operation from `X-Amz-Target` (`TrentService.Sign` → `Sign`) and the parsed body. */
export const jsonOperation = (request: FakeRequest): { operation: string; input: Record<string, unknown> } => {
  const target = String(request.headers['x-amz-target'] ?? '');
  const operation = target.slice(target.lastIndexOf('.') + 1);
  if (!operation) throw new AwsError('UnknownOperationException', 'missing X-Amz-Target');
  let input: Record<string, unknown>;
  try {
    input = request.body.length > 0 ? (JSON.parse(request.body.toString('utf8')) as Record<string, unknown>) : {};
  } catch {
    throw new AwsError('SerializationException', 'the request body is not JSON');
  }
  return { operation, input };
};

export const jsonResponse = (output: unknown, version: '1.0' | '1.1' = '1.1'): FakeResponse => ({
  status: 200,
  headers: { 'content-type': `application/x-amz-json-${version}`, 'x-amzn-requestid': randomUUID() },
  body: JSON.stringify(output),
});
