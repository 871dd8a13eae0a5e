/** Rich authorization details (RFC 9396) as readable blocks: DOM only, every value as text. */
import type { DetailDisplay } from '../../../../device/client.ts';
import { h } from '../../dom.ts';

/**
 * What the service rendered for a transaction (consent details' `display`), in order: each element's labelled
 * fields; with several elements, each under its own title (the card's title names the first). Text only.
 */
export const renderDisplays = (displays: DetailDisplay[]): HTMLElement =>
  h(
    'div',
    { class: 'details' },
    ...displays.map((d) =>
      h(
        'section',
        { class: 'detail' },
        displays.length > 1 ? h('h3', { class: 'detail-title' }, d.title) : null,
        d.fields.length
          ? h('dl', { class: 'fields' }, ...d.fields.flatMap((f) => [h('dt', {}, f.label), h('dd', {}, f.value)]))
          : null,
      ),
    ),
  );

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
 * RFC 9396 authorization_details from a service that does not render them (no `display`), readably: one block per entry titled by its `type`, an amount shown as money,
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
