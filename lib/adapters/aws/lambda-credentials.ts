/**
 * Lambda bundles only (infra/bundling.ts aliases `@aws-sdk/credential-provider-node` to this file): Lambda always
 * gives a function its role's credentials in environment variables, so the SDK's default chain (profiles, SSO, web
 * identity, process, container and instance metadata) is replaced by its environment provider alone. That chain was
 * about 130 KiB of every bundle and 10 ms of every cold start (docs/performance.md). Local mode and tests are not
 * bundled and keep the default chain.
 */
import { fromEnv } from '@aws-sdk/credential-provider-env';

export const defaultProvider = (init?: Parameters<typeof fromEnv>[0]) => fromEnv(init);
