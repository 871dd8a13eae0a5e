/**
 * The operator console: the call-center screen. Sends a backchannel request through the service's console API
 * (which acts as the demo client server side) and follows it until the customer answers.
 */
import { $, formatTimeLeft, h, sleep } from './dom.ts';

const issuer = document.body.dataset.issuer ?? location.href.replace(/\/console\/?$/, '');
const form = $<HTMLFormElement>('#send-form');
const hint = $<HTMLInputElement>('#login-hint');
const message = $<HTMLInputElement>('#binding-message');
const send = $<HTMLButtonElement>('#send');
const status = $('#status');

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

let current = 0;

const claimsTable = (claims: Record<string, unknown>) => {
  const when = (v: unknown) => (typeof v === 'number' ? new Date(v * 1000).toLocaleString() : String(v));
  const rows = Object.entries(claims)
    .filter(
      ([k]) =>
        !['at_hash', 'urn:openid:params:jwt:claim:auth_req_id', 'urn:openid:params:jwt:claim:rt_hash'].includes(k),
    )
    .map(([k, v]) =>
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
    );
  return h('table', { class: 'claims' }, h('caption', {}, 'ID token claims'), h('tbody', {}, ...rows));
};

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const run = ++current;
  const scope = [...form.querySelectorAll<HTMLInputElement>('input[name=scope]:checked')].map((c) => c.value).join(' ');
  const code = message.value.trim();
  send.disabled = true;
  setStatus('busy', h('p', {}, 'Sending…'));
  try {
    const ack = await api<{
      status: string;
      auth_req_id?: string;
      expires_in?: number;
      interval?: number;
      error_description?: string;
      error?: string;
    }>('requests', { login_hint: hint.value.trim(), ...(code ? { binding_message: code } : {}), scope });
    if (ack.status !== 'sent' || !ack.auth_req_id) {
      setStatus(
        'error',
        h('p', { class: 'status-title' }, 'Not sent'),
        h('p', {}, ack.error_description ?? ack.error ?? 'The request was refused.'),
      );
      return;
    }
    send.disabled = false;
    const expiresAt = Date.now() + (ack.expires_in ?? 300) * 1000;
    let interval = (ack.interval ?? 5) * 1000;
    const left = h('span', { class: 'left' });
    const codeBox = code
      ? h(
          'div',
          { class: 'read-out' },
          h('p', { class: 'binding-label' }, 'Read this code to the customer'),
          h('p', { class: 'binding-code' }, code),
        )
      : null;
    setStatus(
      'pending',
      h(
        'p',
        { class: 'status-title' },
        h('span', { class: 'spinner', 'aria-hidden': 'true' }),
        'Waiting for the customer to approve…',
      ),
      codeBox,
      h('p', { class: 'muted' }, 'Time left: ', left),
    );
    const tick = setInterval(() => {
      left.textContent = formatTimeLeft((expiresAt - Date.now()) / 1000);
    }, 500);
    left.textContent = formatTimeLeft((expiresAt - Date.now()) / 1000);
    try {
      for (;;) {
        await sleep(interval);
        if (run !== current) return;
        const poll = await api<{
          status: string;
          claims?: Record<string, unknown>;
          slow_down?: boolean;
          error_description?: string;
        }>('poll', {
          auth_req_id: ack.auth_req_id,
        });
        if (poll.slow_down) interval += 5000;
        if (poll.status === 'pending') continue;
        if (poll.status === 'approved') {
          const who =
            (poll.claims?.name as string | undefined) ?? (poll.claims?.sub as string | undefined) ?? 'The customer';
          setStatus(
            'approved',
            h('p', { class: 'status-title' }, `Approved: ${who} is verified`),
            claimsTable(poll.claims ?? {}),
          );
        } else if (poll.status === 'denied') {
          setStatus(
            'denied',
            h('p', { class: 'status-title' }, 'Denied'),
            h('p', {}, 'The customer did not approve. Do not continue.'),
          );
        } else if (poll.status === 'expired') {
          setStatus(
            'expired',
            h('p', { class: 'status-title' }, 'Expired'),
            h('p', {}, 'Nobody answered in time. Send again if needed.'),
          );
        } else {
          setStatus(
            'error',
            h('p', { class: 'status-title' }, 'Error'),
            h('p', {}, poll.error_description ?? 'Unexpected answer.'),
          );
        }
        return;
      }
    } finally {
      clearInterval(tick);
    }
  } catch (error) {
    setStatus(
      'error',
      h('p', { class: 'status-title' }, 'Error'),
      h('p', {}, error instanceof Error ? error.message : String(error)),
    );
  } finally {
    if (run === current) send.disabled = false;
  }
});
