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

export const request = {
  eyebrow: 'Sign-in request',
  asks: 'asks you to approve',
  codeLabel: 'Type the code shown on the other screen',
  codeHint: 'Only approve if you started this yourself. Never type a code someone gives you on the phone.',
  compareLabel: 'Check that this matches the other screen',
  noCode: 'This request has no code to compare. Approve only if you are expecting it.',
  asked: 'What it will get',
  askedTitle: 'It will get',
  approve: 'Approve',
  deny: 'Deny',
  passkeyFirst: 'Set up a passkey on this device first (above): approving needs it.',
  passkeyAsked: 'You will confirm with your passkey (fingerprint, face or PIN).',
  timeLeft: (left: string) => `${left} left`,
  announce: (clientName: string) => `New request from ${clientName}`,
};

export const outcome = (o: Outcome, clientName: string) => ({
  title: o.status === 'approved' ? 'Approved' : o.status === 'denied' ? 'Denied' : 'No longer pending',
  icon: o.status === 'approved' ? '✓' : o.status === 'denied' ? '✕' : '–',
  text:
    o.reason === 'wrong-codes'
      ? 'Denied: too many wrong codes. If you did not start this, someone else may have.'
      : o.status === 'approved'
        ? `${clientName} now knows it was you. You can go back to it.`
        : o.status === 'denied'
          ? `${clientName} was told no. Nothing was shared.`
          : 'This request expired or was answered on another device.',
  done: 'Done',
});

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
  deviceIdTitle: 'Device id',
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
