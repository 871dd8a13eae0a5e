import type { OutboundRequester } from '../adapters/guarded-outbound-http.ts';
import { WebPushDeviceNotifier, type WebPushSend } from '../adapters/web-push-device-notifier.ts';
import type { DeviceSummary } from '../model.ts';
import type { TenantStore } from '../persistence.ts';
import type { DeviceNotification, DeviceNotifier, Logger } from '../ports.ts';

export type NotificationListener = (device: DeviceSummary, notification: DeviceNotification) => void;

/**
 * Local stand-in for SNS mobile push: a log line per device, a POST to the device's webhook when it enrolled with
 * one, a real Web Push to a browser authenticator's subscription (tenants with VAPID keys), and in-process
 * listeners (live pages). Webhook and Web Push go through the service's guarded outbound client (hardening rule 3:
 * the tenant's development mode decides whether loopback and private addresses may be called, as for callbacks).
 */
export class LocalNotifier implements DeviceNotifier {
  private readonly listeners = new Set<NotificationListener>();

  private readonly webPush: WebPushDeviceNotifier;

  constructor(
    private readonly logger: Logger,
    private readonly options: {
      tenants: Pick<TenantStore, 'get'>;
      outbound: OutboundRequester;
      /** Replaces the Web Push sender (tests). */
      webPushSend?: WebPushSend;
    },
  ) {
    this.webPush = new WebPushDeviceNotifier({
      next: { notify: async () => ({}) },
      tenants: options.tenants,
      logger,
      ...(options.webPushSend ? { send: options.webPushSend } : { outbound: options.outbound }),
    });
  }

  subscribe(listener: NotificationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async notify(device: DeviceSummary, notification: DeviceNotification): Promise<{ disabled?: boolean }> {
    this.logger.info(`push to device ${device.name}: ${notification.title} ${notification.body}`, {
      tenant: notification.tenantId,
      device_id: device.deviceId,
      txn: notification.txn,
    });
    for (const listener of this.listeners) listener(device, notification);
    if (device.push?.type === 'webpush') return this.webPush.notify(device, notification);
    if (device.push?.type === 'webhook') {
      // Fire and forget: the request does not wait for the device's receiver.
      void this.#postWebhook(device, device.push.url, notification);
    }
    return {};
  }

  async #postWebhook(device: DeviceSummary, url: string, notification: DeviceNotification): Promise<void> {
    const tenant = await this.options.tenants.get(notification.tenantId).catch(() => undefined);
    const answer = await this.options.outbound.request(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        tenant: notification.tenantId,
        txn: notification.txn,
        title: notification.title,
        body: notification.body,
        expires_at: Math.floor(notification.expiresAt / 1000),
      }),
      allowPrivateNetwork: tenant?.settings.developmentMode === true,
      name: 'the device webhook',
    });
    if ('error' in answer) {
      this.logger.warn('device webhook failed', { device_id: device.deviceId, error: answer.error });
    }
  }
}
