import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { TableSchema } from '../../../lib/adapters/dynamodb-schema.ts';
import { indexWriteUnits, itemSize, type WireItem, writeUnits } from '../../bench/aws-terms.ts';
import type { Json } from '../cloudformation.ts';
import type { Caller } from '../iam.ts';
import {
  AwsError,
  authorize,
  type Core,
  type Endpoint,
  type FakeResponse,
  jsonOperation,
  startEndpoint,
} from './endpoint.ts';

/** A record of a table's stream, as DynamoDB Streams (and Lambda's event) shape it. */
export interface StreamRecord {
  eventID: string;
  eventName: 'INSERT' | 'MODIFY' | 'REMOVE';
  eventVersion: '1.1';
  eventSource: 'aws:dynamodb';
  awsRegion: string;
  dynamodb: {
    ApproximateCreationDateTime: number;
    Keys: Record<string, unknown>;
    NewImage?: Record<string, unknown>;
    OldImage?: Record<string, unknown>;
    SequenceNumber: string;
    SizeBytes: number;
    StreamViewType: string;
  };
  eventSourceARN: string;
}

/** A table's stream: its records in write order (one shard), and who reads it (event source mappings). */
export interface FakeStream {
  arn: string;
  table: string;
  viewType: string;
  records: StreamRecord[];
  listeners: Set<() => void>;
}

type Item = Record<string, unknown>;

/** An AWS::DynamoDB::Table's global secondary index, as the template gives it. */
interface TemplateIndex {
  IndexName: string;
  KeySchema: { AttributeName: string; KeyType: 'HASH' | 'RANGE' }[];
  Projection: { ProjectionType: 'KEYS_ONLY' | 'INCLUDE' | 'ALL'; NonKeyAttributes?: string[] };
}

/** The operations that write: what `throttle` throttles. */
const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);
/** The operations that read, whose read units `units` counts. */
const READS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan']);

/**
 * DynamoDB: dynalite (the project's embedded store, in a child process) behind an endpoint that verifies the caller
 * and authorizes each table and index the request touches (`dynamodb:{Operation}` on the table's or the index's ARN)
 * before forwarding the request unchanged. Tables come from the template's AWS::DynamoDB::Table resources: keys,
 * attribute definitions, GSIs and their projections. dynalite has no TTL (`TimeToLiveSpecification` is skipped) and
 * no transactions; the code uses neither at run time (docs/aws-shape.md). A table whose StreamSpecification enables a
 * stream gets one: each write of its items is serialized per item, the item read before and after, and a record with
 * the images the view type asks for appended in write order (one shard; `streams`), read by event source mappings
 * (test/aws/cloud.ts). Stream reads are the mapping's, not the functions': they are not recorded as calls.
 */
export class FakeDynamoDb {
  #child?: ChildProcess;
  #dynalite = '';
  endpoint?: Endpoint;
  /** Table name → ARN, for the tables the template created. */
  readonly tables = new Map<string, string>();
  /** Table name → its key attributes (partition, then sort). */
  readonly #keys = new Map<string, string[]>();
  /** Table name → its stream, while its StreamSpecification enables one. */
  readonly streams = new Map<string, FakeStream>();
  /**
   * Throttling, for a test: the next `writes` write requests of the callers `by` selects answer
   * ProvisionedThroughputExceededException before they reach dynalite (`throttled` counts them).
   */
  throttle?: { writes: number; by: (caller: Caller) => boolean; throttled: number };
  /**
   * Write units, for a test that sets it: each write's units as DynamoDB bills them, from its items before and after
   * (read through dynalite, not recorded as calls): the table's (the larger image, one per KB, at least one), each
   * global secondary index's (the template's projections, by the benchmark's rules: test/bench/aws-terms.ts
   * `indexWriteUnits`), and those of a write whose condition failed (the item as it was); and each read's units
   * (`reads`: the same read made again straight on dynalite with `ReturnConsumedCapacity`, as the benchmark takes
   * dynalite's: an eventually consistent read at half price). The extra reads are not serialized with other writes
   * of the item: meant for flows whose writes do not race.
   */
  units?: { table: number; indexes: number; failed: number; reads: number };
  /** Table name → its keys and global secondary indexes, for `units`. */
  readonly #schemas = new Map<string, TableSchema>();
  /** Writes of one item wait for the one before (`{table}|{key}` → the last write's end). */
  readonly #writes = new Map<string, Promise<unknown>>();
  #sequence = 0n;

  constructor(readonly core: Core) {}

