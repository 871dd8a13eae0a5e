/**
 * The operator console: the call-center screen. Sends a backchannel request through the service's console API
 * (which acts as the demo client server side), follows it until the customer answers, and says where it stands in
 * words: waiting (with the code to read out, what the customer's phone shows and a Cancel), verified (who, in words),
 * denied, reported, no authenticator, blocked, expired, cancelled. Every word is in console-copy.ts.
 */
import type { DetailDisplay } from '../../device/client.ts';
import * as copy from './console-copy.ts';
import { $, formatTimeLeft, h, sleep } from './dom.ts';

const page = document.body.dataset;
const issuer = page.issuer ?? location.href.replace(/\/console\/?$/, '');
const mode: copy.BindingMode = page.bindingMode === 'type' ? 'type' : 'compare';
const shieldSeconds = Number(page.shieldSeconds ?? 3600);
const form = $<HTMLFormElement>('#send-form');
const hint = $<HTMLInputElement>('#login-hint');
const message = $<HTMLInputElement>('#binding-message');
const send = $<HTMLButtonElement>('#send');
const status = $('#status');
const paymentFields = document.querySelector<HTMLElement>('#payment-fields');

/** A code a person can read aloud and compare: two groups, no look-alike characters (0/O, 1/I). */
const newCode = () => {
  const alphabet = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ';
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  const chars = [...bytes].map((b) => alphabet[b % alphabet.length]);
  return `${chars.slice(0, 2).join('')}-${chars.slice(2).join('')}`;
};
message.value = newCode();
$('#new-code').addEventListener('click', () => {
  message.value = newCode();
  message.focus();
});
for (const radio of form.querySelectorAll<HTMLInputElement>('input[name=what]')) {
  radio.addEventListener('change', () => {
    if (paymentFields) paymentFields.hidden = !payment();
  });
}
const payment = () => form.querySelector<HTMLInputElement>('input[name=what]:checked')?.value === 'payment';

const api = async <T>(path: string, body: unknown): Promise<T> => {
  const response = await fetch(`${issuer}/console/${path}`, {
    method: 'POST',
    // The custom header and JSON body make this a non-simple request: no other site can send it (CSRF).
    headers: { 'Content-Type': 'application/json', 'X-CIBA-Console': '1' },
    body: JSON.stringify(body),
    credentials: 'same-origin',
  });
  const json = (await response.json()) as T & { error?: string; error_description?: string };
  if (!response.ok) throw new Error(json.error_description ?? json.error ?? `HTTP ${response.status}`);
  return json;
};

const setStatus = (kind: string, ...children: (Node | string | null)[]) => {
  status.className = `status ${kind}`;
  status.replaceChildren(...children.filter((c): c is Node | string => c !== null));
};
const titled = (kind: string, words: { title: string; text?: string }, ...more: (Node | null)[]) =>
  setStatus(kind, h('p', { class: 'status-title' }, words.title), words.text ? h('p', {}, words.text) : null, ...more);

const when = (seconds: unknown) => (typeof seconds === 'number' ? new Date(seconds * 1000).toLocaleString() : '');

/** The verified identity in words: who, how to reach them, when they approved; the raw claims folded away. */
const identityOf = (claims: Record<string, unknown>) => {
  const rows: [string, string][] = [[copy.identity.customer, String(claims.sub ?? '')]];
  if (typeof claims.name === 'string') rows.push([copy.identity.name, claims.name]);
  if (typeof claims.email === 'string') {
    rows.push([copy.identity.email, `${claims.email}${claims.email_verified === true ? copy.identity.verified : ''}`]);
  }
  if (typeof claims.phone_number === 'string') {
    rows.push([
      copy.identity.phone,
      `${claims.phone_number}${claims.phone_number_verified === true ? copy.identity.verified : ''}`,
    ]);
  }
  if (claims.auth_time !== undefined) rows.push([copy.identity.at, when(claims.auth_time)]);
  const hidden = new Set(['at_hash', 'urn:openid:params:jwt:claim:auth_req_id', 'urn:openid:params:jwt:claim:rt_hash']);
  const raw = Object.entries(claims).filter(([k]) => !hidden.has(k));
  return [
    h(
      'dl',
      { class: 'identity', 'aria-label': copy.identity.caption },
      ...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
    ),
    h(
      'details',
      { class: 'claims-details' },
      h('summary', {}, copy.identity.claims),
      h(
        'table',
        { class: 'claims' },
        h(
          'tbody',
          {},
          ...raw.map(([k, v]) =>
            h(
              'tr',
              {},
              h('th', { scope: 'row' }, k),
              h(
                'td',
                {},
                ['iat', 'exp', 'auth_time', 'updated_at'].includes(k)
                  ? when(v)
                  : typeof v === 'object'
                    ? JSON.stringify(v)
                    : String(v),
              ),
            ),
          ),
        ),
      ),
    ),
  ];
};

/** What the customer's phone shows: the title ("Confirm it's you" or the payment) and its fields. */
const theySee = (kind: string | undefined, display: DetailDisplay[] | undefined) =>
  h(
    'div',
    { class: 'they-see' },
    h('p', { class: 'binding-label' }, copy.waiting.theySee),
    h('p', { class: 'they-see-title' }, display?.[0]?.title ?? (kind === 'transaction' ? '—' : "Confirm it's you")),
    ...(display ?? []).map((d) =>
      h('dl', { class: 'fields' }, ...d.fields.flatMap((f) => [h('dt', {}, f.label), h('dd', {}, f.value)])),
    ),
  );

