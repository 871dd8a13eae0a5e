import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { Command } from 'commander';
import { LOCAL_BASE_URL } from '../local/defaults.ts';
import { type CliContext, CliError } from './context.ts';
import { type Authorizer, bearer, readLocalState } from './http.ts';
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
  tenant: string;
  /** `{base}/{tenant}` */
  issuer: string;
  json: boolean;
  options: GlobalOptions;
}

/** The global options of `cmd`, with the environment and defaults applied. */
export const globalsOf = (cmd: Command, ctx: CliContext): Globals => {
  const options = cmd.optsWithGlobals<GlobalOptions>();
  const baseUrl = (options.baseUrl ?? ctx.env['CIBA_BASE_URL'] ?? DEFAULT_BASE_URL).replace(/\/+$/, '');
  const tenant = options.tenant ?? ctx.env['CIBA_TENANT'] ?? DEFAULT_TENANT;
  try {
    new URL(baseUrl);
  } catch {
    throw new CliError('invalid_option', `--base-url is not a URL: ${baseUrl}`);
  }
  return { baseUrl, tenant, issuer: `${baseUrl}/${encodeURIComponent(tenant)}`, json: options.json === true, options };
};

/** How admin requests authenticate: SigV4 with `--aws`, else the bearer admin token. */
export const adminAuthorizer = async (g: Globals, ctx: CliContext): Promise<Authorizer> => {
  const o = g.options;
  if (o.aws || o.profile !== undefined) {
    const region = o.region ?? regionFromUrl(g.baseUrl) ?? ctx.env['AWS_REGION'] ?? ctx.env['AWS_DEFAULT_REGION'];
    if (!region) throw new CliError('invalid_option', '--aws needs a region: pass --region or set AWS_REGION');
    const credentials = ctx.awsCredentials
      ? ctx.awsCredentials(o.profile)
      : defaultProvider(o.profile !== undefined ? { profile: o.profile } : {});
    return sigV4({ region, credentials });
  }
  const token = o.adminToken ?? ctx.env['CIBA_ADMIN_TOKEN'] ?? (await readLocalState(ctx)).adminToken;
  if (!token) {
    throw new CliError(
      'missing_admin_token',
      'pass --admin-token, set CIBA_ADMIN_TOKEN, or run the local server (it writes .data/local.json); use --aws for a deployed stack',
    );
  }
  return bearer(token);
};

/** `{base}/admin/tenants/{tenant}` followed by the encoded `segments`. */
export const adminUrl = (g: Globals, ...segments: string[]): string =>
  [`${g.baseUrl}/admin/tenants/${encodeURIComponent(g.tenant)}`, ...segments.map(encodeURIComponent)].join('/');
