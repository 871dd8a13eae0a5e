import { describe, expect, it } from 'vitest';
import { sha256 } from '../../../lib/crypto.ts';
import { OAuthError } from '../../../lib/errors.ts';
import { LOCAL_CAPABILITIES } from '../../../lib/local/capabilities.ts';
import { silentLogger } from '../../../lib/logging.ts';
import { CIBA_GRANT_TYPE, type Client, DEFAULT_TENANT_SETTINGS, type Tenant } from '../../../lib/model.ts';
import { authenticateClient } from '../../../lib/oauth/client-authentication.ts';
import type { Deps } from '../../../lib/ports.ts';
import { fakeKeys } from '../../helpers/memory-keys.ts';
import { memoryStore } from '../../helpers/memory-store.ts';
import { fakeOutbound } from '../../helpers/outbound-fake.ts';

const tenant: Tenant = { tenantId: 'acme', settings: { ...DEFAULT_TENANT_SETTINGS }, createdAt: 0, updatedAt: 0 };

const client = (clientId: string, secret: string, method: Client['tokenEndpointAuthMethod']): Client => ({
  tenantId: 'acme',
  clientId,
  clientName: clientId,
  secretHash: sha256(secret),
  tokenEndpointAuthMethod: method,
  grantTypes: [CIBA_GRANT_TYPE],
  backchannelTokenDeliveryMode: 'poll',
  backchannelUserCodeParameter: false,
  createdAt: 0,
});

/** The in-memory stores holding these clients, counting client lookups. */
const directory = (clients: Client[]) => {
  const lookups: string[] = [];
  const store = memoryStore();
  for (const c of clients) store.state.clients.set(`${c.tenantId}\u0000${c.clientId}`, c);
  const get = store.clients.get;
  store.clients.get = (tenantId, clientId) => {
    lookups.push(`${tenantId}/${clientId}`);
    return get(tenantId, clientId);
  };
  const keys = fakeKeys({});
  const deps: Pick<Deps, 'clients' | 'replay' | 'clock' | 'config' | 'keys' | 'outbound'> = {
    clients: store.clients,
    replay: store.replay,
    keys,
    outbound: fakeOutbound().outbound,
    clock: { now: () => 0 },
    config: { capabilities: LOCAL_CAPABILITIES },
  };
  return { deps, lookups };
};

/** RFC 6749 §2.3.1 / Appendix B: each part form-urlencoded, then joined by a colon and base64-encoded. */
const formEncode = (value: string) =>
  encodeURIComponent(value)
    .replace(/%20/g, '+')
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

const BASIC_ID = 'svc:1 x+y';
const BASIC_SECRET = 'p+s:w%rd é';
const clients = [
  client(BASIC_ID, BASIC_SECRET, 'client_secret_basic'),
  client('basic-client', 'basic-secret', 'client_secret_basic'),
  client('post-client', 'post-secret', 'client_secret_post'),
  client('key-client', 'key-secret', 'private_key_jwt'),
  client('cert-client', 'cert-secret', 'tls_client_auth'),
];

const attempt = async (
  authorization: string | undefined,
  form: Record<string, string> = {},
  opts: { tenant?: Tenant; log?: string[] } = {},
) => {
  const { deps } = directory(clients);
  const log = opts.log;
  const logger = log
    ? {
        ...silentLogger,
        warn: (message: string, fields?: Record<string, unknown>) =>
          void log.push(JSON.stringify({ message, ...fields })),
      }
    : silentLogger;
  try {
    return await authenticateClient(
      { ...deps, logger },
      {
        tenant: opts.tenant ?? tenant,
        issuer: 'https://as.example/acme',
        authorization,
        form,
        certificate: undefined,
      },
    );
  } catch (error) {
    if (error instanceof OAuthError) return error;
    throw error;
  }
};

const expectFailure = (result: Client | OAuthError, error: string, status: number, wwwAuthenticate: boolean) => {
  expect(result).toBeInstanceOf(OAuthError);
  const e = result as OAuthError;
  expect(e.error).toBe(error);
  expect(e.status).toBe(status);
  if (wwwAuthenticate) expect(e.headers['WWW-Authenticate']).toMatch(/^Basic/);
  else expect(e.headers['WWW-Authenticate']).toBeUndefined();
};

