/**
 * SECURITY.md hardening rule 9: slow clients cannot starve the server. A request takes a concurrency slot only once its
 * body has arrived, and a client gets at most 10 s to send its headers and its whole request (lib/local/server.ts).
 * Before, 258 connections holding a partial body made every request answer 503 for Node's 300 s.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenantFixture, startTestService, type TenantFixture, type TestService } from '../helpers/service.ts';

/** Opens a connection and sends `text`, leaving the request unfinished. */
const hold = (port: number, text: string) =>
  new Promise<Socket>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text, () => resolve(socket)));
    socket.on('error', reject);
  });

describe('slow clients', () => {
  let svc: TestService;
  let fx: TenantFixture;
  let port: number;
  const held: Socket[] = [];
  beforeAll(async () => {
    svc = await startTestService();
    fx = await createTenantFixture(svc, 'slow');
    port = Number(new URL(svc.url).port);
  });
  afterAll(async () => {
    for (const socket of held) socket.destroy();
    await svc.stop();
  });

  it('keep discovery answering 200 within 2 s while 300 connections hold partial requests', {
    timeout: 60_000,
  }, async () => {
    const host = `127.0.0.1:${port}`;
    // More partial bodies than the server has slots (256), and partial headers besides.
    for (let i = 0; i < 270; i++) {
      held.push(
        await hold(
          port,
          `POST /slow/bc-authorize HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nscope=openid`,
        ),
      );
    }
    for (let i = 0; i < 30; i++)
      held.push(await hold(port, `GET /slow/.well-known/openid-configuration HTTP/1.1\r\nHo`));
    // Every held request has reached the server before this one (one event loop, in order).
    expect((await fetch(`${svc.url}/health`)).status).toBe(200);
    expect(held.every((socket) => !socket.destroyed)).toBe(true);

    // A loaded machine may miss once; a starved server answers 503 every time.
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 3 && statuses.at(-1) !== 200; attempt++) {
      const res = await fetch(`${fx.issuer}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(2_000) });
      statuses.push(res.status);
      await res.body?.cancel();
    }
    expect(statuses.at(-1), JSON.stringify(statuses)).toBe(200);
  });
});

describe('a client that sends too slowly', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ requestTimeoutMs: 1_000 });
  });
  afterAll(() => svc.stop());

  it('has 10 s by default for its headers and its whole request', () => {
    const server = svc.service.server;
    expect(server.headersTimeout).toBeLessThanOrEqual(10_000);
    expect(server.requestTimeout).toBeLessThanOrEqual(10_000);
  });

  it.each([
    ['a partial body', 'POST /x/bc-authorize HTTP/1.1\r\nHost: HOST\r\nContent-Length: 100\r\n\r\nscope='],
    ['partial headers', 'GET /health HTTP/1.1\r\nHost: HOST\r\nX-Slow: '],
  ])('is cut off once the timeout has passed when it holds %s', async (_, text) => {
    const host = new URL(svc.url).host;
    const socket = await hold(Number(new URL(svc.url).port), text.replace('HOST', host));
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk;
    });
    await new Promise((resolve) => socket.once('close', resolve));
    // Node answers 408 Request Timeout before closing.
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });
});
