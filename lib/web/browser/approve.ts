/**
 * The approval page of a one-time link sent by email or text message (`{issuer}/approve#{secret}`): the same card
 * as the web authenticator's (lib/web/browser/authenticator/view/request.ts: who asks, what, the binding message or
 * the field for the binding code, Deny / Approve / "I didn't ask for this"), fed by the link instead of a device key.
 *
 * The secret is in the fragment, which the browser never sends: it is read here, removed from the address bar and
 * history, and posted in a JSON body (never a URL, so no server or proxy log sees it).
 *
 * Where the tenant requires user verification, Approve asks for one of the passkeys the user registered on their
 * devices (the web authenticator's ceremony, authenticator/platform.ts), over the challenge the view gives; without a
 * passkey (none registered, a browser without WebAuthn, or none of the user's in this browser) the page says so and
 * Deny and Report stay.
 */
import type { Decision, Transaction } from '../../device/client.ts';
import { assertPasskey, passkeysAvailable } from './authenticator/platform.ts';
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

/** Why Approve cannot be used here, when it cannot (Deny and Report stay). */
const cannotApprove = (): string | undefined => {
  if (!view.can_approve) {
    return 'This service requires a passkey to approve, and you have not set one up: approve on your enrolled device, or deny or report here.';
  }
  if (view.webauthn && !passkeysAvailable()) {
    return 'This browser cannot use passkeys: approve on your enrolled device, or deny or report here.';
  }
  return undefined;
};

const noPasskeyHere: Problem = {
  kind: 'other',
  message:
    "No passkey of yours confirmed in this browser. Approve on the device that has your passkey, or choose Deny or “I didn't ask for this” here.",
};

const render = () => {
  const tx = { ...view, txn: 'link' } as Transaction;
  const card = requestCard(
    { ...entry, tx },
    {
      passkey: view.webauthn !== undefined,
      now: Math.floor(Date.now() / 1000),
      tenantName: view.tenant_name,
      reportShieldSeconds: view.report_shield_seconds,
    },
    { decide, dismiss: () => window.close() },
  );
  const reason = entry.phase === 'done' ? undefined : cannotApprove();
  if (reason) {
    card.querySelector<HTMLButtonElement>('button.approve')?.setAttribute('disabled', '');
    card.querySelector('.actions')?.before(h('p', { class: 'hint no-passkey' }, reason));
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
  let webauthn: unknown;
  if (decision === 'approve' && view.webauthn) {
    try {
      webauthn = await assertPasskey(view.webauthn);
    } catch {
      // Cancelled, timed out, or no passkey of the user's in this browser: the browser does not say which.
      entry = { ...entry, phase: 'open', problem: noPasskeyHere };
      return render();
    }
  }
  const res = await call('decide', {
    decision,
    ...(bindingCode ? { binding_code: bindingCode.trim() } : {}),
    ...(webauthn ? { webauthn } : {}),
  });
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
