/**
 * The approval page of a one-time link sent by email or text message (`{issuer}/approve#{secret}`): the same card
 * as the web authenticator's (lib/web/browser/authenticator/view/request.ts: who asks, what, the binding message or
 * the field for the binding code, Deny / Approve / "I didn't ask for this"), fed by the link instead of a device key.
 *
 * The secret is in the fragment, which the browser never sends: it is read here, removed from the address bar and
 * history, and posted in a JSON body (never a URL, so no server or proxy log sees it).
 */
import type { Decision, Transaction } from '../../device/client.ts';
import type { Outcome, Problem, RequestEntry } from './authenticator/state.ts';
import { requestCard, updateTimer } from './authenticator/view/request.ts';
import { $, h } from './dom.ts';

interface LinkView extends Omit<Transaction, 'txn'> {
  tenant_name: string;
  state: 'pending' | 'approved' | 'denied' | 'reported' | 'expired';
  can_approve: boolean;
  report_shield_seconds: number;
}

const issuer = document.body.dataset.issuer ?? '';
const app = $('#app');
const secret = location.hash.slice(1);
// The secret leaves the address bar and the history at once (a screenshot or a shared screen shows no link).
if (secret) history.replaceState(null, '', location.pathname);

const call = async (path: string, body: Record<string, unknown>) => {
  const res = await fetch(`${issuer}/approve/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ link: secret, ...body }),
    credentials: 'omit',
  });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
};

const show = (...children: Node[]) => {
  app.replaceChildren(...children);
  app.setAttribute('aria-busy', 'false');
};

const message = (title: string, text: string) =>
  show(h('article', { class: 'card notice', role: 'status' }, h('h2', {}, title), h('p', {}, text)));

const notFound = () =>
  message('This link does not work', 'It is not a valid approval link. Ask for a new request where you started.');

const outcomeOf = (state: LinkView['state']): Outcome =>
  state === 'expired' ? { status: 'gone' } : { status: state === 'pending' ? 'gone' : state };

let view: LinkView;
let entry: RequestEntry;

const render = () => {
  const tx = { ...view, txn: 'link' } as Transaction;
  const card = requestCard(
    { ...entry, tx },
    {
      passkey: false,
      now: Math.floor(Date.now() / 1000),
      tenantName: view.tenant_name,
      reportShieldSeconds: view.report_shield_seconds,
    },
    { decide, dismiss: () => window.close() },
  );
  if (!view.can_approve) {
    card.querySelector<HTMLButtonElement>('button.approve')?.setAttribute('disabled', '');
    card
      .querySelector('.actions')
      ?.before(h('p', { class: 'hint' }, 'Approve this on your enrolled device: this service requires a passkey.'));
  }
  show(card);
};

const problemFrom = (body: Record<string, unknown>): Problem =>
  body.error === 'invalid_binding_code'
    ? {
        kind: 'wrong-code',
        ...(typeof body.attempts_left === 'number' ? { attemptsLeft: body.attempts_left } : {}),
        ...(typeof body.error_description === 'string' ? { description: body.error_description } : {}),
      }
    : {
        kind: 'service',
        error: String(body.error ?? 'server_error'),
        ...(typeof body.error_description === 'string' ? { description: body.error_description } : {}),
      };

async function decide(_txn: string, decision: Decision, bindingCode?: string) {
  if (decision === 'approve' && view.binding_code_required && !bindingCode?.trim()) {
    entry = { ...entry, phase: 'open', problem: { kind: 'code-missing' } };
    return render();
  }
  entry = { ...entry, phase: 'busy' };
  render();
  const res = await call('decide', { decision, ...(bindingCode ? { binding_code: bindingCode.trim() } : {}) });
  if (res.status === 404) return notFound();
  if (res.status === 200 || res.body.error === 'request_not_pending') {
    const state = (res.body.state ?? 'expired') as LinkView['state'];
    entry = { ...entry, phase: 'done', outcome: outcomeOf(state) };
    return render();
  }
  if (res.body.status === 'denied') {
    entry = { ...entry, phase: 'done', outcome: { status: 'denied', reason: 'wrong-codes' } };
    return render();
  }
  entry = { ...entry, phase: 'open', problem: problemFrom(res.body) };
  render();
}

const start = async () => {
  if (!/^[A-Za-z0-9_-]{43}$/.test(secret)) return notFound();
  const res = await call('view', {});
  if (res.status !== 200) return notFound();
  view = res.body as unknown as LinkView;
  entry = {
    tx: { ...view, txn: 'link' } as Transaction,
    phase: view.state === 'pending' ? 'open' : 'done',
    ...(view.state === 'pending' ? {} : { outcome: outcomeOf(view.state) }),
  };
  render();
  setInterval(() => {
    const card = app.querySelector<HTMLElement>('article.request');
    if (card && entry.phase !== 'done') updateTimer(card, entry.tx, Math.floor(Date.now() / 1000));
  }, 1000);
};

start().catch(() => message('Cannot reach the service', 'Reload the page to try again.'));
