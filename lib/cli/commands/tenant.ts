import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { formatTime, printFields, printJson, printTable } from '../format.ts';
import { adminApi } from './admin.ts';
import { action, collect, parseAssignments } from './shared.ts';

export interface TenantPutOptions {
  displayName?: string;
  set?: string[];
}

/** The PUT body: `--set` pairs (values parsed as JSON when they look like it), then `--display-name`. */
export const buildTenantBody = (o: TenantPutOptions): Record<string, unknown> => ({
  ...parseAssignments(o.set),
  ...(o.displayName !== undefined ? { display_name: o.displayName } : {}),
});

export const registerTenant = (program: Command, ctx: CliContext): void => {
  const tenant = program.command('tenant').description("read and change the tenant's settings");
  const show = (g: { json: boolean }, t: Record<string, unknown>) => (g.json ? printJson(ctx, t) : printFields(ctx, t));

  tenant
    .command('get')
    .description('show the settings of --tenant')
    .action(
      action(ctx, async ({ g }) => {
        show(g, await adminApi(ctx, g).get());
      }),
    );

  tenant
    .command('put')
    .description('create the tenant or merge settings into it')
    .option('--display-name <name>', 'display_name')
    .option(
      '--set <key=value>',
      'any setting, e.g. backchannel_polling_interval=2 or delivery_modes=\'["poll","ping"]\' (repeatable)',
      collect,
    )
    .action(
      action<TenantPutOptions>(ctx, async ({ g, opts }) => {
        show(g, await adminApi(ctx, g).put([], buildTenantBody(opts)));
      }),
    );

  const showKeys = (g: { json: boolean }, answer: { keys: Record<string, unknown>[] }) => {
    if (g.json) return printJson(ctx, answer);
    printTable(
      ctx,
      ['kid', 'alg', 'key_mode', 'status', 'active_from', 'published_until'],
      answer.keys.map((k) => [
        k.kid,
        k.alg,
        k.key_mode,
        k.status,
        formatTime(k.active_from),
        k.published_until === undefined ? '' : formatTime(k.published_until),
      ]),
    );
  };

  tenant
    .command('keys')
    .description("show the tenant's signing keys: current, next, and those still published for tokens they signed")
    .action(
      action(ctx, async ({ g }) => {
        showKeys(g, await adminApi(ctx, g).get<{ keys: Record<string, unknown>[] }>('keys'));
      }),
    );

  tenant
    .command('rotate-keys')
    .description(
      'a new signing key of the tenant algorithm and key mode; the old one stays published until its tokens expire',
    )
    .action(
      action(ctx, async ({ g }) => {
        showKeys(g, await adminApi(ctx, g).post<{ keys: Record<string, unknown>[] }>(['keys', 'rotate'], {}));
      }),
    );

  tenant
    .command('delete')
    .description('remove the tenant and everything it issued')
    .action(
      action(ctx, async ({ g }) => {
        // A large tenant goes in steps: 202 while items remain, each DELETE resuming, 204 once it is gone.
        while (((await adminApi(ctx, g).delete()) as { status?: string } | undefined)?.status === 'deleting') {
          if (!g.json) ctx.stdout(`deleting tenant ${g.tenant}: more items remain, going on\n`);
        }
        if (!g.json) ctx.stdout(`deleted tenant ${g.tenant}\n`);
      }),
    );
};
