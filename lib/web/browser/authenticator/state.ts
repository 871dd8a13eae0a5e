/**
 * What the web authenticator shows, as data: one immutable state, changed only by `update(state, action)`. No DOM,
 * no network, no clock: the controller (controller.ts) dispatches what happened, the views (view/) draw the state.
 */
import type { DeviceProfile, Transaction } from '../../../device/client.ts';
import { transactionTitle } from '../../../device/display.ts';

/** Something that went wrong, as data; copy.ts words it. */
export type Problem =
  /** The device API refused or could not be reached: its `error` code, and its text for people. */
  | { kind: 'service'; error: string; description?: string }
  /** A wrong binding code with attempts left (`attempts_left`). */
  | { kind: 'wrong-code'; attemptsLeft?: number; description?: string }
  | { kind: 'code-missing' }
  /** The browser's WebAuthn ceremony was cancelled or failed. */
  | { kind: 'ceremony' }
  /** Replacing a passkey: the service wants the current one's confirmation first. */
  | { kind: 'passkey-confirm-first' }
  | { kind: 'passkey-not-confirmed' }
  | { kind: 'passkey-needs-current' }
  | { kind: 'notifications-blocked' }
  | { kind: 'other'; message: string };

/** How a request ended on this page. `reported`: denied with "I didn't ask for this". `gone`: expired or answered elsewhere. */
export interface Outcome {
  status: 'approved' | 'denied' | 'reported' | 'gone';
  /** Denied by the service after the last wrong binding code. */
  reason?: 'wrong-codes';
}

export interface RequestEntry {
  tx: Transaction;
  /** `busy` while a decision is under way; `done` once decided here (then `outcome` says how). */
  phase: 'open' | 'busy' | 'done';
  problem?: Problem;
  outcome?: Outcome;
}

export interface PasskeyCard {
  /** `setup`: offered because the tenant asks for a passkey; `replace`: asked for from the footer. */
  mode: 'setup' | 'replace';
  /** The service asks the current passkey to confirm first (hardening rule 1). */
  replacing: boolean;
  /** `confirmed`: the current passkey confirmed; the next tap creates the new one. */
  step: 'start' | 'confirmed';
  busy: boolean;
  problem?: Problem;
}

export interface DeviceState {
  justEnrolled: boolean;
  deviceId: string;
  deviceName: string;
  tenantName: string;
  /** How long a report keeps the reported client away (the tenant's setting; 0: no shield). */
  reportShieldSeconds: number;
  passkey: boolean;
  requests: RequestEntry[];
  passkeyCard: PasskeyCard | null;
  /** The last passkey change, confirmed to the user. */
  passkeyDone: 'ready' | 'replaced' | null;
  notifications: { state: 'hidden' | 'offered' | 'busy' | 'on'; problem?: Problem };
  /** This tenant and this browser can give notifications (the empty state offers them only then). */
  canNotify: boolean;
  /** Said to screen readers: the newest request that arrived (a new object for each). */
  announcement: { clientName: string; title: string } | null;
}

export type Screen =
  | { name: 'loading' }
  | { name: 'insecure' }
  | { name: 'not-enrolled'; removed: boolean }
  | { name: 'enrolling' }
  | { name: 'enroll-failed'; problem: Problem }
  | { name: 'unreachable'; problem: Problem }
  | { name: 'failed'; problem: Problem }
  | ({ name: 'device' } & DeviceState);

/** How requests reach the page (the device SDK's connection states); null before anything is known. */
export type Live =
  | { state: 'live' }
  | { state: 'reconnecting' }
  | { state: 'polling'; intervalMs: number }
  | { state: 'offline' };

export interface State {
  /** The tenant's name as the page was served (before the device's profile is known). */
  tenantName: string;
  screen: Screen;
  live: Live | null;
  /** Seconds since the epoch, as of the last tick. */
  now: number;
}

export type Action =
  | { type: 'screen'; screen: Exclude<Screen, { name: 'device' }> }
  | { type: 'enrolled'; profile: DeviceProfile; deviceId: string; justEnrolled: boolean; canNotify: boolean }
  | { type: 'pending'; transactions: Transaction[] }
  | { type: 'arrived'; tx: Transaction }
  /** No longer pending (decided elsewhere, cancelled by the client, expired): gone from the list unless decided here. */
  | { type: 'withdrawn'; txn: string }
  | { type: 'tick'; now: number }
  | { type: 'deciding'; txn: string }
  | { type: 'decided'; txn: string; outcome: Outcome }
  | { type: 'decision-failed'; txn: string; problem: Problem }
  | { type: 'dismissed'; txn: string }
  | { type: 'connection'; live: Live }
  | { type: 'passkey-offered'; mode: 'setup' | 'replace' }
  | { type: 'passkey-busy' }
  | { type: 'passkey-replacing' }
  | { type: 'passkey-confirmed' }
  | { type: 'passkey-failed'; problem: Problem; replacing?: boolean }
  | { type: 'passkey-registered'; replaced: boolean }
  | { type: 'notifications'; state: DeviceState['notifications']['state']; problem?: Problem };

export const initialState = (tenantName: string, now: number): State => ({
  tenantName,
  screen: { name: 'loading' },
  live: null,
  now,
});

type DeviceScreen = Extract<Screen, { name: 'device' }>;

/** Applies `change` to the enrolled device's screen; any other screen, and a change to nothing, keep the state. */
const onDevice = (state: State, change: (device: DeviceScreen) => DeviceScreen): State => {
  if (state.screen.name !== 'device') return state;
  const screen = change(state.screen);
  return screen === state.screen ? state : { ...state, screen };
};

