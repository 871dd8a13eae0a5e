/**
 * The import rules `npm run check` runs (.dependency-cruiser.cjs, .dependency-cruiser-folders.cjs): each forbidden
 * arrow, written into a scratch tree shaped like the repository, fails the check and is named with its rule and its
 * two ends; the repository itself keeps none.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');
const DEPCRUISE = join(REPO, 'node_modules/.bin/depcruise');

const cruise = (cwd: string, config: string) => {
  const run = spawnSync(
    DEPCRUISE,
    ['lib', 'functions', 'infra', '--config', join(REPO, config), '--output-type', 'err'],
    {
      cwd,
      encoding: 'utf8',
    },
  );
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
};

const scratch = mkdtempSync(join(tmpdir(), 'ciba-import-rules-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A tree with one file per module named, each importing the ones listed. */
const tree = (name: string, files: Record<string, readonly string[]>): string => {
  const root = join(scratch, name);
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'tsconfig.json'), '{}');
  for (const [file, imports] of Object.entries(files)) {
    const path = join(root, file);
    mkdirSync(dirname(path), { recursive: true });
    const lines = imports.map((to, i) => `import * as m${i} from '${relativeImport(file, to)}';\nvoid m${i};`);
    writeFileSync(path, `${lines.join('\n')}\nexport const here = 1;\n`);
  }
  // infra/ exists in every tree so the command line names only existing folders.
  mkdirSync(join(root, 'infra'), { recursive: true });
  writeFileSync(join(root, 'infra/app.ts'), 'export const app = 1;\n');
  mkdirSync(join(root, 'functions'), { recursive: true });
  writeFileSync(join(root, 'functions/.keep.ts'), 'export {};\n');
  return root;
};

const relativeImport = (from: string, to: string): string => {
  const up = from.split('/').length - 1;
  return `${'../'.repeat(up) || './'}${to}`;
};

describe('import rules', () => {
  it.each([
    [
      'core-not-to-outer-layers',
      { 'lib/ciba/poll.ts': ['lib/http/event.ts'], 'lib/http/event.ts': [] },
      'lib/ciba/poll.ts → lib/http/event.ts',
    ],
    [
      'core-not-to-outer-layers',
      { 'lib/oauth/tokens.ts': ['lib/adapters/kms.ts'], 'lib/adapters/kms.ts': [] },
      'lib/oauth/tokens.ts → lib/adapters/kms.ts',
    ],
    [
      'adapters-not-to-operations',
      { 'lib/adapters/store.ts': ['lib/ciba/poll.ts'], 'lib/ciba/poll.ts': [] },
      'lib/adapters/store.ts → lib/ciba/poll.ts',
    ],
    [
      'functions-not-to-local',
      { 'functions/token/index.ts': ['lib/local/app.ts'], 'lib/local/app.ts': [] },
      'functions/token/index.ts → lib/local/app.ts',
    ],
    [
      'device-sdk-not-to-server',
      { 'lib/device/client.ts': ['lib/ciba/poll.ts'], 'lib/ciba/poll.ts': [] },
      'lib/device/client.ts → lib/ciba/poll.ts',
    ],
    [
      'no-module-cycles',
      { 'lib/ciba/a.ts': ['lib/ciba/b.ts'], 'lib/ciba/b.ts': ['lib/ciba/a.ts'] },
      'lib/ciba/a.ts → ',
    ],
  ] as const)('%s: names the arrow', (rule, files, arrow) => {
    const root = tree(`${rule}-${arrow.replace(/\W+/g, '-')}`, files);
    const { status, output } = cruise(root, '.dependency-cruiser.cjs');
    expect(status).not.toBe(0);
    expect(output).toContain(`error ${rule}: ${arrow}`);
  });

  it('no-cycles-between-folders: names the folders of a cycle', () => {
    const root = tree('folder-cycle', {
      'lib/oauth/tokens.ts': ['lib/admin/clients.ts'],
      'lib/admin/clients.ts': [],
      'lib/admin/requests.ts': ['lib/oauth/introspect.ts'],
      'lib/oauth/introspect.ts': [],
    });
    const { status, output } = cruise(root, '.dependency-cruiser-folders.cjs');
    expect(status).not.toBe(0);
    expect(output).toMatch(/error no-cycles-between-folders: lib\/(admin|oauth) → \n\s+lib\/(oauth|admin)/);
  });

  it('lets the allowed arrows through', () => {
    const root = tree('allowed', {
      'functions/token/index.ts': ['lib/http/event.ts', 'lib/ciba/poll.ts', 'lib/adapters/store.ts'],
      'lib/http/event.ts': ['lib/ciba/poll.ts'],
      'lib/ciba/poll.ts': ['lib/errors.ts'],
      'lib/adapters/store.ts': ['lib/persistence.ts'],
      'lib/device/client.ts': ['lib/errors.ts'],
      'lib/local/app.ts': ['functions/token/index.ts'],
      'lib/errors.ts': [],
      'lib/persistence.ts': [],
    });
    for (const config of ['.dependency-cruiser.cjs', '.dependency-cruiser-folders.cjs']) {
      const { status, output } = cruise(root, config);
      expect(output).toContain('no dependency violations found');
      expect(status).toBe(0);
    }
  });

  it('finds no forbidden arrow in the repository', () => {
    for (const config of ['.dependency-cruiser.cjs', '.dependency-cruiser-folders.cjs']) {
      const { status, output } = cruise(REPO, config);
      expect(output).toContain('no dependency violations found');
      expect(status).toBe(0);
    }
  });
});
