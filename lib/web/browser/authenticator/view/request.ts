/** One request: the card to decide on, or how it ended. DOM only, from the entry's state. */
import type { Transaction } from '../../../../device/client.ts';
import { formatTimeLeft, h } from '../../dom.ts';
import { request as copy, describeScopes, outcome as outcomeCopy, problemText } from '../copy.ts';
import type { RequestEntry } from '../state.ts';
import { renderAuthorizationDetails } from './details.ts';

export interface RequestHandlers {
  decide(txn: string, decision: 'approve' | 'deny', bindingCode?: string): void;
  dismiss(txn: string): void;
}

/** The card's element ids, from the txn: focus and a typed code survive a redraw by them. */
export const requestIds = (txn: string) => {
  const id = `req-${txn}`;
  return { card: id, client: `${id}-client`, code: `${id}-code`, hint: `${id}-code-hint`, error: `${id}-error` };
};

export const requestCard = (
  entry: RequestEntry,
  view: { passkey: boolean; now: number },
  on: RequestHandlers,
): HTMLElement => (entry.phase === 'done' ? resultCard(entry, on) : openCard(entry, view, on));

const openCard = (entry: RequestEntry, view: { passkey: boolean; now: number }, on: RequestHandlers) => {
  const { tx } = entry;
  const ids = requestIds(tx.txn);
  const busy = entry.phase === 'busy';
  const codeInput = tx.binding_code_required
    ? h('input', {
        id: ids.code,
        name: 'binding_code',
        autocomplete: 'one-time-code',
        autocapitalize: 'characters',
        spellcheck: 'false',
        inputmode: 'text',
        'aria-describedby': `${ids.hint} ${ids.error}`,
        required: true,
      })
    : null;
  const approve = h(
    'button',
    { type: 'button', class: 'approve', id: `${ids.card}-approve`, disabled: busy },
    copy.approve,
  );
  const deny = h('button', { type: 'button', class: 'deny', id: `${ids.card}-deny`, disabled: busy }, copy.deny);
  approve.addEventListener('click', () => on.decide(tx.txn, 'approve', codeInput?.value));
  deny.addEventListener('click', () => on.decide(tx.txn, 'deny'));
  codeInput?.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') on.decide(tx.txn, 'approve', codeInput.value);
  });
  const passkeyNote = tx.webauthn ? (view.passkey ? copy.passkeyAsked : copy.passkeyFirst) : null;
  const card = h(
    'article',
    { class: 'card request', 'aria-labelledby': ids.client, id: ids.card, 'aria-busy': busy ? 'true' : undefined },
    h('p', { class: 'eyebrow' }, copy.eyebrow),
    h('h2', { class: 'client', id: ids.client }, tx.client_name),
    h('p', { class: 'ask' }, copy.asks),
    binding(tx, codeInput),
    h(
      'section',
      { class: 'asked', 'aria-label': copy.asked },
      h('h3', {}, copy.askedTitle),
      h('ul', { class: 'scopes' }, ...describeScopes(tx.scope).map((s) => h('li', {}, s))),
      tx.authorization_details?.length ? renderAuthorizationDetails(tx.authorization_details) : null,
    ),
    h(
      'div',
      { class: 'timer' },
      h('span', { class: 'timer-bar', 'aria-hidden': 'true' }, h('span', { class: 'timer-bar-fill' })),
      h('span', { class: 'timer-text' }),
    ),
    passkeyNote ? h('p', { class: 'hint' }, passkeyNote) : null,
    h('p', { class: 'error', role: 'alert', id: ids.error }, entry.problem ? problemText(entry.problem) : null),
    h('div', { class: 'actions' }, deny, approve),
  );
  updateTimer(card, tx, view.now);
  return card;
};

const binding = (tx: Transaction, codeInput: HTMLInputElement | null) => {
  const ids = requestIds(tx.txn);
  if (codeInput) {
    return h(
      'div',
      { class: 'binding confirm' },
      h('label', { for: ids.code, class: 'binding-label' }, copy.codeLabel),
      codeInput,
      h('p', { class: 'hint', id: ids.hint }, copy.codeHint),
    );
  }
  if (tx.binding_message) {
    return h(
      'div',
      { class: 'binding' },
      h('p', { class: 'binding-label', id: `${ids.card}-code-label` }, copy.compareLabel),
      h('p', { class: 'binding-code', 'aria-describedby': `${ids.card}-code-label` }, tx.binding_message),
    );
  }
  return h('p', { class: 'binding none' }, copy.noCode);
};

const resultCard = (entry: RequestEntry, on: RequestHandlers) => {
  const words = outcomeCopy(entry.outcome ?? { status: 'gone' }, entry.tx.client_name);
  const done = h('button', { type: 'button', class: 'secondary' }, words.done);
  done.addEventListener('click', () => on.dismiss(entry.tx.txn));
  return h(
    'article',
    { class: `card request result ${entry.outcome?.status ?? 'gone'}`, role: 'status' },
    h('p', { class: 'result-icon', 'aria-hidden': 'true' }, words.icon),
    h('h2', { tabindex: '-1' }, words.title),
    h('p', { class: 'result-client' }, entry.tx.client_name),
    h('p', {}, words.text),
    done,
  );
};

/** The time left, its bar and the urgent look (under 30 s), drawn again every second without a redraw of the card. */
export const updateTimer = (card: HTMLElement, tx: Transaction, now: number): void => {
  const text = card.querySelector<HTMLElement>('.timer-text');
  const bar = card.querySelector<HTMLElement>('.timer-bar-fill');
  if (!text || !bar) return;
  const left = tx.expires_at - now;
  text.textContent = copy.timeLeft(formatTimeLeft(left));
  const total = Math.max(1, tx.expires_at - tx.created_at);
  // CSSOM, not a style attribute: the page's CSP forbids inline styles.
  bar.style.width = `${Math.min(100, (left / total) * 100)}%`;
  card.classList.toggle('urgent', left < 30);
};
