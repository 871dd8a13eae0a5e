import { createParser } from 'eventsource-parser';
import type { DeviceTransaction } from '../model.ts';
import { DeviceApiError } from './errors.ts';

/**
 * What `DeviceClient.events()` yields:
 * - `transaction`: the event stream says a request for this device arrived (fetch its details with `get`);
 * - `pending`: a poll's answer, every pending transaction (at the start, after each (re)connect of the stream, and
 *   periodically: the list is the truth, the stream only makes it faster);
 * - `connection`: how the device hears of requests now, each time that (or the wait before the next try) changes.
 */
export type DeviceEvent =
  | { type: 'transaction'; txn: string }
  | { type: 'pending'; transactions: DeviceTransaction[] }
  | ConnectionEvent;

/**
 * `live`: the event stream is open. `reconnecting`: it dropped or could not open, another try follows (polling
 * meanwhile). `polling`: a poll succeeded while the stream is not open (`intervalMs` until the next one), also for
 * good where the service has no stream (AWS answers 404). `offline`: a poll failed; the next one backs off.
 */
export type ConnectionEvent =
  | { type: 'connection'; state: 'live' }
  | { type: 'connection'; state: 'reconnecting'; retryInMs: number }
  | { type: 'connection'; state: 'polling'; intervalMs: number }
  | { type: 'connection'; state: 'offline'; retryInMs: number; error: DeviceApiError };

export interface DeviceEventsOptions {
  /** Ends the iteration (as does leaving a `for await` loop). */
  signal?: AbortSignal;
  /** Use the event stream where the service has one (default true); false polls only. */
  stream?: boolean;
  /** Between polls while the stream is not open (default 3000 ms). */
  pollIntervalMs?: number;
  /** Between polls while the stream is open, in case an event was lost (default 30000 ms). */
  livePollIntervalMs?: number;
  /** Before the first reconnect (default 3000 ms; the stream's `retry:` field replaces it). */
  reconnectDelayMs?: number;
  /** Failed polls and reconnects double their wait up to this (default 60000 ms). */
  maxDelayMs?: number;
}

/** What the event source needs from the client: a signed GET of the stream, and the pending list. */
export interface DeviceEventSource {
  openStream(signal: AbortSignal): Promise<Response>;
  pending(signal: AbortSignal): Promise<DeviceTransaction[]>;
}

/** Statuses that say the service has no event stream here: poll only, do not retry the stream. */
const NO_STREAM = new Set([404, 405, 501]);
/** Statuses worth another try of the stream later (an unavailable service, a proof refused by a skewed clock). */
const RETRY_STREAM = (status: number) => status >= 500 || status === 401 || status === 408 || status === 429;
/** An event or line larger than this ends the stream (the service sends a txn; this is a guard, not a limit). */
const MAX_EVENT_CHARS = 64 * 1024;

const sleep = (ms: number, signal: AbortSignal, wake?: Promise<void>) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    wake?.then(done);
  });

/** Waits of `base`, doubled per failure up to `max`, in [half, whole] so that devices do not retry in step. */
const backoff = (base: number, failures: number, max: number) => {
  const delay = Math.min(max, base * 2 ** Math.min(failures, 16));
  return Math.round(delay / 2 + (Math.random() * delay) / 2);
};

/**
 * Follows the device's requests: the server-sent event stream (`GET {issuer}/device/events`, local mode) with
 * reconnects and backoff, and polling of the pending list beside it (often while the stream is down or absent,
 * rarely while it is open). Yields until `signal` aborts or the consumer stops iterating.
 */
