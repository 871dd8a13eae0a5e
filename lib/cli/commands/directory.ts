import { type Command, InvalidArgumentError } from 'commander';
import { createStoreClient } from '../../adapters/dynamodb/client.ts';
import { moveLegacyDirectory } from '../../adapters/dynamodb/directory-layout.ts';
import { createDynamoDbClient } from '../../local/embedded-dynamodb.ts';
import type { CliContext } from '../context.ts';
import { printJson } from '../format.ts';
import { awsIdentity } from '../globals.ts';
import { action } from './shared.ts';

/** `--endpoint`: an http or https URL, refused before anything is sent. */
const endpointUrl = (value: string): string => {
  const protocol = URL.canParse(value) ? new URL(value).protocol : '';
  if (protocol !== 'http:' && protocol !== 'https:') throw new InvalidArgumentError('must be an http or https URL.');
  return value;
};

/**
 * `ciba directory move-legacy`: moves every user and device a deployment stored before per-user and per-device keys
 * to its own key (lib/adapters/dynamodb/directory-layout.ts), straight on the directory table with the operator's AWS
 * credentials. Optional: each moves on its first write anyway; safe beside running functions and another run.
 */
export const registerDirectory = (program: Command, ctx: CliContext): void => {
  program
    .command('directory')
    .description("the deployment's directory table itself, with your AWS credentials")
    .command('move-legacy')
    .description('move every user and device stored before per-user and per-device keys to its own key')
    .requiredOption('--table <name>', "the directory table's name (the stateful stack's Directory table)")
    .option('--endpoint <url>', 'a DynamoDB endpoint instead of AWS (local mode with DYNAMODB_ENDPOINT)', endpointUrl)
    .action(
      action<{ table: string; endpoint?: string }>(ctx, async ({ g, opts }) => {
        const client = opts.endpoint
          ? createDynamoDbClient(opts.endpoint)
          : createStoreClient(awsIdentity(ctx, g.options, undefined, 'directory move-legacy'));
        try {
          const moved = await moveLegacyDirectory({ client, directory: opts.table, ledger: '' }, { rescan: true });
          if (g.json) printJson(ctx, { moved });
          else ctx.stdout(`moved ${moved} users and devices to their own keys\n`);
        } finally {
          client.destroy();
        }
      }),
    );
};
