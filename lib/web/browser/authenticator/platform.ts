/**
 * What the web authenticator asks of the browser itself: WebAuthn ceremonies, the service worker and Web Push,
 * the address bar, dialogs. The controller reaches the browser only through this (tests pass a fake).
 */
import { startAuthentication, startRegistration, WebAuthnError } from '@simplewebauthn/browser';

export interface PushSupport {
  permission(): NotificationPermission;
  /** Asks the user; true when granted. */
  requestPermission(): Promise<boolean>;
  /** A Web Push subscription for the tenant's VAPID key, as `PushSubscription.toJSON()`. */
  subscribe(key: string): Promise<unknown>;
}

export interface Platform {
  /** Web Crypto and IndexedDB are there (a secure context). */
  secure(): boolean;
  /** The one-time ticket in the address's fragment, taken out of the address bar and history. */
  takeTicket(): string | null;
  deviceName(): string;
  /** `navigator.credentials.get` with these options (JSON); the assertion as JSON. */
  assert(options: unknown): Promise<unknown>;
  /** `navigator.credentials.create` with these options (JSON); the credential as JSON. */
  register(options: unknown): Promise<unknown>;
  /** The WebAuthn ceremony was cancelled or failed in the browser (simplewebauthn wraps the DOMException). */
  ceremonyFailed(error: unknown): boolean;
  /** Registers the service worker; Web Push where the browser can do it. */
  push(): Promise<PushSupport | undefined>;
  /** The browser can receive Web Push notifications. */
  canPush(): boolean;
  confirm(question: string): boolean;
  reload(): void;
}

/** `navigator.credentials.get` with these options (JSON); the assertion as JSON. The approval page uses it too. */
export const assertPasskey = (options: unknown): Promise<unknown> =>
  startAuthentication({ optionsJSON: options as never });

/** The WebAuthn ceremony was cancelled or failed in the browser (simplewebauthn wraps the DOMException). */
export const passkeyCeremonyFailed = (error: unknown): boolean =>
  error instanceof DOMException || error instanceof WebAuthnError;

/** The browser can run a WebAuthn ceremony at all (a secure context with the API). */
export const passkeysAvailable = (): boolean => window.isSecureContext && 'PublicKeyCredential' in window;

export const browserPlatform = (page: { issuer: string; serviceWorker?: string | undefined }): Platform => ({
  secure: () => window.isSecureContext && !!globalThis.crypto?.subtle && 'indexedDB' in window,
  takeTicket() {
    const ticket = new URLSearchParams(location.hash.slice(1)).get('ticket');
    // The ticket is single use: out of the address bar and history before anything else.
    if (ticket) history.replaceState(null, '', `${location.pathname}${location.search}`);
    return ticket;
  },
  deviceName: browserDeviceName,
  canPush: () => 'PushManager' in window && 'Notification' in window,
  assert: assertPasskey,
  register: (options) => startRegistration({ optionsJSON: options as never }),
  ceremonyFailed: passkeyCeremonyFailed,
  async push() {
    if (!('serviceWorker' in navigator) || !page.serviceWorker) return undefined;
    let registration: ServiceWorkerRegistration;
    try {
      registration = await navigator.serviceWorker.register(page.serviceWorker, {
        scope: new URL(`${page.issuer}/authenticator`).pathname,
      });
    } catch {
      return undefined;
    }
    if (!('PushManager' in window) || !('Notification' in window)) return undefined;
    return {
      permission: () => Notification.permission,
      requestPermission: async () => (await Notification.requestPermission()) === 'granted',
      subscribe: async (key) =>
        (
          await registration.pushManager.subscribe({
            userVisibleOnly: true,
            applicationServerKey: base64UrlToBytes(key),
          })
        ).toJSON(),
    };
  },
  confirm: (question) => window.confirm(question),
  reload: () => location.reload(),
});

const base64UrlToBytes = (text: string): Uint8Array<ArrayBuffer> => {
  const b64 = text
    .replace(/-/g, '+')
    .replace(/_/g, '/')
    .padEnd(Math.ceil(text.length / 4) * 4, '=');
  const raw = atob(b64);
  const bytes = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
};

/** A short name for this browser, used as the device name at enrollment ("Chrome on Android"). */
const browserDeviceName = (): string => {
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua)
    ? 'Edge'
    : /Firefox\//.test(ua)
      ? 'Firefox'
      : /Chrome\//.test(ua)
        ? 'Chrome'
        : /Safari\//.test(ua)
          ? 'Safari'
          : 'Browser';
  const os = /Android/.test(ua)
    ? 'Android'
    : /iPhone|iPad/.test(ua)
      ? 'iOS'
      : /Mac OS X/.test(ua)
        ? 'macOS'
        : /Windows/.test(ua)
          ? 'Windows'
          : /Linux/.test(ua)
            ? 'Linux'
            : 'this device';
  return `${browser} on ${os}`;
};
