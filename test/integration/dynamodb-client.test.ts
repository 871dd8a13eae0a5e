import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { addStoreMiddleware } from '../../lib/adapters/dynamodb/client.ts';
import { countDynamoDbRequests } from '../../lib/adapters/dynamodb/index.ts';
import { LEDGER_TABLE_DEFAULT } from '../../lib/adapters/dynamodb-schema.ts';
import { createDynamoDbClient } from '../../lib/local/embedded-dynamodb.ts';
import { startTestStore, type TestStore } from '../helpers/dynalite.ts';

const key = { pk: { S: 'CLIENT-TEST#1' } };

describe('the store client (lib/adapters/dynamodb/client.ts) on embedded dynalite', () => {
  let t: TestStore;
  beforeAll(async () => {
    t = await startTestStore();
  });
  afterAll(() => t.stop());

  it('writes and reads without SigV4 (dynalite takes the fixed authorization header)', async () => {
    await t.client.send(new PutItemCommand({ TableName: LEDGER_TABLE_DEFAULT, Item: { ...key, v: { N: '7' } } }));
    const out = await t.client.send(new GetItemCommand({ TableName: LEDGER_TABLE_DEFAULT, Key: key }));
    expect(out.Item?.v).toEqual({ N: '7' });
  });

  it("takes the embedded dynalite's address as the SDK's endpoint object, with its port or the scheme's default", async () => {
    const endpointOf = (url: string) => createDynamoDbClient(url, { dynalite: true }).config.endpoint!();
    expect(await endpointOf('http://127.0.0.1:4567')).toMatchObject({ hostname: '127.0.0.1', port: 4567, path: '/' });
    expect(await endpointOf('http://localhost')).not.toHaveProperty('port');
  });

  it('applies a middleware added after the stack was cached (request counting)', async () => {
    await t.client.send(new GetItemCommand({ TableName: LEDGER_TABLE_DEFAULT, Key: key }));
    const counter = countDynamoDbRequests(t.client);
    await t.client.send(new GetItemCommand({ TableName: LEDGER_TABLE_DEFAULT, Key: key }));
    await t.client.send(new GetItemCommand({ TableName: LEDGER_TABLE_DEFAULT, Key: key }));
    expect(counter.count).toBe(2);
    const seen: string[] = [];
    addStoreMiddleware(t.client, (stack) =>
      stack.add(
        (next, context) => async (args) => {
          seen.push(context.commandName ?? '');
          return next(args);
        },
        { step: 'initialize' },
      ),
    );
    await t.client.send(new GetItemCommand({ TableName: LEDGER_TABLE_DEFAULT, Key: key }));
    expect(seen).toEqual(['GetItemCommand']);
    expect(counter.count).toBe(3);
  });
});

describe('createDynamoDbClient for another endpoint (DYNAMODB_ENDPOINT)', () => {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    req.resume().on('end', () => {
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' }).end('{}');
    });
  });
  beforeAll(() => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)));
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('signs with SigV4 unless the endpoint is the embedded dynalite', async () => {
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await createDynamoDbClient(endpoint).send(new GetItemCommand({ TableName: 't', Key: key }));
    await createDynamoDbClient(endpoint, { dynalite: true }).send(new GetItemCommand({ TableName: 't', Key: key }));
    const [signed, unsigned] = seen.map((h) => h.authorization ?? '');
    expect(signed).toMatch(
      /^AWS4-HMAC-SHA256 Credential=local\/\d{8}\/local\/dynamodb\/aws4_request, SignedHeaders=.*, Signature=[0-9a-f]{64}$/,
    );
    expect(signed).not.toContain('0'.repeat(64));
    expect(unsigned).toContain(`Signature=${'0'.repeat(64)}`);
  });

  it('sends the embedded dynalite neither the user agent nor the recursion-detection header; AWS-bound clients do', async () => {
    seen.length = 0;
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    process.env.AWS_LAMBDA_FUNCTION_NAME = 'fn';
    process.env._X_AMZN_TRACE_ID = 'Root=1-00000000-000000000000000000000000';
    try {
      await createDynamoDbClient(endpoint).send(new GetItemCommand({ TableName: 't', Key: key }));
      await createDynamoDbClient(endpoint, { dynalite: true }).send(new GetItemCommand({ TableName: 't', Key: key }));
    } finally {
      delete process.env.AWS_LAMBDA_FUNCTION_NAME;
      delete process.env._X_AMZN_TRACE_ID;
    }
    const [signed, unsigned] = seen;
    expect(signed!['x-amz-user-agent']).toMatch(/aws-sdk-js/);
    expect(signed!['x-amzn-trace-id']).toBe('Root=1-00000000-000000000000000000000000');
    expect(unsigned!['x-amz-user-agent']).toBeUndefined();
    expect(unsigned!['user-agent']).toBeUndefined();
    expect(unsigned!['x-amzn-trace-id']).toBeUndefined();
  });

  it('dates the fixed authorization header by the current second', async () => {
    seen.length = 0;
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const client = createDynamoDbClient(endpoint, { dynalite: true });
    const now = vi.spyOn(Date, 'now');
    try {
      for (const at of ['2026-12-04T06:00:00.100Z', '2026-12-04T06:00:00.900Z', '2027-01-01T00:00:01.000Z']) {
        now.mockReturnValue(Date.parse(at));
        await client.send(new GetItemCommand({ TableName: 't', Key: key }));
      }
    } finally {
      now.mockRestore();
    }
    expect(seen.map((h) => h['x-amz-date'])).toEqual(['20261204T060000Z', '20261204T060000Z', '20270101T000001Z']);
    expect(seen[2]!.authorization).toContain('Credential=local/20270101/local/dynamodb/aws4_request');
  });
});
