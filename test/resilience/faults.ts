import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { DIRECTORY_TABLE_DEFAULT, LEDGER_TABLE_DEFAULT } from '../../lib/adapters/dynamodb-schema.ts';
import type { Deps } from '../../lib/ports.ts';
import type { TestService } from '../helpers/service.ts';

/** The ports a fault can be injected into. */
export const PORTS = [
  // The persistence ports (lib/persistence.ts).
  'tenants',
  'clients',
  'users',
  'rateWindows',
  'shields',
  'devices',
  'pushChannels',
  'passkeys',
  'deviceProofs',
  'replay',
  'requests',
  'polls',
  'decisions',
  'callbacks',
  'tickets',
  'refreshTokens',
  'revocations',
  'quotas',
  'admission',
  'keys',
  'notifier',
  'events',
  'scheduler',
  'deadLetters',
  'outbound',
] as const satisfies readonly (keyof Deps)[];
export type PortName = (typeof PORTS)[number];
export type FaultKind = 'throttle' | 'timeout';

/** What DynamoDB, KMS or EventBridge throws when it throttles (the AWS SDK v3 shape, `$retryable` included). */
export const throttlingError = (): Error =>
  Object.assign(new Error('Rate of requests exceeds the allowed throughput.'), {
    name: 'ThrottlingException',
    $fault: 'client',
    $retryable: { throttling: true },
    $metadata: { httpStatusCode: 400, attempts: 3 },
  });

/** What the SDK's HTTP handler throws when a dependency does not answer in time. */
export const timeoutError = (): Error =>
  Object.assign(new Error('Connection timed out after 1000 ms'), { name: 'TimeoutError', code: 'ETIMEDOUT' });

export interface FaultPlan {
  /** `requests.create`, `keys.sign`, ... */
  call: string;
  /** Which call of that method fails (1 = the first one after `arm`). */
  nth: number;
  kind: FaultKind;
}

/**
 * Wraps the ports of a running local service in place (the handlers read `deps.<port>` on every call): every
 * method call is counted and traced, and the planned call fails once. A failing `outbound.postJson` answers a
 * timeout result instead of throwing, as its port promises ("never throws").
 */
export class FaultInjector {
  trace: string[] = [];
  fired: FaultPlan | undefined;
  #counts = new Map<string, number>();
  #plan: FaultPlan | undefined;
  #armed = false;

  constructor(deps: Deps) {
    const ports = deps as unknown as Record<PortName, object>;
    for (const port of PORTS) ports[port] = this.#wrap(port, ports[port]);
  }

  /** Starts counting from zero; `plan` (if any) fails its call once. */
  arm(plan?: FaultPlan): void {
    this.trace = [];
    this.fired = undefined;
    this.#counts.clear();
    this.#plan = plan;
    this.#armed = true;
  }

  disarm(): void {
    this.#armed = false;
    this.#plan = undefined;
  }

  #wrap(port: PortName, target: object): object {
    return new Proxy(target, {
      get: (t, prop, receiver) => {
        const value = Reflect.get(t, prop, receiver);
        if (typeof value !== 'function' || typeof prop !== 'string') return value;
        return (...args: unknown[]) => {
          if (!this.#armed) return value.apply(t, args);
          const call = `${port}.${prop}`;
          const n = (this.#counts.get(call) ?? 0) + 1;
          this.#counts.set(call, n);
          this.trace.push(`${call}#${n}`);
          const plan = this.#plan;
          if (plan && !this.fired && plan.call === call && plan.nth === n) {
            this.fired = plan;
            if (call === 'outbound.postJson') return Promise.resolve({ error: 'response timeout: injected' });
            return Promise.reject(plan.kind === 'throttle' ? throttlingError() : timeoutError());
          }
          return value.apply(t, args);
        };
      },
    });
  }
}

/** Every item of both tables, keyed by pk/sk, for before/after comparisons. */
export const scanTables = async (svc: TestService): Promise<Map<string, Record<string, unknown>>> => {
  const items = new Map<string, Record<string, unknown>>();
  for (const table of [DIRECTORY_TABLE_DEFAULT, LEDGER_TABLE_DEFAULT]) {
    let start: Record<string, never> | undefined;
    do {
      const out = await svc.service.dynamoDb.send(
        new ScanCommand({ TableName: table, ConsistentRead: true, ExclusiveStartKey: start }),
      );
      for (const raw of out.Items ?? []) {
        const item = unmarshall(raw);
        items.set(`${table}|${item.pk}|${item.sk ?? ''}`, item);
      }
      start = out.LastEvaluatedKey as Record<string, never> | undefined;
    } while (start);
  }
  return items;
};

/** Keys added, removed or changed between two scans. */
export const tableDiff = (
  before: Map<string, Record<string, unknown>>,
  after: Map<string, Record<string, unknown>>,
): { added: string[]; removed: string[]; changed: string[] } => {
  const added = [...after.keys()].filter((k) => !before.has(k));
  const removed = [...before.keys()].filter((k) => !after.has(k));
  const changed = [...after.keys()].filter(
    (k) => before.has(k) && JSON.stringify(before.get(k)) !== JSON.stringify(after.get(k)),
  );
  return { added, removed, changed };
};
