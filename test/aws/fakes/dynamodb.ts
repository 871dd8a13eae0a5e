import { type ChildProcess, fork } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Json } from '../cloudformation.ts';
import {
  AwsError,
  authorize,
  type Core,
  type Endpoint,
  type FakeResponse,
  jsonOperation,
  startEndpoint,
} from './endpoint.ts';

/**
 * DynamoDB: dynalite (the project's embedded store, in a child process) behind an endpoint that verifies the caller
 * and authorizes each table and index the request touches (`dynamodb:{Operation}` on the table's or the index's ARN)
 * before forwarding the request unchanged. Tables come from the template's AWS::DynamoDB::Table resources: keys,
 * attribute definitions, GSIs and their projections. dynalite has no TTL (`TimeToLiveSpecification` is skipped) and
 * no transactions; the code uses neither at run time (docs/aws-shape.md).
 */
export class FakeDynamoDb {
  #child?: ChildProcess;
  #dynalite = '';
  endpoint?: Endpoint;
  /** Table name → ARN, for the tables the template created. */
  readonly tables = new Map<string, string>();

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
        return this.#forward(request.headers, request.body);
      },
    });
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
