import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { Command } from 'commander';
import { LOCAL_BASE_URL } from '../local/defaults.ts';
import { type CliContext, CliError } from './context.ts';
import { type Authorizer, bearer } from './http.ts';
import {
  describeWriter,
  expectedStatePath,
  findLocalState,
  type LocalStateFile,
  localCredentialsFor,
} from './local-server.ts';
import { regionFromUrl, sigV4 } from './sigv4.ts';

export const DEFAULT_BASE_URL = LOCAL_BASE_URL;
export const DEFAULT_TENANT = 'demo';

export interface GlobalOptions {
  baseUrl?: string;
  tenant?: string;
  adminToken?: string;
  aws?: boolean;
  profile?: string;
  region?: string;
  json?: boolean;
}

export interface Globals {
  baseUrl: string;
  /** Where `baseUrl` came from, as errors say it: `--base-url`, `CIBA_BASE_URL`, the state file, or the default. */
  baseUrlFrom: string;
  tenant: string;
  /** `{base}/{tenant}` */
  issuer: string;
  json: boolean;
  options: GlobalOptions;
  /** The local server's state file (`.data/local.json`), when the working directory has one. */
  local?: LocalStateFile;
}

/**
 * The global options of `cmd`, with the environment and defaults applied. The base URL: `--base-url`, else
 * `CIBA_BASE_URL`, else the URL the local server wrote to its state file (any `PORT`), else the default.
 */
export const globalsOf = async (cmd: Command, ctx: CliContext): Promise<Globals> => {
  const options = cmd.optsWithGlobals<GlobalOptions>();
  const local = await findLocalState(ctx);
  const [chosen, baseUrlFrom] =
    options.baseUrl !== undefined
      ? [options.baseUrl, '--base-url']
      : ctx.env['CIBA_BASE_URL']
        ? [ctx.env['CIBA_BASE_URL'], 'CIBA_BASE_URL']
        : local?.state.url
          ? [local.state.url, `${local.shown}, written by ${describeWriter(local.state)}`]
          : [DEFAULT_BASE_URL, `the default: no ${expectedStatePath(ctx)} here, where npm start writes its address`];
  const baseUrl = chosen.replace(/\/+$/, '');
  const tenant = options.tenant ?? ctx.env['CIBA_TENANT'] ?? DEFAULT_TENANT;
  try {
    new URL(baseUrl);
  } catch {
    throw new CliError('invalid_option', `--base-url is not a URL: ${baseUrl}`);
  }
  return {
    baseUrl,
    baseUrlFrom,
    tenant,
    issuer: `${baseUrl}/${encodeURIComponent(tenant)}`,
    json: options.json === true,
    options,
    ...(local ? { local } : {}),
  };
};

/** The local server's state for using its credentials against `g.baseUrl` (lib/cli/local-server.ts), if any. */
export const localCredentials = async (ctx: CliContext, g: Globals, what: string, remedy: string) =>
  g.local ? localCredentialsFor(ctx, g.local, g.baseUrl, what, remedy) : undefined;

/** The AWS Region (`--region`, else `urlRegion`, else the environment's) and credentials (`--profile`, else the chain). */
export const awsIdentity = (ctx: CliContext, o: Globals['options'], urlRegion?: string, what = '--aws') => {
  const region = o.region ?? urlRegion ?? ctx.env['AWS_REGION'] ?? ctx.env['AWS_DEFAULT_REGION'];
  if (!region) throw new CliError('invalid_option', `${what} needs a region: pass --region or set AWS_REGION`);
  const credentials = ctx.awsCredentials
    ? ctx.awsCredentials(o.profile)
    : defaultProvider(o.profile !== undefined ? { profile: o.profile } : {});
  return { region, credentials };
};

/** How admin requests authenticate: SigV4 with `--aws`, else the bearer admin token. */
export const adminAuthorizer = async (g: Globals, ctx: CliContext): Promise<Authorizer> => {
  const o = g.options;
  if (o.aws || o.profile !== undefined) return sigV4(awsIdentity(ctx, o, regionFromUrl(g.baseUrl)));
  const token =
    o.adminToken ??
    ctx.env['CIBA_ADMIN_TOKEN'] ??
    (
      await localCredentials(
        ctx,
        g,
        'admin token',
        'pass --admin-token or set CIBA_ADMIN_TOKEN (the token that server printed), or run the CLI where its data directory is',
      )
    )?.adminToken;
  if (!token) {
    throw new CliError(
      'missing_admin_token',
      `pass --admin-token, set CIBA_ADMIN_TOKEN, or run the local server (it writes ${g.local?.shown ?? expectedStatePath(ctx)}); use --aws for a deployed stack`,
    );
  }
  return bearer(token);
};

/** `{base}/admin/tenants/{tenant}` followed by the encoded `segments`. */
export const adminUrl = (g: Globals, ...segments: string[]): string =>
  [`${g.baseUrl}/admin/tenants/${encodeURIComponent(g.tenant)}`, ...segments.map(encodeURIComponent)].join('/');
