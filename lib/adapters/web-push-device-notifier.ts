import type { DeviceSummary, WebPushSettings, WebPushSubscription } from '../model.ts';
import type { TenantStore } from '../persistence.ts';
import type { DeviceNotification, DeviceNotifier, Logger } from '../ports.ts';
import type { OutboundRequester } from './guarded-outbound-http.ts';

/** Sends one encrypted Web Push message (RFC 8291) with VAPID (RFC 8292); replaceable in tests. */
export type WebPushSend = (
  subscription: WebPushSubscription,
  payload: string,
  options: { vapid: WebPushSettings; ttlSeconds: number; allowPrivateNetwork: boolean },
) => Promise<{ status: number } | { error: string }>;

/**
 * The Web Push sender: web-push encrypts the message and signs the VAPID token (`generateRequestDetails`), and the
 * service's guarded outbound client sends it (hardening rule 3: the push endpoint passes the same URL policy and
 * address check as every other call out; web-push's own request would connect anywhere). web-push (with its ASN.1
 * and big-number libraries) is loaded on the first message, not at import: most cold starts of bc-authorize and
 * web never send one (docs/performance.md).
 */
export const guardedWebPushSend =
  (outbound: OutboundRequester): WebPushSend =>
  async (subscription, payload, { vapid, ttlSeconds, allowPrivateNetwork }) => {
    const webPush = (await import('web-push')).default;
    const details = webPush.generateRequestDetails(subscription, payload, {
      vapidDetails: { subject: vapid.subject, publicKey: vapid.vapidPublicKey, privateKey: vapid.vapidPrivateKey },
      TTL: ttlSeconds,
      urgency: 'high',
    });
    return outbound.request(details.endpoint, {
      method: 'POST',
      headers: Object.fromEntries(Object.entries(details.headers).map(([name, value]) => [name, String(value)])),
      body: details.body,
      allowPrivateNetwork,
      name: 'the web push endpoint',
    });
  };

/**
 * Web Push for browser authenticators, in front of the platform notifier (SNS in AWS, the local notifier locally),
 * which still sees every notification. Sends to devices enrolled with a `webpush` subscription when their tenant
 * has VAPID keys. The payload is what the notification shows and the `txn`; the page fetches the details with a
 * signed request. A 404 or 410 from the push service means the subscription is gone: the channel is disabled.
 */
export class WebPushDeviceNotifier implements DeviceNotifier {
  readonly #next: DeviceNotifier;
  readonly #tenants: Pick<TenantStore, 'get'>;
  readonly #logger: Logger;
  readonly #send: WebPushSend;
  readonly #now: () => number;

  constructor(
    options: {
      next: DeviceNotifier;
      tenants: Pick<TenantStore, 'get'>;
      logger: Logger;
      now?: () => number;
    } & ({ send: WebPushSend } | { outbound: OutboundRequester }),
  ) {
    this.#next = options.next;
    this.#tenants = options.tenants;
    this.#logger = options.logger;
    this.#send = 'send' in options ? options.send : guardedWebPushSend(options.outbound);
    this.#now = options.now ?? Date.now;
    if (options.next.register) this.register = options.next.register.bind(options.next);
  }

  register?: DeviceNotifier['register'];

  async notify(device: DeviceSummary, notification: DeviceNotification): Promise<{ disabled?: boolean }> {
    const push = device.push;
    if (push?.type !== 'webpush' || push.disabled) return this.#next.notify(device, notification);
    const [sent] = await Promise.all([
      this.#sendWebPush(device, push.subscription, notification),
      this.#next.notify(device, notification),
    ]);
    return sent;
  }

  async #sendWebPush(
    device: DeviceSummary,
    subscription: WebPushSubscription,
    notification: DeviceNotification,
  ): Promise<{ disabled?: boolean }> {
    const tenant = await this.#tenants.get(notification.tenantId);
    const vapid = tenant?.settings.webPush;
    if (!vapid) {
      this.#logger.info('web push not configured for this tenant', { tenant: notification.tenantId });
      return {};
    }
    const payload = JSON.stringify({
      tenant: notification.tenantId,
      txn: notification.txn,
      title: notification.title,
      body: notification.body,
      expires_at: Math.floor(notification.expiresAt / 1000),
    });
    const ttlSeconds = Math.max(0, Math.floor((notification.expiresAt - this.#now()) / 1000));
    const answer = await this.#send(subscription, payload, {
      vapid,
      ttlSeconds,
      allowPrivateNetwork: tenant.settings.developmentMode,
    }).catch((error: unknown) => ({ error: (error as Error).message }));
    if ('error' in answer) {
      this.#logger.warn('web push failed', {
        tenant: notification.tenantId,
        device_id: device.deviceId,
        error: answer.error,
      });
      return {};
    }
    if (answer.status === 404 || answer.status === 410) {
      this.#logger.info('web push subscription gone', { device_id: device.deviceId, status: answer.status });
      return { disabled: true };
    }
    if (answer.status < 200 || answer.status >= 300) {
      this.#logger.warn('web push failed', {
        tenant: notification.tenantId,
        device_id: device.deviceId,
        status: answer.status,
      });
    }
    return {};
  }
}
