import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { StorePorts } from '../../persistence.ts';
import { callbackLedger } from './callbacks.ts';
import { addStoreMiddleware } from './client.ts';
import { admissionStore, quotaStore } from './counters.ts';
import { deviceProofStore, deviceStore, passkeyStore, pushChannelStore } from './devices.ts';
import { clientStore, keysetStore, tenantStore } from './directory.ts';
import type { Tables } from './expression.ts';
import { approvalLinkStore } from './links.ts';
import { decisionStore, pollStore, requestStore } from './requests.ts';
import { refreshTokenStore, replayGuard, revocationStore, ticketStore } from './tokens.ts';
import { rateWindowStore, reportShieldStore, userStore } from './users.ts';

export interface DynamoDbStoreOptions {
  client: DynamoDBClient;
  directoryTable: string;
  ledgerTable: string;
}

export const tablesOf = ({ client, directoryTable, ledgerTable }: DynamoDbStoreOptions): Tables => ({
  client,
  directory: directoryTable,
  ledger: ledgerTable,
});

/**
 * The persistence ports (lib/persistence.ts) on two DynamoDB tables (lib/adapters/dynamodb-schema.ts): every
 * operation one request or a short, bounded run of them, every state change one conditional single-item write, so
 * the adapter runs on dynalite too, which has no transactions.
 */
export const dynamoDbStore = (options: DynamoDbStoreOptions): StorePorts => {
  const db = tablesOf(options);
  return {
    tenants: tenantStore(db),
    keysets: keysetStore(db),
    clients: clientStore(db),
    users: userStore(db),
    rateWindows: rateWindowStore(db),
    shields: reportShieldStore(db),
    devices: deviceStore(db),
    pushChannels: pushChannelStore(db),
    passkeys: passkeyStore(db),
    deviceProofs: deviceProofStore(db),
    replay: replayGuard(db),
    requests: requestStore(db),
    polls: pollStore(db),
    decisions: decisionStore(db),
    callbacks: callbackLedger(db),
    tickets: ticketStore(db),
    refreshTokens: refreshTokenStore(db),
    revocations: revocationStore(db),
    quotas: quotaStore(db),
    admission: admissionStore(db),
    links: approvalLinkStore(db),
  };
};

/** Counts every command sent through the client (benchmarks: DynamoDB requests per operation). */
export function countDynamoDbRequests(client: DynamoDBClient): { readonly count: number; reset(): void } {
  let count = 0;
  addStoreMiddleware(client, (stack) =>
    stack.add(
      (next) => async (args) => {
        count++;
        return next(args);
      },
      { step: 'initialize' },
    ),
  );
  return {
    get count() {
      return count;
    },
    reset() {
      count = 0;
    },
  };
}
