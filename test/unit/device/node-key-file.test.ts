import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeviceKey } from '../../../lib/device/key.ts';
import { defaultKeyFilePath, loadDeviceKeyFile, saveDeviceKeyFile } from '../../../lib/device/node-key-file.ts';

describe('node key file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ciba-key-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('saves with mode 0600 and loads the same key back', async () => {
    const key = await DeviceKey.generate({ extractable: true });
    const path = join(dir, 'nested', 'demo.json');
    await saveDeviceKeyFile(path, { issuer: 'http://127.0.0.1:8787/demo', key, name: 'laptop' });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(await readFile(path, 'utf8'));
    expect(saved).toMatchObject({
      version: 1,
      issuer: 'http://127.0.0.1:8787/demo',
      device_id: key.deviceId,
      name: 'laptop',
    });
    const loaded = await loadDeviceKeyFile(path);
    expect(loaded.deviceId).toBe(key.deviceId);
    expect(loaded.issuer).toBe('http://127.0.0.1:8787/demo');
    expect(loaded.name).toBe('laptop');
  });

  it('defaults to ~/.ciba/devices/<tenant>.json', () => {
    expect(defaultKeyFilePath('demo', '/home/u')).toBe('/home/u/.ciba/devices/demo.json');
  });
});
