/**
 * The authenticator's service worker: shows a Web Push notification (title, binding message) and opens or focuses
 * the authenticator when it is tapped. The payload never carries more than the notification shows and the txn.
 */

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
      data: { url: appUrl() },
    } as NotificationOptions),
  );
});

sw.addEventListener('notificationclick', (event: ExtendableEvent & { notification: Notification }) => {
  event.notification.close();
  const url = (event.notification.data as { url?: string } | undefined)?.url ?? appUrl();
  event.waitUntil(
    sw.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((windows) => {
      const open = windows.find((w) => w.url.startsWith(url));
      return open ? open.focus() : sw.clients.openWindow(url);
    }),
  );
});
