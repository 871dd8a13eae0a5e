import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWebAssets, webAssetsCurrent } from '../../../lib/web/build.ts';

describe('web assets: npm start rebuilds them only when a source changed', () => {
  let dir: string;
  let stamp: { files: string[]; hash: string };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ciba-web-'));
    await buildWebAssets({ outDir: dir });
    stamp = JSON.parse(await readFile(join(dir, '.build-inputs.json'), 'utf8'));
  }, 60_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('records every file the bundles were made from, the device SDK and the build itself included', () => {
    expect(stamp.files).toEqual(
      expect.arrayContaining([
        'lib/web/build.ts',
        'lib/web/browser/style.css',
        'lib/web/browser/authenticator/main.ts',
        'lib/web/browser/console.ts',
        'lib/web/browser/sw.ts',
        'lib/device/client.ts',
      ]),
    );
  });

  it('finds a fresh build current, and a build whose inputs differ or are gone not current', async () => {
    expect(await webAssetsCurrent(dir)).toBe(true);
    await writeFile(join(dir, '.build-inputs.json'), JSON.stringify({ ...stamp, hash: 'another' }));
    expect(await webAssetsCurrent(dir)).toBe(false);
    await writeFile(
      join(dir, '.build-inputs.json'),
      JSON.stringify({ ...stamp, files: [...stamp.files, 'lib/web/browser/gone.ts'] }),
    );
    expect(await webAssetsCurrent(dir)).toBe(false);
    await rm(join(dir, '.build-inputs.json'));
    expect(await webAssetsCurrent(dir)).toBe(false);
  });
});
