import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AWS_ENV } from '../../../lib/adapters/aws/env.ts';
import { FAKE_ENV } from '../../bench/lambda-env.ts';

/** Every TypeScript file under a folder. */
const sources = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );

describe("benchmark: the Lambda bundles' placeholder environment", () => {
  it('sets every variable the functions require, so that `npm run bench:lambda` can import every bundle', () => {
    const names = new Set<string>();
    for (const file of [...sources('lib'), ...sources('functions')]) {
      for (const [, key] of readFileSync(file, 'utf8').matchAll(/required\(\s*env\s*,\s*AWS_ENV\.(\w+)\s*\)/g)) {
        const name = AWS_ENV[key as keyof typeof AWS_ENV];
        expect(name, `${file}: AWS_ENV.${key}`).toBeDefined();
        names.add(name);
      }
    }
    // The store's tables, the bus, the keys, SNS, Scheduler and the queues at least (a scan that finds none is wrong).
    expect(names.size).toBeGreaterThanOrEqual(12);
    expect([...names].filter((name) => !(name in FAKE_ENV))).toEqual([]);
  });
});
