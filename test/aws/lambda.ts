import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { HarnessClock } from './clock.ts';

/**
 * Lambda for the harness: each function's bundle runs in worker threads (one per execution environment, started
 * on demand, reused while warm, one invocation at a time each, as Lambda does), with the environment variables its
 * template gives it plus what the Lambda runtime adds (region, function name, the role's session credentials). Async
 * invocations follow the function's EventInvokeConfig: retries after a function error, then the on-failure
 * destination.
 */

export interface FunctionConfig {
  name: string;
  arn: string;
  /** Directory of the bundle (`asset.{hash}` in the cloud assembly). */
  codeDir: string;
  /** `index.handler` */
  handler: string;
  environment: Record<string, string>;
  timeoutSeconds: number;
  memorySize: number;
  roleArn: string;
  logGroupName: string;
  /**
   * LoggingConfig's format and application level (advanced logging controls). Under JSON Lambda tells the runtime
   * (AWS_LAMBDA_LOG_FORMAT, AWS_LAMBDA_LOG_LEVEL) and keeps only the JSON lines at or above the level.
   */
  logging?: { format: 'Text' | 'JSON'; applicationLevel?: string };
  /** AWS::Lambda::EventInvokeConfig: retries of async invocations and where failures go. */
  async: { maximumRetryAttempts: number; maximumEventAgeSeconds: number; onFailure?: string };
}

export interface InvocationError {
  errorType: string;
  errorMessage: string;
  trace?: string[];
}

export type InvokeOutcome = { result: unknown } | { error: InvocationError };
/** An outcome with how long the function's thread was busy in it (ms: its event loop not waiting), when it ran. */
type RunOutcome = InvokeOutcome & { activeMs?: number };

/** Lambda's own errors, as the Invoke API answers them (the caller, not the function, failed). */
export class LambdaServiceError extends Error {
  constructor(
    readonly code:
      | 'TooManyRequestsException'
      | 'ResourceNotFoundException'
      | 'AccessDeniedException'
      | 'ServiceException',
    message: string,
    /** Whether EventBridge and Scheduler retry it (throttling and service errors), or give up at once. */
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = code;
  }
}

/**
 * How EventBridge and Scheduler see a failed hand-over to a target: Lambda's throttling and service errors are
 * retried, a refusal (no permission, no function) is not.
 */
export const classifyInvokeError = (
  error: unknown,
  isAwsError: (e: unknown) => e is { code: string; message: string },
): { code: string; message: string; retryable: boolean } =>
  error instanceof LambdaServiceError
    ? { code: error.code, message: error.message, retryable: error.retryable }
    : isAwsError(error)
      ? { code: error.code, message: error.message, retryable: false }
      : { code: 'InternalFailure', message: String(error), retryable: true };

/** Names the Lambda service reserves: a function that sets one fails to deploy. */
const RESERVED = new Set([
  '_HANDLER',
  '_X_AMZN_TRACE_ID',
  'AWS_DEFAULT_REGION',
  'AWS_REGION',
  'AWS_EXECUTION_ENV',
  'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'AWS_LAMBDA_FUNCTION_VERSION',
  'AWS_LAMBDA_INITIALIZATION_TYPE',
  'AWS_LAMBDA_LOG_GROUP_NAME',
  'AWS_LAMBDA_LOG_STREAM_NAME',
  'AWS_ACCESS_KEY',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_LAMBDA_RUNTIME_API',
  'LAMBDA_TASK_ROOT',
  'LAMBDA_RUNTIME_DIR',
]);

/** Lambda: "the total size of the set of environment variables doesn't exceed 4 KB". */
export const checkEnvironment = (name: string, environment: Record<string, string>): void => {
  const reserved = Object.keys(environment).filter((k) => RESERVED.has(k));
  if (reserved.length > 0) throw new Error(`function ${name}: reserved environment variables ${reserved.join(', ')}`);
  const size = Object.entries(environment).reduce(
    (sum, [k, v]) => sum + Buffer.byteLength(k) + Buffer.byteLength(v),
    0,
  );
  if (size > 4096) throw new Error(`function ${name}: environment variables take ${size} bytes, over Lambda's 4 KB`);
};

/** Lambda's application log levels, lowest first (Powertools says CRITICAL for FATAL). */
const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'];
const levelRank = (level: unknown): number => {
  const name = String(level).toUpperCase();
  return LOG_LEVELS.indexOf(name === 'CRITICAL' ? 'FATAL' : name === 'WARNING' ? 'WARN' : name);
};

