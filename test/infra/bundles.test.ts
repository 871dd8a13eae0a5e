import { existsSync } from 'node:fs';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { ESBUILD_TARGET, ESM_REQUIRE_BANNER, entryOf, LAMBDA_ALIASES, LAMBDA_FUNCTIONS } from '../../infra/bundling.ts';

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
  // The AWS-shape harness's IAM evaluator (AGPL-3.0) is a test-time tool only.
  /node_modules\/@cloud-copilot\//,
  // The SDK's default credential chain: Lambda bundles use the environment provider (LAMBDA_ALIASES).
  /node_modules\/@aws-sdk\/(credential-provider-(node|ini|sso|process|web-identity)|nested-clients)\//,
];

/** The modules whose code a function's bundle carries (tree-shaken: an import whose code is unused is not there). */
const bundledModules = async (name: (typeof LAMBDA_FUNCTIONS)[number]): Promise<string[]> => {
  const result = await bundle(name);
  return Object.values(result.metafile.outputs).flatMap((output) =>
    Object.entries(output.inputs)
      .filter(([, input]) => input.bytesInOutput > 0)
      .map(([path]) => path),
  );
};
const sdkClients = (modules: string[]) =>
  [...new Set(modules.flatMap((m) => /node_modules\/@aws-sdk\/(client-[a-z-]+)\//.exec(m)?.[1] ?? []))].sort();

const bundle = (name: (typeof LAMBDA_FUNCTIONS)[number]) =>
  build({
    entryPoints: [entryOf(name)],
    bundle: true,
    write: false,
    outfile: `/tmp/ciba-bundle-test/${name}/index.mjs`,
    platform: 'node',
    format: 'esm',
    target: ESBUILD_TARGET,
    mainFields: ['module', 'main'],
    banner: { js: ESM_REQUIRE_BANNER },
    alias: LAMBDA_ALIASES,
    minify: true,
    metafile: true,
    logLevel: 'silent',
  });

describe.skipIf(missing.length > 0)('Lambda bundles (esbuild, as NodejsFunction builds them)', () => {
  it.each([...LAMBDA_FUNCTIONS])('bundles %s without the CDK, dynalite, local mode or test code', async (name) => {
    const result = await bundle(name);
    const inputs = Object.keys(result.metafile.inputs);
    const offending = inputs.filter((input) => FORBIDDEN.some((pattern) => pattern.test(input)));
    const bytes = result.outputFiles.reduce((sum, file) => sum + file.contents.byteLength, 0);
    console.info(`bundle ${name.padEnd(18)} ${(bytes / 1024).toFixed(0).padStart(6)} KiB, ${inputs.length} inputs`);

    expect(offending).toEqual([]);
    // Issue 8's budget (cold starts grow with the bundle: docs/performance.md); Lambda's own limit is far higher.
    expect(bytes).toBeLessThan(1024 * 1024);
  });

  it('splits the device API: consent retrieval carries only the DynamoDB client and no decision or enrollment code', async () => {
    const consent = await bundledModules('consent');
    expect(sdkClients(consent)).toEqual(['client-dynamodb']);
    for (const module of [
      'lib/ciba/publish-decision.ts',
      'lib/ciba/enrollment-ticket.ts',
      'functions/device/handler.ts',
    ]) {
      expect(consent).not.toContain(module);
    }
    const device = await bundledModules('device');
    expect(sdkClients(device)).toEqual(['client-dynamodb', 'client-eventbridge', 'client-scheduler', 'client-sns']);
    expect(device).not.toContain('functions/consent/handler.ts');
  });
});

describe.runIf(missing.length > 0)('Lambda bundles', () => {
  it.skip(`waits for: ${missing.join(', ')}`, () => {});
});
