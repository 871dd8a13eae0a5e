import { isRequestXRaySampled } from '@aws-lambda-powertools/commons/utils/env';
import { LogFormatter, LogItem, Logger as PowertoolsBaseLogger } from '@aws-lambda-powertools/logger';
import type { LogAttributes, UnformattedAttributes } from '@aws-lambda-powertools/logger/types';
import type { Context } from 'aws-lambda';
import { redact } from '../logging.ts';
import type { Logger } from '../ports.ts';

/**
 * Powertools' line (docs/deploy.md "Logs": `level`, `message`, `timestamp`, `service`, `cold_start`, the invocation's
 * `function_request_id`, its X-Ray trace id when X-Ray traces it, the line's fields) without the fields that repeat
 * what the function's log group names on every line (the function's name, ARN and memory size, and the debug sampling
 * rate while it is 0), nor the trace id of an invocation X-Ray does not trace (Lambda gives every invocation a trace
 * header; the deployment does not turn tracing on, so the id leads to no trace). They were about 280 of a line's 590
 * bytes (docs/performance.md, the cost model).
 */
export class LambdaLineFormatter extends LogFormatter {
  formatAttributes(attributes: UnformattedAttributes, additional: LogAttributes): LogItem {
    return new LogItem({
      attributes: {
        level: attributes.logLevel,
        message: attributes.message,
        timestamp: this.formatTimestamp(attributes.timestamp),
        service: attributes.serviceName,
        cold_start: attributes.lambdaContext?.coldStart,
        function_request_id: attributes.lambdaContext?.awsRequestId,
        ...(attributes.sampleRateValue ? { sampling_rate: attributes.sampleRateValue } : {}),
        ...(isRequestXRaySampled() ? { xray_trace_id: attributes.xRayTraceId } : {}),
      },
    }).addAttributes(additional);
  }
}

/** The functions' Powertools logger: their service's name, their line ({@link LambdaLineFormatter}). */
export const lambdaPowertools = (serviceName: string): PowertoolsBaseLogger =>
  new PowertoolsBaseLogger({ serviceName, logFormatter: new LambdaLineFormatter() });

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
