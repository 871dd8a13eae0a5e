/**
 * Transient failures: a dependency (DynamoDB, KMS, EventBridge, SNS, the network) that is throttling, timing out
 * or briefly unavailable. The request did nothing wrong and the same request can succeed a moment later, so the
 * caller gets a retryable answer (503 temporarily_unavailable with Retry-After, or slow_down at the token
 * endpoint) instead of a 500 (lib/http/middleware.ts).
 */

/** Error names of the AWS SDK v3 (DynamoDB, KMS, EventBridge, SNS, SQS, Scheduler) and of Node for throttling and timeouts. */
const TRANSIENT_NAMES: ReadonlySet<string> = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalServerError',
  'InternalFailure',
  'InternalException',
  'KMSInternalException',
  'DependencyTimeoutException',
  'TransactionConflictException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
]);

/** Node / libuv network error codes that mean "try again". */
const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_SOCKET',
]);

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  $retryable?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  cause?: unknown;
}

const isTransientOne = (error: ErrorLike): boolean => {
  // AWS SDK v3 marks throttling and transient errors it would retry itself with `$retryable`.
  if (error.$retryable) return true;
  if (typeof error.name === 'string' && TRANSIENT_NAMES.has(error.name)) return true;
  if (typeof error.code === 'string' && TRANSIENT_CODES.has(error.code)) return true;
  const status = error.$metadata?.httpStatusCode;
  // An AWS service answering 5xx or 429 (its retries already used up) is unavailable, not refusing the request.
  return typeof status === 'number' && (status === 429 || (status >= 500 && error.$fault === 'server'));
};

/** True when `error` (or an error in its `cause` chain) is a throttling, timeout or unavailability of a dependency. */
export const isTransientError = (error: unknown): boolean => {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth++) {
    if (isTransientOne(current as ErrorLike)) return true;
    current = (current as ErrorLike).cause;
  }
  return false;
};

/** Seconds a caller should wait after a transient failure (short: throttling clears fast, and callers back off). */
export const TRANSIENT_RETRY_AFTER_SECONDS = 1;
