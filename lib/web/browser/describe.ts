import { h } from './dom.ts';

/** Scopes in plain words (OIDC Core §5.4 and offline_access). `openid` is the sign-in itself. */
const SCOPE_WORDS: Record<string, string> = {
  openid: 'Confirm that it is you',
  profile: 'Your name and basic profile',
  email: 'Your email address',
  phone: 'Your phone number',
  address: 'Your postal address',
  offline_access: 'Stay signed in after you close it',
};

export const describeScopes = (scope: string): string[] =>
  scope
    .split(/\s+/)
    .filter(Boolean)
    .map((s) => SCOPE_WORDS[s] ?? `Access: ${s}`);

const humanize = (key: string): string => {
  const words = key
    .replace(/[_-]+/g, ' ')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
};

const formatAmount = (value: Record<string, unknown>): string | undefined => {
  const amount = value.amount ?? value.value;
  const currency = value.currency;
  if ((typeof amount === 'string' || typeof amount === 'number') && typeof currency === 'string') {
    const n = Number(amount);
    try {
      if (Number.isFinite(n)) return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(n);
    } catch {
      // an unknown currency code: fall through to the plain form
    }
    return `${amount} ${currency}`;
  }
  return undefined;
};

const renderValue = (value: unknown, depth: number): Node => {
  if (value === null || value === undefined) return document.createTextNode('—');
  if (typeof value !== 'object') return document.createTextNode(String(value));
  if (depth > 3) return document.createTextNode(JSON.stringify(value));
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v !== 'object' || v === null)) return document.createTextNode(value.join(', '));
    return h('ul', { class: 'plain' }, ...value.map((v) => h('li', {}, renderValue(v, depth + 1))));
  }
  const amount = formatAmount(value as Record<string, unknown>);
  if (amount && Object.keys(value).every((k) => ['amount', 'value', 'currency'].includes(k))) {
    return document.createTextNode(amount);
  }
  return renderFields(value as Record<string, unknown>, depth + 1);
};

const renderFields = (object: Record<string, unknown>, depth: number): HTMLDListElement =>
  h(
    'dl',
    { class: 'fields' },
    ...Object.entries(object).flatMap(([key, value]) => [
      h('dt', {}, humanize(key)),
      h('dd', {}, renderValue(value, depth)),
    ]),
  );

/**
 * RFC 9396 authorization_details, readably: one block per entry titled by its `type`, an amount shown as money,
 * other members as labelled fields. Everything is text: nothing received becomes markup.
 */
export const renderAuthorizationDetails = (details: unknown[]): HTMLElement =>
  h(
    'div',
    { class: 'details' },
    ...details.map((detail) => {
      if (typeof detail !== 'object' || detail === null) return h('p', {}, String(detail));
      const { type, ...rest } = detail as Record<string, unknown>;
      const amount = formatAmount(rest.instructedAmount as Record<string, unknown>) ?? formatAmount(rest);
      return h(
        'section',
        { class: 'detail' },
        h('h4', {}, typeof type === 'string' ? humanize(type) : 'Details'),
        amount ? h('p', { class: 'amount' }, amount) : null,
        renderFields(rest, 0),
      );
    }),
  );

/** A short name for this browser, used as the device name at enrollment ("Chrome on Android"). */
export const browserDeviceName = (): string => {
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
