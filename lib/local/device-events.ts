import type { IncomingMessage, ServerResponse } from 'node:http';
import { authenticateDevice } from '../ciba/verify-device-proof.ts';
import { WireError } from '../errors.ts';
import { EVENT } from '../events.ts';
import { isValidTenantId } from '../http/routes.ts';
import type { Deps } from '../ports.ts';
import type { InProcessEventBus } from './in-process-event-bus.ts';
import type { LocalNotifier } from './local-notifier.ts';

const EVENTS_PATH = /^\/([a-z0-9][a-z0-9-]{0,62})\/device\/events$/;
const KEEPALIVE_MS = 25_000;

/**
 * Local mode only: `GET {issuer}/device/events`, a server-sent event stream that tells a web authenticator the
 * moment a request for its device arrives (`data: {"txn": "..."}`), fed by the local notifier, and the moment one of
 * its user's requests is decided, here or elsewhere (another device, the client cancelling, too many wrong codes),
 * from the lifecycle events on the bus: the page fetches it and sees its status, so a request nobody waits for
 * any more leaves the screen at once. Authenticated like
 * every device call, with a DPoP proof of an enrolled device key (the page opens it with fetch, which can send the
 * header). The event carries only the txn: the page fetches the details with a signed request. In AWS there is no
 * such route (API Gateway HTTP APIs do not stream): the page polls.
 */
export const deviceEvents =
  (
    deps: Pick<Deps, 'deviceProofs' | 'clock' | 'config' | 'logger'>,
    notifier: LocalNotifier,
    bus?: InProcessEventBus,
  ) =>
  async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    const match = EVENTS_PATH.exec(url.pathname);
    if (!match || !isValidTenantId(match[1]!)) return false;
    const tenantId = match[1]!;
    const fail = (status: number, body: Record<string, unknown>, headers: Record<string, string> = {}) => {
      res.writeHead(status, {
        'Content-Type': 'application/json',
        'Cache-Control': 'no-store',
        'X-Content-Type-Options': 'nosniff',
        ...headers,
      });
      res.end(JSON.stringify(body));
      return true;
    };
    if (req.method !== 'GET') {
      return fail(
        405,
        { error: 'invalid_request', error_description: 'method not allowed; use GET' },
        { Allow: 'GET' },
      );
    }
    const base = deps.config.publicUrl ?? `http://${req.headers.host ?? '127.0.0.1'}`;
    const proof = req.headers.dpop;
    let deviceId: string;
    let sub: string;
    try {
      const { device } = await authenticateDevice(deps, {
        tenantId,
        proof: Array.isArray(proof) ? proof.join(',') : proof,
        htm: 'GET',
        htu: `${base}${url.pathname}`,
      });
      deviceId = device.deviceId;
      sub = device.sub;
    } catch (error) {
      if (error instanceof WireError) return fail(error.status, error.toJSON(), error.headers);
      throw error;
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      Connection: 'keep-alive',
    });
    res.write('retry: 3000\n\n');
    const tell = (txn: unknown) => res.write(`event: transaction\ndata: ${JSON.stringify({ txn })}\n\n`);
    const unsubscribe = notifier.subscribe((device, notification) => {
      if (device.deviceId !== deviceId || notification.tenantId !== tenantId) return;
      tell(notification.txn);
    });
    const unsubscribeDecided = bus?.subscribe(async (event) => {
      if (event.type === EVENT.requestDecided && event.tenantId === tenantId && event.detail.sub === sub) {
        tell(event.detail.txn);
      }
    });
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
    keepalive.unref();
    const close = () => {
      unsubscribe();
      unsubscribeDecided?.();
      clearInterval(keepalive);
    };
    req.on('close', close);
    res.on('error', close);
    deps.logger.debug('device event stream opened', { tenant: tenantId, device_id: deviceId });
    return true;
  };
