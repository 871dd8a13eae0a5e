import type { CibaEvent, EventBus, Logger } from '../ports.ts';

export type EventSubscriber = (event: CibaEvent) => Promise<void>;

/** Local stand-in for EventBridge: subscribers run after the publisher returns, as a bus target would. */
export class InProcessEventBus implements EventBus {
  private readonly subscribers = new Set<EventSubscriber>();

  constructor(private readonly logger: Logger) {}

  subscribe(subscriber: EventSubscriber): () => void {
    this.subscribers.add(subscriber);
    return () => this.subscribers.delete(subscriber);
  }

  async publish(events: CibaEvent[]): Promise<void> {
    for (const event of events) {
      this.logger.debug('event', { type: event.type, tenant: event.tenantId });
      for (const subscriber of this.subscribers) {
        setImmediate(() => {
          subscriber(event).catch((error: unknown) =>
            this.logger.error('event subscriber failed', { type: event.type, error }),
          );
        });
      }
    }
  }
}
