import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { readAssembly } from './cloudformation.ts';

/**
 * The cloud assembly the AWS-shape tests run: the CDK app synthesized in-process with aws-cdk-lib's App (what `npm
 * run synth` does, offline, esbuild bundling, with cdk.json's context as the CLI adds it), once for all test files:
 * cached under node_modules/.cache, keyed by a hash of everything that goes into it (infra, functions, lib, the lock
 * file, cdk.json, the tenants fixture). A test file that finds no cache synthesizes under a lock; the others wait for
 * it.
 *
 * Variants (a context flag, a grant removed) synthesize with `ciba:bundling=stub` (templates only, seconds) and run the
 * bundles of the cached assembly, matched by stack and logical id (test/aws/cloud.ts).
 */

export const TENANTS_FIXTURE = 'test/aws/tenants.json';
const CACHE = 'node_modules/.cache/ciba-aws-shape';
const INPUTS = ['infra', 'functions', 'lib', 'package-lock.json', 'cdk.json', TENANTS_FIXTURE, 'test/aws/synth.ts'];
/** Never in a bundle: build output, local mode (test/infra/bundles.test.ts forbids it), the CLI. */
const SKIP = new Set(['node_modules', 'dist', '.data', 'lib/local', 'lib/cli']);

const files = (path: string): string[] => {
  if (!existsSync(path)) return [];
  if (statSync(path).isFile()) return [path];
  return readdirSync(path)
    .filter((name) => !SKIP.has(name) && !SKIP.has(join(path, name)))
    .sort()
    .flatMap((name) => files(join(path, name)));
};

/** A hash of every input file's path and contents. */
export const sourceHash = (): string => {
  const hash = createHash('sha256');
  for (const file of INPUTS.flatMap(files))
    hash.update(relative('.', file)).update('\0').update(readFileSync(file)).update('\0');
  return hash.digest('hex').slice(0, 16);
};

/**
 * Synthesizes the CDK app into `outdir` in this process (no CLI): the same `buildCibaApp` the CLI runs, with the
 * context the CLI adds from cdk.json, so that the harness deploys what `cdk deploy` would.
 */
export const synthesize = async (outdir: string, context: Record<string, string> = {}): Promise<void> => {
  const { App } = await import('aws-cdk-lib');
  const { buildCibaApp, cdkJsonContext } = await import('../../infra/ciba-app.ts');
  const app = new App({ outdir, context: { ...cdkJsonContext(), 'ciba:tenants': TENANTS_FIXTURE, ...context } });
  buildCibaApp(app);
  app.synth();
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The cached, fully bundled assembly for the current sources (synthesized here when missing). */
export const bundledAssembly = async (): Promise<string> => {
  const dir = join(CACHE, sourceHash());
  const lock = `${dir}.lock`;
  for (;;) {
    if (existsSync(join(dir, 'manifest.json'))) return dir;
    mkdirSync(CACHE, { recursive: true });
    try {
      mkdirSync(lock);
    } catch {
      // Another test file is synthesizing: wait for it (a lock older than 10 minutes is left over from a crash).
      if (Date.now() - statSync(lock).mtimeMs > 600_000) rmSync(lock, { recursive: true, force: true });
      await sleep(500);
      continue;
    }
    try {
      const building = `${dir}.building-${process.pid}`;
      rmSync(building, { recursive: true, force: true });
      await synthesize(building);
      renameSync(building, dir);
      // Older assemblies are of sources that changed since: keep the cache to the current one.
      for (const name of readdirSync(CACHE)) {
        if (
          name === dir.split('/').pop() ||
          name.endsWith('.lock') ||
          ['variants', 'releases', 'CACHEDIR.TAG'].includes(name)
        )
          continue;
        rmSync(join(CACHE, name), { recursive: true, force: true });
      }
      writeFileSync(join(CACHE, 'CACHEDIR.TAG'), 'Signature: 8a477f597d28d172789f06886806bc55\n');
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
};

/**
 * The cloud assembly of an older commit of this repository (its own infra, functions and lib, synthesized with esbuild
 * bundling in a copy of that commit's files that uses this checkout's node_modules): what a deployment made with that
 * version runs. Cached per commit. Undefined when the repository has no such commit (a shallow clone).
 */
export const releaseAssembly = async (rev: string): Promise<string | undefined> => {
  const hasCommit = spawnSync('git', ['cat-file', '-e', `${rev}^{commit}`], { stdio: 'ignore' }).status === 0;
  if (!hasCommit) return undefined;
  const dir = join(CACHE, 'releases', rev);
  const out = join(dir, 'cdk.out');
  if (existsSync(join(out, 'manifest.json'))) return out;
  const src = join(dir, 'src');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(src, { recursive: true });
  const archive = spawnSync(
    'git',
    [
      'archive',
      '--format=tar',
      rev,
      'infra',
      'functions',
      'lib',
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      TENANTS_FIXTURE,
    ],
    {
      maxBuffer: 256 * 1024 * 1024,
    },
  );
  if (archive.status !== 0) throw new Error(`git archive ${rev}: ${archive.stderr.toString()}`);
  const untar = spawnSync('tar', ['-x', '-C', src], { input: archive.stdout });
  if (untar.status !== 0) throw new Error(`tar: ${untar.stderr.toString()}`);
  symlinkSync(resolve('node_modules'), join(src, 'node_modules'), 'dir');
  // That version's own app, in its own directory (its bundling resolves entries from the working directory).
  const script = `import { App } from 'aws-cdk-lib';
import { buildCibaApp } from './infra/ciba-app.ts';
const app = new App({ outdir: ${JSON.stringify(resolve(out))}, context: { 'ciba:tenants': ${JSON.stringify(TENANTS_FIXTURE)} } });
buildCibaApp(app);
app.synth();
`;
  writeFileSync(join(src, 'synth-release.ts'), script);
  const synth = spawnSync(process.execPath, ['--import', 'tsx', 'synth-release.ts'], {
    cwd: src,
    env: { ...process.env, CDK_DISABLE_VERSION_CHECK: '1' },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (synth.status !== 0) throw new Error(`synthesizing ${rev}: ${synth.stderr}`);
  return out;
};

let variants = 0;

/** A template-only variant of the app (stub bundling) in a fresh directory; its functions run the cached bundles. */
export const variantAssembly = async (context: Record<string, string>, change?: () => () => void): Promise<string> => {
  const dir = join(CACHE, 'variants', `${process.pid}-${++variants}`);
  rmSync(dir, { recursive: true, force: true });
  const undo = change?.();
  try {
    await synthesize(dir, { 'ciba:bundling': 'stub', ...context });
  } finally {
    undo?.();
  }
  return dir;
};

/** A tenants file like the harness's, changed by `edit`, written to a temporary file. */
export const tenantsFile = (edit: (tenants: { id: string; settings: Record<string, unknown> }[]) => void): string => {
  const file = JSON.parse(readFileSync(TENANTS_FIXTURE, 'utf8')) as {
    tenants: { id: string; settings: Record<string, unknown> }[];
  };
  edit(file.tenants);
  const path = join(mkdtempSync(join(tmpdir(), 'ciba-tenants-')), 'tenants.json');
  writeFileSync(path, JSON.stringify(file));
  return path;
};

/** The service stack's template in an assembly directory (to deploy a variant over the running shape). */
export const serviceTemplate = (dir: string) =>
  readAssembly(dir).stacks.find((s) => s.name === 'ciba-service')!.template;
