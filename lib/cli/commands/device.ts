import { access } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { isLoopbackHost } from '../../adapters/guarded-outbound-http.ts';
import { DeviceClient, type DevicePushRegistration, type Transaction } from '../../device/client.ts';
import { displaysOf, transactionTitle } from '../../device/display.ts';
import { DeviceApiError, InvalidDpopProof, UserVerificationRequired } from '../../device/errors.ts';
import { DeviceKey } from '../../device/key.ts';
import { defaultKeyFilePath, loadDeviceKeyFile, saveDeviceKeyFile } from '../../device/node-key-file.ts';
import { type CliContext, CliError } from '../context.ts';
import { formatDuration, formatTime, printFields, printJson, safe } from '../format.ts';
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

/**
 * `--ticket -`: the ticket from standard input, as `ciba user enroll-link` prints it (text or `--json`), an
 * enrollment URI, or the bare ticket; so `npx ciba user enroll-link alice | npx ciba device enroll --ticket -`.
 */
export const ticketFromText = (text: string): { ticket: string; issuer?: string } => {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    try {
      const j = JSON.parse(trimmed) as { ticket?: unknown; enrollment_uri?: unknown };
      if (typeof j.enrollment_uri === 'string') return parseTicket(j.enrollment_uri);
      if (typeof j.ticket === 'string') return { ticket: j.ticket };
    } catch {
      // not JSON after all: look for a URI or a ticket line below
    }
  }
  const uri = /https?:\/\/\S+?[#?&]ticket=[^\s&]+/.exec(trimmed)?.[0];
  if (uri) return parseTicket(uri);
  const line = /^ticket:\s*(\S+)\s*$/m.exec(trimmed)?.[1];
  if (line) return { ticket: line };
  if (/^\S+$/.test(trimmed)) return { ticket: trimmed };
  throw new CliError(
    'invalid_option',
    trimmed
      ? 'no enrollment ticket or enrollment URI on standard input'
      : 'standard input is empty: did the command before the pipe fail?',
  );
};

const keyFileOf = (ctx: CliContext, g: Globals, cmd: Command): string =>
  cmd.optsWithGlobals<DeviceGroupOptions>().keyFile ?? defaultKeyFilePath(g.tenant, ctx.home);

const openDevice = async (ctx: CliContext, g: Globals, cmd: Command): Promise<DeviceClient> => {
  const path = keyFileOf(ctx, g, cmd);
  try {
    await access(path);
  } catch {
    throw new CliError(
      'no_device',
      `no device key at ${path}: enroll first, e.g. npx ciba user enroll-link alice | npx ciba device enroll --ticket -`,
    );
  }
  const d = await loadDeviceKeyFile(path);
  return new DeviceClient({ issuer: deviceIssuer(d.issuer, g), key: d.key, fetch: ctx.fetch });
};

/**
 * Where a key file's device is reached: the issuer it was enrolled at, or, for a device of the local server, where
 * that server listens now. `npm start` may have started again on another `PORT` on the same data: its state file
 * (`.data/local.json`) says where, and the CLI's base URL came from it. Only loopback issuers of the same tenant path
 * move; a device of any other issuer is never sent elsewhere.
 */
export const deviceIssuer = (enrolledAt: string, g: Pick<Globals, 'issuer' | 'baseUrl' | 'local'>): string => {
  const localUrl = g.local?.state.url?.replace(/\/+$/, '');
  if (localUrl === undefined || localUrl !== g.baseUrl || enrolledAt === g.issuer) return enrolledAt;
  const [before, now] = [new URL(enrolledAt), new URL(g.issuer)];
  const moved = isLoopbackHost(before.hostname) && isLoopbackHost(now.hostname) && before.pathname === now.pathname;
  return moved ? g.issuer : enrolledAt;
};

/**
 * Whether the key file at `path` may be replaced without --force: only when its device is no longer enrolled at its
 * issuer (the service refuses its proof), so a second run of the README, or a fresh `.data`, just works, while a
 * device that still works is never thrown away by accident.
 */
