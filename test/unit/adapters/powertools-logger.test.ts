import { Logger as PowertoolsBaseLogger } from '@aws-lambda-powertools/logger';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { lambdaPowertools, PowertoolsLogger } from '../../../lib/adapters/powertools-logger.ts';

const capture = () => {
  const lines: string[] = [];
  const spies = [process.stdout, process.stderr].map((stream) =>
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    }),
  );
  return {
    entries: () =>
      lines
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    restore: () => {
      for (const spy of spies) spy.mockRestore();
    },
  };
};

afterEach(() => {
  vi.restoreAllMocks();
});

describe('PowertoolsLogger', () => {
  it('writes structured JSON with the service name and the given fields', () => {
    const out = capture();
    const logger = new PowertoolsLogger(new PowertoolsBaseLogger({ serviceName: 'ciba', logLevel: 'DEBUG' }));
    logger.info('request created', { tenant_id: 'acme', txn: 'txn-1' });
    out.restore();

    expect(out.entries()).toEqual([
      expect.objectContaining({
        level: 'INFO',
        message: 'request created',
        service: 'ciba',
        tenant_id: 'acme',
        txn: 'txn-1',
      }),
    ]);
  });

  it('never logs values of fields named like secrets, tokens, hints or proofs', () => {
    const out = capture();
    const logger = new PowertoolsLogger(new PowertoolsBaseLogger({ serviceName: 'ciba' }));
    logger.warn('suspicious', {
      client_secret: 's3cr3t-value',
      access_token: 'eyJ-token-value',
      login_hint: 'alice@example.com',
      dpop_proof: 'eyJ-proof-value',
      user_code: '1234',
      nested: { Authorization: 'Basic abc', password: 'pw', ok: 'visible' },
      client_id: 'client-1',
    });
    out.restore();

    const [entry] = out.entries();
    const text = JSON.stringify(entry);
    for (const secret of [
      's3cr3t-value',
      'eyJ-token-value',
      'alice@example.com',
      'eyJ-proof-value',
      '1234',
      'Basic abc',
      '"pw"',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(entry).toMatchObject({ client_id: 'client-1', nested: { ok: 'visible' }, client_secret: '[redacted]' });
  });

  it('tags lines with the Lambda request id once the middleware adds the invocation context', async () => {
    const out = capture();
    const logger = new PowertoolsLogger(new PowertoolsBaseLogger({ serviceName: 'ciba-token' }));
    const { httpFunction } = await import('../../../lib/http/middleware.ts');
    const handler = httpFunction(logger, async () => {
      logger.info('inside');
      return { statusCode: 204, headers: {}, body: '' };
    });
    await handler(
      { routeKey: 'GET /x', headers: {} } as never,
      {
        awsRequestId: 'req-123',
        functionName: 'ciba-token',
        functionVersion: '1',
        invokedFunctionArn: 'arn:aws:lambda:eu-west-1:1:function:ciba-token',
        memoryLimitInMB: '512',
        getRemainingTimeInMillis: () => 10_000,
      } as never,
    );
    out.restore();
    expect(out.entries().find((e) => e.message === 'inside')).toMatchObject({ function_request_id: 'req-123' });
  });

  it("writes the functions' line: the invocation's request id and cold start, not the function's name, ARN or memory, nor an unsampled trace id", () => {
    const out = capture();
    const logger = new PowertoolsLogger(lambdaPowertools('ciba-device'));
    logger.addContext({
      awsRequestId: 'req-456',
      functionName: 'ciba-service-FndeviceFunctionEA27B4AA-KKHCMC94YOX8',
      functionVersion: '$LATEST',
      invokedFunctionArn:
        'arn:aws:lambda:eu-west-1:123456789012:function:ciba-service-FndeviceFunctionEA27B4AA-KKHCMC94YOX8',
      memoryLimitInMB: '512',
    } as never);
    vi.stubEnv('_X_AMZN_TRACE_ID', 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=557abcec3ee5a047;Sampled=1');
    logger.info('device decision', { tenant: 'acme', status: 'approved' });
    // Lambda gives every invocation a trace header; one X-Ray does not sample leads to no trace.
    vi.stubEnv('_X_AMZN_TRACE_ID', 'Root=1-5759e988-bd862e3fe1be46a994272794;Parent=557abcec3ee5a048;Sampled=0');
    logger.warn('not traced');
    vi.unstubAllEnvs();
    logger.warn('no trace header');
    out.restore();
    const [line, unsampled, untraced] = out.entries();
    expect(line).toEqual({
      level: 'INFO',
      message: 'device decision',
      timestamp: expect.any(String),
      service: 'ciba-device',
      cold_start: expect.any(Boolean),
      function_request_id: 'req-456',
      xray_trace_id: '1-5759e988-bd862e3fe1be46a994272793',
      tenant: 'acme',
      status: 'approved',
    });
    expect(Object.keys(unsampled!)).not.toContain('xray_trace_id');
    expect(Object.keys(untraced!)).not.toContain('xray_trace_id');
  });

  it('respects the log level', () => {
    const out = capture();
    const logger = new PowertoolsLogger(new PowertoolsBaseLogger({ serviceName: 'ciba', logLevel: 'WARN' }));
    logger.debug('hidden');
    logger.info('hidden');
    logger.error('shown', { error: new Error('boom') });
    out.restore();
    expect(out.entries().map((e) => e.message)).toEqual(['shown']);
  });
});
