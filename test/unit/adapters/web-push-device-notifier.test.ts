import { describe, expect, it } from 'vitest';
import { WebPushDeviceNotifier, type WebPushSend } from '../../../lib/adapters/web-push-device-notifier.ts';
import { DEFAULT_TENANT_SETTINGS, type DeviceSummary, type Tenant } from '../../../lib/model.ts';
import type { DeviceNotification, DeviceNotifier } from '../../../lib/ports.ts';

const vapid = { subject: 'mailto:ops@example.com', vapidPublicKey: 'pub', vapidPrivateKey: 'priv' };
const tenant = (webPush = true): Tenant => ({
  tenantId: 't',
  settings: { ...DEFAULT_TENANT_SETTINGS, ...(webPush ? { webPush: vapid } : {}) },
  createdAt: 0,
  updatedAt: 0,
});
const subscription = { endpoint: 'https://fcm.googleapis.com/fcm/send/abc', keys: { p256dh: 'p', auth: 'a' } };
const device: DeviceSummary = { deviceId: 'd', name: 'Chrome', createdAt: 0, push: { type: 'webpush', subscription } };
const notification: DeviceNotification = {
  tenantId: 't',
  txn: 'x',
  title: 'Approve?',
  body: 'Code 4F-22',
  expiresAt: 301_000,
};
const logger = { debug() {}, info() {}, warn() {}, error() {} };

const setup = (options: { webPush?: boolean; status?: number } = {}) => {
  const sent: { payload: unknown; ttlSeconds: number; subject: string }[] = [];
  const forwarded: DeviceSummary[] = [];
  const next: DeviceNotifier = {
    notify: async (d) => {
      forwarded.push(d);
      return {};
    },
  };
  const send: WebPushSend = async (_sub, payload, o) => {
    sent.push({ payload: JSON.parse(payload), ttlSeconds: o.ttlSeconds, subject: o.vapid.subject });
    return { status: options.status ?? 201 };
  };
  const notifier = new WebPushDeviceNotifier({
    next,
    tenants: { get: async () => tenant(options.webPush ?? true) },
    logger,
    send,
    now: () => 1_000,
  });
  return { notifier, sent, forwarded };
};

describe('WebPushDeviceNotifier', () => {
  it('sends what the notification shows and the txn, with the tenant VAPID key and a TTL up to the expiry', async () => {
    const { notifier, sent, forwarded } = setup();
    expect(await notifier.notify(device, notification)).toEqual({});
    expect(sent).toEqual([
      {
        payload: { tenant: 't', txn: 'x', title: 'Approve?', body: 'Code 4F-22', expires_at: 301 },
        ttlSeconds: 300,
        subject: 'mailto:ops@example.com',
      },
    ]);
    expect(forwarded).toEqual([device]);
  });

  it('passes other devices to the next notifier only', async () => {
    const { notifier, sent, forwarded } = setup();
    const other: DeviceSummary = { deviceId: 'm', name: 'Phone', createdAt: 0, push: { type: 'fcm', token: 'tok' } };
    await notifier.notify(other, notification);
    expect(sent).toEqual([]);
    expect(forwarded).toEqual([other]);
  });

  it('does nothing for tenants without VAPID keys', async () => {
    const { notifier, sent } = setup({ webPush: false });
    expect(await notifier.notify(device, notification)).toEqual({});
    expect(sent).toEqual([]);
  });

  it.each([404, 410])('disables the channel when the push service answers %i', async (status) => {
    const { notifier } = setup({ status });
    expect(await notifier.notify(device, notification)).toEqual({ disabled: true });
  });

  it('keeps the channel on other failures', async () => {
    const { notifier } = setup({ status: 503 });
    expect(await notifier.notify(device, notification)).toEqual({});
  });

  it('keeps the channel when the send fails without an answer (refused destination, network)', async () => {
    const notifier = new WebPushDeviceNotifier({
      next: { notify: async () => ({}) },
      tenants: { get: async () => tenant() },
      logger,
      send: async () => ({ error: 'destination refused: the web push endpoint must not be a loopback address' }),
    });
    expect(await notifier.notify(device, notification)).toEqual({});
  });
});
