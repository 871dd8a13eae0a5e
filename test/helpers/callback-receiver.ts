import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedCallback {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The raw body, byte for byte. */
  body: string;
}

/** How the receiver answers: a status (and headers, body), or `hang` (accept, never answer). */
export type Answer = { status: number; headers?: Record<string, string>; body?: string } | 'hang';

/**
 * A client's notification endpoint on loopback. Each path has its own script of answers (the last one repeats;
 * 204 when none), so every scenario registers its own client at its own path and nothing leaks between tests.
 */
export class CallbackReceiver {
  readonly received: ReceivedCallback[] = [];
  readonly #scripts = new Map<string, Answer[]>();
  readonly #counts = new Map<string, number>();

  private constructor(
    private readonly server: Server,
    readonly base: string,
  ) {}

  static async start(): Promise<CallbackReceiver> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const receiver = new CallbackReceiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = req.url ?? '/';
        receiver.received.push({
          method: req.method ?? '',
          path,
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
        });
        const n = receiver.#counts.get(path) ?? 0;
        receiver.#counts.set(path, n + 1);
        const script = receiver.#scripts.get(path) ?? [];
        const answer = script[Math.min(n, script.length - 1)] ?? { status: 204 };
        if (answer === 'hang') return;
        res.writeHead(answer.status, answer.headers ?? {});
        res.end(answer.body ?? '');
      });
    });
    return receiver;
  }

  /** The endpoint URL for a path, with its answers. */
  endpoint(path: string, answers: Answer[] = []): string {
    this.#scripts.set(path, answers);
    return `${this.base}${path}`;
  }

  at(path: string): ReceivedCallback[] {
    return this.received.filter((r) => r.path === path);
  }

  /** Waits until `path` has received `count` requests (fails after `timeoutMs`). */
  async waitFor(path: string, count: number, timeoutMs = 10_000): Promise<ReceivedCallback[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.at(path).length < count) {
      if (Date.now() > deadline) {
        throw new Error(`${path}: ${this.at(path).length} of ${count} callbacks after ${timeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.at(path);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a value (fails after `timeoutMs`). */
export const eventually = async <T>(check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(25);
  }
};
