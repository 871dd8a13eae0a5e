/**
 * The web authenticator: enrolls this browser with the ticket in the URL fragment (a non-extractable P-256 key in
 * IndexedDB), lists pending requests live, and approves or denies them with DPoP-signed calls (lib/device).
 */
import { startAuthentication, startRegistration, WebAuthnError } from '@simplewebauthn/browser';
import { browserKeyStore, createStoredDeviceKey, loadStoredDeviceKey } from '../../device/browser-key-store.ts';
import {
  DeviceClient,
  type DeviceProfile,
  type PasskeyRegistrationOptions,
  type Transaction,
} from '../../device/client.ts';
import { createDpopProof } from '../../device/dpop.ts';
import {
  DeviceApiError,
  InvalidBindingCode,
  InvalidDpopProof,
  RequestNotPending,
  UserVerificationRequired,
} from '../../device/errors.ts';
import { browserDeviceName, describeScopes, renderAuthorizationDetails } from './describe.ts';
import { $, formatTimeLeft, h, sleep } from './dom.ts';

const body = document.body;
const issuer = body.dataset.issuer ?? `${location.origin}${location.pathname.replace(/\/authenticator\/?$/, '')}`;
const tenantName = body.dataset.tenantName ?? 'Authenticator';
const webPushKey = body.dataset.webPushKey ?? '';
const app = $('#app');
const live = $('#live');

/** Show one screen: replaces the app's content and moves focus to its heading, for screen readers and keyboards. */
const show = (...nodes: Node[]) => {
  app.replaceChildren(...nodes);
  app.removeAttribute('aria-busy');
  const heading = app.querySelector<HTMLElement>('h1, h2');
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
};

