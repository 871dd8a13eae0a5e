import type { DeadLetterRecord, DeadLetters, Ledger, Logger } from '../ports.ts';

/** Local dead letters: kept on the request item through the Store port, where the admin API shows them. */
export class StoreDeadLetters implements DeadLetters {
  constructor(
    private readonly ledger: Pick<Ledger, 'putDeadLetter'>,
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
