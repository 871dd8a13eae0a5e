import { describe, expect, it, vi } from 'vitest';
import type { DeviceProfile, Transaction } from '../../../lib/device/client.ts';
import * as copy from '../../../lib/web/browser/authenticator/copy.ts';
import {
  type Action,
  createStore,
  initialState,
  type PasskeyCard,
  type State,
  update,
  waiting,
} from '../../../lib/web/browser/authenticator/state.ts';

/** The web authenticator's state machine: pure, no DOM, no network, no clock. */

const tx = (txn: string, over: Partial<Transaction> = {}): Transaction => ({
  txn,
  client_id: 'c1',
  client_name: `Client ${txn}`,
  scope: 'openid',
  kind: 'identity_check',
  binding_message: `Code ${txn}`,
  created_at: 1_000,
  expires_at: 1_300,
  ...over,
});

const profile = (over: Partial<DeviceProfile> = {}): DeviceProfile => ({
  device_id: 'dev-1',
  name: 'Chrome on Linux',
  created_at: 900,
  push: null,
  passkey: false,
  tenant: { display_name: 'ACME Support', binding_code_confirmation: false, user_verification: 'none' },
  ...over,
});

const run = (...actions: Action[]): State => actions.reduce(update, initialState('acme', 1_000));
const enrolled = (over: Partial<DeviceProfile> = {}): Action => ({
  type: 'enrolled',
  profile: profile(over),
  deviceId: 'dev-1-thumbprint',
  justEnrolled: true,
  canNotify: false,
});
const device = (state: State) => {
  if (state.screen.name !== 'device') throw new Error(`not the device screen: ${state.screen.name}`);
  return state.screen;
};
const txns = (state: State) => device(state).requests.map((e) => `${e.tx.txn}:${e.phase}`);

