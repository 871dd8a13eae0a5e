import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../../lib/cli/main.ts';
import { pollForTokens } from '../../../lib/cli/oauth.ts';
import { testContext } from './context.ts';
import { type FakeResponse, type RecordedRequest, startFakeServer } from './fake-server.ts';

const CIBA = 'urn:openid:params:grant-type:ciba';

/** A fake issuer at /demo whose token endpoint answers the queued responses in order. */
const fakeIssuer = async (
  tokenAnswers: FakeResponse[],
  ack: FakeResponse = { status: 200, body: { auth_req_id: 'ar-1', expires_in: 120, interval: 5 } },
) => {
  const queue = [...tokenAnswers];
  const server = await startFakeServer((req: RecordedRequest) => {
    const issuer = `${server.url}/demo`;
    if (req.url === '/demo/.well-known/openid-configuration') {
      return {
        status: 200,
        body: {
          issuer,
          token_endpoint: `${issuer}/oauth/token`,
          backchannel_authentication_endpoint: `${issuer}/bc-authorize`,
          jwks_uri: `${issuer}/.well-known/jwks.json`,
          grant_types_supported: [CIBA],
        },
      };
    }
    if (req.url === '/demo/bc-authorize') return ack;
    if (req.url === '/demo/oauth/token') return queue.shift() ?? { status: 500, body: { error: 'server_error' } };
    return { status: 404, body: { error: 'not_found' } };
  });
  return server;
};

const pending = { status: 400, body: { error: 'authorization_pending' } };
const slowDown = { status: 400, body: { error: 'slow_down' }, headers: { 'retry-after': '10' } };

const idToken = () =>
  new SignJWT({ sub: 'alice', aud: 'c1', iss: 'x' }).setProtectedHeader({ alg: 'HS256' }).sign(new Uint8Array(32));

describe('the token poll loop', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it('waits the interval, adds 5 s on slow_down, and returns the tokens', async () => {
    const server = await fakeIssuer([
      pending,
      slowDown,
      pending,
      { status: 200, body: { access_token: 'at', token_type: 'Bearer', expires_in: 300 } },
    ]);
    close = server.close;
    const t = testContext();
    const outcome = await pollForTokens(t.ctx, {
      tokenEndpoint: `${server.url}/demo/oauth/token`,
      credentials: { clientId: 'c1', clientSecret: 's1', method: 'basic' },
      authReqId: 'ar-1',
      interval: 5,
      expiresIn: 120,
    });
    expect(outcome).toEqual({ kind: 'tokens', tokens: { access_token: 'at', token_type: 'Bearer', expires_in: 300 } });
    expect(t.sleeps).toEqual([5000, 5000, 10_000, 10_000]);
    expect(server.requests).toHaveLength(4);
    for (const req of server.requests) {
      expect(req.method).toBe('POST');
      expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(req.headers['authorization']).toBe(`Basic ${Buffer.from('c1:s1').toString('base64')}`);
      expect(Object.fromEntries(new URLSearchParams(req.body))).toEqual({ grant_type: CIBA, auth_req_id: 'ar-1' });
    }
  });

  it('stops on access_denied and expired_token', async () => {
    const server = await fakeIssuer([
      pending,
      { status: 400, body: { error: 'access_denied', error_description: 'the user said no' } },
      { status: 400, body: { error: 'expired_token' } },
    ]);
    close = server.close;
    const t = testContext();
    const options = {
      tokenEndpoint: `${server.url}/demo/oauth/token`,
      credentials: { clientId: 'c1', clientSecret: 's1', method: 'post' as const },
      authReqId: 'ar-1',
      expiresIn: 120,
    };
    expect(await pollForTokens(t.ctx, options)).toEqual({ kind: 'access_denied', description: 'the user said no' });
    expect(await pollForTokens(t.ctx, options)).toEqual({ kind: 'expired_token' });
    expect(Object.fromEntries(new URLSearchParams(server.requests[0]!.body))).toMatchObject({
      client_id: 'c1',
      client_secret: 's1',
    });
  });

  it('throws on any other error', async () => {
    const server = await fakeIssuer([{ status: 400, body: { error: 'invalid_grant', error_description: 'unknown' } }]);
    close = server.close;
    await expect(
      pollForTokens(testContext().ctx, {
        tokenEndpoint: `${server.url}/demo/oauth/token`,
        credentials: { clientId: 'c1', clientSecret: 's1', method: 'basic' },
        authReqId: 'ar-1',
        expiresIn: 120,
      }),
    ).rejects.toMatchObject({ error: 'invalid_grant', status: 400 });
  });

  it('gives up by itself well after the expiry', async () => {
    const server = await fakeIssuer(Array.from({ length: 100 }, () => pending));
    close = server.close;
    const outcome = await pollForTokens(testContext().ctx, {
      tokenEndpoint: `${server.url}/demo/oauth/token`,
      credentials: { clientId: 'c1', clientSecret: 's1', method: 'basic' },
      authReqId: 'ar-1',
      interval: 5,
      expiresIn: 10,
    });
    expect(outcome.kind).toBe('expired_token');
  });
});

