import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { CIBA_GRANT_TYPE } from '../../model.ts';
import { writePrivateFile } from '../../private-file.ts';
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
/** What `keygen` makes: the asymmetric algorithms every tenant accepts from clients (FAPI: PS256, ES256). */
const KEYGEN_ALGS = ['ES256', 'PS256', 'RS256', 'EdDSA'];

/**
 * A key pair for a client: the private JWK (with `kid` and `alg`, the format --key-file reads) written with mode
 * 0600, never over an existing file unless `force`; returns the public JWKS to register.
 */
export const generateClientKey = async (path: string, alg: string, force: boolean) => {
  if (!KEYGEN_ALGS.includes(alg))
    throw new CliError('invalid_option', `--alg must be one of ${KEYGEN_ALGS.join(', ')}`);
  if (
    !force &&
    (await access(path).then(
      () => true,
      () => false,
    ))
  ) {
    throw new CliError('key_file_exists', `${path} exists: pass --force to replace it, or another name`);
  }
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const pub = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(pub);
  await writePrivateFile(path, `${JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg }, null, 2)}\n`);
  return { jwks: { keys: [{ ...pub, kid, alg, use: 'sig' }] } };
};
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
    .command('keygen')
    .description(
      'make a key pair for private_key_jwt and signed requests: the private key to a 0600 file, the public JWKS to stdout',
    )
    .argument('[name]', 'names the key file ~/.ciba/keys/<name>.json and the kid prefix', 'client')
    .option('--alg <alg>', `signing algorithm: ${KEYGEN_ALGS.join(', ')}`, 'ES256')
    .option('--out <path>', 'the private key file (default ~/.ciba/keys/<name>.json)')
    .option('--force', 'replace an existing key file')
    .action(
      action<{ alg: string; out?: string; force?: boolean }>(ctx, async ({ args, opts }) => {
        const name = args[0] ?? 'client';
        if (!/^[A-Za-z0-9._-]{1,64}$/.test(name) || name.startsWith('.'))
          throw new CliError('invalid_option', 'the key name is 1-64 letters, digits, dot, dash or underscore');
        const path = opts.out ?? join(ctx.home, '.ciba', 'keys', `${name}.json`);
        const { jwks } = await generateClientKey(path, opts.alg, opts.force === true);
        ctx.stdout(`${JSON.stringify(jwks)}\n`);
        ctx.stderr(
          `private key: ${path} (mode 0600, outside the repository); the line above is the public JWKS to register as the client's jwks\n`,
        );
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