  async start(): Promise<void> {
    const child = fork(fileURLToPath(new URL('../../../lib/local/dynalite-process.mjs', import.meta.url)), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#child = child;
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m: { port?: number; error?: string }) =>
        m.port ? resolve(m.port) : reject(new Error(m.error)),
      );
      child.once('exit', (code) => reject(new Error(`dynalite exited with ${code}`)));
    });
    this.#dynalite = `http://127.0.0.1:${port}`;
    this.endpoint = await startEndpoint(this.core, {
      signingName: 'dynamodb',
      protocol: 'json',
      errorOptions: { jsonVersion: '1.0', typePrefix: 'com.amazon.coral.service#' },
      handle: async (request) => {
        const { operation, input } = jsonOperation(request);
        for (const resource of this.#resources(operation, input)) {
          await authorize(
            this.core,
            'dynamodb',
            { code: 'AccessDeniedException', status: 400 },
            request.caller,
            `dynamodb:${operation}`,
            resource,
          );
        }
        const throttle = this.throttle;
        if (throttle && throttle.writes > 0 && WRITES.has(operation) && throttle.by(request.caller)) {
          throttle.writes--;
          throttle.throttled++;
          throw new AwsError(
            'ProvisionedThroughputExceededException',
            'The level of configured provisioned throughput for the table was exceeded.',
          );
        }
        const send = () => {
          const written = this.#writtenItems(operation, input, (table) => this.streams.has(table));
          if (written.length === 0) return this.#forward(request.headers, request.body);
          return this.#withStream(written, () => this.#forward(request.headers, request.body));
        };
        return this.units ? this.#metered(operation, input, this.units, send) : send();
      },
    });
  }

  /** A request's units (`units`): a read's as dynalite counts them, a write's from its items read before and after it. */
  async #metered(
    operation: string,
    input: Record<string, unknown>,
    units: NonNullable<FakeDynamoDb['units']>,
    send: () => Promise<FakeResponse>,
  ): Promise<FakeResponse> {
    if (READS.has(operation)) {
      const response = await send();
      if (response.status === 200) {
        const again = await this.direct(operation, { ...input, ReturnConsumedCapacity: 'TOTAL' });
        const consumed = again.ConsumedCapacity as
          | { CapacityUnits?: number }
          | { CapacityUnits?: number }[]
          | undefined;
        for (const c of [consumed ?? []].flat()) units.reads += c.CapacityUnits ?? 0;
      }
      return response;
    }
    const written = this.#writtenItems(operation, input, (table) => this.#schemas.has(table));
    const read = (w: { table: string; key: Item }) =>
      this.direct('GetItem', { TableName: w.table, Key: w.key, ConsistentRead: true }).then(
        (out) => out.Item as WireItem | undefined,
      );
    const before = await Promise.all(written.map(read));
    const response = await send();
    if (response.status !== 200) {
      if (String(response.body).includes('ConditionalCheckFailedException'))
        for (const item of before) units.failed += writeUnits(item ? itemSize(item) : 0);
      return response;
    }
    const after = await Promise.all(written.map(read));
    for (const [i, w] of written.entries()) {
      const schema = this.#schemas.get(w.table)!;
      units.table += writeUnits(Math.max(itemSize(before[i] ?? {}), itemSize(after[i] ?? {})));
      for (const index of schema.indexes) units.indexes += indexWriteUnits(schema, index, before[i], after[i]);
    }
    return response;
  }

  /** The items a write touches on the tables `on` selects: table and key (per item of a BatchWriteItem). */
  #writtenItems(
    operation: string,
    input: Record<string, unknown>,
    on: (table: string) => boolean,
  ): { table: string; key: Item }[] {
    const keyOf = (table: string, item: Item): Item =>
      Object.fromEntries((this.#keys.get(table) ?? []).map((name) => [name, item[name]]));
    const chosen = (table: unknown) => typeof table === 'string' && on(table);
    switch (operation) {
      case 'PutItem':
        return chosen(input.TableName)
          ? [{ table: String(input.TableName), key: keyOf(String(input.TableName), input.Item as Item) }]
          : [];
      case 'UpdateItem':
      case 'DeleteItem':
        return chosen(input.TableName) ? [{ table: String(input.TableName), key: input.Key as Item }] : [];
      case 'BatchWriteItem':
        return Object.entries((input.RequestItems ?? {}) as Record<string, Item[]>)
          .filter(([table]) => chosen(table))
          .flatMap(([table, requests]) =>
            requests.map((r) => {
              const put = r.PutRequest as { Item: Item } | undefined;
              const del = r.DeleteRequest as { Key: Item } | undefined;
              return { table, key: put ? keyOf(table, put.Item) : del!.Key };
            }),
          );
      case 'TransactWriteItems':
        // The code writes no transactions (docs/aws-shape.md); a stream of one would be silently missing records.
        if (((input.TransactItems ?? []) as Item[]).length > 0 && this.streams.size > 0)
          throw new AwsError('ValidationException', 'harness: TransactWriteItems on a streamed table is not modelled');
        return [];
      default:
        return [];
    }
  }

  /**
   * Runs a write of items of streamed tables: serialized per item, each item read before and after through dynalite,
   * and a stream record appended for each item the write changed (DynamoDB writes none for a write that changes
   * nothing, nor for a refused one).
   */
  async #withStream(
    written: { table: string; key: Item }[],
    write: () => Promise<FakeResponse>,
  ): Promise<FakeResponse> {
    const ids = [...new Set(written.map((w) => `${w.table}|${JSON.stringify(w.key)}`))].sort();
    const before = await Promise.all(ids.map((id) => this.#writes.get(id)));
    let done!: () => void;
    const mine = new Promise<void>((resolve) => {
      done = resolve;
    });
    for (const id of ids) this.#writes.set(id, mine);
    try {
      await Promise.all(before);
      const read = (w: { table: string; key: Item }) =>
        this.direct('GetItem', { TableName: w.table, Key: w.key, ConsistentRead: true }).then(
          (out) => out.Item as Item | undefined,
        );
      const old = await Promise.all(written.map(read));
      const response = await write();
      if (response.status === 200) {
        const now = await Promise.all(written.map(read));
        for (const [i, w] of written.entries()) this.#record(w.table, w.key, old[i], now[i]);
      }
      return response;
    } finally {
      done();
      for (const id of ids) if (this.#writes.get(id) === mine) this.#writes.delete(id);
    }
  }

  #record(table: string, key: Item, oldImage: Item | undefined, newImage: Item | undefined): void {
    const stream = this.streams.get(table);
    if (!stream || JSON.stringify(oldImage) === JSON.stringify(newImage)) return;
    this.#sequence += 1n;
    const images = {
      ...(newImage && stream.viewType !== 'OLD_IMAGE' && stream.viewType !== 'KEYS_ONLY' ? { NewImage: newImage } : {}),
      ...(oldImage && stream.viewType !== 'NEW_IMAGE' && stream.viewType !== 'KEYS_ONLY' ? { OldImage: oldImage } : {}),
    };
    stream.records.push({
      eventID: randomBytes(16).toString('hex'),
      eventName: !oldImage ? 'INSERT' : !newImage ? 'REMOVE' : 'MODIFY',
      eventVersion: '1.1',
      eventSource: 'aws:dynamodb',
      awsRegion: this.core.region,
      dynamodb: {
        ApproximateCreationDateTime: Math.floor(this.core.clock.now() / 1000),
        Keys: key,
        ...images,
        SequenceNumber: this.#sequence.toString().padStart(21, '0'),
        SizeBytes: Buffer.byteLength(JSON.stringify({ key, ...images })),
        StreamViewType: stream.viewType,
      },
      eventSourceARN: stream.arn,
    });
    for (const listener of stream.listeners) listener();
  }

  /** The stream behind a stream ARN (an event source mapping's source). */
  streamByArn(arn: string): FakeStream | undefined {
    return [...this.streams.values()].find((s) => s.arn === arn);
  }

  /**
   * A table's StreamSpecification, now: a stream enabled gets a new ARN (labelled with the time), one disabled stops
   * taking records (its readers keep what they had). Returns the stream's ARN, if any.
   */
  setStream(name: string, spec: { StreamViewType?: string } | undefined): string | undefined {
    const current = this.streams.get(name);
    if (!spec?.StreamViewType) {
      this.streams.delete(name);
      return undefined;
    }
    if (current && current.viewType === spec.StreamViewType) return current.arn;
    // DynamoDB: a stream's view type cannot change in place (disable, then enable: a new stream).
    if (current) throw new Error(`${name}: the stream's view type cannot change while it is enabled`);
    const arn = `${this.#arn(name)}/stream/${new Date(this.core.clock.now()).toISOString().replace('Z', '')}`;
    this.streams.set(name, { arn, table: name, viewType: spec.StreamViewType, records: [], listeners: new Set() });
    return arn;
  }

  #arn(table: string): string {
    const arn = this.tables.get(table);
    if (!arn) throw new AwsError('ResourceNotFoundException', 'Requested resource not found', 400);
    return arn;
  }

  /** Every table or index ARN a request reads or writes. */
  #resources(operation: string, input: Record<string, unknown>): string[] {
    const one = (table: unknown, index?: unknown) =>
      `${this.#arn(String(table))}${index ? `/index/${String(index)}` : ''}`;
    switch (operation) {
      case 'BatchGetItem':
      case 'BatchWriteItem':
        return Object.keys((input.RequestItems ?? {}) as object).map((t) => one(t));
      case 'TransactWriteItems':
      case 'TransactGetItems':
        return ((input.TransactItems ?? []) as Record<string, { TableName: string }>[]).map((item) =>
          one(Object.values(item)[0]!.TableName),
        );
      default:
        return [one(input.TableName, input.IndexName)];
    }
  }

  #forward(headers: Record<string, string | string[] | undefined>, body: Buffer): Promise<FakeResponse> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        `${this.#dynalite}/`,
        {
          method: 'POST',
          headers: {
            'content-type': String(headers['content-type'] ?? 'application/x-amz-json-1.0'),
            'x-amz-target': String(headers['x-amz-target']),
            authorization: String(headers.authorization),
            'x-amz-date': String(headers['x-amz-date']),
            'content-length': String(body.length),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 500,
              headers: { 'content-type': String(res.headers['content-type'] ?? 'application/x-amz-json-1.0') },
              body: Buffer.concat(chunks),
            }),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  /** A DynamoDB operation straight on dynalite, unsigned and unauthorized (the test's own view of the data). */
  async direct(operation: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const out = await this.#forward(
      {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': `DynamoDB_20120810.${operation}`,
        authorization: `AWS4-HMAC-SHA256 Credential=harness/20260101/${this.core.region}/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`,
        'x-amz-date': '20260101T000000Z',
      },
      Buffer.from(JSON.stringify(input)),
    );
    if (out.status !== 200) throw new Error(`${operation}: ${out.body.toString()}`);
    return JSON.parse(out.body.toString()) as Record<string, unknown>;
  }

  /** Creates a table from an AWS::DynamoDB::Table's resolved properties (no TTL: dynalite has none). */
  async createTable(name: string, arn: string, props: Record<string, Json>): Promise<void> {
    const input = {
      TableName: name,
      KeySchema: props.KeySchema,
      AttributeDefinitions: props.AttributeDefinitions,
      BillingMode: props.BillingMode ?? 'PROVISIONED',
      ...(props.ProvisionedThroughput ? { ProvisionedThroughput: props.ProvisionedThroughput } : {}),
      ...(props.GlobalSecondaryIndexes ? { GlobalSecondaryIndexes: props.GlobalSecondaryIndexes } : {}),
      ...(props.LocalSecondaryIndexes ? { LocalSecondaryIndexes: props.LocalSecondaryIndexes } : {}),
    };
    await this.direct('CreateTable', input);
    this.tables.set(name, arn);
    const keys = (props.KeySchema as { AttributeName: string; KeyType: string }[])
      .sort((a, b) => (a.KeyType === 'HASH' ? -1 : b.KeyType === 'HASH' ? 1 : 0))
      .map((k) => k.AttributeName);
    this.#keys.set(name, keys);
    const attributeType = (attribute: string) =>
      (props.AttributeDefinitions as { AttributeName: string; AttributeType: 'S' | 'N' }[]).find(
        (a) => a.AttributeName === attribute,
      )!.AttributeType;
    this.#schemas.set(name, {
      partitionKey: keys[0]!,
      ...(keys[1] ? { sortKey: keys[1] } : {}),
      indexes: ((props.GlobalSecondaryIndexes ?? []) as unknown as TemplateIndex[]).map((gsi) => {
        const sort = gsi.KeySchema.find((k) => k.KeyType === 'RANGE')?.AttributeName;
        return {
          name: gsi.IndexName,
          partitionKey: gsi.KeySchema.find((k) => k.KeyType === 'HASH')!.AttributeName,
          ...(sort ? { sortKey: { name: sort, type: attributeType(sort) } } : {}),
          projection: gsi.Projection.ProjectionType,
          ...(gsi.Projection.NonKeyAttributes ? { nonKeyAttributes: gsi.Projection.NonKeyAttributes } : {}),
        };
      }),
    });
  }

  /**
   * An AWS::DynamoDB::Table's update in place: what CloudFormation updates without replacement and the harness
   * models (the stream; PITR, encryption, deletion protection, TTL and tags change nothing here). A change that would
   * replace the table (keys, name) or that is not modelled (indexes) fails, so an upgrade never loses data silently.
   */
  async updateTable(name: string, old: Record<string, Json>, props: Record<string, Json>): Promise<string | undefined> {
    for (const replaced of ['TableName', 'KeySchema', 'LocalSecondaryIndexes']) {
      if (JSON.stringify(old[replaced]) !== JSON.stringify(props[replaced]))
        throw new Error(`${name}: a change of ${replaced} replaces the table (its data would be lost)`);
    }
    for (const unmodelled of ['GlobalSecondaryIndexes', 'AttributeDefinitions', 'BillingMode']) {
      if (JSON.stringify(old[unmodelled]) !== JSON.stringify(props[unmodelled]))
        throw new Error(`${name}: harness: an update of ${unmodelled} is not modelled`);
    }
    return this.setStream(name, props.StreamSpecification as { StreamViewType?: string } | undefined);
  }

  async stop(): Promise<void> {
    await this.endpoint?.close();
    const child = this.#child;
    if (child && child.exitCode === null) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.send('stop');
      });
    }
  }
}
