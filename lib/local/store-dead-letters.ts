import type { DeadLetterRecord, DeadLetters, Logger } from '../ports.ts';
import type { LocalStore } from './local-store.ts';

/** Local dead letters: kept on the request item (LocalStore), where the admin API shows them. */
export class StoreDeadLetters implements DeadLetters {
  constructor(
    private readonly ledger: Pick<LocalStore, 'putDeadLetter'>,
    private readonly logger: Logger,
  ) {}

  async put(record: DeadLetterRecord): Promise<void> {
    await this.ledger.putDeadLetter(record);
    this.logger.warn('callback dead letter', {
      tenant: record.tenantId,
      txn: record.txn,
      client: record.clientId,
      reason: record.reason,
    });
  }
}
