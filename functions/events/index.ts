import { decisionRetries } from '../../lib/adapters/aws/decision-retries.ts';
import { eventBus } from '../../lib/adapters/aws/events.ts';
import { scheduler } from '../../lib/adapters/aws/scheduler.ts';
import { awsDeps } from '../../lib/adapters/aws-deps.ts';
import { createHandler } from './handler.ts';

export const handler = createHandler({
  ...awsDeps({ events: eventBus, scheduler }),
  retries: decisionRetries(process.env),
});
