import type { Command } from 'commander';
import { decodeJwt } from 'jose';
import { loadSigner } from '../client-jwt.ts';
import { type CliContext, CliError } from '../context.ts';
import { formatDuration, printFields, printJson, safe, startSpinner } from '../format.ts';
import { type Globals, localCredentials } from '../globals.ts';
import { expectedStatePath } from '../local-server.ts';
import {
  type AuthorizeParams,
  type ClientAuthMethod,
  type ClientCredentials,
  discover,
  type PollOutcome,
  pollForTokens,
  startBackchannel,
} from '../oauth.ts';
import { action, parsePositiveInt } from './shared.ts';

export interface AuthorizeOptions {
  clientId?: string;
  clientSecret?: string;
  loginHint?: string;
  bindingMessage?: string;
  scope: string;
  acrValues?: string;
  userCode?: string;
  requestedExpiry?: number;
  authMethod?: string;
  keyFile?: string;
  signedRequest?: boolean;
  authorizationDetails?: string;
  notificationToken?: string;
  showTokens?: boolean;
}

/** Exit code for a request the user denied or let expire. */
export const EXIT_NOT_APPROVED = 2;

/** Client credentials from the options, else the local server's demo client. */
export const resolveClientCredentials = async (
  ctx: CliContext,
  g: Globals,
  o: AuthorizeOptions,
  issuer?: string,
): Promise<ClientCredentials> => {
  const method = (o.authMethod ?? 'basic').replace(/^client_secret_/, '') as ClientAuthMethod;
  if (method === 'private_key_jwt' || o.signedRequest) {
    if (!o.clientId || !o.keyFile) {
      throw new CliError(
        'missing_client',
        'private_key_jwt and --signed-request need --client-id and --key-file <private JWK>',
      );
    }
    const signer = await loadSigner(o.keyFile);
    if (method === 'private_key_jwt') {
      return {
        clientId: o.clientId,
        clientSecret: '',
        method,
        signer,
        ...(issuer ? { issuer } : {}),
        signedRequest: o.signedRequest === true,
      };
    }
    if (method !== 'basic' && method !== 'post') {
      throw new CliError('invalid_option', '--auth-method must be basic, post or private_key_jwt');
    }
    if (!o.clientSecret)
      throw new CliError('missing_client', 'pass --client-secret (or use --auth-method private_key_jwt)');
    return {
      clientId: o.clientId,
      clientSecret: o.clientSecret,
      method,
      signer,
      ...(issuer ? { issuer } : {}),
      signedRequest: true,
    };
  }
  if (method !== 'basic' && method !== 'post')
    throw new CliError('invalid_option', '--auth-method must be basic, post or private_key_jwt');
  let { clientId, clientSecret } = o;
  if (clientId === undefined && clientSecret === undefined && g.local?.state.demoClient) {
    const demo = (await localCredentials(ctx, g, 'demo client', 'pass --client-id and --client-secret'))?.demoClient;
    clientId = demo?.client_id;
    clientSecret = demo?.client_secret;
  }
  if (!clientId || !clientSecret) {
    throw new CliError(
      'missing_client',
      `pass --client-id and --client-secret (no demo client in ${g.local?.shown ?? expectedStatePath(ctx)})`,
    );
  }
  return { clientId, clientSecret, method };
};

const resolveLoginHint = (g: Globals, o: AuthorizeOptions): string => {
  if (o.loginHint) return o.loginHint;
  const sub = g.local?.state.demoUser;
  if (!sub) throw new CliError('missing_login_hint', 'pass --login-hint (a sub, email:..., phone:..., device:...)');
  return sub;
};

const redact = (token: unknown): string | undefined =>
  typeof token === 'string' ? `${token.slice(0, 12)}… (${token.length} chars; --show-tokens prints it)` : undefined;

/** Prints the final result and returns the exit code. */
export const reportOutcome = (
  ctx: CliContext,
  g: Globals,
  outcome: PollOutcome,
  showTokens = false,
  authReqId?: string,
): number => {
  if (outcome.kind !== 'tokens') {
    const message =
      outcome.kind === 'access_denied'
        ? 'The user denied the request.'
        : 'The request expired before the user answered.';
    if (g.json)
      printJson(ctx, { result: outcome.kind, auth_req_id: authReqId, error_description: outcome.description });
    else
      ctx.stderr(
        `✗ ${message}${outcome.description ? ` (${outcome.kind}: ${outcome.description})` : ` (${outcome.kind})`}\n`,
      );
    return EXIT_NOT_APPROVED;
  }
  const t = outcome.tokens;
  let claims: Record<string, unknown> | undefined;
  if (typeof t.id_token === 'string') {
    try {
      claims = decodeJwt(t.id_token);
    } catch {
      claims = undefined;
    }
  }
  const summary = {
    token_type: t.token_type,
    expires_in: t.expires_in,
    scope: t.scope,
    access_token: showTokens ? t.access_token : redact(t.access_token),
    id_token: showTokens ? t.id_token : redact(t.id_token),
    refresh_token: showTokens ? t.refresh_token : redact(t.refresh_token),
  };
  if (g.json) {
    printJson(ctx, { result: 'approved', auth_req_id: authReqId, ...summary, id_token_claims: claims });
    return 0;
  }
  ctx.stderr('✓ Approved.\n');
  printFields(ctx, summary);
  if (claims) {
    ctx.stdout('\nID token claims (decoded, not verified):\n');
    printJson(ctx, claims);
  }
  return 0;
};

