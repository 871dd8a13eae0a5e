import { describe, expect, it } from 'vitest';
import {
  DeviceApiError,
  type DeviceEvent,
  type DeviceEventSource,
  followDeviceEvents,
} from '../../../lib/device/index.ts';
import type { DeviceTransaction } from '../../../lib/model.ts';

const TX = { txn: 'tx-1', client_id: 'c', client_name: 'ACME', scope: 'openid', created_at: 1, expires_at: 2 };

/** A response whose body is these chunks, then either the end or (open) a stream that stays open until aborted. */
const streamResponse = (chunks: string[], signal: AbortSignal, open = false) => {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      if (!open) controller.close();
      else signal.addEventListener('abort', () => controller.error(new Error('aborted')));
    },
  });
  return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream; charset=utf-8' } });
};

/** Takes events until `until` matches one (then stops the iteration) or `max` were seen. */
const take = async (
  source: DeviceEventSource,
  until: (e: DeviceEvent, seen: DeviceEvent[]) => boolean,
  options = {},
): Promise<DeviceEvent[]> => {
  const seen: DeviceEvent[] = [];
  for await (const event of followDeviceEvents(source, { reconnectDelayMs: 5, pollIntervalMs: 5, ...options })) {
    seen.push(event);
    if (until(event, seen) || seen.length > 200) break;
  }
  return seen;
};

const states = (events: DeviceEvent[]) => events.flatMap((e) => (e.type === 'connection' ? [e.state] : []));

describe('followDeviceEvents', () => {
  it('parses events split across chunks and CRLF lines, ignoring comments, other event types and foreign data', async () => {
    const chunks = [
      'retry: 3000\r\n\r\n: keepalive\r\n\r\nevent: transac',
      'tion\r\nda',
      'ta: {"txn":"A"}\r\n\r\nevent: other\ndata: {"txn":"X"}\n\ndata: not json\n\ndata: {"txn":',
      '"B"}\n\n',
    ];
    const source: DeviceEventSource = {
      openStream: async (signal) => streamResponse(chunks, signal, true),
      pending: async () => [],
    };
    const seen = await take(source, (_, all) => all.filter((e) => e.type === 'transaction').length === 2, {
      livePollIntervalMs: 60_000,
    });
    expect(seen.filter((e) => e.type === 'transaction')).toEqual([
      { type: 'transaction', txn: 'A' },
      { type: 'transaction', txn: 'B' },
    ]);
  });

  it('lists the pending transactions again each time the stream opens (what was sent meanwhile is lost)', async () => {
    let opens = 0;
    let polls = 0;
    const source: DeviceEventSource = {
      openStream: async (signal) => {
        opens++;
        return streamResponse(['retry: 5\n\n'], signal); // opens, then ends at once
      },
      pending: async () => {
        polls++;
        return [TX as DeviceTransaction];
      },
    };
    const seen = await take(source, (_, all) => states(all).filter((s) => s === 'live').length === 3, {
      livePollIntervalMs: 60_000,
      pollIntervalMs: 60_000,
    });
    expect(opens).toBeGreaterThanOrEqual(3);
    // One poll at the start, one per open (a long interval otherwise): a poll follows every reconnect.
    expect(polls).toBeGreaterThanOrEqual(3);
    // Between two opens: reconnecting, and polling once the poll it asked for answered.
    expect(states(seen).slice(0, 2)).toEqual(['live', 'reconnecting']);
    expect(states(seen).filter((s) => s === 'reconnecting').length).toBeGreaterThanOrEqual(2);
  });

  it('backs off while the stream cannot open (503), polling meanwhile, and goes live when it opens', async () => {
    let opens = 0;
    const source: DeviceEventSource = {
      openStream: async (signal) =>
        ++opens < 4 ? new Response('busy', { status: 503 }) : streamResponse([], signal, true),
      pending: async () => [],
    };
    const seen = await take(source, (e) => e.type === 'connection' && e.state === 'live', { maxDelayMs: 1_000 });
    const waits = seen.flatMap((e) => (e.type === 'connection' && e.state === 'reconnecting' ? [e.retryInMs] : []));
    // Each wait twice the last (jittered within its upper half): 5 ms doubled per failure.
    expect(waits).toHaveLength(3);
    expect(waits[0]).toBeGreaterThanOrEqual(5);
    expect(waits[0]).toBeLessThanOrEqual(10);
    expect(waits[2]).toBeGreaterThanOrEqual(20);
    expect(waits[2]).toBeLessThanOrEqual(40);
    expect(states(seen)).toContain('polling');
    expect(states(seen).at(-1)).toBe('live');
    expect(opens).toBe(4);
  });

  it.each([
    [403, 'a refusal that will not change'],
    [200, 'an answer that is no event stream'],
  ])('polls only after %i (%s), and never asks for the stream again', async (status) => {
    let opens = 0;
    const source: DeviceEventSource = {
      openStream: async () => {
        opens++;
        return new Response('{}', { status, headers: { 'content-type': 'application/json' } });
      },
      pending: async () => [],
    };
    const seen = await take(source, (_, all) => all.filter((e) => e.type === 'pending').length >= 10);
    expect(opens).toBe(1);
    expect(states(seen)).toEqual(['polling']);
  });

  it('says offline when a poll fails without a stream, with the typed error, and polling again once one succeeds', async () => {
    let polls = 0;
    const source: DeviceEventSource = {
      openStream: async () => new Response('', { status: 404 }),
      pending: async () => {
        polls++;
        if (polls === 3) throw new DeviceApiError(0, 'network_error', 'unreachable');
        return [];
      },
    };
    const seen = await take(source, (_, all) => states(all).length === 3, { maxDelayMs: 20 });
    expect(states(seen)).toEqual(['polling', 'offline', 'polling']);
    expect(seen.find((e) => e.type === 'connection' && e.state === 'offline')).toMatchObject({
      error: { error: 'network_error' },
    });
  });

  it('ends when its signal aborts, also while waiting for an event', async () => {
    const controller = new AbortController();
    const source: DeviceEventSource = {
      openStream: async (signal) => streamResponse([], signal, true),
      pending: async () => [],
    };
    const seen: DeviceEvent[] = [];
    for await (const event of followDeviceEvents(source, { signal: controller.signal })) {
      seen.push(event);
      if (event.type === 'connection') controller.abort();
    }
    expect(states(seen)).toEqual(['live']);
  });
});
