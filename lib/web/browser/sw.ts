/**
 * The authenticator's service worker: shows a Web Push notification (title, binding message) with Deny and "I didn't
 * ask for this" buttons, answers those with the device key (notification-actions.ts), and opens or focuses the
 * authenticator when the notification itself is tapped. The payload never carries more than the notification shows
 * and the txn.
 */
import { loadStoredDeviceKey } from '../../device/browser-key-store.ts';
import { DeviceClient } from '../../device/client.ts';
import {
  answerFromNotification,
  isNotificationAction,
  issuerOfScope,
  NOTIFICATION_ACTIONS,
} from './notification-actions.ts';

interface PushPayload {
  tenant?: string;
  txn?: string;
  title?: string;
  body?: string;
  expires_at?: number;
}

// Service worker globals, typed minimally (the project's lib is DOM, not WebWorker).
interface WorkerScope {
  registration: ServiceWorkerRegistration;
  clients: {
    matchAll(options: { type: 'window'; includeUncontrolled: boolean }): Promise<WindowClientLike[]>;
    openWindow(url: string): Promise<unknown>;
  };
  addEventListener(type: string, listener: (event: never) => void): void;
  skipWaiting(): Promise<void>;
}
interface WindowClientLike {
  url: string;
  focus(): Promise<unknown>;
}
interface ExtendableEvent {
  waitUntil(promise: Promise<unknown>): void;
}

const sw = self as unknown as WorkerScope;
const appUrl = () => sw.registration.scope.replace(/\/+$/, '');

sw.addEventListener('install', () => void sw.skipWaiting());

sw.addEventListener('push', (event: ExtendableEvent & { data?: { json(): unknown } }) => {
  let payload: PushPayload = {};
  try {
    payload = (event.data?.json() ?? {}) as PushPayload;
  } catch {
    // an empty or foreign push: still tell the user something arrived
  }
  const title = payload.title ?? 'Approval request';
  event.waitUntil(
    sw.registration.showNotification(title, {
      body: payload.body ?? 'Open to review the request',
      tag: payload.txn ?? 'ciba-request',
      // The worker runs from {base}/{tenant}/authenticator/sw.js; the icon is one of the shared assets.
      icon: new URL('../../assets/icon-192.png', location.href).href,
      requireInteraction: true,
      data: { url: appUrl(), txn: payload.txn },
      actions: NOTIFICATION_ACTIONS.map(({ action, title: label }) => ({ action, title: label })),
    } as NotificationOptions),
  );
});

const openApp = (url: string) =>
  sw.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((windows) => {
    const open = windows.find((w) => w.url.startsWith(url));
    return open ? open.focus() : sw.clients.openWindow(url);
  });

/** Deny or report from the notification, signed with this browser's device key; the page when that cannot be done. */
const answer = async (action: 'deny' | 'report', data: { url?: string; txn?: string }) => {
  const issuer = issuerOfScope(sw.registration.scope);
  const key = await loadStoredDeviceKey(issuer).catch(() => undefined);
  const next = await answerFromNotification(key && new DeviceClient({ issuer, key }), { txn: data.txn, action });
  if (next.open) return openApp(data.url ?? appUrl());
  return sw.registration.showNotification(next.title, {
    body: next.body,
    tag: data.txn ?? 'ciba-request',
    icon: new URL('../../assets/icon-192.png', location.href).href,
    data: { url: data.url ?? appUrl() },
  } as NotificationOptions);
};

sw.addEventListener('notificationclick', (event: ExtendableEvent & { notification: Notification; action?: string }) => {
  event.notification.close();
  const data = (event.notification.data ?? {}) as { url?: string; txn?: string };
  if (event.action && isNotificationAction(event.action)) {
    event.waitUntil(answer(event.action, data));
    return;
  }
  event.waitUntil(openApp(data.url ?? appUrl()));
});
