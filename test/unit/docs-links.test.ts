/**
 * Every reference in the documentation resolves: relative links and images in README.md, SECURITY.md and docs/
 * point at files (and headings) of the repository, repository paths quoted in them exist, and no file of the
 * repository (code comments included) names a markdown page that is not in it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');
const SKIP_DIRS = new Set(['node_modules', '.git', '.data', 'cdk.out', 'coverage', 'test-results', 'bench-results']);
/** Files a reader creates or the build writes (gitignored), named on purpose. */
const GENERATED = ['infra/tenants.json', 'lib/web/dist'];
const generated = (path: string): boolean => GENERATED.some((g) => path === g || path.startsWith(`${g}/`));

/**
 * Files on this disk that git ignores (a clean clone has none of them): a reference to one passes here and fails
 * in CI, so it counts as missing unless it is GENERATED.
 */
const IGNORED = execFileSync('git', ['ls-files', '--others', '--ignored', '--exclude-standard', '--directory'], {
  cwd: REPO,
  encoding: 'utf8',
})
  .split('\n')
  .filter(Boolean);
const inClone = (file: string): boolean => {
  const path = relative(REPO, file);
  return (
    existsSync(file) &&
    !IGNORED.some((i) => path === i.replace(/\/$/, '') || path.startsWith(i.endsWith('/') ? i : `${i}/`))
  );
};

const walk = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (SKIP_DIRS.has(e.name) || (dir === join(REPO, 'lib', 'web') && e.name === 'dist')) return [];
    const path = join(dir, e.name);
    return e.isDirectory() ? walk(path) : [path];
  });

const files = walk(REPO);
const pages = files.filter((f) => f.endsWith('.md'));
const rel = (f: string) => relative(REPO, f);

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes, repeats numbered. */
const anchorsOf = (markdown: string): Set<string> => {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const h = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!h) continue;
    const base = h[1]!
      .replace(/`/g, '')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
};

/** Markdown text outside code fences (links in code are examples, not references). */
const prose = (markdown: string): string =>
  markdown
    .split(/^\s*(?:```|~~~).*$/m)
    .filter((_, i) => i % 2 === 0)
    .join('\n');

describe('documentation references', () => {
  it('has the pages it is about', () => {
    expect(pages.map(rel)).toEqual(expect.arrayContaining(['README.md', 'SECURITY.md', 'docs/clients.md']));
  });

  it('links only to files and headings that exist', () => {
    const broken: string[] = [];
    for (const page of pages) {
      const text = readFileSync(page, 'utf8');
      for (const m of prose(text).matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
        const target = m[1]!;
        if (/^(https?|mailto):/.test(target)) continue;
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const file = path ? resolve(dirname(page), decodeURIComponent(path)) : page;
        if (!file.startsWith(REPO) || !(inClone(file) || generated(rel(file)))) {
          broken.push(`${rel(page)}: ${target} (no such file)`);
          continue;
        }
        if (anchor && file.endsWith('.md') && !anchorsOf(readFileSync(file, 'utf8')).has(anchor)) {
          broken.push(`${rel(page)}: ${target} (no such heading in ${rel(file)})`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('quotes only repository paths that exist', () => {
    const missing: string[] = [];
    for (const page of pages) {
      for (const m of readFileSync(page, 'utf8').matchAll(/`((?:lib|test|functions|infra|docs|bin|\.ci)\/[^`\s]*)`/g)) {
        const path = m[1]!.replace(/\/$/, '');
        if (/[<>{}*…]/.test(path) || generated(path)) continue;
        if (!inClone(join(REPO, path))) missing.push(`${rel(page)}: ${path}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('names no markdown page that is not in the repository, in docs or code', () => {
    const missing: string[] = [];
    for (const file of files) {
      if (!/\.(md|ts|mjs|js|json|sh)$|^\.ci\//.test(rel(file)) || statSync(file).size > 1_000_000) continue;
      if (rel(file) === 'package-lock.json' || rel(file).startsWith('docs/performance-results/')) continue;
      for (const m of readFileSync(file, 'utf8').matchAll(/(?<![\w/.-])((?:\.\.\/|[\w-]+\/)*[\w-]+\.md)\b/g)) {
        const name = m[1]!;
        // A placeholder output path in a command (`--out OUT/x.md`) is not a page.
        if (name.startsWith('OUT/')) continue;
        if (!existsSync(resolve(dirname(file), name)) && !existsSync(join(REPO, name))) {
          missing.push(`${rel(file)}: ${name}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });
});
