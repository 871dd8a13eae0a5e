import { WebPushDeviceNotifier, type WebPushSend } from '../adapters/web-push-device-notifier.ts';
import type { DeviceSummary } from '../model.ts';
import type { DeviceNotification, DeviceNotifier, Directory, Logger } from '../ports.ts';

export type NotificationListener = (device: DeviceSummary, notification: DeviceNotification) => void;

/**
 * Local stand-in for SNS mobile push: a log line per device, a POST to the device's webhook when it
 * enrolled with one (fire and forget, 5 s timeout, no redirects), and in-process listeners (live pages).
 */
export class LocalNotifier implements DeviceNotifier {
  private readonly listeners = new Set<NotificationListener>();

  private readonly webPush: WebPushDeviceNotifier | undefined;

  /** With a directory, devices enrolled with a Web Push subscription also get a real push (tenants with VAPID keys). */
  constructor(
    private readonly logger: Logger,
    options: { directory?: Pick<Directory, 'getTenant'>; webPushSend?: WebPushSend } = {},
  ) {
    this.webPush = options.directory
      ? new WebPushDeviceNotifier({
          next: { notify: async () => ({}) },
          directory: options.directory,
          logger,
          ...(options.webPushSend ? { send: options.webPushSend } : {}),
        })
      : undefined;
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
    if (device.push?.type === 'webpush' && this.webPush) return this.webPush.notify(device, notification);
    if (device.push?.type === 'webhook') {
      const url = device.push.url;
      fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          tenant: notification.tenantId,
          txn: notification.txn,
          title: notification.title,
          body: notification.body,
          expires_at: Math.floor(notification.expiresAt / 1000),
        }),
        redirect: 'manual',
        signal: AbortSignal.timeout(5000),
      }).catch((error: unknown) => this.logger.warn('device webhook failed', { device_id: device.deviceId, error }));
    }
    return {};
  }
}
