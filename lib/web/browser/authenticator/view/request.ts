/**
 * One request: the card to decide on, or how it ended. DOM only, from the entry's state. Who asks and what come
 * first (the title: "Confirm it's you", or what the transaction does, with its fields), then the code, what it
 * shares, the time left, and three answers of the same size: Deny, Approve, and "I didn't ask for this". The answers
 * stay in view (sticky) however long the details are, so Approve and Deny are never below the fold of a phone.
 */
import type { Decision, Transaction } from '../../../../device/client.ts';
import { kindOf, transactionTitle } from '../../../../device/display.ts';
import { formatTimeLeft, h } from '../../dom.ts';
import { request as copy, describeScopes, outcome as outcomeCopy, problemText } from '../copy.ts';
import type { RequestEntry } from '../state.ts';
import { renderAuthorizationDetails, renderDisplays } from './details.ts';

export interface RequestHandlers {
  decide(txn: string, decision: Decision, bindingCode?: string): void;
  dismiss(txn: string): void;
}

/** What a card shows about the tenant and the device, besides its entry. */
export interface RequestView {
  passkey: boolean;
  now: number;
  tenantName: string;
  reportShieldSeconds: number;
}

/** The card's element ids, from the txn: focus and a typed code survive a redraw by them. */
export const requestIds = (txn: string) => {
  const id = `req-${txn}`;
  return {
    card: id,
    client: `${id}-client`,
    title: `${id}-title`,
    code: `${id}-code`,
    hint: `${id}-code-hint`,
    error: `${id}-error`,
    report: `${id}-report-hint`,
  };
};

export const requestCard = (entry: RequestEntry, view: RequestView, on: RequestHandlers): HTMLElement =>
  entry.phase === 'done' ? resultCard(entry, view, on) : openCard(entry, view, on);

const openCard = (entry: RequestEntry, view: RequestView, on: RequestHandlers) => {
  const { tx } = entry;
  const ids = requestIds(tx.txn);
  const busy = entry.phase === 'busy';
  const client = tx.client_name;
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
  const button = (decision: Decision, label: string, extra: Record<string, string> = {}) => {
    const b = h(
      'button',
      { type: 'button', class: decision, id: `${ids.card}-${decision}`, disabled: busy, ...extra },
      label,
    );
    b.addEventListener('click', () =>
      on.decide(tx.txn, decision, decision === 'approve' ? codeInput?.value : undefined),
    );
    return b;
  };
  codeInput?.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') on.decide(tx.txn, 'approve', codeInput.value);
  });
  const passkeyNote = tx.webauthn ? (view.passkey ? copy.passkeyAsked : copy.passkeyFirst) : null;
  const asker = copy.asker(client, view.tenantName);
  const shares = describeScopes(tx.scope);
  const card = h(
    'article',
    {
      class: 'card request',
      'aria-labelledby': `${ids.client} ${ids.title}`,
      id: ids.card,
      'aria-busy': busy ? 'true' : undefined,
    },
    h(
      'p',
      { class: 'asker', id: ids.client },
      h('span', { class: 'asker-client' }, asker.client),
      asker.tenant ? h('span', { class: 'asker-tenant' }, ` · ${asker.tenant}`) : null,
    ),
    h('h2', { class: 'request-title', id: ids.title }, transactionTitle(tx)),
    h(
      'div',
      { class: 'timer' },
      h('span', { class: 'timer-bar', 'aria-hidden': 'true' }, h('span', { class: 'timer-bar-fill' })),
      h('span', { class: 'timer-text' }),
    ),
    tx.display?.length
      ? renderDisplays(tx.display)
      : tx.authorization_details?.length
        ? renderAuthorizationDetails(tx.authorization_details)
        : null,
    binding(tx, codeInput),
    shares.length ? h('p', { class: 'shares' }, copy.shares(shares)) : null,
    passkeyNote ? h('p', { class: 'hint' }, passkeyNote) : null,
    h('p', { class: 'consequence' }, copy.consequence(kindOf(tx), client)),
    h('p', { class: 'error', role: 'alert', id: ids.error }, entry.problem ? problemText(entry.problem) : null),
    h(
      'div',
      { class: 'actions' },
      button('deny', copy.deny),
      button('approve', copy.approve),
      button('report', copy.report, { 'aria-describedby': ids.report }),
      h('p', { class: 'report-hint', id: ids.report }, copy.reportHint(client, view.reportShieldSeconds)),
    ),
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
      h('label', { for: ids.code, class: 'binding-label' }, copy.codeLabel(tx.client_name)),
      codeInput,
      h('p', { class: 'hint', id: ids.hint }, copy.codeHint(tx.client_name)),
    );
  }
  if (tx.binding_message) {
    return h(
      'div',
      { class: 'binding' },
      h('p', { class: 'binding-label', id: `${ids.card}-code-label` }, copy.compareLabel),
      h('p', { class: 'binding-code', 'aria-describedby': `${ids.card}-code-label` }, tx.binding_message),
      h('p', { class: 'hint' }, copy.compareHint),
    );
  }
  return h('p', { class: 'binding none' }, copy.noCode);
};

const resultCard = (entry: RequestEntry, view: RequestView, on: RequestHandlers) => {
  const status = entry.outcome?.status ?? 'gone';
  const words = outcomeCopy(entry.outcome ?? { status }, {
    clientName: entry.tx.client_name,
    kind: kindOf(entry.tx),
    shieldSeconds: view.reportShieldSeconds,
  });
  const done = h('button', { type: 'button', class: 'secondary' }, words.done);
  done.addEventListener('click', () => on.dismiss(entry.tx.txn));
  return h(
    'article',
    { class: `card request result ${status}`, role: 'status' },
    h('p', { class: 'result-icon', 'aria-hidden': 'true' }, words.icon),
    h('h2', { tabindex: '-1' }, words.title),
    h('p', { class: 'result-client' }, entry.tx.client_name, ' · ', transactionTitle(entry.tx)),
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
