import { existsSync } from 'node:fs';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { ESBUILD_TARGET, ESM_REQUIRE_BANNER, entryOf, LAMBDA_FUNCTIONS } from '../../infra/bundling.ts';

/** Every function's entry and the handler it wraps must exist before the real bundles can be checked. */
const missing = LAMBDA_FUNCTIONS.flatMap((name) =>
  [entryOf(name), entryOf(name).replace(/index\.ts$/, 'handler.ts')].filter((file) => !existsSync(file)),
);

/** What a Lambda bundle must never contain: the CDK, the local store, local-mode code or tests. */
const FORBIDDEN = [
  /node_modules\/aws-cdk-lib\//,
  /node_modules\/constructs\//,
  /node_modules\/dynalite\//,
  /^lib\/local\//,
  /^test\//,
  /^infra\//,
];

describe.skipIf(missing.length > 0)('Lambda bundles (esbuild, as NodejsFunction builds them)', () => {
  it.each([...LAMBDA_FUNCTIONS])('bundles %s without the CDK, dynalite, local mode or test code', async (name) => {
    const result = await build({
      entryPoints: [entryOf(name)],
      bundle: true,
      write: false,
      outfile: `/tmp/ciba-bundle-test/${name}/index.mjs`,
      platform: 'node',
      format: 'esm',
      target: ESBUILD_TARGET,
      mainFields: ['module', 'main'],
      banner: { js: ESM_REQUIRE_BANNER },
      minify: true,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    const offending = inputs.filter((input) => FORBIDDEN.some((pattern) => pattern.test(input)));
    const bytes = result.outputFiles.reduce((sum, file) => sum + file.contents.byteLength, 0);
    console.info(`bundle ${name.padEnd(18)} ${(bytes / 1024).toFixed(0).padStart(6)} KiB, ${inputs.length} inputs`);

    expect(offending).toEqual([]);
    // Lambda's limit is 50 MB zipped / 250 MB unzipped; a CIBA handler far above a few MB has pulled in something wrong.
    expect(bytes).toBeLessThan(5 * 1024 * 1024);
  });
});

describe.runIf(missing.length > 0)('Lambda bundles', () => {
  it.skip(`waits for: ${missing.join(', ')}`, () => {});
});