describe('ciba authorize', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it('starts a request, polls, and prints the decoded ID token claims', async () => {
    const server = await fakeIssuer([
      pending,
      {
        status: 200,
        body: { access_token: 'secret-access-token', token_type: 'Bearer', expires_in: 300, id_token: await idToken() },
      },
    ]);
    close = server.close;
    const t = testContext();
    const code = await runCli(
      [
        '--base-url',
        server.url,
        'authorize',
        '--client-id',
        'c1',
        '--client-secret',
        's1',
        '--login-hint',
        'email:alice@example.com',
        '--binding-message',
        'code 4F-22',
        '--requested-expiry',
        '120',
      ],
      t.ctx,
    );
    expect(t.stderr()).toContain('Approved');
    expect(code).toBe(0);
    const bc = server.requests.find((r) => r.url === '/demo/bc-authorize')!;
    expect(bc.headers['authorization']).toBe(`Basic ${Buffer.from('c1:s1').toString('base64')}`);
    expect(Object.fromEntries(new URLSearchParams(bc.body))).toEqual({
      scope: 'openid profile',
      login_hint: 'email:alice@example.com',
      binding_message: 'code 4F-22',
      requested_expiry: '120',
    });
    expect(t.stdout()).toContain('auth_req_id:');
    expect(t.stdout()).toContain('"sub": "alice"');
    expect(t.stdout()).not.toContain('secret-access-token');
  });

  it('sends the client_notification_token and leaves the callback to the notification endpoint (no polling)', async () => {
    const server = await fakeIssuer([], { status: 200, body: { auth_req_id: 'ar-1', expires_in: 120 } });
    close = server.close;
    const t = testContext();
    const args = ['--base-url', server.url, 'authorize', '--client-id', 'c1', '--client-secret', 's1'];
    const code = await runCli([...args, '--login-hint', 'alice', '--notification-token', 'tok-123'], t.ctx);
    expect(code).toBe(0);
    const bc = server.requests.find((r) => r.url === '/demo/bc-authorize')!;
    expect(new URLSearchParams(bc.body).get('client_notification_token')).toBe('tok-123');
    expect(server.requests.some((r) => r.url === '/demo/oauth/token')).toBe(false);
    expect(t.stderr()).toContain('client notification endpoint');
  });

  it('exits 2 with a clear message when the user denies', async () => {
    const server = await fakeIssuer([{ status: 400, body: { error: 'access_denied' } }]);
    close = server.close;
    const t = testContext();
    const code = await runCli(
      ['--base-url', server.url, 'authorize', '--client-id', 'c1', '--client-secret', 's1', '--login-hint', 'alice'],
      t.ctx,
    );
    expect(code).toBe(2);
    expect(t.stderr()).toContain('The user denied the request.');
  });

  it('exits 2 when the request expires', async () => {
    const server = await fakeIssuer([{ status: 400, body: { error: 'expired_token' } }]);
    close = server.close;
    const t = testContext();
    const code = await runCli(
      [
        '--base-url',
        server.url,
        '--json',
        'authorize',
        '--client-id',
        'c1',
        '--client-secret',
        's1',
        '--login-hint',
        'alice',
      ],
      t.ctx,
    );
    expect(code).toBe(2);
    expect(JSON.parse(t.stdout())).toEqual({ result: 'expired_token', auth_req_id: 'ar-1' });
  });

  it('prints a bc-authorize error and exits 1', async () => {
    const server = await fakeIssuer([], {
      status: 400,
      body: { error: 'unknown_user_id', error_description: 'no user matches the login_hint' },
    });
    close = server.close;
    const t = testContext();
    const code = await runCli(
      ['--base-url', server.url, 'authorize', '--client-id', 'c1', '--client-secret', 's1', '--login-hint', 'bob'],
      t.ctx,
    );
    expect(code).toBe(1);
    expect(t.stderr()).toBe('error: unknown_user_id — no user matches the login_hint\n');
    expect(server.requests.some((r) => r.url.endsWith('/oauth/token'))).toBe(false);
  });
});
