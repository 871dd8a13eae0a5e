/**
 * Everything the web authenticator says to the service, all through the device SDK (lib/device): every call DPoP
 * signed by this browser's key, live updates from `DeviceClient.events()`. The key lives in IndexedDB, one per
 * issuer. No other module of the authenticator touches the network.
 */
import { browserKeyStore, createStoredDeviceKey, loadStoredDeviceKey } from '../../../device/browser-key-store.ts';
import { DeviceClient } from '../../../device/client.ts';

/** What the authenticator asks of its enrolled device (a `DeviceClient`; tests pass a fake). */
export type Device = Pick<
  DeviceClient,
  | 'deviceId'
  | 'profile'
  | 'pending'
  | 'get'
  | 'decide'
  | 'events'
  | 'setPush'
  | 'passkeyRegistrationOptions'
  | 'registerPasskey'
>;

export interface Transport {
  /** This browser's enrolled device at the issuer, if it has a key there. */
  load(): Promise<Device | undefined>;
  /** A new key, enrolled with the one-time ticket; the key is removed again when the enrollment fails. */
  enroll(ticket: string, name: string): Promise<Device>;
  /** Removes this browser's key (the device stays enrolled until an administrator revokes it). */
  forget(): Promise<void>;
}

export const browserTransport = (issuer: string): Transport => ({
  async load() {
    const key = await loadStoredDeviceKey(issuer);
    return key ? new DeviceClient({ issuer, key }) : undefined;
  },
  async enroll(ticket, name) {
    try {
      const client = new DeviceClient({ issuer, key: await createStoredDeviceKey(issuer, name) });
      await client.enroll({ ticket, name });
      return client;
    } catch (error) {
      await browserKeyStore.remove(issuer).catch(() => {});
      throw error;
    }
  },
  forget: () => browserKeyStore.remove(issuer),
});
