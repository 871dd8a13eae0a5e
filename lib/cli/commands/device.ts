import { access } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { DeviceClient, type DevicePushRegistration, type Transaction } from '../../device/client.ts';
import { UserVerificationRequired } from '../../device/errors.ts';
import { DeviceKey } from '../../device/key.ts';
import { defaultKeyFilePath, loadDeviceKeyFile, saveDeviceKeyFile } from '../../device/node-key-file.ts';
import { type CliContext, CliError } from '../context.ts';
import { formatDuration, formatTime, printFields, printJson, printTable } from '../format.ts';
import type { Globals } from '../globals.ts';
import { action, parsePositiveInt } from './shared.ts';

interface DeviceGroupOptions {
  keyFile?: string;
}

/**
 * `--ticket` takes the ticket itself or the whole enrollment URI; from a URI like
 * `{issuer}/authenticator?ticket=...` (or `#ticket=...`) the issuer is taken too.
 */
export const parseTicket = (value: string): { ticket: string; issuer?: string } => {
  if (!/^https?:\/\//i.test(value)) return { ticket: value };
  const url = new URL(value);
  const ticket = url.searchParams.get('ticket') ?? new URLSearchParams(url.hash.slice(1)).get('ticket');
  if (!ticket) throw new CliError('invalid_option', 'the enrollment URI carries no ticket');
  const at = url.pathname.lastIndexOf('/authenticator');
  return at > 0 ? { ticket, issuer: `${url.origin}${url.pathname.slice(0, at)}` } : { ticket };
};

const keyFileOf = (ctx: CliContext, g: Globals, cmd: Command): string =>
  cmd.optsWithGlobals<DeviceGroupOptions>().keyFile ?? defaultKeyFilePath(g.tenant, ctx.home);

const openDevice = async (ctx: CliContext, g: Globals, cmd: Command): Promise<DeviceClient> => {
  const path = keyFileOf(ctx, g, cmd);
  try {
    await access(path);
  } catch {
    throw new CliError('no_device', `no device key at ${path}: run \`ciba device enroll --ticket <ticket>\` first`);
  }
  const d = await loadDeviceKeyFile(path);
  return new DeviceClient({ issuer: d.issuer, key: d.key, fetch: ctx.fetch });
};

const timeLeft = (ctx: CliContext, t: Transaction): string => formatDuration(t.expires_at - ctx.now() / 1000);

/** `--wait` without a number. */
const DEFAULT_WAIT_SECONDS = 60;

/**
 * The pending requests once there is at least one, within `seconds`: follows the service's event stream (polling
 * where it has none, as in AWS) through the device SDK, so a script can wait for the request it just started.
 */
export const waitForPending = async (client: DeviceClient, seconds: number): Promise<Transaction[]> => {
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), seconds * 1000);
  try {
    for await (const event of client.events({ signal: stop.signal })) {
      if (event.type === 'pending' && event.transactions.length > 0) return event.transactions;
      if (event.type === 'transaction') {
        const list = await client.pending();
        if (list.length > 0) return list;
      }
    }
  } finally {
    clearTimeout(timer);
  }
  throw new CliError('no_pending_request', `no request arrived within ${seconds} s`);
};

/**
 * `user_verification_required`: the tenant asks for a passkey (WebAuthn user verification), which a terminal cannot
 * provide. Says what to do instead: approve in the web authenticator, whose passkey is registered (or replaced, with
 * the old one's confirmation) there; an operator resets a lost one with `ciba user reset-passkey`.
 */
export const passkeyHint = (error: unknown, issuer: string): unknown =>
  error instanceof UserVerificationRequired
    ? new CliError(
        'user_verification_required',
        `${error.description ?? 'this tenant asks for a passkey'}. The terminal authenticator cannot use passkeys: ` +
          `approve in the web authenticator (${issuer}/authenticator), which registers and replaces the device's passkey; ` +
          'an operator resets a lost passkey with `ciba user reset-passkey <sub> <device_id>`',
      )
    : error;

