/**
 * Browser-only: keeps the device's non-extractable CryptoKeyPair in IndexedDB (structured clone keeps
 * a CryptoKey usable without ever exposing its private bytes), with the issuer it enrolled at.
 */
import { DeviceKey } from './key.ts';

const DB_NAME = 'ciba-device';
const STORE = 'keys';

export interface StoredDevice {
  issuer: string;
  deviceId: string;
  name?: string;
  keyPair: CryptoKeyPair;
  createdAt: number;
}

const promisify = <T>(request: IDBRequest<T>): Promise<T> =>
  new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });

const open = (): Promise<IDBDatabase> =>
  new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => {
      if (!request.result.objectStoreNames.contains(STORE)) request.result.createObjectStore(STORE);
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });

const withStore = async <T>(mode: IDBTransactionMode, fn: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> => {
  const db = await open();
  try {
    return await promisify(fn(db.transaction(STORE, mode).objectStore(STORE)));
  } finally {
    db.close();
  }
};

/** A small IndexedDB store of device key pairs, one per issuer. */
export const browserKeyStore = {
  async save(device: StoredDevice): Promise<void> {
    await withStore('readwrite', (s) => s.put(device, device.issuer));
  },
  async load(issuer: string): Promise<StoredDevice | undefined> {
    return (await withStore<StoredDevice | undefined>('readonly', (s) => s.get(issuer))) ?? undefined;
  },
  async remove(issuer: string): Promise<void> {
    await withStore('readwrite', (s) => s.delete(issuer));
  },
  async list(): Promise<StoredDevice[]> {
    return withStore<StoredDevice[]>('readonly', (s) => s.getAll());
  },
};

/** Generates a non-extractable key, stores it for `issuer`, and returns it. */
export const createStoredDeviceKey = async (issuer: string, name?: string): Promise<DeviceKey> => {
  const keyPair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
  const key = await DeviceKey.fromCryptoKeyPair(keyPair);
  await browserKeyStore.save({
    issuer,
    deviceId: key.thumbprint,
    ...(name !== undefined ? { name } : {}),
    keyPair,
    createdAt: Math.floor(Date.now() / 1000),
  });
  return key;
};

/** The stored key for `issuer`, if this browser enrolled there. */
export const loadStoredDeviceKey = async (issuer: string): Promise<DeviceKey | undefined> => {
  const stored = await browserKeyStore.load(issuer);
  return stored ? DeviceKey.fromCryptoKeyPair(stored.keyPair) : undefined;
};
