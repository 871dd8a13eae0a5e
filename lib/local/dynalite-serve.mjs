// One store request through dynalite's own HTTP request handler, without HTTP: the parts of IncomingMessage and
// ServerResponse that the handler uses, and the answer as the HTTP response would carry it. Used on the store's
// worker thread (lib/local/dynalite-worker.mjs) and in the server's own thread (`direct`, lib/local/embedded-dynamodb.ts).
import { EventEmitter } from 'node:events';

/**
 * Serves {id, method, url, headers, body} with `handleRequest` (dynalite's 'request' listener); `reply` gets
 * {id, status, headers, body} once dynalite ends its response.
 */
export const serveRequest = (handleRequest, { id, method, url, headers, body }, reply) => {
  const req = Object.assign(new EventEmitter(), { method, url, headers });
  const responseHeaders = {};
  const res = {
    statusCode: 200,
    setHeader(name, value) {
      responseHeaders[name.toLowerCase()] = String(value);
    },
    end(data) {
      reply({ id, status: res.statusCode, headers: responseHeaders, body: data ?? '' });
    },
  };
  handleRequest(req, res);
  if (body.length > 0) {
    req.emit(
      'data',
      typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.length),
    );
  }
  req.emit('end');
};