let current = 0;

interface SendAnswer {
  status: string;
  auth_req_id?: string;
  expires_in?: number;
  interval?: number;
  kind?: string;
  display?: DetailDisplay[];
  error?: string;
  error_description?: string;
  reason?: 'no_device' | 'shielded';
  until?: number;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const run = ++current;
  const scope = [...form.querySelectorAll<HTMLInputElement>('input[name=scope]:checked')].map((c) => c.value).join(' ');
  const code = message.value.trim();
  const customer = hint.value.trim();
  const value = (id: string) => (document.querySelector<HTMLInputElement>(id)?.value ?? '').trim();
  send.disabled = true;
  setStatus('busy', h('p', {}, 'Sending…'));
  try {
    const ack = await api<SendAnswer>('requests', {
      login_hint: customer,
      ...(code ? { binding_message: code } : {}),
      scope,
      ...(payment()
        ? {
            payment: {
              amount: value('#amount'),
              currency: value('#currency'),
              payee: value('#payee'),
              ...(value('#reference') ? { reference: value('#reference') } : {}),
            },
          }
        : {}),
    });
    if (ack.status !== 'sent' || !ack.auth_req_id) {
      if (ack.reason === 'no_device') return titled('no-device', copy.outcome.noDevice(customer));
      if (ack.reason === 'shielded') return titled('denied', copy.outcome.shielded(customer, when(ack.until)));
      return titled('error', {
        title: copy.outcome.notSent.title,
        text: ack.error_description ?? ack.error ?? 'The request was refused.',
      });
    }
    send.disabled = false;
    await follow(run, customer, code, ack);
  } catch (error) {
    titled('error', { title: copy.outcome.error.title, text: error instanceof Error ? error.message : String(error) });
  } finally {
    if (run === current) send.disabled = false;
  }
});

/** Says where a request ended, in words. */
const showOutcome = (state: string, customer: string, what: string | undefined, claims?: Record<string, unknown>) => {
  const who = (claims?.name as string | undefined) ?? customer;
  switch (state) {
    case 'approved':
      return titled('approved', copy.outcome.approved(who, what), ...identityOf(claims ?? {}));
    case 'reported':
      return titled('denied', copy.outcome.reported(customer, copy.duration(shieldSeconds)));
    case 'denied':
      return titled('denied', copy.outcome.denied(customer));
    case 'expired':
      return titled('expired', copy.outcome.expired);
    case 'cancelled':
      return titled('expired', copy.outcome.cancelled);
    default:
      return titled('error', { title: copy.outcome.error.title, text: 'Unexpected answer.' });
  }
};

/**
 * Polls the request until the customer answers or it expires. Sending another, or Cancel, stops it (`current`
 * moves on); Cancel withdraws the request on the service, unless the customer approved first (then the approval
 * shows as usual).
 */
const follow = async (run: number, customer: string, code: string, ack: SendAnswer) => {
  const authReqId = ack.auth_req_id!;
  const expiresAt = Date.now() + (ack.expires_in ?? 300) * 1000;
  let interval = (ack.interval ?? 5) * 1000;
  const what = ack.display?.[0]?.title;
  const left = h('span', { class: 'left' });
  const cancel = h('button', { type: 'button', class: 'secondary', id: 'cancel' }, copy.waiting.cancel);
  cancel.addEventListener('click', async () => {
    cancel.disabled = true;
    cancel.textContent = copy.waiting.cancelling;
    const answer = await api<{ state: string }>('cancel', { auth_req_id: authReqId }).catch(() => ({ state: 'error' }));
    if (run !== current || answer.state === 'approved' || answer.state === 'redeemed') return;
    current++;
    send.disabled = false;
    showOutcome(answer.state, customer, what);
  });
  setStatus(
    'pending',
    h(
      'p',
      { class: 'status-title' },
      h('span', { class: 'spinner', 'aria-hidden': 'true' }),
      copy.waiting.title(customer),
    ),
    code
      ? h(
          'div',
          { class: 'read-out' },
          h('p', { class: 'binding-label' }, copy.waiting.readOut(mode)),
          h('p', { class: 'binding-code' }, code),
        )
      : h('p', { class: 'muted' }, copy.waiting.noCode),
    theySee(ack.kind, ack.display),
    h('p', { class: 'muted' }, copy.waiting.timeLeft, left),
    cancel,
  );
  const tick = setInterval(() => {
    left.textContent = formatTimeLeft((expiresAt - Date.now()) / 1000);
  }, 500);
  left.textContent = formatTimeLeft((expiresAt - Date.now()) / 1000);
  try {
    for (;;) {
      await sleep(interval);
      if (run !== current) return;
      const poll = await api<{ status: string; claims?: Record<string, unknown>; slow_down?: boolean }>('poll', {
        auth_req_id: authReqId,
      });
      if (run !== current) return;
      if (poll.slow_down) interval += 5000;
      if (poll.status === 'pending') continue;
      showOutcome(poll.status, customer, what, poll.claims);
      return;
    }
  } finally {
    clearInterval(tick);
  }
};
