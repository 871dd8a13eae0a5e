import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GuardedOutboundHttp } from '../../lib/adapters/guarded-outbound-http.ts';

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A loopback receiver whose answer each test chooses. */
let server: Server;
let base: string;
let received: Received[] = [];
let answer: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(204).end();

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      });
      answer(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(() => {
  received = [];
  answer = (_req, res) => res.writeHead(204).end();
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const http = new GuardedOutboundHttp({ connectTimeoutMs: 1_000, responseTimeoutMs: 300 });
const post = (url: string, allowPrivateNetwork = true) =>
  http.postJson(url, { headers: { Authorization: 'Bearer abc' }, body: '{"auth_req_id":"x"}', allowPrivateNetwork });

describe('GuardedOutboundHttp against a loopback receiver', () => {
  it('POSTs the JSON body with the given headers and reports the status', async () => {
    expect(await post(`${base}/cb?x=1`)).toEqual({ status: 204 });
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ method: 'POST', url: '/cb?x=1', body: '{"auth_req_id":"x"}' });
    expect(received[0]!.headers).toMatchObject({
      authorization: 'Bearer abc',
      'content-type': 'application/json',
      'content-length': '19',
    });
  });

  it('never follows a redirect: a 301 is just a status and the Location gets nothing', async () => {
    answer = (_req, res) => res.writeHead(301, { Location: `${base}/elsewhere` }).end();
    expect(await post(`${base}/cb`)).toEqual({ status: 301 });
    await new Promise((r) => setTimeout(r, 100));
    expect(received.map((r) => r.url)).toEqual(['/cb']);
  });

  it('gives up on a receiver that never answers after the response timeout', async () => {
    answer = () => {};
    expect(await post(`${base}/cb`)).toEqual({ error: 'response timeout: no answer within 300 ms' });
  });

  it('reads no more than a few KB of a large answer', async () => {
    answer = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.write('x'.repeat(64 * 1024));
      // never ends
    };
    expect(await post(`${base}/cb`)).toEqual({ status: 200 });
  });

  it('reports a refused connection as a failure to retry', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect(await post(`http://127.0.0.1:${port}/cb`)).toEqual({ error: 'connection failed: ECONNREFUSED' });
  });

  it('refuses the loopback receiver outside development mode and sends it nothing', async () => {
    expect(await post(`${base}/cb`, false)).toMatchObject({ permanent: true });
    const viaName = new GuardedOutboundHttp({ resolve: async () => [{ address: '127.0.0.1', family: 4 }] });
    const port = new URL(base).port;
    expect(
      await viaName.postJson(`https://rp.example.com:${port}/cb`, {
        headers: {},
        body: '{}',
        allowPrivateNetwork: false,
      }),
    ).toMatchObject({ error: expect.stringMatching(/resolves to a refused address: 127.0.0.1/), permanent: true });
    expect(received).toHaveLength(0);
  });

  it('connects to the address it checked for a name (development mode allows loopback)', async () => {
    const viaName = new GuardedOutboundHttp({ resolve: async () => [{ address: '127.0.0.1', family: 4 }] });
    const port = new URL(base).port;
    expect(
      await viaName.postJson(`http://localhost:${port}/cb`, { headers: {}, body: '{}', allowPrivateNetwork: true }),
    ).toEqual({ status: 204 });
    expect(received).toHaveLength(1);
  });
});
