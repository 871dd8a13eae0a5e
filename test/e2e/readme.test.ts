/**
 * The README works as written: its shell blocks run in order, in bash, against a fresh `npm start` on a port other
 * than 8787, with a fresh data directory and a fresh HOME (so ~/.ciba is empty), in a copy of the repository made of
 * links (the working tree's own .data is never touched). Blocks that cannot run here say so in the page
 * (`<!-- readme-walk: skip (why) -->`); every `# → ...` line is checked against the output of the command above it.
 * The device steps answer themselves (`npx ciba device approve`), as a reader's terminal would.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRunnable, segmentOf, shellBlocks, type WalkScript, walkScript } from '../helpers/markdown-walk.ts';

const REPO = join(import.meta.dirname, '../..');
/** A walk runs every CLI command through npx (seconds each on a loaded machine) and one poll interval. */
const WALK_TIMEOUT_MS = 360_000;

const README = shellBlocks(readFileSync(join(REPO, 'README.md'), 'utf8'), 'README.md');
/** Every docs page with a shell block that is not marked skip; each runs after the README's setup block. */
const PAGES = readdirSync(join(REPO, 'docs'))
  .filter((f) => f.endsWith('.md'))
  .sort()
  .map((f) => ({ file: `docs/${f}`, blocks: shellBlocks(readFileSync(join(REPO, 'docs', f), 'utf8'), `docs/${f}`) }))
  .filter((p) => p.blocks.some(isRunnable));

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });

/** The process environment without the settings of whoever runs the tests (CIBA_*, npm's lifecycle variables). */
const cleanEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(CIBA_|npm_|INIT_CWD$|PORT$|HOST$|DYNAMODB_ENDPOINT$)/.test(k)) env[k] = v;
  }
  return { ...env, npm_config_update_notifier: 'false', npm_config_fund: 'false', NO_COLOR: '1', ...extra };
};

const run = (command: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }) => {
  const child = spawn(command, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  return { child, output: () => output };
};

/** Stops a process and everything it started (its process group). */
const stopGroup = async (child: ChildProcess | undefined) => {
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  await exited;
};

describe('README.md, walked', { timeout: WALK_TIMEOUT_MS + 120_000 }, () => {
  let tmp: string;
  let clone: string;
  let env: NodeJS.ProcessEnv;
  let server: ReturnType<typeof run> | undefined;
  let port: number;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'ciba-readme-'));
    clone = join(tmp, 'repo');
    await mkdir(clone);
    for (const entry of await readdir(REPO)) {
      if (entry === '.data' || entry === '.git') continue;
      await symlink(join(REPO, entry), join(clone, entry));
    }
    await mkdir(join(tmp, 'home'));
    port = await freePort();
    expect(port).not.toBe(8787);
    // The example receiver of docs/ listens on RECEIVER_PORT (9000 unless set): a free one here.
    env = cleanEnv({ HOME: join(tmp, 'home'), PORT: String(port), RECEIVER_PORT: String(await freePort()) });
    // `npm start` is `tsx lib/local/main.ts`.
    server = run(process.execPath, ['--import', 'tsx', 'lib/local/main.ts'], { cwd: clone, env });
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (server!.output().includes('ciba-service is running at')) {
          clearInterval(timer);
          resolve();
        }
        if (server!.child.exitCode !== null) {
          clearInterval(timer);
          reject(new Error(`npm start exited: ${server!.output()}`));
        }
      }, 100);
    });
  }, 120_000);

  afterAll(async () => {
    await stopGroup(server?.child);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  const walk = async (name: string, walked: WalkScript): Promise<string> => {
    const path = join(tmp, `walk-${Date.now()}.sh`);
    await writeFile(path, walked.script);
    const shell = run('bash', [path], { cwd: clone, env });
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => void stopGroup(shell.child), WALK_TIMEOUT_MS);
      shell.child.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    const transcript = shell.output();
    // Kept for whoever reads a failure (CI artifacts).
    await mkdir(join(REPO, 'test-results'), { recursive: true });
    await writeFile(join(REPO, 'test-results', `walk-${name}.txt`), transcript);
    const failedAt = /@@failed at script line (\d+)/.exec(transcript)?.[1];
    const where = failedAt ? walked.origin[Number(failedAt) - 1] : undefined;
    expect(
      code,
      `the walk stopped${where ? ` at ${where}` : ''} (exit ${code}); its output:\n${transcript.slice(-6000)}`,
    ).toBe(0);
    expect(transcript).toContain('@@done');
    for (const e of walked.expectations) {
      const segment = segmentOf(transcript, e);
      expect(segment, `${e.where}: the command before "# → ${e.text}" did not run`).toBeDefined();
      expect(segment, `${e.where}: expected output "${e.text}"`).toMatch(e.pattern);
    }
    return transcript;
  };

  it('runs every shell block in order against a server on another port, and each shows what the page says', async () => {
    const walked = walkScript(README);
    // The walk covers the three flows: enrollment and approval on the device, the client, curl.
    expect(walked.script).toContain('npx ciba device enroll --ticket -');
    expect(walked.script).toContain('npx ciba authorize');
    expect(walked.script).toContain('/bc-authorize');
    expect(walked.expectations.length).toBeGreaterThan(5);
    const transcript = await walk('README', walked);
    // The server it used is the one on the non-default port, found without CIBA_BASE_URL.
    expect(transcript).toContain(`http://127.0.0.1:${port}/demo`);
    expect(transcript).not.toContain('127.0.0.1:8787');
  });

  it('has docs pages to walk, and a setup block in the README for them', () => {
    expect(PAGES.map((p) => p.file)).toEqual(
      expect.arrayContaining(['docs/admin-api.md', 'docs/cli.md', 'docs/clients.md', 'docs/delivery-modes.md']),
    );
    expect(README.filter((b) => b.marker?.kind === 'setup')).toHaveLength(1);
  });

  for (const page of PAGES) {
    it(`${page.file}: every shell block runs, in order, after the README's setup block`, async () => {
      const setup = README.filter((b) => b.marker?.kind === 'setup');
      // npm itself takes seconds to start on a loaded machine, and the docs run npx ciba dozens of times: here npx
      // ciba runs bin/ciba.js directly, which is what npx resolves it to (the README's walk uses the real npx).
      const fastNpx = `npx() { if [ "\${1:-}" = ciba ]; then shift; node ${join(clone, 'bin', 'ciba.js')} "$@"; else command npx "$@"; fi; }`;
      await walk(page.file.replace(/\W+/g, '-'), walkScript([...setup, ...page.blocks], [fastNpx]));
    });
  }
});
