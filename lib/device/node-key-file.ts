/** Node-only: keeps a device key in a JSON file readable by its owner only (mode 0600). */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writePrivateFile } from '../private-file.ts';
import { DeviceKey, type PrivateEcJwk } from './key.ts';

export interface DeviceKeyFile {
  version: 1;
  issuer: string;
  device_id: string;
  name?: string;
  private_jwk: PrivateEcJwk;
  created_at: number;
}

export interface LoadedDevice {
  issuer: string;
  deviceId: string;
  name?: string;
  key: DeviceKey;
}

/** `~/.ciba/devices/<tenant>.json` */
export const defaultKeyFilePath = (tenant: string, home: string = homedir()): string =>
  join(home, '.ciba', 'devices', `${tenant}.json`);

/** Writes the key file atomically with mode 0600 (its directory 0700). */
export const saveDeviceKeyFile = async (
  path: string,
  device: { issuer: string; key: DeviceKey; name?: string },
): Promise<void> => {
  const content: DeviceKeyFile = {
    version: 1,
    issuer: device.issuer,
    device_id: device.key.thumbprint,
    ...(device.name !== undefined ? { name: device.name } : {}),
    private_jwk: await device.key.exportPrivateJwk(),
    created_at: Math.floor(Date.now() / 1000),
  };
  await writePrivateFile(path, `${JSON.stringify(content, null, 2)}\n`);
};

/** Reads a key file written by `saveDeviceKeyFile`; the thumbprint must match the stored device id. */
export const loadDeviceKeyFile = async (path: string): Promise<LoadedDevice> => {
  const content = JSON.parse(await readFile(path, 'utf8')) as Partial<DeviceKeyFile>;
  if (content.version !== 1 || typeof content.issuer !== 'string' || !content.private_jwk) {
    throw new Error(`${path} is not a ciba device key file`);
  }
  const key = await DeviceKey.fromPrivateJwk(content.private_jwk);
  if (content.device_id !== undefined && content.device_id !== key.thumbprint) {
    throw new Error(`${path}: device_id does not match the key`);
  }
  return {
    issuer: content.issuer,
    deviceId: key.thumbprint,
    ...(content.name !== undefined ? { name: content.name } : {}),
    key,
  };
};
