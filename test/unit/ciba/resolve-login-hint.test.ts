import { describe, expect, it } from 'vitest';
import type { LocalKeys } from '../../../lib/adapters/local-keys.ts';
import { resolveSubject } from '../../../lib/ciba/resolve-login-hint.ts';
import { OAuthError } from '../../../lib/errors.ts';
import { CIBA_GRANT_TYPE, type Client } from '../../../lib/model.ts';
import type { Keys } from '../../../lib/ports.ts';
import { fakeKeys, memoryLocalKeys } from '../../helpers/memory-keys.ts';
import { memoryStore } from '../../helpers/memory-store.ts';
import { fakeOutbound } from '../../helpers/outbound-fake.ts';

const ISSUER = 'https://id.example.com/acme';
const client: Client = {
  tenantId: 'acme',
  clientId: 'console',
  clientName: 'Console',
  secretHash: 'x',
  tokenEndpointAuthMethod: 'client_secret_basic',
  grantTypes: [CIBA_GRANT_TYPE],
  backchannelTokenDeliveryMode: 'poll',
  backchannelUserCodeParameter: false,
  createdAt: 0,
};

/** Local signing keys over an in-memory key list: the same `Keys` the service signs ID tokens with. */
const localKeys = (): LocalKeys => memoryLocalKeys({ now: () => 1_800_000_000_000 }).keys;

const idToken = (keys: Keys, claims: Record<string, unknown> = {}) =>
  keys.sign('acme', 'ES256', { typ: 'JWT' }, { iss: ISSUER, aud: client.clientId, sub: 'alice', ...claims });

const resolve = (keys: Keys, token: string) =>
  resolveSubject(
    { ...memoryStore(), keys, outbound: fakeOutbound().outbound },
    { tenantId: 'acme', issuer: ISSUER, client, hints: { id_token_hint: token } },
  );

describe('resolveSubject with id_token_hint', () => {
  it('returns the subject of an ID token this issuer issued to this client', async () => {
    const keys = localKeys();
    expect(await resolve(keys, await idToken(keys))).toBe('alice');
  });

  it.each([
    ['another issuer', { iss: 'https://evil.example.com/acme' }],
    ['another audience', { aud: 'someone-else' }],
    ['no subject', { sub: 42 }],
  ])('answers invalid_request for a token with %s', async (_, claims) => {
    const keys = localKeys();
    await expect(resolve(keys, await idToken(keys, claims))).rejects.toMatchObject({
      error: 'invalid_request',
      status: 400,
    });
  });

  it('answers invalid_request for a token signed by another key, a malformed token and alg none', async () => {
    const keys = localKeys();
    const foreign = await idToken(localKeys());
    await idToken(keys); // the tenant has a key of its own
    for (const token of [foreign, 'not-a-jwt', `${Buffer.from('{"alg":"none"}').toString('base64url')}.e30.`]) {
      await expect(resolve(keys, token)).rejects.toMatchObject({ error: 'invalid_request' });
    }
  });

  it('lets an error reading the tenant keys propagate (a 500 the alarm sees), not a 400 blaming the hint', async () => {
    const keys = localKeys();
    const token = await idToken(keys);
    const denied = Object.assign(new Error('User: ... is not authorized to perform: kms:GetPublicKey'), {
      name: 'AccessDeniedException',
    });
    const failing: Keys = fakeKeys({ sign: keys.sign.bind(keys), publicJwks: () => Promise.reject(denied) });
    const outcome = await resolve(failing, token).catch((error: unknown) => error);
    expect(outcome).toBe(denied);
    expect(outcome).not.toBeInstanceOf(OAuthError);
  });
});