export const registerDevice = (program: Command, ctx: CliContext): void => {
  const device = program
    .command('device')
    .description('a terminal authenticator: enroll this machine as a device and answer requests')
    .option('--key-file <path>', 'the device key file (default ~/.ciba/devices/<tenant>.json)');

  device
    .command('enroll')
    .description('create a device key, enroll it with a one-time ticket, and save it')
    .requiredOption('--ticket <ticket>', 'the ticket, or the whole enrollment_uri')
    .option('--name <name>', 'device name', `ciba-cli@${hostname()}`.slice(0, 64))
    .option('--webhook <url>', 'have the service POST notifications to this URL (local mode)')
    .option('--force', 'replace an existing key file')
    .action(
      action<{ ticket: string; name: string; webhook?: string; force?: boolean }>(ctx, async ({ g, opts, cmd }) => {
        const path = keyFileOf(ctx, g, cmd);
        const exists = await access(path).then(
          () => true,
          () => false,
        );
        if (exists && !opts.force) {
          throw new CliError(
            'key_file_exists',
            `${path} already holds a device; pass --force to replace it or --key-file`,
          );
        }
        const { ticket, issuer = g.issuer } = parseTicket(opts.ticket);
        const key = await DeviceKey.generate({ extractable: true });
        const client = new DeviceClient({ issuer, key, fetch: ctx.fetch });
        const push: DevicePushRegistration | undefined = opts.webhook
          ? { type: 'webhook', url: opts.webhook }
          : undefined;
        const answer = await client.enroll({ ticket, name: opts.name, ...(push ? { push } : {}) });
        await saveDeviceKeyFile(path, { issuer, key, name: opts.name });
        if (g.json) return printJson(ctx, { ...answer, issuer, key_file: path });
        printFields(ctx, { device_id: answer.device_id, issuer, key_file: path });
        if (answer.device_id !== key.thumbprint)
          ctx.stderr('warning: the service answered another device_id than the key thumbprint\n');
      }),
    );

  device
    .command('pending')
    .description('list the pending requests for this device')
    .option(
      '--wait [seconds]',
      `wait until a request is pending (up to ${DEFAULT_WAIT_SECONDS} s, or the seconds given), following the service's event stream`,
    )
    .action(
      action<{ wait?: string | true }>(ctx, async ({ g, cmd, opts }) => {
        const wait = opts.wait === true ? DEFAULT_WAIT_SECONDS : opts.wait && parsePositiveInt(opts.wait);
        const client = await openDevice(ctx, g, cmd);
        const list = wait ? await waitForPending(client, wait) : await client.pending();
        if (g.json) return printJson(ctx, { transactions: list });
        if (list.length === 0) return void ctx.stdout('no pending requests\n');
        printTable(
          ctx,
          ['TXN', 'CLIENT', 'BINDING MESSAGE', 'SCOPE', 'LEFT'],
          list.map((t) => [t.txn, t.client_name, t.binding_message, t.scope, timeLeft(ctx, t)]),
        );
      }),
    );

  device
    .command('show')
    .description("a request's consent details")
    .argument('<txn>')
    .action(
      action(ctx, async ({ g, cmd, args }) => {
        const t = await (await openDevice(ctx, g, cmd)).get(args[0]!);
        if (g.json) return printJson(ctx, t);
        printFields(ctx, {
          txn: t.txn,
          client: `${t.client_name} (${t.client_id})`,
          binding_message: t.binding_message,
          scope: t.scope,
          acr_values: t.acr_values,
          authorization_details: t.authorization_details,
          created: formatTime(t.created_at),
          expires: formatTime(t.expires_at),
          left: timeLeft(ctx, t),
        });
      }),
    );

  for (const decision of ['approve', 'deny'] as const) {
    device
      .command(decision)
      .description(`${decision} a request (signed with the device key)`)
      .argument('<txn>')
      .option('--binding-code <code>', 'the code the consumption device shows, when the tenant asks for it')
      .action(
        action<{ bindingCode?: string }>(ctx, async ({ g, cmd, args, opts }) => {
          const client = await openDevice(ctx, g, cmd);
          const r = await client
            .decide(args[0]!, decision, opts.bindingCode !== undefined ? { bindingCode: opts.bindingCode } : {})
            .catch((error: unknown) => {
              throw passkeyHint(error, client.issuer);
            });
          if (g.json) return printJson(ctx, r);
          ctx.stdout(`${r.status} ${r.txn}\n`);
        }),
      );
  }
};
