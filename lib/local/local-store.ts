import type { AuthRequest } from '../model.ts';
import type { DeadLetterRecord, SigningKeyStore } from '../ports.ts';

/**
 * What only local mode asks of the store, beyond the core's ports (lib/persistence.ts): the DynamoDB adapter's local
 * module implements it (lib/adapters/dynamodb/local.ts). In AWS, KMS keeps the keys, SQS the dead letters, DynamoDB
 * TTL deletes expired items and EventBridge Scheduler keeps the callback timers.
 */

/** A ping or push request whose callback is not finished, and the callback attempt last claimed. */
export interface OpenCallback {
  request: AuthRequest;
  /** The attempt last claimed; none yet when absent. */
  claimed?: number;
  /** Present while that attempt runs (or its worker died before finishing it). */
  leaseUntil?: number;
}

export interface LocalStore extends SigningKeyStore {
  /** Keeps a dead letter on its request, where the admin API shows it. */
  putDeadLetter(record: DeadLetterRecord): Promise<void>;
  /** The requests whose callback timers a restart must set again (lib/local/recover-timers.ts). */
  openCallbacks(now: number): AsyncIterable<OpenCallback>;
  /** The pending, unexpired requests with a channel fallback, whose timers a restart must set again. */
  pendingFallbacks(now: number): AsyncIterable<AuthRequest>;
  /** The keys of ledger items of one expiry bucket whose TTL has passed (the embedded store's sweep). */
  expiredKeys(bucket: string, nowSeconds: number): AsyncIterable<string>;
}