describe('the authenticator state', () => {
  it('starts loading, and shows the enrolled device from its profile with nothing pending', () => {
    expect(initialState('acme', 5)).toEqual({ tenantName: 'acme', screen: { name: 'loading' }, live: null, now: 5 });
    expect(device(run(enrolled({ passkey: true })))).toMatchObject({
      justEnrolled: true,
      deviceId: 'dev-1-thumbprint',
      deviceName: 'Chrome on Linux',
      tenantName: 'ACME Support',
      passkey: true,
      requests: [],
      passkeyCard: null,
      passkeyDone: null,
      notifications: { state: 'hidden' },
      announcement: null,
    });
  });

  it('puts each request it learns of on top and announces it; one already shown changes nothing', () => {
    const state = run(
      enrolled(),
      { type: 'pending', transactions: [tx('a'), tx('b')] },
      { type: 'arrived', tx: tx('c') },
    );
    expect(txns(state)).toEqual(['c:open', 'b:open', 'a:open']);
    expect(device(state).announcement).toEqual({ clientName: 'Client c', title: "Confirm it's you" });
    expect(update(state, { type: 'arrived', tx: tx('a') })).toBe(state);
    expect(update(state, { type: 'pending', transactions: [tx('a'), tx('b'), tx('c')] })).toBe(state);
  });

  it('drops open requests the pending list no longer has, and keeps those being decided or decided here', () => {
    const state = run(
      enrolled(),
      { type: 'pending', transactions: [tx('a'), tx('b'), tx('c')] },
      { type: 'deciding', txn: 'a' },
      { type: 'decided', txn: 'b', outcome: { status: 'approved' } },
      { type: 'pending', transactions: [] },
    );
    expect(txns(state)).toEqual(['b:done', 'a:busy']);
  });

  it('drops open requests once expired at a tick, keeps results, and counts what waits', () => {
    const state = run(
      enrolled(),
      { type: 'pending', transactions: [tx('a', { expires_at: 1_100 }), tx('b', { expires_at: 1_100 }), tx('c')] },
      { type: 'decided', txn: 'b', outcome: { status: 'denied' } },
      { type: 'tick', now: 1_099 },
    );
    expect(txns(state)).toEqual(['c:open', 'b:done', 'a:open']);
    expect(waiting(device(state))).toBe(2);
    const later = update(state, { type: 'tick', now: 1_100 });
    expect(later.now).toBe(1_100);
    expect(txns(later)).toEqual(['c:open', 'b:done']);
    expect(waiting(device(later))).toBe(1);
  });

  it('follows one decision: busy, a problem that keeps it open, then the outcome, then dismissed', () => {
    const opened = run(enrolled(), { type: 'arrived', tx: tx('a') });
    const failed = update(update(opened, { type: 'deciding', txn: 'a' }), {
      type: 'decision-failed',
      txn: 'a',
      problem: { kind: 'wrong-code', attemptsLeft: 2 },
    });
    expect(device(failed).requests[0]).toEqual({
      tx: tx('a'),
      phase: 'open',
      problem: { kind: 'wrong-code', attemptsLeft: 2 },
    });
    // Trying again clears the problem.
    expect(device(update(failed, { type: 'deciding', txn: 'a' })).requests[0]).toEqual({ tx: tx('a'), phase: 'busy' });
    const done = update(failed, { type: 'decided', txn: 'a', outcome: { status: 'denied', reason: 'wrong-codes' } });
    expect(device(done).requests[0]).toEqual({
      tx: tx('a'),
      phase: 'done',
      outcome: { status: 'denied', reason: 'wrong-codes' },
    });
    expect(txns(update(done, { type: 'dismissed', txn: 'a' }))).toEqual([]);
    // Withdrawn (cancelled by its client, answered elsewhere): an open request leaves, one decided here stays.
    expect(update(done, { type: 'withdrawn', txn: 'a' })).toBe(done);
    expect(txns(update(failed, { type: 'withdrawn', txn: 'a' }))).toEqual([]);
  });

  it('runs the passkey card: set up, told to confirm with the current passkey, confirmed, replaced', () => {
    const card = (state: State) => device(state).passkeyCard as PasskeyCard;
    let state = run(enrolled(), { type: 'passkey-offered', mode: 'setup' });
    expect(card(state)).toEqual({ mode: 'setup', replacing: false, step: 'start', busy: false });
    // One card at a time.
    expect(update(state, { type: 'passkey-offered', mode: 'replace' })).toBe(state);
    state = update(state, { type: 'passkey-busy' });
    expect(card(state).busy).toBe(true);
    state = update(state, { type: 'passkey-failed', problem: { kind: 'passkey-confirm-first' }, replacing: true });
    expect(card(state)).toMatchObject({
      replacing: true,
      step: 'start',
      busy: false,
      problem: { kind: 'passkey-confirm-first' },
    });
    state = update(update(state, { type: 'passkey-busy' }), { type: 'passkey-confirmed' });
    expect(card(state)).toMatchObject({ step: 'confirmed', busy: false, replacing: true });
    expect(card(state).problem).toBeUndefined();
    // A failure without a word on replacing keeps what the card knew.
    state = update(state, { type: 'passkey-failed', problem: { kind: 'ceremony' } });
    expect(card(state)).toMatchObject({ step: 'start', replacing: true });
    state = update(state, { type: 'passkey-registered', replaced: true });
    expect(device(state)).toMatchObject({ passkey: true, passkeyCard: null, passkeyDone: 'replaced' });
    // The footer's replacement opens a new card, asking for the current passkey from the start.
    expect(card(update(state, { type: 'passkey-offered', mode: 'replace' }))).toEqual({
      mode: 'replace',
      replacing: true,
      step: 'start',
      busy: false,
    });
  });

  it('offers notifications, and keeps a refusal on the offer', () => {
    let state = run(enrolled(), { type: 'notifications', state: 'offered' });
    state = update(state, { type: 'notifications', state: 'busy' });
    state = update(state, { type: 'notifications', state: 'offered', problem: { kind: 'notifications-blocked' } });
    expect(device(state).notifications).toEqual({ state: 'offered', problem: { kind: 'notifications-blocked' } });
    expect(device(update(state, { type: 'notifications', state: 'on' })).notifications).toEqual({ state: 'on' });
  });

  it('ignores device actions on any other screen, and keeps the connection state on every screen', () => {
    const state = run({ type: 'screen', screen: { name: 'not-enrolled', removed: true } });
    for (const action of [
      { type: 'arrived', tx: tx('a') },
      { type: 'pending', transactions: [tx('a')] },
      { type: 'passkey-offered', mode: 'setup' },
      { type: 'notifications', state: 'offered' },
      { type: 'decided', txn: 'a', outcome: { status: 'approved' } },
    ] as Action[]) {
      expect(update(state, action)).toBe(state);
    }
    expect(update(state, { type: 'connection', live: { state: 'polling', intervalMs: 3_000 } }).live).toEqual({
      state: 'polling',
      intervalMs: 3_000,
    });
  });

  it('tells its listeners of each change, with the state before it, and of nothing else', () => {
    const store = createStore(initialState('acme', 0));
    const listener = vi.fn();
    const unsubscribe = store.subscribe(listener);
    store.dispatch({ type: 'screen', screen: { name: 'insecure' } });
    store.dispatch({ type: 'arrived', tx: tx('a') }); // not the device screen: no change
    expect(listener).toHaveBeenCalledTimes(1);
    expect(listener.mock.calls[0]?.[0].screen).toEqual({ name: 'insecure' });
    expect(listener.mock.calls[0]?.[1].screen).toEqual({ name: 'loading' });
    unsubscribe();
    store.dispatch({ type: 'screen', screen: { name: 'enrolling' } });
    expect(listener).toHaveBeenCalledTimes(1);
    expect(store.get().screen).toEqual({ name: 'enrolling' });
  });
});