/**
 * Whether Lambda keeps a line the function wrote under JSON format with this application level: a JSON object whose
 * `level` is below it is dropped; a line whose level is missing or invalid (an embedded-metric line, plain text) is
 * INFO ("Log-level filtering" in Lambda's guide).
 */
export const keptAtLevel = (line: string, applicationLevel: string): boolean => {
  let level: unknown;
  try {
    const parsed = JSON.parse(line) as unknown;
    level = parsed !== null && typeof parsed === 'object' ? (parsed as { level?: unknown }).level : undefined;
  } catch {
    level = undefined;
  }
  const rank = levelRank(level);
  return (rank < 0 ? levelRank('INFO') : rank) >= levelRank(applicationLevel);
};

interface Environment {
  worker: Worker;
  ready: Promise<void>;
  busy: boolean;
  pending: Map<string, (outcome: RunOutcome) => void>;
  initError?: InvocationError;
}

export interface LambdaRuntimeOptions {
  clock: HarnessClock;
  region: string;
  /** Session credentials of the function's role (the harness's STS). */
  credentialsFor(
    roleArn: string,
    sessionName: string,
  ): { accessKeyId: string; secretAccessKey: string; sessionToken: string };
  /** Variables the harness adds to every function: the fake endpoints (`AWS_ENDPOINT_URL_*`). */
  harnessEnvironment(): Record<string, string>;
  /** The fake internet (test/aws/lambda-worker.mjs). */
  internet(): Record<string, { address: string; port: number; ca: string }>;
  /** Sends the record of a failed async invocation to the function's on-failure destination, as its role. */
  sendToDestination(fn: FunctionConfig, destination: string, record: unknown): Promise<void>;
  /** Tracks background work (async invocations) so `settle()` can wait for it. */
  track(work: Promise<unknown>): void;
}

export interface LogLine {
  function: string;
  stream: 'stdout' | 'stderr';
  line: string;
}

export class LambdaRuntime {
  readonly functions = new Map<string, FunctionConfig>();
  readonly logs: LogLine[] = [];
  /**
   * Every invocation: RequestResponse (`sync`), Event (`async`), or by an event source mapping on a stream (`stream`)
   * or a queue (`queue`).
   */
  readonly invocations: {
    function: string;
    kind: 'sync' | 'async' | 'stream' | 'queue';
    outcome: 'ok' | 'error' | 'refused';
    /**
     * How long the function's thread was busy (its event loop not waiting on I/O) in an invocation that ran: the
     * harness's measure of the invocation's CPU on this machine.
     */
    activeMs?: number;
  }[] = [];
  readonly #environments = new Map<string, Environment[]>();
  readonly #throttles = new Map<string, number>();
  readonly #options: LambdaRuntimeOptions;
  /** Execution environments per function at most (Lambda's concurrency, kept small for a 2-core machine). */
  readonly maxEnvironments = 4;

  constructor(options: LambdaRuntimeOptions) {
    this.#options = options;
  }

  define(config: FunctionConfig): void {
    checkEnvironment(config.name, config.environment);
    this.functions.set(config.arn, config);
  }

