/**
 * Setting the device up beyond its key: the passkey the tenant may ask for (and its replacement), and Web Push
 * notifications. Like the controller, it asks the service and the browser and tells the store; no DOM.
 */
import type { DeviceProfile, DevicePushRegistration, PasskeyRegistrationOptions } from '../../../device/client.ts';
import { DeviceApiError, UserVerificationRequired } from '../../../device/errors.ts';
import type { Platform, PushSupport } from './platform.ts';
import { deviceScreen, type Problem, type Store } from './state.ts';
import type { Device } from './transport.ts';

/** Any failure as data for the screen. */
export const problemOf = (error: unknown): Problem =>
  error instanceof DeviceApiError
    ? {
        kind: 'service',
        error: error.error,
        ...(error.description !== undefined ? { description: error.description } : {}),
      }
    : { kind: 'other', message: error instanceof Error ? error.message : String(error) };

export const createDeviceSetup = (deps: {
  store: Store;
  platform: Platform;
  /** The tenant's Web Push key as the page was served (the device profile's wins). */
  webPushKey?: string | undefined;
  /** The enrolled device, once known. */
  device: () => Device | undefined;
}) => {
  const { store, platform } = deps;
  const dispatch = store.dispatch;
  let push: { support: PushSupport; key: string } | undefined;
  // The passkey ceremony in progress: the service's options, and the current passkey's assertion once given.
  let passkeyOptions: PasskeyRegistrationOptions | undefined;
  let assertion: unknown;

  return {
    async offerNotifications(profile: DeviceProfile) {
      const support = await platform.push();
      const key = profile.tenant.web_push_public_key ?? deps.webPushKey;
      if (!support || !key) return;
      push = { support, key };
      const subscribed =
        profile.push?.type === 'webpush' && !profile.push.disabled && support.permission() === 'granted';
      if (subscribed || support.permission() === 'denied') return;
      dispatch({ type: 'notifications', state: 'offered' });
    },

    offerPasskeyReplacement() {
      if (deviceScreen(store.get())?.passkeyCard) return;
      passkeyOptions = undefined;
      assertion = undefined;
      dispatch({ type: 'passkey-offered', mode: 'replace' });
    },

    /**
     * One tap on the passkey card. A device that has a passkey proves it before a new one replaces it (hardening
     * rule 1): the service's options then carry `assertion_options`, the current passkey confirms first, and the
     * new one is created with a second tap (Safari wants a user gesture for each WebAuthn call). A refusal
     * (`user_verification_required`: the passkey did not confirm, or one was set meanwhile elsewhere) starts over
     * with the current passkey's confirmation.
     */
    async passkeyStep() {
      const screen = deviceScreen(store.get());
      const device = deps.device();
      if (!device || !screen?.passkeyCard || screen.passkeyCard.busy) return;
      dispatch({ type: 'passkey-busy' });
      const startOver = (problem: Problem) => {
        passkeyOptions = undefined;
        assertion = undefined;
        dispatch({ type: 'passkey-failed', problem, replacing: true });
      };
      try {
        passkeyOptions ??= await device.passkeyRegistrationOptions();
        const { assertion_options: confirm, ...creation } = passkeyOptions;
        if (confirm && assertion === undefined) {
          // Step 1 of a replacement: the current passkey confirms, over the same challenge.
          dispatch({ type: 'passkey-replacing' });
          assertion = await platform.assert(confirm);
          dispatch({ type: 'passkey-confirmed' });
          return;
        }
        const response = await platform.register(creation);
        await device.registerPasskey(response, assertion === undefined ? {} : { assertion });
        const replaced = screen.passkey || assertion !== undefined;
        passkeyOptions = undefined;
        assertion = undefined;
        dispatch({ type: 'passkey-registered', replaced });
      } catch (error) {
        if (error instanceof UserVerificationRequired) {
          startOver({ kind: assertion === undefined ? 'passkey-confirm-first' : 'passkey-not-confirmed' });
        } else if (platform.ceremonyFailed(error) && passkeyOptions?.assertion_options && assertion === undefined) {
          startOver({ kind: 'passkey-needs-current' });
        } else {
          passkeyOptions = undefined;
          assertion = undefined;
          const problem = platform.ceremonyFailed(error) ? ({ kind: 'ceremony' } as const) : problemOf(error);
          dispatch({ type: 'passkey-failed', problem });
        }
      }
    },

    async enableNotifications() {
      const device = deps.device();
      if (!device || !push) return;
      dispatch({ type: 'notifications', state: 'busy' });
      try {
        if (!(await push.support.requestPermission())) {
          return dispatch({ type: 'notifications', state: 'offered', problem: { kind: 'notifications-blocked' } });
        }
        const registration: DevicePushRegistration = {
          type: 'webpush',
          subscription: await push.support.subscribe(push.key),
        };
        await device.setPush(registration);
        dispatch({ type: 'notifications', state: 'on' });
      } catch (error) {
        dispatch({ type: 'notifications', state: 'offered', problem: problemOf(error) });
      }
    },
  };
};