describe('the authenticator copy, by state', () => {
  const card = (over: Partial<PasskeyCard>): PasskeyCard => ({
    mode: 'setup',
    replacing: false,
    step: 'start',
    busy: false,
    ...over,
  });

  it.each([
    [card({}), 'Protect approvals with a passkey', 'Set up passkey', 'ACME asks you to confirm each approval'],
    [card({ replacing: true }), 'Replace your passkey', 'Confirm with current passkey', 'ACME asks you'],
    [
      card({ mode: 'replace', replacing: true }),
      'Replace your passkey',
      'Confirm with current passkey',
      'First confirm',
    ],
    [
      card({ replacing: true, step: 'confirmed' }),
      'Replace your passkey',
      'Create new passkey',
      'Your current passkey confirmed',
    ],
  ])('words the passkey card %j', (state, title, button, text) => {
    const words = copy.passkey(state, 'ACME');
    expect(words).toMatchObject({ title, button });
    expect(words.text.startsWith(text)).toBe(true);
  });

  it('words a problem: the service’s text as a sentence, or its own words where the service gave none', () => {
    expect(copy.problemText({ kind: 'service', error: 'not_found', description: 'no such transaction' })).toBe(
      'No such transaction.',
    );
    expect(copy.problemText({ kind: 'service', error: 'network_error' })).toBe('Network_error.');
    expect(copy.problemText({ kind: 'wrong-code', attemptsLeft: 1 })).toBe(
      'The code does not match the one shown on the other screen; 1 attempt left.',
    );
    expect(copy.problemText({ kind: 'ceremony' }, 'The passkey was not created. Try again.')).toBe(
      'The passkey was not created. Try again.',
    );
  });

  it('words the request by its kind and the tenant binding mode, and how long a report keeps a client away', () => {
    expect(copy.request.consequence('identity_check', 'ACME Desk')).toBe(
      'Approve only if you are dealing with ACME Desk right now.',
    );
    expect(copy.request.consequence('transaction', 'ACME Pay')).toBe(
      'Approve only if you asked ACME Pay for this yourself.',
    );
    expect(copy.request.codeLabel('ACME Desk')).toBe('Type the code ACME Desk gives you');
    expect(copy.request.codeHint('ACME Desk')).toMatch(/^Only if you contacted ACME Desk yourself: never for someone/);
    expect(copy.request.reportHint('ACME Desk', 3600)).toBe('Denies it and blocks ACME Desk for 1 hour.');
    expect(copy.request.asker('ACME Support Console', 'ACME Support')).toEqual({
      client: 'ACME Support Console',
      tenant: '',
    });
    expect(copy.request.asker('Bank app', 'ACME Support')).toEqual({ client: 'Bank app', tenant: 'ACME Support' });
    expect(copy.request.reportHint('ACME Desk', 0)).toMatch(/^Denies it and tells/);
    expect([59, 600, 7200, 86_400, 90].map(copy.duration)).toEqual([
      '59 seconds',
      '10 minutes',
      '2 hours',
      '1 day',
      '2 minutes',
    ]);
    expect(copy.describeScopes('openid profile email offline_access')).toEqual([
      'your name and profile',
      'your email address',
      'access while you are away',
    ]);
    expect(copy.request.shares(['your name and profile', 'your email address', 'your phone number'])).toBe(
      'Shares your name and profile, your email address and your phone number.',
    );
  });

  it('words the outcome, the live indicator and the tab title', () => {
    const view = { clientName: 'ACME', kind: 'identity_check' as const, shieldSeconds: 3600 };
    expect(copy.outcome({ status: 'denied', reason: 'wrong-codes' }, view).text).toMatch(/too many wrong codes/);
    expect(copy.outcome({ status: 'gone' }, view)).toMatchObject({ title: 'No longer pending', icon: '–' });
    expect(copy.outcome({ status: 'reported' }, view)).toMatchObject({ title: 'Reported', icon: '⚑' });
    expect(copy.outcome({ status: 'reported' }, view).text).toMatch(
      /^ACME was told no and cannot ask you again for 1 hour\./,
    );
    expect(copy.outcome({ status: 'approved' }, { ...view, kind: 'transaction' }).text).toMatch(/can go ahead/);
    expect(copy.live({ state: 'polling', intervalMs: 3_000 })).toEqual({ text: 'Checking every 3 s', on: true });
    expect(copy.live({ state: 'reconnecting' })).toEqual({ text: 'Reconnecting…', on: false });
    expect(copy.documentTitle('ACME Authenticator', 2)).toBe('(2) ACME Authenticator');
    expect(copy.documentTitle('ACME Authenticator', 0)).toBe('ACME Authenticator');
  });
});