const notice = (kind: 'info' | 'error' | 'success', title: string, ...text: (Node | string)[]) =>
  h(
    'section',
    { class: `card notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('h1', {}, title),
    ...text.map((t) => (typeof t === 'string' ? h('p', {}, t) : t)),
  );

const errorText = (error: unknown): string => {
  const text =
    error instanceof DeviceApiError
      ? (error.description ?? error.error)
      : error instanceof Error
        ? error.message
        : String(error);
  const sentence = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(sentence) ? sentence : `${sentence}.`;
};

/** The browser's WebAuthn ceremony failed or was cancelled (simplewebauthn wraps the DOMException). */
const ceremonyFailed = (error: unknown): boolean => error instanceof DOMException || error instanceof WebAuthnError;

// ---------------------------------------------------------------------------------------------------------------
// Start

const start = async () => {
  if (!window.isSecureContext || !globalThis.crypto?.subtle || !('indexedDB' in window)) {
    show(
      notice(
        'error',
        'This page needs a secure connection',
        'The authenticator keeps its key with the browser’s Web Crypto, which only works over https (or on localhost).',
        'Open it through an https address, for example with CIBA_PUBLIC_URL behind a TLS proxy.',
      ),
    );
    return;
  }
  const ticket = new URLSearchParams(location.hash.slice(1)).get('ticket');
  if (ticket) {
    // The ticket is single use: take it out of the address bar and history before anything else.
    history.replaceState(null, '', `${location.pathname}${location.search}`);
    await enroll(ticket);
    return;
  }
  const key = await loadStoredDeviceKey(issuer);
  if (!key) {
    showNotEnrolled();
    return;
  }
  await run(new DeviceClient({ issuer, key }));
};

const showNotEnrolled = (message?: string) =>
  show(
    notice(
      'info',
      'Set up this authenticator',
      ...(message ? [message] : []),
      `This browser is not yet an authenticator for ${tenantName}.`,
      'Open the enrollment link you were given, or scan its QR code with this phone’s camera. The link works once and for 10 minutes.',
    ),
  );

const enroll = async (ticket: string) => {
  show(
    h(
      'section',
      { class: 'card', 'aria-busy': 'true' },
      h('h1', {}, 'Setting up this browser…'),
      h('p', { class: 'muted' }, 'Creating a key that never leaves this device.'),
    ),
  );
  const name = browserDeviceName();
  let client: DeviceClient | undefined;
  try {
    const key = await createStoredDeviceKey(issuer, name);
    client = new DeviceClient({ issuer, key });
    await client.enroll({ ticket, name });
  } catch (error) {
    await browserKeyStore.remove(issuer).catch(() => {});
    show(
      notice(
        'error',
        'This enrollment link did not work',
        errorText(error),
        'Enrollment links work once and expire after 10 minutes. Ask for a new one.',
      ),
    );
    return;
  }
  await run(client, { justEnrolled: true });
};

// ---------------------------------------------------------------------------------------------------------------
// The enrolled authenticator

interface Entry {
  tx: Transaction;
  card: HTMLElement;
  timer?: HTMLElement;
  bar?: HTMLElement;
  /** Decided here: the card shows the result and no longer follows the list. */
  done?: boolean;
}

const run = async (client: DeviceClient, options: { justEnrolled?: boolean } = {}) => {
  let profile: DeviceProfile;
  try {
    profile = await client.profile();
  } catch (error) {
    if (error instanceof InvalidDpopProof) {
      await browserKeyStore.remove(issuer).catch(() => {});
      showNotEnrolled('This authenticator was removed by an administrator.');
      return;
    }
    show(notice('error', 'Cannot reach the service', errorText(error), 'Reload the page to try again.'));
    return;
  }

  const entries = new Map<string, Entry>();
  const list = h('div', { class: 'requests', id: 'requests' });
  const empty = h(
    'section',
    { class: 'card empty' },
    h('h2', {}, 'No requests right now'),
    h(
      'p',
      { class: 'muted' },
      // Offer notifications only where this tenant and browser can give them (setUpNotifications says the same).
      (profile.tenant.web_push_public_key ?? webPushKey) && 'PushManager' in window && 'Notification' in window
        ? 'When a service asks you to approve, the request appears here. Keep this page open, or turn on notifications.'
        : 'When a service asks you to approve, the request appears here. Keep this page open to see it.',
    ),
  );
  const setup = h('div', { class: 'setup' });
  const intro = options.justEnrolled
    ? notice(
        'success',
        'This browser is your authenticator',
        `Requests from ${profile.tenant.display_name} will appear here.`,
      )
    : null;
  show(...[intro, setup, list, empty, footer(client, profile)].filter((n): n is HTMLElement => n !== null));
  if (!intro) app.focus({ preventScroll: true });

  renderSetup(setup, client, profile);

  // Screen readers hear about a new request without losing their place; the tab title counts what waits.
  const announcer = h('p', { class: 'sr-only', 'aria-live': 'polite' });
  app.append(announcer);
  const baseTitle = document.title;
  const syncEmpty = () => {
    empty.hidden = entries.size > 0;
    const waiting = [...entries.values()].filter((e) => !e.done).length;
    document.title = waiting > 0 ? `(${waiting}) ${baseTitle}` : baseTitle;
  };

  const add = (tx: Transaction) => {
    if (entries.has(tx.txn)) return;
    const entry: Entry = { tx, card: h('article') };
    renderRequest(entry, client, profile, () => {
      entries.delete(tx.txn);
      syncEmpty();
    });
    entries.set(tx.txn, entry);
    list.prepend(entry.card);
    announcer.textContent = `New request from ${tx.client_name}`;
    syncEmpty();
  };

  const refresh = async () => {
    const pending = await client.pending();
    const seen = new Set(pending.map((t) => t.txn));
    for (const tx of pending) add(tx);
    // Decided elsewhere (another device, or denied by the service): no longer pending.
    for (const [txn, entry] of entries) {
      if (!seen.has(txn) && !entry.done) {
        entry.card.remove();
        entries.delete(txn);
      }
    }
    syncEmpty();
  };

  // Every second: the time left; expired requests disappear.
  setInterval(() => {
    const now = Date.now() / 1000;
    for (const [txn, entry] of entries) {
      if (entry.done) continue;
      const left = entry.tx.expires_at - now;
      if (left <= 0) {
        entry.card.remove();
        entries.delete(txn);
        syncEmpty();
        continue;
      }
      updateTimer(entry, left);
    }
  }, 1000);

  syncEmpty();
  await refresh().catch(() => {});
  void followLive(client, refresh, (txn) => client.get(txn).then(add, () => refresh()));
};

const updateTimer = (entry: Entry, left: number) => {
  if (!entry.timer || !entry.bar) return;
  entry.timer.textContent = `${formatTimeLeft(left)} left`;
  const total = Math.max(1, entry.tx.expires_at - entry.tx.created_at);
  entry.bar.style.width = `${Math.min(100, (left / total) * 100)}%`;
  entry.card.classList.toggle('urgent', left < 30);
};

/**
 * Live updates: locally a server-sent event stream (`GET {issuer}/device/events`, opened with fetch so it can carry
 * the DPoP proof); where there is none (AWS), polling with backoff. A slow poll runs alongside the stream anyway.
 */
const followLive = async (client: DeviceClient, refresh: () => Promise<void>, onTxn: (txn: string) => void) => {
  let delay = 3_000;
  let streaming = false;
  let lastPoll = Date.now();
  const setLive = (text: string, on: boolean) => {
    live.hidden = false;
    live.textContent = text;
    live.classList.toggle('on', on);
  };
  void (async () => {
    for (;;) {
      const ok = await stream(client, onTxn, () => {
        streaming = true;
        setLive('Live', true);
        void refresh().catch(() => {});
      });
      streaming = false;
      if (!ok) return; // no stream here: polling only
      setLive('Reconnecting…', false);
      await sleep(3_000);
    }
  })();
  for (;;) {
    await sleep(1_000);
    const due = streaming ? 30_000 : delay;
    if (Date.now() - lastPoll < due) continue;
    lastPoll = Date.now();
    try {
      await refresh();
      delay = 3_000;
      if (!streaming) setLive(`Checking every ${Math.round(delay / 1000)} s`, true);
    } catch {
      delay = Math.min(delay * 2, 60_000);
      if (!streaming) setLive('Offline, retrying…', false);
    }
  }
};

/** Reads the event stream until it ends. false when the service has no stream (so do not retry). */
const stream = async (client: DeviceClient, onTxn: (txn: string) => void, onOpen: () => void): Promise<boolean> => {
  const url = `${issuer}/device/events`;
  let response: Response;
  try {
    const proof = await createDpopProof(client.key, { htm: 'GET', htu: url });
    response = await fetch(url, { headers: { dpop: proof, accept: 'text/event-stream' }, cache: 'no-store' });
  } catch {
    return true;
  }
  if (response.status === 404 || response.status === 405) return false;
  if (!response.ok || !response.body) return response.status >= 500 || response.status === 401;
  onOpen();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const message = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = message
          .split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).trim())
          .join('\n');
        if (data) {
          try {
            const event = JSON.parse(data) as { txn?: string };
            if (typeof event.txn === 'string') onTxn(event.txn);
          } catch {
            // not ours
          }
        }
        end = buffer.indexOf('\n\n');
      }
    }
  } catch {
    // the connection dropped
  }
  return true;
};

// ---------------------------------------------------------------------------------------------------------------
// One request

const renderRequest = (entry: Entry, client: DeviceClient, profile: DeviceProfile, onGone: () => void) => {
  const { tx } = entry;
  const id = `req-${tx.txn}`;
  const error = h('p', { class: 'error', role: 'alert', id: `${id}-error` });
  const codeInput = tx.binding_code_required
    ? h('input', {
        id: `${id}-code`,
        name: 'binding_code',
        autocomplete: 'one-time-code',
        autocapitalize: 'characters',
        spellcheck: 'false',
        inputmode: 'text',
        'aria-describedby': `${id}-code-hint ${id}-error`,
        required: true,
      })
    : null;
  const binding = tx.binding_code_required
    ? h(
        'div',
        { class: 'binding confirm' },
        h('label', { for: `${id}-code`, class: 'binding-label' }, 'Type the code shown on the other screen'),
        codeInput!,
        h(
          'p',
          { class: 'hint', id: `${id}-code-hint` },
          'Only approve if you started this yourself. Never type a code someone gives you on the phone.',
        ),
      )
    : tx.binding_message
      ? h(
          'div',
          { class: 'binding' },
          h('p', { class: 'binding-label', id: `${id}-code-label` }, 'Check that this matches the other screen'),
          h('p', { class: 'binding-code', 'aria-describedby': `${id}-code-label` }, tx.binding_message),
        )
      : h('p', { class: 'binding none' }, 'This request has no code to compare. Approve only if you are expecting it.');
  const timer = h('span', { class: 'timer-text' });
  const bar = h('span', { class: 'timer-bar-fill' });
  const approve = h('button', { type: 'button', class: 'approve' }, 'Approve');
  const deny = h('button', { type: 'button', class: 'deny' }, 'Deny');
  const uvNote =
    tx.webauthn && !profile.passkey
      ? h('p', { class: 'hint' }, 'Set up a passkey on this device first (above): approving needs it.')
      : tx.webauthn
        ? h('p', { class: 'hint' }, 'You will confirm with your passkey (fingerprint, face or PIN).')
        : null;

  entry.timer = timer;
  entry.bar = bar;
  entry.card = h(
    'article',
    { class: 'card request', 'aria-labelledby': `${id}-client`, id },
    h('p', { class: 'eyebrow' }, 'Sign-in request'),
    h('h2', { class: 'client', id: `${id}-client` }, tx.client_name),
    h('p', { class: 'ask' }, 'asks you to approve'),
    binding,
    h(
      'section',
      { class: 'asked', 'aria-label': 'What it will get' },
      h('h3', {}, 'It will get'),
      h('ul', { class: 'scopes' }, ...describeScopes(tx.scope).map((s) => h('li', {}, s))),
      tx.authorization_details?.length ? renderAuthorizationDetails(tx.authorization_details) : null,
    ),
    h('div', { class: 'timer' }, h('span', { class: 'timer-bar', 'aria-hidden': 'true' }, bar), timer),
    uvNote,
    error,
    h('div', { class: 'actions' }, deny, approve),
  );
  updateTimer(entry, tx.expires_at - Date.now() / 1000);

  const busy = (on: boolean) => {
    approve.disabled = on;
    deny.disabled = on;
    entry.card.setAttribute('aria-busy', String(on));
  };

  const decide = async (decision: 'approve' | 'deny') => {
    error.textContent = '';
    const options: { bindingCode?: string; webauthn?: unknown } = {};
    if (decision === 'approve' && codeInput) {
      if (!codeInput.value.trim()) {
        error.textContent = 'Type the code shown on the other screen first.';
        codeInput.focus();
        return;
      }
      options.bindingCode = codeInput.value;
    }
    busy(true);
    try {
      if (decision === 'approve' && tx.webauthn) {
        options.webauthn = await startAuthentication({
          optionsJSON: {
            challenge: tx.webauthn.challenge,
            rpId: tx.webauthn.rpId,
            allowCredentials: tx.webauthn.allowCredentials as never,
            userVerification: tx.webauthn.userVerification,
            timeout: tx.webauthn.timeout,
          },
        });
      }
      const result = await client.decide(tx.txn, decision, options);
      showResult(entry, result.status, onGone);
    } catch (e) {
      busy(false);
      if (e instanceof InvalidBindingCode) {
        error.textContent = errorText(e);
        if (/denied/.test(e.description ?? '')) {
          showResult(
            entry,
            'denied',
            onGone,
            'Denied: too many wrong codes. If you did not start this, someone else may have.',
          );
          return;
        }
        codeInput?.select();
        codeInput?.focus();
        return;
      }
      if (e instanceof RequestNotPending) {
        showResult(entry, 'gone', onGone);
        return;
      }
      error.textContent = ceremonyFailed(e) ? 'The passkey check was cancelled or failed. Try again.' : errorText(e);
    }
  };
  approve.addEventListener('click', () => void decide('approve'));
  deny.addEventListener('click', () => void decide('deny'));
  codeInput?.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') void decide('approve');
  });
};

const showResult = (entry: Entry, status: 'approved' | 'denied' | 'gone', onGone: () => void, detail?: string) => {
  entry.done = true;
  const { tx } = entry;
  const title = status === 'approved' ? 'Approved' : status === 'denied' ? 'Denied' : 'No longer pending';
  const text =
    detail ??
    (status === 'approved'
      ? `${tx.client_name} now knows it was you. You can go back to it.`
      : status === 'denied'
        ? `${tx.client_name} was told no. Nothing was shared.`
        : 'This request expired or was answered on another device.');
  const done = h('button', { type: 'button', class: 'secondary' }, 'Done');
  const heading = h('h2', { tabindex: '-1' }, title);
  const card = h(
    'article',
    { class: `card request result ${status}`, role: 'status' },
    h(
      'p',
      { class: 'result-icon', 'aria-hidden': 'true' },
      status === 'approved' ? '✓' : status === 'denied' ? '✕' : '–',
    ),
    heading,
    h('p', { class: 'result-client' }, tx.client_name),
    h('p', {}, text),
    done,
  );
  entry.card.replaceWith(card);
  entry.card = card;
  heading.focus({ preventScroll: false });
  const remove = () => {
    card.remove();
    onGone();
  };
  done.addEventListener('click', remove);
  setTimeout(remove, 60_000);
};

// ---------------------------------------------------------------------------------------------------------------
// Setup: passkey, notifications, service worker

const renderSetup = (setup: HTMLElement, client: DeviceClient, profile: DeviceProfile) => {
  setup.replaceChildren();
  if (profile.tenant.user_verification === 'passkey' && !profile.passkey) {
    setup.append(passkeyCard(client, profile, 'setup'));
  }
  void setUpNotifications(setup, client, profile);
};

/**
 * Sets up this device's passkey, or replaces it. A device that has a passkey proves it before a new one replaces it
 * (hardening rule 1): the service's options then carry `assertion_options`, the current passkey confirms first, and
 * the new one is created with a second tap (Safari wants a user gesture for each WebAuthn call). A refusal
 * (`user_verification_required`: the passkey did not confirm, or one was set meanwhile elsewhere) starts over with
 * the current passkey's confirmation.
 */
const passkeyCard = (client: DeviceClient, profile: DeviceProfile, mode: 'setup' | 'replace'): HTMLElement => {
  const title = h('h2', {}, mode === 'setup' ? 'Protect approvals with a passkey' : 'Replace your passkey');
  const text = h(
    'p',
    {},
    mode === 'setup'
      ? `${profile.tenant.display_name} asks you to confirm each approval with your fingerprint, face or device PIN.`
      : 'First confirm with your current passkey, then create the new one.',
  );
  const button = h(
    'button',
    { type: 'button', class: 'primary' },
    mode === 'setup' ? 'Set up passkey' : 'Confirm with current passkey',
  );
  const error = h('p', { class: 'error', role: 'alert' });
  const card = h('section', { class: 'card setup-card' }, title, text, error, button);
  let options: PasskeyRegistrationOptions | undefined;
  let assertion: unknown;
  const startOver = (message: string) => {
    options = undefined;
    assertion = undefined;
    error.textContent = message;
    button.textContent = 'Confirm with current passkey';
  };
  button.addEventListener('click', async () => {
    button.disabled = true;
    error.textContent = '';
    try {
      options ??= await client.passkeyRegistrationOptions();
      const { assertion_options: confirm, ...creation } = options;
      if (confirm && assertion === undefined) {
        // Step 1 of a replacement: the current passkey confirms, over the same challenge.
        title.textContent = 'Replace your passkey';
        assertion = await startAuthentication({ optionsJSON: confirm as never });
        text.textContent = 'Your current passkey confirmed. Now create the new one.';
        button.textContent = 'Create new passkey';
        return;
      }
      const response = await startRegistration({ optionsJSON: creation as never });
      await client.registerPasskey(response, assertion === undefined ? {} : { assertion });
      const replaced = profile.passkey || assertion !== undefined;
      profile.passkey = true;
      card.replaceWith(
        notice(
          'success',
          replaced ? 'Passkey replaced' : 'Passkey ready',
          replaced ? 'Approvals now use your new passkey.' : 'You will confirm approvals with it.',
        ),
      );
      for (const note of document.querySelectorAll('.request .hint')) {
        if (/passkey on this device first/.test(note.textContent ?? '')) {
          note.textContent = 'You will confirm with your passkey (fingerprint, face or PIN).';
        }
      }
      refreshFooter(client, profile);
    } catch (e) {
      if (e instanceof UserVerificationRequired) {
        title.textContent = 'Replace your passkey';
        startOver(
          assertion === undefined
            ? 'This device already has a passkey: confirm with it first.'
            : 'Your current passkey did not confirm. If you no longer have it, ask your administrator to reset it.',
        );
      } else if (ceremonyFailed(e) && options?.assertion_options && assertion === undefined) {
        startOver('Replacing a passkey needs the current one. If you lost it, ask your administrator to reset it.');
      } else {
        options = undefined;
        assertion = undefined;
        if (mode === 'setup') button.textContent = 'Set up passkey';
        error.textContent = ceremonyFailed(e) ? 'The passkey was not created. Try again.' : errorText(e);
      }
    } finally {
      button.disabled = false;
    }
  });
  return card;
};

const setUpNotifications = async (setup: HTMLElement, client: DeviceClient, profile: DeviceProfile) => {
  if (!('serviceWorker' in navigator)) return;
  const swUrl = body.dataset.serviceWorker;
  const scope = new URL(`${issuer}/authenticator`).pathname;
  let registration: ServiceWorkerRegistration | undefined;
  try {
    if (swUrl) registration = await navigator.serviceWorker.register(swUrl, { scope });
  } catch {
    return;
  }
  const key = profile.tenant.web_push_public_key ?? webPushKey;
  if (!key || !registration || !('PushManager' in window) || !('Notification' in window)) return;
  const subscribed =
    profile.push?.type === 'webpush' && !profile.push.disabled && Notification.permission === 'granted';
  if (subscribed || Notification.permission === 'denied') return;
  const button = h('button', { type: 'button', class: 'secondary' }, 'Turn on notifications');
  const error = h('p', { class: 'error', role: 'alert' });
  const card = h(
    'section',
    { class: 'card setup-card' },
    h('h2', {}, 'Get notified'),
    h('p', {}, 'Let this browser show a notification when a request arrives, even when this page is closed.'),
    error,
    button,
  );
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      if ((await Notification.requestPermission()) !== 'granted')
        throw new Error('Notifications are blocked for this site.');
      const subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: base64UrlToBytes(key),
      });
      await client.setPush({ type: 'webpush', subscription: subscription.toJSON() });
      card.replaceWith(notice('success', 'Notifications on', 'You will be notified when a request arrives.'));
    } catch (e) {
      button.disabled = false;
      error.textContent = errorText(e);
    }
  });
  setup.append(card);
};

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

const footer = (client: DeviceClient, profile: DeviceProfile) => {
  const forget = h('button', { type: 'button', class: 'link' }, 'Remove from this browser');
  forget.addEventListener('click', async () => {
    if (!confirm('Remove this authenticator from this browser? You will need a new enrollment link.')) return;
    await browserKeyStore.remove(issuer);
    location.reload();
  });
  const replace = profile.passkey ? h('button', { type: 'button', class: 'link' }, 'Replace passkey') : null;
  replace?.addEventListener('click', () => {
    const setup = document.querySelector('.setup');
    if (!setup || setup.querySelector('.setup-card')) return;
    const card = passkeyCard(client, profile, 'replace');
    setup.prepend(card);
    card.querySelector('h2')?.scrollIntoView({ block: 'nearest' });
  });
  return h(
    'footer',
    { class: 'device-footer' },
    h('p', {}, `This device: ${profile.name}`, profile.passkey ? ' · passkey set' : ''),
    h('p', { class: 'muted mono', title: 'Device id' }, client.deviceId.slice(0, 16), '…'),
    replace,
    forget,
  );
};

/** The footer says whether the device has a passkey, and offers to replace it: drawn again after a change. */
const refreshFooter = (client: DeviceClient, profile: DeviceProfile) =>
  document.querySelector('.device-footer')?.replaceWith(footer(client, profile));

start().catch((error: unknown) => show(notice('error', 'Something went wrong', errorText(error))));
