/**
 * What the web authenticator does: enrollment, following requests, decisions (the passkey and notifications are in
 * device-setup.ts). It asks the service through the transport and the browser through the platform, and tells the
 * store what happened; it never touches the DOM. It decides on error classes and their machine-readable fields,
 * never on prose.
 */
import type { Decision } from '../../../device/client.ts';
import { InvalidBindingCode, InvalidDpopProof, RequestNotPending } from '../../../device/errors.ts';
import { footer } from './copy.ts';
import { createDeviceSetup, problemOf } from './device-setup.ts';
import type { Platform } from './platform.ts';
import { deviceScreen, type Outcome, type Store } from './state.ts';
import type { Device, Transport } from './transport.ts';

export interface ControllerDeps {
  store: Store;
  transport: Transport;
  platform: Platform;
  /** The tenant's Web Push key as the page was served (the device profile's wins). */
  webPushKey?: string | undefined;
  /** Seconds since the epoch. */
  now?: () => number;
  /** How long a decided request's result stays (ms). */
  resultMs?: number;
}

export interface Controller {
  start(): Promise<void>;
  decide(txn: string, decision: Decision, bindingCode?: string): Promise<void>;
  dismiss(txn: string): void;
  offerPasskeyReplacement(): void;
  passkeyStep(): Promise<void>;
  enableNotifications(): Promise<void>;
  forget(): Promise<void>;
  /** Stops following requests and the clock. */
  stop(): void;
}

export const createController = (deps: ControllerDeps): Controller => {
  const { store, transport, platform } = deps;
  const dispatch = store.dispatch;
  const now = deps.now ?? (() => Date.now() / 1000);
  const resultMs = deps.resultMs ?? 60_000;
  const stopping = new AbortController();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let device: Device | undefined;
  const setup = createDeviceSetup({ ...deps, device: () => device });

  const later = (ms: number, fn: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };

  const enroll = async (ticket: string): Promise<Device | undefined> => {
    dispatch({ type: 'screen', screen: { name: 'enrolling' } });
    try {
      return await transport.enroll(ticket, platform.deviceName());
    } catch (error) {
      dispatch({ type: 'screen', screen: { name: 'enroll-failed', problem: problemOf(error) } });
      return undefined;
    }
  };

  const run = async (enrolled: Device, justEnrolled: boolean) => {
    let profile: Awaited<ReturnType<Device['profile']>>;
    try {
      profile = await enrolled.profile();
    } catch (error) {
      if (error instanceof InvalidDpopProof) {
        await transport.forget().catch(() => {});
        dispatch({ type: 'screen', screen: { name: 'not-enrolled', removed: true } });
        return;
      }
      dispatch({ type: 'screen', screen: { name: 'unreachable', problem: problemOf(error) } });
      return;
    }
    device = enrolled;
    // Offer notifications only where this tenant and browser can give them (device-setup says the same).
    const canNotify = !!(profile.tenant.web_push_public_key ?? deps.webPushKey) && platform.canPush();
    dispatch({ type: 'enrolled', profile, deviceId: enrolled.deviceId, justEnrolled, canNotify });
    if (profile.tenant.user_verification === 'passkey' && !profile.passkey) {
      dispatch({ type: 'passkey-offered', mode: 'setup' });
    }
    void setup.offerNotifications(profile);
    const clock = setInterval(() => dispatch({ type: 'tick', now: now() }), 1_000);
    stopping.signal.addEventListener('abort', () => clearInterval(clock));
    void follow(enrolled);
  };

  /** Requests as they arrive (the event stream, or polling where there is none). */
  const follow = async (enrolled: Device) => {
    const refresh = () =>
      enrolled.pending().then(
        (transactions) => dispatch({ type: 'pending', transactions }),
        () => {},
      );
    for await (const event of enrolled.events({ signal: stopping.signal })) {
      if (event.type === 'pending') dispatch({ type: 'pending', transactions: event.transactions });
      else if (event.type === 'transaction') {
        // A new request, or one that changed (decided elsewhere, cancelled by its client): its status says which.
        enrolled
          .get(event.txn)
          .then(
            ({ status, ...tx }) =>
              dispatch(status === 'pending' ? { type: 'arrived', tx } : { type: 'withdrawn', txn: event.txn }),
            refresh,
          );
      } else {
        dispatch({
          type: 'connection',
          live: event.state === 'polling' ? { state: 'polling', intervalMs: event.intervalMs } : { state: event.state },
        });
      }
    }
  };

  const finish = (txn: string, outcome: Outcome) => {
    dispatch({ type: 'decided', txn, outcome });
    later(resultMs, () => dispatch({ type: 'dismissed', txn }));
  };

  return {
    async start() {
      if (!platform.secure()) return dispatch({ type: 'screen', screen: { name: 'insecure' } });
      const ticket = platform.takeTicket();
      const enrolled = ticket ? await enroll(ticket) : await transport.load();
      if (enrolled) return run(enrolled, ticket !== null);
      if (!ticket) dispatch({ type: 'screen', screen: { name: 'not-enrolled', removed: false } });
    },

    async decide(txn, decision, bindingCode) {
      const entry = deviceScreen(store.get())?.requests.find((e) => e.tx.txn === txn);
      if (!device || !entry || entry.phase !== 'open') return;
      const { tx } = entry;
      const options: { bindingCode?: string; webauthn?: unknown } = {};
      if (decision === 'approve' && tx.binding_code_required) {
        if (!bindingCode?.trim()) return dispatch({ type: 'decision-failed', txn, problem: { kind: 'code-missing' } });
        options.bindingCode = bindingCode;
      }
      dispatch({ type: 'deciding', txn });
      try {
        if (decision === 'approve' && tx.webauthn) {
          const { challenge, rpId, allowCredentials, userVerification, timeout } = tx.webauthn;
          options.webauthn = await platform.assert({ challenge, rpId, allowCredentials, userVerification, timeout });
        }
        const result = await device.decide(txn, decision, options);
        finish(txn, { status: result.status });
      } catch (error) {
        if (error instanceof InvalidBindingCode) {
          // The service says whether that was the last allowed mistake (docs/device-api.md).
          if (error.requestStatus === 'denied') return finish(txn, { status: 'denied', reason: 'wrong-codes' });
          const { attemptsLeft, description } = error;
          return dispatch({
            type: 'decision-failed',
            txn,
            problem: {
              kind: 'wrong-code',
              ...(attemptsLeft !== undefined ? { attemptsLeft } : {}),
              ...(description !== undefined ? { description } : {}),
            },
          });
        }
        if (error instanceof RequestNotPending) return finish(txn, { status: 'gone' });
        const problem = platform.ceremonyFailed(error) ? ({ kind: 'ceremony' } as const) : problemOf(error);
        dispatch({ type: 'decision-failed', txn, problem });
      }
    },

    dismiss: (txn) => dispatch({ type: 'dismissed', txn }),
    offerPasskeyReplacement: setup.offerPasskeyReplacement,
    passkeyStep: setup.passkeyStep,
    enableNotifications: setup.enableNotifications,

    async forget() {
      if (!platform.confirm(footer.forgetConfirm)) return;
      await transport.forget();
      platform.reload();
    },

    stop() {
      stopping.abort();
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
};