const withEntry = (device: DeviceScreen, txn: string, change: (e: RequestEntry) => RequestEntry): DeviceScreen => ({
  ...device,
  requests: device.requests.map((e) => (e.tx.txn === txn ? change(e) : e)),
});

/** New requests go on top, each announced; one already shown stays as it is. */
const add = (device: DeviceScreen, txs: Transaction[]): DeviceScreen => {
  let { requests, announcement } = device;
  for (const tx of txs) {
    if (requests.some((e) => e.tx.txn === tx.txn)) continue;
    requests = [{ tx, phase: 'open' }, ...requests];
    announcement = { clientName: tx.client_name, title: transactionTitle(tx) };
  }
  return requests === device.requests ? device : { ...device, requests, announcement };
};

const passkeyCard = (device: DeviceScreen, change: (card: PasskeyCard) => Partial<PasskeyCard>): DeviceScreen =>
  device.passkeyCard ? { ...device, passkeyCard: { ...device.passkeyCard, ...change(device.passkeyCard) } } : device;

export const update = (state: State, action: Action): State => {
  switch (action.type) {
    case 'screen':
      return { ...state, screen: action.screen };
    case 'enrolled':
      return {
        ...state,
        screen: {
          name: 'device',
          justEnrolled: action.justEnrolled,
          deviceId: action.deviceId,
          deviceName: action.profile.name,
          tenantName: action.profile.tenant.display_name,
          reportShieldSeconds: action.profile.tenant.report_shield_seconds ?? 3600,
          passkey: action.profile.passkey,
          requests: [],
          passkeyCard: null,
          passkeyDone: null,
          canNotify: action.canNotify,
          notifications: { state: 'hidden' },
          announcement: null,
        },
      };
    case 'pending':
      return onDevice(state, (device) => {
        const listed = new Set(action.transactions.map((tx) => tx.txn));
        const added = add(device, action.transactions);
        // Decided elsewhere (another device, or denied by the service): no longer pending. Those decided or being
        // decided here stay (their answer is on its way, or shown).
        const requests = added.requests.filter((e) => e.phase !== 'open' || listed.has(e.tx.txn));
        return requests.length === added.requests.length ? added : { ...added, requests };
      });
    case 'arrived':
      return onDevice(state, (device) => add(device, [action.tx]));
    case 'withdrawn':
      return onDevice(state, (device) => {
        const requests = device.requests.filter((e) => e.phase !== 'open' || e.tx.txn !== action.txn);
        return requests.length === device.requests.length ? device : { ...device, requests };
      });
    case 'tick': {
      const next = { ...state, now: action.now };
      return onDevice(next, (device) => {
        const requests = device.requests.filter((e) => e.phase !== 'open' || e.tx.expires_at > action.now);
        return requests.length === device.requests.length ? device : { ...device, requests };
      });
    }
    case 'deciding':
      return onDevice(state, (device) => withEntry(device, action.txn, (e) => ({ tx: e.tx, phase: 'busy' })));
    case 'decided':
      return onDevice(state, (device) =>
        withEntry(device, action.txn, (e) => ({ tx: e.tx, phase: 'done', outcome: action.outcome })),
      );
    case 'decision-failed':
      return onDevice(state, (device) =>
        withEntry(device, action.txn, (e) => ({ tx: e.tx, phase: 'open', problem: action.problem })),
      );
    case 'dismissed':
      return onDevice(state, (device) => ({
        ...device,
        requests: device.requests.filter((e) => e.tx.txn !== action.txn),
      }));
    case 'connection':
      return { ...state, live: action.live };
    case 'passkey-offered':
      return onDevice(state, (device) =>
        // One passkey card at a time: asking again while one is shown changes nothing.
        device.passkeyCard
          ? device
          : {
              ...device,
              passkeyCard: { mode: action.mode, replacing: action.mode === 'replace', step: 'start', busy: false },
            },
      );
    case 'passkey-busy':
      return onDevice(state, (device) => passkeyCard(device, () => ({ busy: true, problem: undefined })));
    case 'passkey-replacing':
      return onDevice(state, (device) => passkeyCard(device, () => ({ replacing: true })));
    case 'passkey-confirmed':
      return onDevice(state, (device) => passkeyCard(device, () => ({ step: 'confirmed', busy: false })));
    case 'passkey-failed':
      return onDevice(state, (device) =>
        passkeyCard(device, (card) => ({
          step: 'start',
          busy: false,
          problem: action.problem,
          replacing: action.replacing ?? card.replacing,
        })),
      );
    case 'passkey-registered':
      return onDevice(state, (device) => ({
        ...device,
        passkey: true,
        passkeyCard: null,
        passkeyDone: action.replaced ? 'replaced' : 'ready',
      }));
    case 'notifications':
      return onDevice(state, (device) => ({
        ...device,
        notifications: action.problem ? { state: action.state, problem: action.problem } : { state: action.state },
      }));
  }
};

/** The enrolled device's screen, if that is what is shown. */
export const deviceScreen = (state: State) => (state.screen.name === 'device' ? state.screen : undefined);

/** Requests still waiting for an answer here (the tab title counts them). */
export const waiting = (device: DeviceState): number => device.requests.filter((e) => e.phase !== 'done').length;

/** A minimal store: the state, `dispatch` to change it, and listeners told of each change. */
export const createStore = (initial: State) => {
  let state = initial;
  const listeners = new Set<(state: State, previous: State) => void>();
  return {
    get: (): State => state,
    dispatch: (action: Action): void => {
      const previous = state;
      state = update(state, action);
      if (state !== previous) for (const listener of listeners) listener(state, previous);
    },
    subscribe: (listener: (state: State, previous: State) => void): (() => void) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
};

export type Store = ReturnType<typeof createStore>;