const replaceableKeyFile = async (
  ctx: CliContext,
  g: Globals,
  path: string,
): Promise<{ replace: boolean; why: string }> => {
  let device: Awaited<ReturnType<typeof loadDeviceKeyFile>>;
  try {
    device = await loadDeviceKeyFile(path);
  } catch (e) {
    return { replace: false, why: `${path} exists and is not a readable device key file (${(e as Error).message})` };
  }
  const issuer = deviceIssuer(device.issuer, g);
  try {
    await new DeviceClient({ issuer, key: device.key, fetch: ctx.fetch }).profile();
    return { replace: false, why: `${path} holds device ${device.deviceId}, still enrolled at ${issuer}` };
  } catch (e) {
    if (e instanceof InvalidDpopProof)
      return { replace: true, why: `${path} held a device that ${issuer} no longer knows` };
    return {
      replace: false,
      why: `${path} holds a device of ${issuer}, which did not answer (${e instanceof DeviceApiError ? e.error : (e as Error).message})`,
    };
  }
};

/**
 * The transaction a decision is about: the one given, else the single pending one (the newest with --latest),
 * waiting up to `waitSeconds` for one to arrive; so `npx ciba device approve` chains after a request.
 */
const pickTransaction = async (
  ctx: CliContext,
  client: DeviceClient,
  o: { latest?: boolean; waitSeconds: number },
): Promise<Transaction> => {
  const deadline = ctx.now() + o.waitSeconds * 1000;
  let told = false;
  for (;;) {
    const list = await client.pending();
    if (list.length === 1 || (list.length > 1 && o.latest)) return list[0]!;
    if (list.length > 1) {
      throw new CliError(
        'several_pending',
        `${list.length} requests are pending (${list.map((t) => t.txn).join(', ')}): name one (npx ciba device pending shows them) or pass --latest`,
      );
    }
    if (ctx.now() >= deadline) {
      throw new CliError(
        'no_pending_request',
        o.waitSeconds > 0
          ? `no request arrived within ${o.waitSeconds} s`
          : 'no request is pending for this device (--wait waits for one)',
      );
    }
    if (!told) ctx.stderr(`waiting up to ${o.waitSeconds} s for a request…\n`);
    told = true;
    await ctx.sleep(1000);
  }
};

/**
 * On a terminal, a line starts by clearing the line it lands on: run in the background next to `ciba authorize`
 * (the README's terminal flow), it would otherwise be glued to the client's spinner.
 */
const startOfLine = (tty: boolean): string => (tty ? '\r\x1b[K' : '');

/** `--wait` alone: 60 s; `--wait 30`: 30 s; absent: 0. */
const waitSecondsOf = (value: string | boolean | undefined): number =>
  value === undefined || value === false ? 0 : value === true ? 60 : parsePositiveInt(value);

const timeLeft = (ctx: CliContext, t: Transaction): string => formatDuration(t.expires_at - ctx.now() / 1000);

/**
 * A request as a person reads it, what the screen of an authenticator shows first: its title ("Confirm it's you", or
 * the rendered title of a transaction) with the rendered fields, then who asks, the code, what it shares and the time
 * left. Every received string goes through `safe`.
 */
