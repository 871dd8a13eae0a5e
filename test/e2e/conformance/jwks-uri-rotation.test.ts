import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  CIBA_GRANT,
  createTenantFixture,
  postForm,
  startTestService,
  type TestService,
} from '../../helpers/service.ts';
import { assertionForm, type ClientKey, clientKey } from '../../helpers/strong-auth.ts';

// Issue 4: private_key_jwt with a client `jwks_uri`: keys are cached, and an unknown `kid` (the client rotated its
// key) makes the service fetch the set again, at most every 30 s.
describe('private_key_jwt with a jwks_uri', () => {
  let svc: TestService;
  let jwksServer: Server;
  let served: ClientKey;
  let fetches = 0;
  let issuer: string;
  const CLIENT = 'rotating-client';

  const ask = async (key: ClientKey) =>
    postForm(
      `${issuer}/bc-authorize`,
      { scope: 'openid', login_hint: 'alice', client_id: CLIENT, ...(await assertionForm(key, CLIENT, issuer)) },
      null,
    );

  beforeAll(async () => {
    svc = await startTestService();
    // Development mode: a jwks_uri may be plain http on loopback.
    const fx = await createTenantFixture(
      svc,
      'rotating',
      { development_mode: true, user_rate_limit_per_minute: 1000 },
      {},
      { device: true },
    );
    issuer = fx.issuer;
    served = await clientKey('ES256');
    jwksServer = createServer((_req, res) => {
      fetches++;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ keys: [served.publicJwk] }));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    const { port } = jwksServer.address() as AddressInfo;
    const registered = await svc.admin('POST', '/admin/tenants/rotating/clients', {
      client_id: CLIENT,
      grant_types: [CIBA_GRANT],
      backchannel_token_delivery_mode: 'poll',
      token_endpoint_auth_method: 'private_key_jwt',
      jwks_uri: `http://127.0.0.1:${port}/jwks`,
    });
    expect(registered.status).toBe(201);
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await new Promise<void>((resolve) => jwksServer.close(() => resolve()));
    await svc.stop();
  });

  it('fetches the set once, then serves assertions from the cache', async () => {
    const first = served;
    expect((await ask(first)).status).toBe(200);
    expect((await ask(first)).status).toBe(200);
    expect(fetches).toBe(1);
  });

  it('refetches on an unknown kid once the 30 s cooldown has passed, and accepts the rotated key', async () => {
    const old = served;
    served = await clientKey('ES256');
    // Within the cooldown the new kid is unknown: refused, and the set is not fetched again.
    const early = await ask(served);
    expect(early.status).toBe(401);
    expect(early.body.error).toBe('invalid_client');
    expect(fetches).toBe(1);
    // 31 s later: the unknown kid triggers one refetch, and the rotated key works; the old one no longer does.
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 31_000);
    expect((await ask(served)).status).toBe(200);
    expect(fetches).toBe(2);
    const stale = await ask(old);
    expect(stale.status).toBe(401);
  });
});
