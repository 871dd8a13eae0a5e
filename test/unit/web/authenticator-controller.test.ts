import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DeviceProfile, PasskeyRegistrationOptions, Transaction } from '../../../lib/device/client.ts';
import {
  DeviceApiError,
  InvalidBindingCode,
  InvalidDpopProof,
  RequestNotPending,
  UserVerificationRequired,
} from '../../../lib/device/errors.ts';
import type { DeviceEvent } from '../../../lib/device/events.ts';
import { type Controller, createController } from '../../../lib/web/browser/authenticator/controller.ts';
import type { Platform } from '../../../lib/web/browser/authenticator/platform.ts';
import { createStore, initialState, type State } from '../../../lib/web/browser/authenticator/state.ts';
import type { Device, Transport } from '../../../lib/web/browser/authenticator/transport.ts';

/**
 * The web authenticator's controller with a fake device (the SDK's shape) and a fake browser: what it tells the
 * store for each answer of the service. It decides on error classes and fields, never on the description.
 */

const TX: Transaction = {
  txn: 'tx-1',
  client_id: 'c1',
  client_name: 'ACME Support',
  scope: 'openid',
  kind: 'identity_check',
  binding_code_required: true,
  created_at: 1_000,
  expires_at: 99_999_999_999,
};

const PROFILE: DeviceProfile = {
  device_id: 'dev',
  name: 'Chrome on Linux',
  created_at: 1,
  push: null,
  passkey: false,
  tenant: { display_name: 'ACME', binding_code_confirmation: true, user_verification: 'none' },
};

class CeremonyCancelled extends Error {}

/** An event stream that reports nothing until stopped. */
async function* quiet(options: { signal?: AbortSignal } = {}): AsyncGenerator<DeviceEvent> {
  await new Promise((resolve) => options.signal?.addEventListener('abort', resolve));
}

/** A device whose event stream stays quiet until stopped, unless `events` says otherwise. */
const fakeDevice = (over: Partial<Record<keyof Device, unknown>> = {}) =>
  ({
    deviceId: 'dev-thumbprint',
    profile: vi.fn(async () => PROFILE),
    pending: vi.fn(async () => [TX]),
    get: vi.fn(async () => ({ ...TX, status: 'pending' })),
    decide: vi.fn(async (txn: string, decision: string) => ({
      txn,
      status: decision === 'approve' ? 'approved' : 'denied',
    })),
    events: async function* (options: { signal?: AbortSignal } = {}): AsyncGenerator<DeviceEvent> {
      yield { type: 'pending', transactions: [TX] };
      await new Promise((resolve) => options.signal?.addEventListener('abort', resolve));
    },
    setPush: vi.fn(async () => ({ push: { type: 'webpush' } })),
    passkeyRegistrationOptions: vi.fn(),
    registerPasskey: vi.fn(async () => ({ credential_id: 'cred' })),
    ...over,
  }) as unknown as Device & Record<string, ReturnType<typeof vi.fn>>;

const fakePlatform = (over: Partial<Platform> = {}): Platform => ({
  secure: () => true,
  takeTicket: () => null,
  deviceName: () => 'Test browser',
  assert: vi.fn(async () => ({ id: 'assertion' })),
  register: vi.fn(async () => ({ id: 'credential' })),
  ceremonyFailed: (error) => error instanceof CeremonyCancelled,
  push: async () => undefined,
  canPush: () => false,
  confirm: () => true,
  reload: vi.fn(),
  ...over,
});

let controller: Controller | undefined;
afterEach(() => controller?.stop());