  async remove(arn: string): Promise<void> {
    this.functions.delete(arn);
    for (const env of this.#environments.get(arn) ?? []) await env.worker.terminate();
    this.#environments.delete(arn);
  }

  /** The function by name, ARN or qualified ARN. */
  find(nameOrArn: string): FunctionConfig | undefined {
    const arn = nameOrArn.replace(/:(\$LATEST|\d+)$/, '');
    return this.functions.get(arn) ?? [...this.functions.values()].find((f) => f.name === nameOrArn);
  }

  /** The next `count` invocations of the function are refused with TooManyRequestsException (throttled). */
  throttle(name: string, count: number): void {
    this.#throttles.set(name, count);
  }

  /** Announces a changed fake internet to the running environments. */
  updateInternet(): void {
    for (const envs of this.#environments.values()) {
      for (const env of envs) env.worker.postMessage({ type: 'internet', internet: this.#options.internet() });
    }
  }

  #admit(fn: FunctionConfig | undefined, nameOrArn: string): FunctionConfig {
    if (!fn) throw new LambdaServiceError('ResourceNotFoundException', `Function not found: ${nameOrArn}`, false);
    const throttled = this.#throttles.get(fn.name) ?? 0;
    if (throttled > 0) {
      this.#throttles.set(fn.name, throttled - 1);
      throw new LambdaServiceError('TooManyRequestsException', 'Rate Exceeded.', true);
    }
    return fn;
  }

  /** RequestResponse: the function's result or its error (a function error is not a service error). */
  async invoke(nameOrArn: string, event: unknown, kind: 'sync' | 'stream' | 'queue' = 'sync'): Promise<InvokeOutcome> {
    let fn: FunctionConfig;
    try {
      fn = this.#admit(this.find(nameOrArn), nameOrArn);
    } catch (error) {
      this.invocations.push({ function: nameOrArn, kind, outcome: 'refused' });
      throw error;
    }
    const { activeMs, ...outcome } = await this.#run(fn, event);
    this.invocations.push({ function: fn.name, kind, outcome: 'error' in outcome ? 'error' : 'ok', activeMs });
    return outcome;
  }

  /**
   * Event (async) invocation: accepted at once (or refused: throttled, unknown), then run in the background with the
   * function's retry policy: after a function error Lambda tries again about 1 and 2 minutes later, within the event
   * age; what still fails goes to the on-failure destination.
   */
  invokeAsync(nameOrArn: string, event: unknown): void {
    let fn: FunctionConfig;
    try {
      fn = this.#admit(this.find(nameOrArn), nameOrArn);
    } catch (error) {
      this.invocations.push({ function: nameOrArn, kind: 'async', outcome: 'refused' });
      throw error;
    }
    const clock = this.#options.clock;
    const queuedAt = clock.now();
    const attempt = async (n: number): Promise<void> => {
      const { activeMs, ...outcome } = await this.#run(fn, event);
      this.invocations.push({
        function: fn.name,
        kind: 'async',
        outcome: 'error' in outcome ? 'error' : 'ok',
        activeMs,
      });
      if (!('error' in outcome)) return;
      const delay = n === 1 ? 60_000 : 120_000;
      const age = clock.now() + delay - queuedAt;
      if (n <= fn.async.maximumRetryAttempts && age <= fn.async.maximumEventAgeSeconds * 1000) {
        clock.at(clock.now() + delay, `lambda retry ${n} of ${fn.name}`, () => attempt(n + 1));
        return;
      }
      if (fn.async.onFailure) {
        await this.#options.sendToDestination(fn, fn.async.onFailure, {
          version: '1.0',
          timestamp: new Date(clock.now()).toISOString(),
          requestContext: {
            requestId: randomUUID(),
            functionArn: `${fn.arn}:$LATEST`,
            condition: 'RetriesExhausted',
            approximateInvokeCount: n,
          },
          requestPayload: event,
          responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
          responsePayload: outcome.error,
        });
      }
    };
    this.#options.track(attempt(1));
  }