export async function* followDeviceEvents(
  source: DeviceEventSource,
  options: DeviceEventsOptions = {},
): AsyncGenerator<DeviceEvent, void, undefined> {
  const pollMs = options.pollIntervalMs ?? 3_000;
  const livePollMs = options.livePollIntervalMs ?? 30_000;
  const maxMs = options.maxDelayMs ?? 60_000;
  let reconnectMs = options.reconnectDelayMs ?? 3_000;

  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) stop.abort();
  const { signal } = stop;

  // One queue for both loops; the consumer pulls from it.
  const queue: DeviceEvent[] = [];
  let wakeConsumer: (() => void) | undefined;
  let lastState: string | undefined;
  const emit = (event: DeviceEvent) => {
    if (event.type === 'connection') {
      const key = JSON.stringify({ ...event, error: undefined });
      if (key === lastState) return;
      lastState = key;
    }
    queue.push(event);
    wakeConsumer?.();
  };

  let live = false;
  // Until the stream has opened or failed once, a poll says nothing about the connection (no flash of `polling`).
  let streamSettled = options.stream === false;
  let streamGone = options.stream === false;
  let pollRequested = false;
  let wakePoller: (() => void) | undefined;
  const pollNow = () => {
    pollRequested = true;
    wakePoller?.();
  };

  const pollLoop = async () => {
    let failures = 0;
    while (!signal.aborted) {
      pollRequested = false;
      let wait: number;
      try {
        const transactions = await source.pending(signal);
        if (signal.aborted) return;
        failures = 0;
        emit({ type: 'pending', transactions });
        wait = live ? livePollMs : pollMs;
        if (!live && streamSettled) emit({ type: 'connection', state: 'polling', intervalMs: wait });
      } catch (error) {
        if (signal.aborted) return;
        wait = backoff(pollMs, ++failures, maxMs);
        if (!live && streamSettled) {
          emit({ type: 'connection', state: 'offline', retryInMs: wait, error: asDeviceApiError(error) });
        }
      }
      // Asked for while this poll was under way (the stream opened meanwhile): its answer may predate what we missed.
      if (pollRequested) continue;
      await sleep(
        wait,
        signal,
        new Promise<void>((resolve) => {
          wakePoller = resolve;
        }),
      );
      wakePoller = undefined;
    }
  };

  const streamLoop = async () => {
    let failures = 0;
    while (!signal.aborted && !streamGone) {
      const outcome = await readStream(source, signal, {
        onOpen: () => {
          live = true;
          streamSettled = true;
          failures = 0;
          emit({ type: 'connection', state: 'live' });
          pollNow(); // events sent while the stream was down are lost: the list tells them
        },
        onTxn: (txn) => emit({ type: 'transaction', txn }),
        onRetry: (ms) => {
          reconnectMs = Math.min(Math.max(ms, 250), maxMs);
        },
      });
      live = false;
      streamSettled = true;
      if (signal.aborted) return;
      if (outcome === 'absent') {
        streamGone = true;
        pollNow(); // and say `polling` at once
        return;
      }
      if (outcome === 'failed') failures++;
      const wait = outcome === 'ended' ? reconnectMs : backoff(reconnectMs, failures, maxMs);
      emit({ type: 'connection', state: 'reconnecting', retryInMs: wait });
      pollNow();
      await sleep(wait, signal);
    }
  };

  const wakeOnAbort = () => wakeConsumer?.();
  signal.addEventListener('abort', wakeOnAbort, { once: true });
  const loops = Promise.all([pollLoop(), streamLoop()]);
  try {
    for (;;) {
      while (queue.length > 0) yield queue.shift()!;
      if (signal.aborted) return;
      await new Promise<void>((resolve) => {
        wakeConsumer = resolve;
      });
      wakeConsumer = undefined;
    }
  } finally {
    stop.abort();
    options.signal?.removeEventListener('abort', onAbort);
    await loops;
  }
}

type StreamOutcome = 'ended' | 'failed' | 'absent';

/** Opens the stream and reads it until it ends. `absent`: this service has none; `failed`: it did not open. */
const readStream = async (
  source: DeviceEventSource,
  signal: AbortSignal,
  on: { onOpen: () => void; onTxn: (txn: string) => void; onRetry: (ms: number) => void },
): Promise<StreamOutcome> => {
  let response: Response;
  try {
    response = await source.openStream(signal);
  } catch {
    return 'failed';
  }
  const type = response.headers.get('content-type') ?? '';
  if (!response.ok || !response.body || !/^text\/event-stream/i.test(type)) {
    await response.body?.cancel().catch(() => {});
    if (NO_STREAM.has(response.status)) return 'absent';
    // A 200 that is no event stream, or a refusal that will not change (403): this service has none for us.
    return RETRY_STREAM(response.status) ? 'failed' : 'absent';
  }
  on.onOpen();
  let tooLarge = false;
  const parser = createParser({
    maxBufferSize: MAX_EVENT_CHARS,
    onEvent: (message) => {
      if (message.event !== undefined && message.event !== 'transaction') return;
      try {
        const data = JSON.parse(message.data) as { txn?: unknown };
        if (typeof data.txn === 'string') on.onTxn(data.txn);
      } catch {
        // not an event of ours
      }
    },
    onRetry: on.onRetry,
    onError: (error) => {
      if (error.type === 'max-buffer-size-exceeded') tooLarge = true;
    },
  });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  try {
    while (!tooLarge) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.feed(decoder.decode(value, { stream: true }));
    }
  } catch {
    // the connection dropped, or the iteration stopped
  } finally {
    await reader.cancel().catch(() => {});
  }
  return 'ended';
};

const asDeviceApiError = (error: unknown): DeviceApiError =>
  error instanceof DeviceApiError
    ? error
    : new DeviceApiError(0, 'network_error', error instanceof Error ? error.message : String(error));