const setup = (options: {
  device?: Device | undefined;
  platform?: Partial<Platform>;
  transport?: Partial<Transport>;
}) => {
  const store = createStore(initialState('acme', 1_000));
  const transport: Transport = {
    load: async () => options.device,
    enroll: vi.fn(async () => options.device as Device),
    forget: vi.fn(async () => {}),
    ...options.transport,
  };
  controller = createController({ store, transport, platform: fakePlatform(options.platform), resultMs: 60_000 });
  /** Resolves with the first state (now or later) that matches. */
  const until = (match: (state: State) => boolean) =>
    new Promise<State>((resolve) => {
      if (match(store.get())) return resolve(store.get());
      const stop = store.subscribe((state) => {
        if (match(state)) {
          stop();
          resolve(state);
        }
      });
    });
  return { store, transport, controller, until };
};

const requests = (state: State) => (state.screen.name === 'device' ? state.screen.requests : []);
const shown = (state: State) => requests(state).length > 0;

describe('the authenticator controller', () => {
  it('says so when the page is not in a secure context, and when this browser has no key', async () => {
    const insecure = setup({ platform: { secure: () => false } });
    await insecure.controller.start();
    expect(insecure.store.get().screen).toEqual({ name: 'insecure' });
    const stranger = setup({});
    await stranger.controller.start();
    expect(stranger.store.get().screen).toEqual({ name: 'not-enrolled', removed: false });
  });

  it('forgets a key the service no longer knows (401 invalid_dpop_proof), and says it was removed', async () => {
    const device = fakeDevice({
      profile: vi.fn(async () => {
        throw new InvalidDpopProof(401, 'invalid_dpop_proof', 'not an enrolled device');
      }),
    });
    const { controller, store, transport } = setup({ device });
    await controller.start();
    expect(transport.forget).toHaveBeenCalledOnce();
    expect(store.get().screen).toEqual({ name: 'not-enrolled', removed: true });
  });

  it('enrolls with the ticket and this browser’s name, or says why the link did not work', async () => {
    const device = fakeDevice();
    const ok = setup({ device, platform: { takeTicket: () => 'tkt' } });
    await ok.controller.start();
    expect(ok.transport.enroll).toHaveBeenCalledWith('tkt', 'Test browser');
    expect(ok.store.get().screen).toMatchObject({ name: 'device', justEnrolled: true, tenantName: 'ACME' });
    ok.controller.stop();
    const used = setup({
      platform: { takeTicket: () => 'used' },
      transport: {
        enroll: async () => {
          throw new DeviceApiError(400, 'invalid_request', 'the enrollment ticket is unknown, used or expired');
        },
      },
    });
    await used.controller.start();
    expect(used.store.get().screen).toEqual({
      name: 'enroll-failed',
      problem: {
        kind: 'service',
        error: 'invalid_request',
        description: 'the enrollment ticket is unknown, used or expired',
      },
    });
  });

  it('lists what the event stream reports, and fetches a transaction it announces', async () => {
    const second = { ...TX, txn: 'tx-2', client_name: 'Second', status: 'pending' as const };
    const device = fakeDevice({
      get: vi.fn(async () => second),
      events: async function* (options: { signal?: AbortSignal } = {}): AsyncGenerator<DeviceEvent> {
        yield { type: 'connection', state: 'live' };
        yield { type: 'pending', transactions: [TX] };
        yield { type: 'transaction', txn: 'tx-2' };
        await new Promise((resolve) => options.signal?.addEventListener('abort', resolve));
      },
    });
    const { controller, until } = setup({ device });
    await controller.start();
    const state = await until((s) => requests(s).length === 2);
    expect(requests(state).map((e) => e.tx.txn)).toEqual(['tx-2', 'tx-1']);
    expect(state.live).toEqual({ state: 'live' });
    expect(device.get).toHaveBeenCalledWith('tx-2');
  });

  it('takes a request off the screen when the event stream says it changed and it is no longer pending', async () => {
    const device = fakeDevice({
      get: vi.fn(async () => ({ ...TX, status: 'denied' as const })),
      events: async function* (options: { signal?: AbortSignal } = {}): AsyncGenerator<DeviceEvent> {
        yield { type: 'pending', transactions: [TX] };
        // The client cancelled it (or another device answered): the stream names it, its status says so.
        yield { type: 'transaction', txn: 'tx-1' };
        await new Promise((resolve) => options.signal?.addEventListener('abort', resolve));
      },
    });
    const { controller, until } = setup({ device });
    await controller.start();
    await until((s) => requests(s).length === 1);
    await until((s) => requests(s).length === 0);
    expect(device.get).toHaveBeenCalledWith('tx-1');
  });

  it('reports a request: no code asked, the outcome is reported', async () => {
    const device = fakeDevice({ decide: vi.fn(async (txn: string) => ({ txn, status: 'reported' as const })) });
    const { controller, until } = setup({ device });
    await controller.start();
    await until(shown);
    await controller.decide('tx-1', 'report');
    expect(device.decide).toHaveBeenCalledWith('tx-1', 'report', {});
    expect(requests(await until((s) => requests(s)[0]?.phase === 'done'))[0]!.outcome).toEqual({ status: 'reported' });
  });

  it('asks for the code before sending an approval that needs one', async () => {
    const device = fakeDevice();
    const { controller, until } = setup({ device });
    await controller.start();
    await until(shown);
    await controller.decide('tx-1', 'approve', '  ');
    expect(device.decide).not.toHaveBeenCalled();
    expect(requests(await until(shown))[0]).toMatchObject({ phase: 'open', problem: { kind: 'code-missing' } });
  });

  it('keeps the request open after a wrong code with attempts left, whatever the description says', async () => {
    const device = fakeDevice({
      decide: vi.fn(async () => {
        // The words mention a denial; the fields say the request is still pending.
        throw new InvalidBindingCode(400, 'invalid_binding_code', 'wrong; not yet denied, 2 attempts left', {
          attempts_left: 2,
          status: 'pending',
        });
      }),
    });
    const { controller, until } = setup({ device });
    await controller.start();
    await until(shown);
    await controller.decide('tx-1', 'approve', '7K-31');
    expect(device.decide).toHaveBeenCalledWith('tx-1', 'approve', { bindingCode: '7K-31' });
    expect(requests(await until(shown))[0]).toEqual({
      tx: TX,
      phase: 'open',
      problem: { kind: 'wrong-code', attemptsLeft: 2, description: 'wrong; not yet denied, 2 attempts left' },
    });
  });

  it('shows the denial when the service says the last wrong code denied the request (status: denied)', async () => {
    const device = fakeDevice({
      decide: vi.fn(async () => {
        throw new InvalidBindingCode(400, 'invalid_binding_code', 'any words', { attempts_left: 0, status: 'denied' });
      }),
    });
    const { controller, until } = setup({ device });
    await controller.start();
    await until(shown);
    await controller.decide('tx-1', 'approve', 'CC-33');
    expect(requests(await until(shown))[0]).toEqual({
      tx: TX,
      phase: 'done',
      outcome: { status: 'denied', reason: 'wrong-codes' },
    });
  });

  it('shows a request answered elsewhere as gone, a cancelled passkey check as such, and an approval as approved', async () => {
    const webauthn: Transaction['webauthn'] = {
      challenge: 'ch',
      rpId: 'localhost',
      allowCredentials: [],
      userVerification: 'required',
      timeout: 1,
    };
    const tx: Transaction = { ...TX, binding_code_required: false, webauthn };
    const device = fakeDevice({ events: quiet });
    (device.decide as ReturnType<typeof vi.fn>).mockRejectedValueOnce(
      new RequestNotPending(409, 'request_not_pending', 'no longer pending'),
    );
    const assert = vi.fn(async () => ({ id: 'assertion' }));
    assert.mockResolvedValueOnce({ id: 'assertion' }).mockRejectedValueOnce(new CeremonyCancelled('NotAllowedError'));
    const { controller, store, until } = setup({ device, platform: { assert } });
    await controller.start();
    await until((s) => s.screen.name === 'device');
    store.dispatch({ type: 'arrived', tx });
    await controller.decide('tx-1', 'approve');
    expect(requests(store.get())[0]).toMatchObject({ phase: 'done', outcome: { status: 'gone' } });

    controller.dismiss('tx-1');
    store.dispatch({ type: 'arrived', tx });
    await controller.decide('tx-1', 'approve');
    expect(requests(store.get())[0]).toMatchObject({ phase: 'open', problem: { kind: 'ceremony' } });
    expect(device.decide).toHaveBeenCalledTimes(1);

    await controller.decide('tx-1', 'approve');
    expect(requests(store.get())[0]).toMatchObject({ phase: 'done', outcome: { status: 'approved' } });
    expect(assert).toHaveBeenLastCalledWith(webauthn);
    expect(device.decide).toHaveBeenLastCalledWith('tx-1', 'approve', { webauthn: { id: 'assertion' } });
  });

  it('replaces a passkey in two taps: the current one confirms, then the new one is created with its assertion', async () => {
    const options = { challenge: 'c', rp: { name: 'ACME' }, assertion_options: { challenge: 'c' } };
    const device = fakeDevice({
      profile: vi.fn(async () => ({ ...PROFILE, passkey: true })),
      passkeyRegistrationOptions: vi.fn(async () => options as unknown as PasskeyRegistrationOptions),
    });
    const { controller, store, until } = setup({ device });
    await controller.start();
    await until((s) => s.screen.name === 'device');
    controller.offerPasskeyReplacement();
    await controller.passkeyStep();
    expect(store.get().screen).toMatchObject({ passkeyCard: { step: 'confirmed', replacing: true, busy: false } });
    await controller.passkeyStep();
    expect(device.registerPasskey).toHaveBeenCalledWith({ id: 'credential' }, { assertion: { id: 'assertion' } });
    expect(store.get().screen).toMatchObject({ passkey: true, passkeyCard: null, passkeyDone: 'replaced' });
  });

  it('starts a replacement over when the service refuses it (user_verification_required)', async () => {
    const options = { challenge: 'c', rp: { name: 'ACME' }, assertion_options: { challenge: 'c' } };
    const device = fakeDevice({
      profile: vi.fn(async () => ({ ...PROFILE, passkey: true })),
      passkeyRegistrationOptions: vi.fn(async () => options as unknown as PasskeyRegistrationOptions),
      registerPasskey: vi.fn(async () => {
        throw new UserVerificationRequired(403, 'user_verification_required', 'the current passkey must confirm');
      }),
    });
    const { controller, store, until } = setup({ device });
    await controller.start();
    await until((s) => s.screen.name === 'device');
    controller.offerPasskeyReplacement();
    await controller.passkeyStep();
    await controller.passkeyStep();
    expect(store.get().screen).toMatchObject({
      passkeyCard: { step: 'start', replacing: true, busy: false, problem: { kind: 'passkey-not-confirmed' } },
    });
    // The next tap asks for fresh options and the current passkey again.
    await controller.passkeyStep();
    expect(device.passkeyRegistrationOptions).toHaveBeenCalledTimes(2);
  });

  it('takes a decided request off the page after a while', async () => {
    const device = fakeDevice({ pending: vi.fn(async () => [{ ...TX, binding_code_required: false }]) });
    const store = createStore(initialState('acme', 1_000));
    controller = createController({
      store,
      transport: { load: async () => device, enroll: vi.fn(), forget: vi.fn() },
      platform: fakePlatform(),
      resultMs: 5,
    });
    await controller.start();
    store.dispatch({ type: 'pending', transactions: [{ ...TX, binding_code_required: false }] });
    await controller.decide('tx-1', 'deny');
    expect(requests(store.get())[0]).toMatchObject({ phase: 'done', outcome: { status: 'denied' } });
    await new Promise<void>((resolve) => {
      const stop = store.subscribe((state) => {
        if (requests(state).length === 0) {
          stop();
          resolve();
        }
      });
    });
  });
});
