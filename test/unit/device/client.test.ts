import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DeviceApiError,
  DeviceClient,
  DeviceKey,
  InvalidBindingCode,
  InvalidDpopProof,
  NotFound,
  RequestNotPending,
} from '../../../lib/device/index.ts';
import { type FakeHandler, startFakeServer } from '../cli/fake-server.ts';

const TXN = {
  txn: 'tx-1',
  client_id: 'c1',
  client_name: 'ACME support',
  binding_message: '4F-22',
  scope: 'openid',
  created_at: 1,
  expires_at: 2,
};

describe('DeviceClient', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  const setup = async (handler: FakeHandler) => {
    const server = await startFakeServer(handler);
    close = server.close;
    const key = await DeviceKey.generate();
    const issuer = `${server.url}/demo`;
    return { server, key, issuer, client: new DeviceClient({ issuer: `${issuer}/`, key }) };
  };

  const proofOf = async (headers: Record<string, unknown>) => {
    const proof = headers['dpop'];
    expect(typeof proof).toBe('string');
    return jwtVerify(proof as string, EmbeddedJWK, { typ: 'dpop+jwt' });
  };

  it('enrolls with the ticket, name and push registration, signed by the new key', async () => {
    const { server, key, issuer, client } = await setup(() => ({ status: 201, body: { device_id: 'dev' } }));
    const answer = await client.enroll({
      ticket: 'tkt',
      name: 'cli',
      push: { type: 'webhook', url: 'http://127.0.0.1:9/h' },
    });
    expect(answer).toEqual({ device_id: 'dev' });
    const [req] = server.requests;
    expect(req?.method).toBe('POST');
    expect(req?.url).toBe('/demo/device/enrollments');
    expect(req?.headers['content-type']).toBe('application/json');
    expect(JSON.parse(req!.body)).toEqual({
      ticket: 'tkt',
      name: 'cli',
      push: { type: 'webhook', url: 'http://127.0.0.1:9/h' },
    });
    const { payload, protectedHeader } = await proofOf(req!.headers);
    expect(payload).toMatchObject({ htm: 'POST', htu: `${issuer}/device/enrollments` });
    expect(await calculateJwkThumbprint(protectedHeader.jwk!, 'sha256')).toBe(key.deviceId);
  });

  it('lists pending transactions and fetches one', async () => {
    const { server, issuer, client } = await setup((req) =>
      req.url.endsWith('/transactions') ? { status: 200, body: { transactions: [TXN] } } : { status: 200, body: TXN },
    );
    expect(await client.pending()).toEqual([TXN]);
    expect(await client.get('tx/1')).toEqual(TXN);
    expect(server.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /demo/device/transactions',
      'GET /demo/device/transactions/tx%2F1',
    ]);
    expect(server.requests[0]?.body).toBe('');
    expect((await proofOf(server.requests[1]!.headers)).payload).toMatchObject({
      htm: 'GET',
      htu: `${issuer}/device/transactions/tx%2F1`,
    });
  });

  it('sends the decision with txn and decision claims in the proof', async () => {
    const { server, issuer, client } = await setup(() => ({ status: 200, body: { txn: 'tx-1', status: 'approved' } }));
    expect(await client.decide('tx-1', 'approve', { bindingCode: '42' })).toEqual({ txn: 'tx-1', status: 'approved' });
    const [req] = server.requests;
    expect(`${req?.method} ${req?.url}`).toBe('POST /demo/device/transactions/tx-1');
    expect(JSON.parse(req!.body)).toEqual({ decision: 'approve', binding_code: '42' });
    expect((await proofOf(req!.headers)).payload).toMatchObject({
      htm: 'POST',
      htu: `${issuer}/device/transactions/tx-1`,
      txn: 'tx-1',
      decision: 'approve',
    });
  });

  it.each([
    [401, 'invalid_dpop_proof', InvalidDpopProof],
    [404, 'not_found', NotFound],
    [409, 'request_not_pending', RequestNotPending],
    [400, 'invalid_request', DeviceApiError],
  ] as const)('maps %i %s to its error class', async (status, error, Ctor) => {
    const { client } = await setup(() => ({ status, body: { error, error_description: 'why' } }));
    const e = await client.decide('tx-1', 'deny').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(Ctor);
    expect(e).toMatchObject({ status, error, description: 'why' });
  });

  it('sends a refused request once more with a proof dated by the Date header of the refusal, and keeps the offset', async () => {
    const serverNow = Date.parse('2030-01-02T08:00:00Z');
    const { server, key, issuer } = await setup(async (req) => {
      const { payload } = await proofOf(req.headers);
      const fresh = Math.abs((payload.iat as number) - serverNow / 1000) <= 60;
      const date = new Date(serverNow).toUTCString();
      return fresh
        ? { status: 200, body: { transactions: [] }, headers: { date } }
        : { status: 401, body: { error: 'invalid_dpop_proof' }, headers: { date } };
    });
    const client = new DeviceClient({ issuer, key, now: () => serverNow + 5 * 60_000 });
    await expect(client.pending()).resolves.toEqual([]);
    await expect(client.pending()).resolves.toEqual([]);
    // The first request is refused and sent again; the second is dated right from the start.
    expect(server.requests).toHaveLength(3);
    const iats = await Promise.all(server.requests.map(async (r) => (await proofOf(r.headers)).payload.iat));
    expect(iats).toEqual([serverNow / 1000 + 300, serverNow / 1000, serverNow / 1000]);
  });

  it('does not send a refused request again when the clocks agree', async () => {
    const { server, issuer, key } = await setup(() => ({
      status: 401,
      body: { error: 'invalid_dpop_proof' },
      headers: { date: new Date().toUTCString() },
    }));
    const client = new DeviceClient({ issuer, key });
    await expect(client.pending()).rejects.toBeInstanceOf(InvalidDpopProof);
    expect(server.requests).toHaveLength(1);
  });

  it('carries the machine-readable members of an error body, typed for invalid_binding_code', async () => {
    const body = { error: 'invalid_binding_code', error_description: 'any words', attempts_left: 0, status: 'denied' };
    const { client } = await setup(() => ({ status: 400, body }));
    const e = await client.decide('tx-1', 'approve', { bindingCode: 'x' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InvalidBindingCode);
    expect(e).toMatchObject({
      fields: { attempts_left: 0, status: 'denied' },
      attemptsLeft: 0,
      requestStatus: 'denied',
    });
  });

  it('leaves the typed members undefined when an older service answers with prose only', async () => {
    const body = { error: 'invalid_binding_code', error_description: 'the request was denied' };
    const { client } = await setup(() => ({ status: 400, body }));
    const e = (await client.decide('tx-1', 'approve').catch((x: unknown) => x)) as InvalidBindingCode;
    expect(e.fields).toEqual({});
    expect(e.attemptsLeft).toBeUndefined();
    expect(e.requestStatus).toBeUndefined();
  });

  it('reports a non-JSON failure as unexpected_response with the status', async () => {
    const { client } = await setup(() => ({ status: 502, body: 'Bad Gateway' }));
    await expect(client.pending()).rejects.toMatchObject({ status: 502, error: 'unexpected_response' });
  });
});
