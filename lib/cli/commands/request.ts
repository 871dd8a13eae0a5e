import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { printFields, printJson } from '../format.ts';
import { adminApi } from './admin.ts';
import { action } from './shared.ts';

export const registerRequest = (program: Command, ctx: CliContext): void => {
  const req = program.command('request').description('inspect authentication requests');
  req
    .command('show')
    .description("a request's state and delivery history, by its auth_req_id or its txn")
    .argument('<id>', 'the auth_req_id, or the txn that logs and device pending show')
    .action(
      action(ctx, async ({ g, args }) => {
        const r = await adminApi(ctx, g).get('requests', args[0]!);
        return g.json ? printJson(ctx, r) : printFields(ctx, r);
      }),
    );
};