export const runAuthorize = async (ctx: CliContext, g: Globals, o: AuthorizeOptions): Promise<number> => {
  const d = await discover(ctx, g.issuer);
  const credentials = await resolveClientCredentials(ctx, g, o, d.issuer);
  if (o.authorizationDetails !== undefined) {
    try {
      if (!Array.isArray(JSON.parse(o.authorizationDetails))) throw new Error('not an array');
    } catch {
      throw new CliError(
        'invalid_option',
        '--authorization-details must be a JSON array, e.g. \'[{"type":"payment_initiation"}]\'',
      );
    }
  }
  const params: AuthorizeParams = {
    scope: o.scope,
    login_hint: resolveLoginHint(g, o),
    ...(o.bindingMessage !== undefined ? { binding_message: o.bindingMessage } : {}),
    ...(o.acrValues !== undefined ? { acr_values: o.acrValues } : {}),
    ...(o.userCode !== undefined ? { user_code: o.userCode } : {}),
    ...(o.requestedExpiry !== undefined ? { requested_expiry: o.requestedExpiry } : {}),
    ...(o.authorizationDetails !== undefined ? { authorization_details: o.authorizationDetails } : {}),
    ...(o.notificationToken !== undefined ? { client_notification_token: o.notificationToken } : {}),
  };
  const ack = await startBackchannel(ctx, d.backchannel_authentication_endpoint, credentials, params);
  if (o.notificationToken !== undefined) {
    // A ping or push client hears from the service at its notification endpoint, which redeems (ping) or receives
    // (push) the tokens; polling here as well would race it.
    if (g.json) printJson(ctx, ack);
    else {
      printFields(ctx, { auth_req_id: ack.auth_req_id, expires_in: ack.expires_in });
      ctx.stderr('The callback goes to the client notification endpoint once the user decides.\n');
    }
    return 0;
  }
  if (!g.json) {
    printFields(ctx, { auth_req_id: ack.auth_req_id, expires_in: ack.expires_in, interval: ack.interval });
    if (params.binding_message) ctx.stderr(`Binding message shown to the user: ${safe(params.binding_message)}\n`);
    ctx.stderr('Waiting for the user to approve on their device…\n');
  }
  let expiresAt = ctx.now() + ack.expires_in * 1000;
  let interval = ack.interval ?? 5;
  const spinner = startSpinner(ctx, () => {
    const left = (expiresAt - ctx.now()) / 1000;
    return `waiting for approval (polling every ${interval}s, ${left > 0 ? `${formatDuration(left)} left` : 'expiring'})`;
  });
  let outcome: PollOutcome;
  try {
    outcome = await pollForTokens(ctx, {
      tokenEndpoint: d.token_endpoint,
      credentials,
      authReqId: ack.auth_req_id,
      ...(ack.interval !== undefined ? { interval: ack.interval } : {}),
      expiresIn: ack.expires_in,
      onWait: (s) => {
        interval = s.interval;
        expiresAt = s.expiresAt;
      },
    });
  } finally {
    spinner.stop();
  }
  return reportOutcome(ctx, g, outcome, o.showTokens, ack.auth_req_id);
};

export const registerAuthorize = (program: Command, ctx: CliContext): void => {
  program
    .command('authorize')
    .description('act as a client: start a CIBA request and poll until the user answers')
    .option('--client-id <id>', 'client_id (default: the demo client of .data/local.json)')
    .option('--client-secret <secret>', 'client_secret (default: the demo client of .data/local.json)')
    .option('--login-hint <hint>', 'sub, sub:<sub>, email:<email>, phone:<E.164>, device:<device_id> or iss_sub JSON')
    .option('--binding-message <message>', 'binding_message shown on the device')
    .option('--scope <scopes>', 'scope', 'openid profile')
    .option('--acr-values <values>', 'acr_values')
    .option('--user-code <code>', 'user_code')
    .option('--requested-expiry <seconds>', 'requested_expiry', parsePositiveInt)
    .option('--auth-method <method>', 'client authentication: basic | post | private_key_jwt', 'basic')
    .option('--key-file <path>', 'private JWK of the client (private_key_jwt, --signed-request)')
    .option('--signed-request', 'send the request as a signed request object (CIBA 7.1.1)')
    .option('--authorization-details <json>', 'RFC 9396 authorization_details, a JSON array')
    .option(
      '--notification-token <token>',
      'client_notification_token (ping and push clients): start the request, and leave the rest to the endpoint',
    )
    .option('--show-tokens', 'print the access, ID and refresh tokens in full')
    .action(action<AuthorizeOptions>(ctx, ({ g, opts }) => runAuthorize(ctx, g, opts)));
};
