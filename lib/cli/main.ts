/**
 * `ciba`: the command line of ciba-service (admin API, a CIBA client, a terminal authenticator, a
 * smoke test). This file only wires commander; the commands live in ./commands/.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { registerAuthorize } from './commands/authorize.ts';
import { registerClient } from './commands/client.ts';
import { registerDevice } from './commands/device.ts';
import { registerDirectory } from './commands/directory.ts';
import { registerRequest } from './commands/request.ts';
import { registerSmoke } from './commands/smoke.ts';
import { registerTenant } from './commands/tenant.ts';
import { registerUser } from './commands/user.ts';
import { type CliContext, nodeContext } from './context.ts';
import { DEFAULT_BASE_URL, DEFAULT_TENANT } from './globals.ts';

export const buildProgram = (ctx: CliContext = nodeContext()): Command => {
  const program = new Command('ciba')
    .description('ciba-service from the command line: operate tenants, act as a client or as a device')
    .option('--base-url <url>', `service base URL (env CIBA_BASE_URL, default ${DEFAULT_BASE_URL})`)
    .option('--tenant <id>', `tenant id (env CIBA_TENANT, default ${DEFAULT_TENANT})`)
    .option('--admin-token <token>', 'admin bearer token (env CIBA_ADMIN_TOKEN, else .data/local.json)')
    .option('--aws', 'sign admin requests with SigV4 (IAM) instead of the bearer token')
    .option('--profile <name>', 'AWS profile for --aws (implies --aws)')
    .option('--region <region>', 'AWS region for --aws (default: from the execute-api URL or AWS_REGION)')
    .option('--json', 'print raw JSON')
    .showHelpAfterError('(add --help for additional information)')
    .configureOutput({ writeOut: (s) => ctx.stdout(s), writeErr: (s) => ctx.stderr(s) });
  registerTenant(program, ctx);
  registerClient(program, ctx);
  registerUser(program, ctx);
  registerRequest(program, ctx);
  registerAuthorize(program, ctx);
  registerDevice(program, ctx);
  registerSmoke(program, ctx);
  registerDirectory(program, ctx);
  // The ids the service makes (txn, device_id, client_id: base64url) start with '-' one time in 64: a command that
  // takes one reads such an argument as the value it is, not as an unknown option. An unknown `--option` is still
  // refused (the action wrapper), and one in excess of the arguments by commander.
  for (const cmd of allCommands(program)) {
    if (cmd.registeredArguments.some((a) => ID_ARGUMENTS.has(a.name()))) cmd.allowUnknownOption();
  }
  return program;
};

const ID_ARGUMENTS = new Set(['txn', 'client_id', 'device_id', 'id']);

/** Runs `ciba` with user arguments (no `node` and script name) and returns the exit code. */
export const runCli = async (args: string[], ctx: CliContext = nodeContext()): Promise<number> => {
  const program = buildProgram(ctx);
  for (const cmd of [program, ...allCommands(program)]) cmd.exitOverride();
  try {
    await program.parseAsync(args, { from: 'user' });
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    throw e;
  }
};

const allCommands = (cmd: Command): Command[] => cmd.commands.flatMap((c) => [c, ...allCommands(c)]);

/**
 * A reader that stops early (`npx ciba client get demo-client | head -1`) closes the pipe: the next write fails with
 * EPIPE. The reader has what it wanted, so stop quietly and successfully, as command-line tools do, instead of
 * dying with a stack trace.
 */
const quietOnClosedPipe = (stream: NodeJS.WriteStream): void => {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
};

export const main = async (argv: string[] = process.argv.slice(2)): Promise<void> => {
  quietOnClosedPipe(process.stdout);
  quietOnClosedPipe(process.stderr);
  process.exitCode = await runCli(argv);
};

const isEntry = (): boolean => {
  try {
    return realpathSync(process.argv[1] ?? '') === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
};

if (isEntry()) await main();
