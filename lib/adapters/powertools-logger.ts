import { Logger as PowertoolsBaseLogger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { redact } from '../logging.ts';
import type { Logger } from '../ports.ts';

/**
 * The Logger port on Powertools Logger: one structured JSON line per entry with the service name, cold
 * start and the Lambda request id (the middleware calls `addContext` at the start of each invocation). Fields named like a
 * secret, token, hint or proof are redacted before they reach Powertools (SECURITY.md, "Secrets in logs").
 */
export class PowertoolsLogger implements Logger {
  /** The underlying Powertools logger, for middleware such as `injectLambdaContext`. */
  readonly powertools: PowertoolsBaseLogger;

  constructor(powertools: PowertoolsBaseLogger = new PowertoolsBaseLogger()) {
    this.powertools = powertools;
  }

  addContext(context: Context): void {
    this.powertools.addContext(context);
  }

  debug(message: string, fields?: Record<string, unknown>): void {
    this.powertools.debug(message, redact(fields) ?? {});
  }

  info(message: string, fields?: Record<string, unknown>): void {
    this.powertools.info(message, redact(fields) ?? {});
  }

  warn(message: string, fields?: Record<string, unknown>): void {
    this.powertools.warn(message, redact(fields) ?? {});
  }

  error(message: string, fields?: Record<string, unknown>): void {
    this.powertools.error(message, redact(fields) ?? {});
  }
}
