/**
 * How every Lambda function is built, shared by the CDK constructs and the bundle test (so the test checks
 * the bundles that deploy). Plain data: no CDK import, so the test stays light.
 */

/** The Lambda functions, one directory each under functions/ with an index.ts entry. */
export const API_FUNCTIONS = [
  'discovery',
  'bc-authorize',
  'token',
  'userinfo',
  'consent',
  'device',
  'admin',
  'web',
] as const;
export const LAMBDA_FUNCTIONS = [...API_FUNCTIONS, 'callback', 'events', 'tenant-provisioner'] as const;
export type LambdaFunctionName = (typeof LAMBDA_FUNCTIONS)[number];

export const entryOf = (name: LambdaFunctionName): string => `functions/${name}/index.ts`;

/** esbuild target for the Lambda runtime (`nodejs24.x`, see infra/ciba-function.ts). */
export const ESBUILD_TARGET = 'node24';

/** ESM output still meets CommonJS dependencies that call `require`: give them one. */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __cibaCreateRequire } from 'node:module'; const require = __cibaCreateRequire(import.meta.url);";

/**
 * Packages replaced in every Lambda bundle (esbuild `alias`, paths relative to the project root): the SDK's default
 * credential chain by the environment provider (lib/adapters/aws/lambda-credentials.ts explains why).
 */
export const LAMBDA_ALIASES: Record<string, string> = {
  '@aws-sdk/credential-provider-node': './lib/adapters/aws/lambda-credentials.ts',
};