export const printTransaction = (ctx: CliContext, t: Transaction, extra: [string, unknown][] = []): void => {
  const [first, ...more] = displaysOf(t);
  const blocks = first ? [first, ...more] : [{ title: transactionTitle(t), fields: [] }];
  for (const block of blocks) {
    ctx.stdout(`${safe(block.title)}\n`);
    const width = Math.max(0, ...block.fields.map((f) => f.label.length));
    for (const f of block.fields) ctx.stdout(`    ${safe(f.label).padEnd(width)}  ${safe(f.value)}\n`);
  }
  const code = t.binding_code_required
    ? 'type the code shown where the request started (--binding-code)'
    : (t.binding_message ?? 'none to compare');
  const lines: [string, unknown][] = [
    ['asked by', `${t.client_name} (${t.client_id})`],
    ['code', code],
    ['shares', t.scope],
    ['txn', `${t.txn}   ${timeLeft(ctx, t)} left`],
    ...extra,
  ];
  const width = Math.max(...lines.map(([k]) => k.length));
  for (const [k, v] of lines) {
    if (v !== undefined) ctx.stdout(`  ${k.padEnd(width)}  ${typeof v === 'string' ? safe(v) : JSON.stringify(v)}\n`);
  }
};

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
    .requiredOption('--ticket <ticket>', 'the ticket, the whole enrollment_uri, or - to read either from stdin')
    .option('--name <name>', 'device name', `ciba-cli@${hostname()}`.slice(0, 64))
    .option('--webhook <url>', 'have the service POST notifications to this URL (local mode)')
    .option('--force', 'replace a key file whose device is still enrolled')
    .action(
      action<{ ticket: string; name: string; webhook?: string; force?: boolean }>(ctx, async ({ g, opts, cmd }) => {
        const path = keyFileOf(ctx, g, cmd);
        const exists = await access(path).then(
          () => true,
          () => false,
        );
        const { ticket, issuer = g.issuer } =
          opts.ticket === '-' ? ticketFromText(await ctx.readStdin()) : parseTicket(opts.ticket);
        if (exists && !opts.force) {
          const { replace, why } = await replaceableKeyFile(ctx, g, path);
          if (!replace) {
            throw new CliError(
              'key_file_exists',
              `${why}; pass --force to replace it, or --key-file for another device`,
            );
          }
          ctx.stderr(`${why}: replacing it\n`);
        }
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
        list.forEach((t, i) => {
          if (i > 0) ctx.stdout('\n');
          printTransaction(ctx, t);
        });
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
        printTransaction(ctx, t, [
          ['status', t.status],
          ['acr', t.acr_values],
          ['created', formatTime(t.created_at)],
          ['expires', formatTime(t.expires_at)],
          ['details', t.authorization_details],
        ]);
      }),
    );

  const DOING = { approve: 'approving', deny: 'denying', report: 'reporting' } as const;
  const DESCRIPTION = {
    approve: 'approve a request (signed with the device key)',
    deny: 'deny a request (signed with the device key)',
    report:
      "deny a request you did not ask for, and keep its client from asking you for a while (the tenant's report_shield_seconds)",
  } as const;
  for (const decision of ['approve', 'deny', 'report'] as const) {
    device
      .command(decision)
      .description(DESCRIPTION[decision])
      .argument('[txn]', 'the transaction (default: the one pending request)')
      .option('--latest', 'without a txn: the newest when several requests are pending')
      .option('--wait [seconds]', 'without a txn: wait for a request to arrive (default 60 s)')
      .option('--binding-code <code>', 'the code the consumption device shows, when the tenant asks for it')
      .action(
        action<{ bindingCode?: string; latest?: boolean; wait?: string | boolean }>(
          ctx,
          async ({ g, cmd, args, opts }) => {
            const client = await openDevice(ctx, g, cmd);
            let txn = args[0];
            if (txn !== undefined && (opts.latest || opts.wait !== undefined)) {
              throw new CliError('invalid_option', '--latest and --wait choose a request: leave out the txn');
            }
            if (txn === undefined) {
              const t = await pickTransaction(ctx, client, {
                latest: opts.latest === true,
                waitSeconds: waitSecondsOf(opts.wait),
              });
              txn = t.txn;
              const what = t.binding_message !== undefined ? ` "${safe(t.binding_message)}"` : '';
              const title = t.kind === 'transaction' ? ` (${safe(transactionTitle(t))})` : '';
              ctx.stderr(
                `${startOfLine(ctx.stderrIsTTY)}${DOING[decision]}${what}${title} from ${safe(t.client_name)} (txn ${txn})\n`,
              );
            }
            const r = await client
              .decide(txn, decision, opts.bindingCode !== undefined ? { bindingCode: opts.bindingCode } : {})
              .catch((error: unknown) => {
                throw passkeyHint(error, client.issuer);
              });
            if (g.json) return printJson(ctx, r);
            ctx.stdout(`${startOfLine(ctx.stdoutIsTTY === true)}${r.status} ${r.txn}\n`);
          },
        ),
      );
  }
};
