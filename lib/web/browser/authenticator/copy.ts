/**
 * Every word the web authenticator shows, in one place: the views take their text from here, by state.
 */
import type { Live, Outcome, PasskeyCard, Problem } from './state.ts';

/** A sentence: capitalized, ending with a full stop unless it has its own. */
export const sentence = (text: string): string => {
  const s = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
};

/** What went wrong, in words. `ceremony` depends on what the passkey was asked for. */
export const problemText = (problem: Problem, ceremony = 'The passkey check was cancelled or failed. Try again.') => {
  switch (problem.kind) {
    case 'service':
      return sentence(problem.description ?? problem.error);
    case 'wrong-code':
      return problem.description
        ? sentence(problem.description)
        : `The code does not match the one shown on the other screen${
            problem.attemptsLeft === undefined
              ? '.'
              : `; ${problem.attemptsLeft} attempt${problem.attemptsLeft === 1 ? '' : 's'} left.`
          }`;
    case 'code-missing':
      return 'Type the code shown on the other screen first.';
    case 'ceremony':
      return ceremony;
    case 'passkey-confirm-first':
      return 'This device already has a passkey: confirm with it first.';
    case 'passkey-not-confirmed':
      return 'Your current passkey did not confirm. If you no longer have it, ask your administrator to reset it.';
    case 'passkey-needs-current':
      return 'Replacing a passkey needs the current one. If you lost it, ask your administrator to reset it.';
    case 'notifications-blocked':
      return 'Notifications are blocked for this site.';
    case 'other':
      return sentence(problem.message);
  }
};

export const screens = {
  insecure: {
    title: 'This page needs a secure connection',
    text: [
      'The authenticator keeps its key with the browser’s Web Crypto, which only works over https (or on localhost).',
      'Open it through an https address, for example with CIBA_PUBLIC_URL behind a TLS proxy.',
    ],
  },
  notEnrolled: (tenantName: string, removed: boolean) => ({
    title: 'Set up this authenticator',
    text: [
      ...(removed ? ['This authenticator was removed by an administrator.'] : []),
      `This browser is not yet an authenticator for ${tenantName}.`,
      'Open the enrollment link you were given, or scan its QR code with this phone’s camera. The link works once and for 10 minutes.',
    ],
  }),
  enrolling: { title: 'Setting up this browser…', text: 'Creating a key that never leaves this device.' },
  enrollFailed: {
    title: 'This enrollment link did not work',
    after: 'Enrollment links work once and expire after 10 minutes. Ask for a new one.',
  },
  unreachable: { title: 'Cannot reach the service', after: 'Reload the page to try again.' },
  failed: { title: 'Something went wrong' },
  enrolled: (tenantName: string) => ({
    title: 'This browser is your authenticator',
    text: `Requests from ${tenantName} will appear here.`,
  }),
  empty: (canNotify: boolean) => ({
    title: 'No requests right now',
    text: canNotify
      ? 'When a service asks you to approve, the request appears here. Keep this page open, or turn on notifications.'
      : 'When a service asks you to approve, the request appears here. Keep this page open to see it.',
  }),
};

/** "1 hour", "10 minutes", "2 days": how long a report keeps a client away. */
export const duration = (seconds: number): string => {
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (seconds >= 86_400 && seconds % 86_400 === 0) return unit(seconds / 86_400, 'day');
  if (seconds >= 3600 && seconds % 3600 === 0) return unit(seconds / 3600, 'hour');
  if (seconds >= 60) return unit(Math.round(seconds / 60), 'minute');
  return unit(seconds, 'second');
};

/**
 * A request's screen. Who asks and what first (the title: "Confirm it's you", or what the transaction does), then the
 * code, what it shares and the time left; Deny and "I didn't ask for this" as prominent as Approve, each saying what it
 * does. The words of the code box agree with the operator console's for the tenant's binding mode: in `compare` the
 * person checks a code the client shows or reads out; in `type` they type it, and only when they contacted the
 * client themselves.
 */
export const request = {
  /** The client, and the tenant when the client's name does not already say it (the top bar names it too). */
  asker: (clientName: string, tenantName: string) => ({
    client: clientName,
    tenant: clientName.toLowerCase().includes(tenantName.toLowerCase()) ? '' : tenantName,
  }),
  compareLabel: 'Code to compare',
  compareHint: 'It must match the code you were shown or told.',
  codeLabel: (clientName: string) => `Type the code ${clientName} gives you`,
  codeHint: (clientName: string) =>
    `Only if you contacted ${clientName} yourself: never for someone who contacted you and asks for a code.`,
  noCode: 'There is no code to compare. Approve only if you are expecting this request.',
  shares: (what: string[]) => `Shares ${joinWords(what)}.`,
  consequence: (kind: 'identity_check' | 'transaction', clientName: string) =>
    kind === 'transaction'
      ? `Approve only if you asked ${clientName} for this yourself.`
      : `Approve only if you are dealing with ${clientName} right now.`,
  approve: 'Approve',
  deny: 'Deny',
  report: "I didn't ask for this",
  reportHint: (clientName: string, shieldSeconds: number) =>
    shieldSeconds > 0
      ? `Denies it and blocks ${clientName} for ${duration(shieldSeconds)}.`
      : 'Denies it and tells your administrator it was not you.',
  passkeyFirst: 'Set up a passkey on this device first (below): approving needs it.',
  passkeyAsked: 'You will confirm with your passkey (fingerprint, face or PIN).',
  timeLeft: (left: string) => `${left} left`,
  announce: (clientName: string, title: string) => `New request from ${clientName}: ${title}`,
};

