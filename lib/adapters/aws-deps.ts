import type { Capabilities, Clock, Deps, Logger, RuntimeConfig } from '../ports.ts';
import { AWS_ENV, type Env, required } from './aws/env.ts';
import { createStoreClient } from './dynamodb/client.ts';
import type { Tables } from './dynamodb/expression.ts';
import { tablesOf } from './dynamodb/index.ts';
import { lambdaPowertools, PowertoolsLogger } from './powertools-logger.ts';

export { AWS_ENV } from './aws/env.ts';

/** What a deployment in AWS can do (lib/ports.ts Capabilities), behind API Gateway with IAM-authorized admin routes. */
export const AWS_CAPABILITIES: Capabilities = {
  developmentModeAllowed: false,
  webhookPush: false,
  knownWebPushServicesOnly: true,
  iamAdminAuthorization: true,
  clientCertificatesVerifiedUpstream: true,
  requestScheme: 'https',
};

/** What every function has: the clock, the logger, the config, and the tables its store ports use. */
export interface BaseAwsDeps {
  /** The DynamoDB client and table names (lib/adapters/aws/store.ts builds the ports a function names on them). */
  tables: Tables;
  clock: Clock;
  logger: Logger;
  config: RuntimeConfig;
}

type OptionalPort = Exclude<keyof Deps, keyof BaseAwsDeps>;
export type PortFactories = { [K in OptionalPort]?: (env: Env, base: BaseAwsDeps) => Deps[K] };
export type BuiltDeps<F extends PortFactories> = BaseAwsDeps & { [K in keyof F & OptionalPort]: Deps[K] };

/**
 * Builds the AWS deps of one function from the environment: the base, plus the ports it names, each from its
 * factory in lib/adapters/aws/ (`awsDeps({ keys: tenantKeys, tenants, requests })`, store ports from
 * lib/adapters/aws/store.ts). A Lambda entry names exactly the ports its handler's type asks for, so its bundle holds
 * no SDK client, and no store module, it never calls.
 */
export const buildAwsDeps = <F extends PortFactories>(factories: F, env: Env = process.env): BuiltDeps<F> => {
  const clock: Clock = { now: Date.now };
  const logger = new PowertoolsLogger(lambdaPowertools(env.POWERTOOLS_SERVICE_NAME ?? 'ciba'));
  const tables = tablesOf({
    client: createStoreClient(),
    directoryTable: required(env, AWS_ENV.directoryTable),
    ledgerTable: required(env, AWS_ENV.ledgerTable),
  });
  const publicUrl = env[AWS_ENV.publicUrl]?.replace(/\/+$/, '');
  // The mutual-TLS host (mtls_endpoint_aliases): API Gateway has checked the client certificate's chain there.
  const mtlsBaseUrl = env[AWS_ENV.mtlsBaseUrl]?.replace(/\/+$/, '');
  const base: BaseAwsDeps = {
    tables,
    clock,
    logger,
    config: {
      capabilities: AWS_CAPABILITIES,
      ...(publicUrl ? { publicUrl } : {}),
      ...(mtlsBaseUrl ? { mtls: { baseUrl: mtlsBaseUrl } } : {}),
    },
  };
  const ports: Record<string, unknown> = {};
  for (const [name, factory] of Object.entries(factories)) {
    if (factory) ports[name] = (factory as (env: Env, base: BaseAwsDeps) => unknown)(env, base);
  }
  return { ...base, ...ports } as BuiltDeps<F>;
};

/** The deps of one Lambda function, built once per cold start (module scope outlives invocations). */
export const awsDeps = <F extends PortFactories>(factories: F): BuiltDeps<F> => buildAwsDeps(factories);
