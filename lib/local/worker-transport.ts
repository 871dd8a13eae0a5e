import { EventEmitter } from 'node:events';
import type { DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { type StoreAnswer, type StoreRequest, serveRequest } from './dynalite-serve.mjs';

/** The parts of the SDK's HttpRequest that a DynamoDB request uses. */
interface SdkRequest {
  method: string;
  path: string;
  query?: Record<string, string | (string | null)[] | null>;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

/** Where store requests go: a worker thread running dynalite (its `Worker`), or dynalite in this thread (inThreadPort). */
export interface StorePort {
  postMessage(message: StoreRequest): void;
  on(event: 'message', listener: (message: Partial<StoreAnswer> & { error?: string }) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'exit', listener: (code: number) => void): unknown;
}

/**
 * dynalite in this thread behind the same port (`CIBA_EMBEDDED_STORE=direct`): each request is served by dynalite's
 * request handler right away, no hand-over to another thread; its answer comes back as a worker's would.
 */
export const inThreadPort = (handleRequest: (req: unknown, res: unknown) => void): StorePort => {
  const port = new EventEmitter();
  return Object.assign(port, {
    postMessage(request: StoreRequest) {
      try {
        serveRequest(handleRequest, request, (answer) => port.emit('message', answer));
      } catch (error) {
        port.emit('message', { id: request.id, error: String(error) });
      }
    },
  });
};

/**
 * The DynamoDB client's transport to dynalite on a worker thread (lib/local/dynalite-worker.mjs): each request goes
 * over the thread's message port to dynalite's request handler, and its answer comes back as the HTTP response would
 * (status, headers, body). Everything else is the SDK's own: serialization, retries, error parsing. A worker that
 * fails or exits fails the requests it holds.
 */
export const workerTransport = (worker: StorePort): NonNullable<DynamoDBClientConfig['requestHandler']> => {
  const waiting = new Map<number, { resolve: (answer: StoreAnswer) => void; reject: (error: Error) => void }>();
  let next = 0;
  let gone: Error | undefined;
  const failAll = (error: Error) => {
    gone = error;
    for (const { reject } of waiting.values()) reject(error);
    waiting.clear();
  };
  worker.on('message', (message) => {
    if (message.id === undefined) return;
    const entry = waiting.get(message.id);
    if (!entry) return;
    waiting.delete(message.id);
    if (message.error) entry.reject(new Error(`embedded store: ${message.error}`));
    else entry.resolve(message as StoreAnswer);
  });
  worker.on('error', (error) => failAll(error));
  worker.on('exit', (code) => failAll(new Error(`the embedded store stopped (exit code ${code})`)));

  return {
    metadata: { handlerProtocol: 'http/1.1' },
    handle: async (request: SdkRequest) => {
      if (gone) throw gone;
      const id = next++;
      // DynamoDB requests carry none; kept for fidelity.
      const query =
        request.query && Object.keys(request.query).length > 0
          ? new URLSearchParams(
              Object.entries(request.query).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => [k, x ?? ''])),
            ).toString()
          : '';
      const answer = await new Promise<StoreAnswer>((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        worker.postMessage({
          id,
          method: request.method,
          url: `${request.path}${query ? `?${query}` : ''}`,
          headers: Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), v])),
          // The SDK's JSON body is a Uint8Array that warns when read as a string: its bytes go as they are.
          body:
            request.body instanceof Uint8Array
              ? new Uint8Array(request.body.buffer, request.body.byteOffset, request.body.byteLength).slice()
              : (request.body ?? ''),
        });
      });
      return { response: { statusCode: answer.status, headers: answer.headers, body: Buffer.from(answer.body) } };
    },
    updateHttpClientConfig() {},
    httpHandlerConfigs: () => ({}),
  };
};