describe('client authentication (RFC 6749 §2.3, CIBA §7.1)', () => {
  it('decodes form-urlencoded Basic credentials: %3A is a colon inside the id, + is a space, %2B a plus', async () => {
    const result = await attempt(basic(formEncode(BASIC_ID), formEncode(BASIC_SECRET)));
    expect(result).toMatchObject({ clientId: BASIC_ID });
    expect(formEncode(BASIC_ID)).toBe('svc%3A1+x%2By');
  });

  it('splits Basic credentials at the first colon only: the secret may contain encoded colons', async () => {
    expect(await attempt(basic('basic-client', 'basic-secret'))).toMatchObject({ clientId: 'basic-client' });
    // An unencoded colon in the id is taken as the separator: client "svc" does not exist.
    expectFailure(await attempt(basic('svc:1+x%2By', formEncode(BASIC_SECRET))), 'invalid_client', 401, true);
  });

  it('does not decode a raw + as a plus: the secret p+s is p s', async () => {
    const rawPlus = basic(formEncode(BASIC_ID), 'p+s:w%25rd+%C3%A9');
    expect(await attempt(rawPlus)).toBeInstanceOf(OAuthError);
    const spaced = basic(formEncode(BASIC_ID), 'p%2Bs%3Aw%25rd+%C3%A9');
    expect(await attempt(spaced)).toMatchObject({ clientId: BASIC_ID });
  });

  it('accepts client_secret_post for a client registered with it', async () => {
    expect(await attempt(undefined, { client_id: 'post-client', client_secret: 'post-secret' })).toMatchObject({
      clientId: 'post-client',
    });
  });

  it('accepts a matching client_id in the body next to Basic, and refuses a different one as invalid_request', async () => {
    expect(await attempt(basic('basic-client', 'basic-secret'), { client_id: 'basic-client' })).toMatchObject({
      clientId: 'basic-client',
    });
    expectFailure(
      await attempt(basic('basic-client', 'basic-secret'), { client_id: 'post-client' }),
      'invalid_request',
      400,
      false,
    );
  });

  const twoMethods: [string, string | undefined, Record<string, string>][] = [
    [
      'Basic and client_secret',
      basic('basic-client', 'basic-secret'),
      { client_id: 'basic-client', client_secret: 'basic-secret' },
    ],
    [
      'Basic and a client assertion',
      basic('basic-client', 'basic-secret'),
      { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: 'a.b.c' },
    ],
    [
      'client_secret and a client assertion',
      undefined,
      { client_id: 'post-client', client_secret: 'post-secret', client_assertion: 'a.b.c' },
    ],
  ];
  for (const [label, authorization, form] of twoMethods) {
    it(`refuses two methods at once (${label}) with invalid_request, before any lookup`, async () => {
      const { deps, lookups } = directory(clients);
      await expect(
        authenticateClient(deps, {
          tenant,
          issuer: 'https://as.example/acme',
          authorization,
          form,
          certificate: undefined,
        }),
      ).rejects.toMatchObject({ error: 'invalid_request', status: 400 });
      expect(lookups).toEqual([]);
    });
  }

  it('accepts the secret by Basic or in the body for a client registered for either secret method (RFC 6749 §2.3.1)', async () => {
    // openid-client sends client_secret_post by default; most RFC 6749 clients send Basic.
    expect(await attempt(basic('post-client', 'post-secret'))).toMatchObject({ clientId: 'post-client' });
    expect(await attempt(undefined, { client_id: 'basic-client', client_secret: 'basic-secret' })).toMatchObject({
      clientId: 'basic-client',
    });
    expectFailure(
      await attempt(undefined, { client_id: 'basic-client', client_secret: 'wrong' }),
      'invalid_client',
      401,
      false,
    );
  });

  it('refuses a secret from a key or certificate client, naming the registered method; WWW-Authenticate only with Basic', async () => {
    const byBasic = await attempt(basic('key-client', 'key-secret'));
    expectFailure(byBasic, 'invalid_client', 401, true);
    expect((byBasic as OAuthError).toJSON().error_description).toBe(
      'client authentication failed: this client is registered for private_key_jwt (token_endpoint_auth_method)',
    );
    const inBody = await attempt(undefined, { client_id: 'cert-client', client_secret: 'cert-secret' });
    expectFailure(inBody, 'invalid_client', 401, false);
    expect((inBody as OAuthError).toJSON().error_description).toContain('registered for tls_client_auth');
  });

  it('refuses secret clients of a FAPI tenant however they send the secret', async () => {
    const fapi: Tenant = { ...tenant, settings: { ...tenant.settings, fapi: true } };
    for (const [authorization, form] of [
      [basic('basic-client', 'basic-secret'), {}],
      [undefined, { client_id: 'basic-client', client_secret: 'basic-secret' }],
      [basic('post-client', 'post-secret'), {}],
    ] as const) {
      const result = await attempt(authorization, form, { tenant: fapi });
      expectFailure(result, 'invalid_client', 401, authorization !== undefined);
      expect((result as OAuthError).message).toContain('under FAPI-CIBA only private_key_jwt');
    }
  });

  it('logs each failure with the methods tried and registered, never the credentials', async () => {
    const log: string[] = [];
    await attempt(basic('key-client', 'key-secret'), {}, { log });
    await attempt(undefined, { client_id: 'post-client', client_secret: 'not-the-secret' }, { log });
    await attempt(basic('nobody', 'nobody-secret'), {}, { log });
    expect(log.map((l) => JSON.parse(l))).toEqual([
      {
        message: 'client authentication failed',
        tenant: 'acme',
        client_id: 'key-client',
        reason: 'another method than the registered one',
        used_method: 'client_secret_basic',
        registered_method: 'private_key_jwt',
      },
      {
        message: 'client authentication failed',
        tenant: 'acme',
        client_id: 'post-client',
        reason: 'wrong secret',
        used_method: 'client_secret_post',
        registered_method: 'client_secret_post',
      },
      {
        message: 'client authentication failed',
        tenant: 'acme',
        client_id: 'nobody',
        reason: 'unknown client',
        used_method: 'client_secret_basic',
      },
    ]);
    expect(log.join('\n')).not.toMatch(/key-secret|not-the-secret|nobody-secret/);
  });

  it('answers an unknown client and a wrong secret alike', async () => {
    const unknown = (await attempt(basic('nobody', 'x'))) as OAuthError;
    const wrong = (await attempt(basic('basic-client', 'wrong'))) as OAuthError;
    expectFailure(unknown, 'invalid_client', 401, true);
    expectFailure(wrong, 'invalid_client', 401, true);
    expect(unknown.toJSON()).toEqual(wrong.toJSON());
    const unknownPost = (await attempt(undefined, { client_id: 'nobody', client_secret: 'x' })) as OAuthError;
    const wrongPost = (await attempt(undefined, { client_id: 'post-client', client_secret: 'wrong' })) as OAuthError;
    expectFailure(unknownPost, 'invalid_client', 401, false);
    expect(unknownPost.toJSON()).toEqual(wrongPost.toJSON());
  });

  it('refuses no credentials at all (public clients are not allowed)', async () => {
    expectFailure(await attempt(undefined), 'invalid_client', 401, false);
    expectFailure(await attempt(undefined, { client_id: 'basic-client' }), 'invalid_client', 401, false);
  });

  it('refuses malformed Basic headers with invalid_client and WWW-Authenticate', async () => {
    for (const header of [
      'Basic !!!',
      `Basic ${Buffer.from('no-colon').toString('base64')}`,
      `Basic ${Buffer.from('%E2%8:x').toString('base64')}`,
      `Basic ${Buffer.from('id:%').toString('base64')}`,
    ]) {
      expectFailure(await attempt(header), 'invalid_client', 401, true);
    }
  });
});