const joinWords = (words: string[]): string =>
  words.length <= 1 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;

export const outcome = (
  o: Outcome,
  view: { clientName: string; kind: 'identity_check' | 'transaction'; shieldSeconds: number },
) => {
  const { clientName } = view;
  switch (o.status) {
    case 'approved':
      return {
        title: 'Approved',
        icon: '✓',
        text:
          view.kind === 'transaction'
            ? `${clientName} can go ahead. You can go back to it.`
            : `${clientName} now knows it was you. You can go back to it.`,
        done: 'Done',
      };
    case 'denied':
      return {
        title: 'Denied',
        icon: '✕',
        text:
          o.reason === 'wrong-codes'
            ? 'Denied: too many wrong codes. If you did not start this, someone else may have.'
            : `${clientName} was told no. Nothing was shared.`,
        done: 'Done',
      };
    case 'reported':
      return {
        title: 'Reported',
        icon: '⚑',
        text: `${clientName} was told no${
          view.shieldSeconds > 0 ? ` and cannot ask you again for ${duration(view.shieldSeconds)}` : ''
        }. If someone asked you to approve, it may be a scam: never approve for someone else or share a code.`,
        done: 'Done',
      };
    case 'gone':
      return {
        title: 'No longer pending',
        icon: '–',
        text: 'This request expired, was cancelled, or was answered on another device.',
        done: 'Done',
      };
  }
};

export const passkey = (card: PasskeyCard, tenantName: string) => ({
  title: card.mode === 'setup' && !card.replacing ? 'Protect approvals with a passkey' : 'Replace your passkey',
  text:
    card.step === 'confirmed'
      ? 'Your current passkey confirmed. Now create the new one.'
      : card.mode === 'setup'
        ? `${tenantName} asks you to confirm each approval with your fingerprint, face or device PIN.`
        : 'First confirm with your current passkey, then create the new one.',
  button:
    card.step === 'confirmed'
      ? 'Create new passkey'
      : card.replacing
        ? 'Confirm with current passkey'
        : 'Set up passkey',
  problem: card.problem ? problemText(card.problem, 'The passkey was not created. Try again.') : '',
});

export const passkeyDone = (done: 'ready' | 'replaced') =>
  done === 'replaced'
    ? { title: 'Passkey replaced', text: 'Approvals now use your new passkey.' }
    : { title: 'Passkey ready', text: 'You will confirm approvals with it.' };

export const notifications = {
  title: 'Get notified',
  text: 'Let this browser show a notification when a request arrives, even when this page is closed.',
  button: 'Turn on notifications',
  on: { title: 'Notifications on', text: 'You will be notified when a request arrives.' },
};

export const footer = {
  device: (name: string, passkey: boolean) => [`This device: ${name}`, passkey ? ' · passkey set' : ''],
  about: 'About this device',
  deviceIdLabel: 'Device id (for your administrator)',
  replacePasskey: 'Replace passkey',
  forget: 'Remove from this browser',
  forgetConfirm: 'Remove this authenticator from this browser? You will need a new enrollment link.',
};

/** The live indicator in the top bar; `on` lights its dot. */
export const live = (l: Live): { text: string; on: boolean } => {
  switch (l.state) {
    case 'live':
      return { text: 'Live', on: true };
    case 'reconnecting':
      return { text: 'Reconnecting…', on: false };
    case 'polling':
      return { text: `Checking every ${Math.round(l.intervalMs / 1000)} s`, on: true };
    case 'offline':
      return { text: 'Offline, retrying…', on: false };
  }
};

/** The tab title counts what waits: "(2) ACME Authenticator". */
export const documentTitle = (base: string, waiting: number) => (waiting > 0 ? `(${waiting}) ${base}` : base);

/**
 * What a request shares beyond the confirmation itself, in plain words (OIDC Core §5.4 and offline_access). `openid`
 * is the confirmation the screen's title asks for: not repeated.
 */
const SCOPE_WORDS: Record<string, string> = {
  profile: 'your name and profile',
  email: 'your email address',
  phone: 'your phone number',
  address: 'your postal address',
  offline_access: 'access while you are away',
};

export const describeScopes = (scope: string): string[] =>
  scope
    .split(/\s+/)
    .filter((s) => s && s !== 'openid')
    .map((s) => SCOPE_WORDS[s] ?? `access to "${s}"`);
