import type { Command } from 'commander';
import { CIBA_GRANT_TYPE } from '../../model.ts';
import { type CliContext, CliError } from '../context.ts';
import { printFields, printJson } from '../format.ts';
import { adminApi } from './admin.ts';
import { action, collect } from './shared.ts';

export interface ClientCreateOptions {
  name: string;
  authMethod?: string;
  mode?: string;
  notificationEndpoint?: string;
  userCode?: boolean;
  grant?: string[];
  scope?: string;
}

const AUTH_METHODS = ['client_secret_basic', 'client_secret_post'];
const MODES = ['poll', 'ping', 'push'];

/** The RFC 7591 registration request. */
export const buildClientRegistration = (o: ClientCreateOptions): Record<string, unknown> => {
  const authMethod = o.authMethod ?? 'client_secret_basic';
  if (!AUTH_METHODS.includes(authMethod))
    throw new CliError('invalid_option', `--auth-method must be one of ${AUTH_METHODS.join(', ')}`);
  const mode = o.mode ?? 'poll';
  if (!MODES.includes(mode)) throw new CliError('invalid_option', `--mode must be one of ${MODES.join(', ')}`);
  if (mode !== 'poll' && !o.notificationEndpoint)
    throw new CliError('invalid_option', `--mode ${mode} needs --notification-endpoint`);
  const grantTypes = [CIBA_GRANT_TYPE, ...(o.grant ?? []).filter((g) => g !== CIBA_GRANT_TYPE)];
  return {
    client_name: o.name,
    token_endpoint_auth_method: authMethod,
    grant_types: [...new Set(grantTypes)],
    backchannel_token_delivery_mode: mode,
    ...(o.notificationEndpoint ? { backchannel_client_notification_endpoint: o.notificationEndpoint } : {}),
    ...(o.userCode ? { backchannel_user_code_parameter: true } : {}),
    ...(o.scope ? { scope: o.scope } : {}),
  };
};

export const registerClient = (program: Command, ctx: CliContext): void => {
  const client = program.command('client').description('register, read and remove relying parties (clients)');

  client
    .command('create')
    .description('register a CIBA client (prints its secret once)')
    .requiredOption('--name <name>', 'client_name')
    .option('--auth-method <method>', 'client_secret_basic | client_secret_post', 'client_secret_basic')
    .option('--mode <mode>', 'token delivery mode: poll | ping | push', 'poll')
    .option('--notification-endpoint <url>', 'client notification endpoint (ping and push)')
    .option('--user-code', 'the client sends a user_code at bc-authorize')
    .option('--grant <grant_type>', 'another grant type, e.g. refresh_token (repeatable)', collect)
    .option('--scope <scopes>', 'scopes the client may request (space-separated)')
    .action(
      action<ClientCreateOptions>(ctx, async ({ g, opts }) => {
        const created = await adminApi(ctx, g).post(['clients'], buildClientRegistration(opts));
        if (g.json) return printJson(ctx, created);
        printFields(ctx, created);
        if (created['client_secret']) ctx.stderr('\nStore the client_secret now: it is not shown again.\n');
      }),
    );

  client
    .command('get')
    .description("show a client's registration")
    .argument('<client_id>')
    .action(
      action(ctx, async ({ g, args }) => {
        const c = await adminApi(ctx, g).get('clients', args[0]!);
        return g.json ? printJson(ctx, c) : printFields(ctx, c);
      }),
    );

  client
    .command('delete')
    .description('remove a client')
    .argument('<client_id>')
    .action(
      action(ctx, async ({ g, args }) => {
        await adminApi(ctx, g).delete('clients', args[0]!);
        if (!g.json) ctx.stdout(`deleted client ${args[0]}\n`);
      }),
    );
};