  async #run(fn: FunctionConfig, event: unknown): Promise<RunOutcome> {
    const env = await this.#acquire(fn);
    try {
      if (env.initError) return { error: env.initError };
      const id = randomUUID();
      const payload = JSON.parse(JSON.stringify(event ?? null)) as unknown;
      const outcome = await new Promise<RunOutcome>((resolve) => {
        const timer = setTimeout(() => {
          env.pending.delete(id);
          // Lambda ends the environment of a timed-out invocation.
          void env.worker.terminate();
          this.#drop(fn, env);
          resolve({
            error: {
              errorType: 'Sandbox.Timedout',
              errorMessage: `Task timed out after ${fn.timeoutSeconds.toFixed(2)} seconds`,
            },
          });
        }, fn.timeoutSeconds * 1000);
        env.pending.set(id, (o) => {
          clearTimeout(timer);
          resolve(o);
        });
        env.worker.postMessage({
          type: 'invoke',
          id,
          event: payload,
          requestId: id,
          timeoutMs: fn.timeoutSeconds * 1000,
        });
      });
      // Lambda serializes the result as JSON.
      return 'result' in outcome
        ? { result: JSON.parse(JSON.stringify(outcome.result)) as unknown, activeMs: outcome.activeMs }
        : outcome;
    } finally {
      env.busy = false;
    }
  }

  #drop(fn: FunctionConfig, env: Environment): void {
    this.#environments.set(
      fn.arn,
      (this.#environments.get(fn.arn) ?? []).filter((e) => e !== env),
    );
  }

  async #acquire(fn: FunctionConfig): Promise<Environment> {
    const envs = this.#environments.get(fn.arn) ?? [];
    this.#environments.set(fn.arn, envs);
    for (;;) {
      const idle = envs.find((e) => !e.busy);
      if (idle) {
        idle.busy = true;
        await idle.ready;
        return idle;
      }
      if (envs.length < this.maxEnvironments) {
        const env = this.#start(fn);
        env.busy = true;
        envs.push(env);
        await env.ready;
        return env;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  #start(fn: FunctionConfig): Environment {
    const credentials = this.#options.credentialsFor(fn.roleArn, fn.name);
    const logStreamName = `${new Date(this.#options.clock.now()).toISOString().slice(0, 10).replaceAll('-', '/')}/[$LATEST]${randomUUID().replaceAll('-', '')}`;
    const worker = new Worker(fileURLToPath(new URL('./lambda-worker.mjs', import.meta.url)), {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        LANG: 'en_US.UTF-8',
        TZ: ':UTC',
        ...fn.environment,
        ...this.#options.harnessEnvironment(),
        AWS_REGION: this.#options.region,
        AWS_DEFAULT_REGION: this.#options.region,
        AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
        AWS_LAMBDA_FUNCTION_NAME: fn.name,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memorySize),
        AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
        AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
        AWS_LAMBDA_LOG_GROUP_NAME: fn.logGroupName,
        AWS_LAMBDA_LOG_STREAM_NAME: logStreamName,
        ...(fn.logging?.format === 'JSON'
          ? { AWS_LAMBDA_LOG_FORMAT: 'JSON', AWS_LAMBDA_LOG_LEVEL: fn.logging.applicationLevel ?? 'INFO' }
          : {}),
        AWS_ACCESS_KEY_ID: credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
        AWS_SESSION_TOKEN: credentials.sessionToken,
        LAMBDA_TASK_ROOT: fn.codeDir,
        _HANDLER: fn.handler,
      },
      workerData: {
        clock: this.#options.clock.buffer,
        internet: this.#options.internet(),
        codeDir: fn.codeDir,
        handler: fn.handler,
        functionName: fn.name,
        functionArn: fn.arn,
        memorySize: fn.memorySize,
        logGroupName: fn.logGroupName,
        logStreamName,
      },
      execArgv: (fn.environment.NODE_OPTIONS ?? '').includes('--enable-source-maps') ? ['--enable-source-maps'] : [],
      stdout: true,
      stderr: true,
    });
    const env: Environment = { worker, busy: false, pending: new Map(), ready: Promise.resolve() };
    for (const stream of ['stdout', 'stderr'] as const) {
      let rest = '';
      worker[stream].setEncoding('utf8');
      worker[stream].on('data', (chunk: string) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop() ?? '';
        const level = fn.logging?.format === 'JSON' ? (fn.logging.applicationLevel ?? 'INFO') : undefined;
        for (const line of lines) {
          if (line && (level === undefined || keptAtLevel(line, level))) {
            this.logs.push({ function: fn.name, stream, line });
          }
        }
      });
    }
    env.ready = new Promise<void>((resolve) => {
      worker.on(
        'message',
        (message: { type: string; id?: string; result?: unknown; error?: InvocationError; activeMs?: number }) => {
          if (message.type === 'ready') resolve();
          else if (message.type === 'init-error') {
            env.initError = { ...message.error!, errorType: `Runtime.${message.error!.errorType}` };
            resolve();
          } else if (message.type === 'result') {
            const settle = env.pending.get(message.id!);
            env.pending.delete(message.id!);
            const { activeMs } = message;
            settle?.(message.error ? { error: message.error, activeMs } : { result: message.result, activeMs });
          }
        },
      );
      worker.on('error', (error) => {
        env.initError = { errorType: 'Runtime.ExitError', errorMessage: String(error) };
        for (const settle of env.pending.values()) settle({ error: env.initError });
        env.pending.clear();
        this.#drop(fn, env);
        resolve();
      });
    });
    return env;
  }

  /** Log lines of a function (Powertools writes one JSON object per line). */
  logsOf(name: string): string[] {
    return this.logs.filter((l) => l.function === name).map((l) => l.line);
  }

  async stop(): Promise<void> {
    const all = [...this.#environments.values()].flat();
    this.#environments.clear();
    await Promise.all(all.map((e) => e.worker.terminate()));
  }
}
