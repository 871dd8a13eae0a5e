import { randomUUID } from 'node:crypto';
import {
  type AuthRequest,
  type Client,
  DEFAULT_TENANT_SETTINGS,
  type DecisionEvidence,
  type Device,
  type DeviceSummary,
  type Tenant,
  type TenantKeyset,
  type User,
} from '../../lib/model.ts';

/** Records for the store tests (test/contract and test/integration): one made-up clock, fresh ids. */
export const NOW = 1_750_000_000_000;
export const MINUTE = 60_000;

export const uid = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

export function tenant(tenantId = uid('t'), overrides: Partial<Tenant> = {}): Tenant {
  return { tenantId, settings: { ...DEFAULT_TENANT_SETTINGS }, createdAt: NOW, updatedAt: NOW, ...overrides };
}

export function user(tenantId: string, sub = uid('u'), overrides: Partial<User> = {}): User {
  return {
    tenantId,
    sub,
    claims: { name: 'Ada Lovelace', email: 'Ada@Example.com', phone_number: '+15551234567' },
    devices: [],
    createdAt: NOW,
    updatedAt: NOW,
    ...overrides,
  };
}

export function client(tenantId: string, clientId = uid('c')): Client {
  return {
    tenantId,
    clientId,
    clientName: 'Support desk',
    secretHash: 'hash',
    tokenEndpointAuthMethod: 'client_secret_basic',
    grantTypes: ['urn:openid:params:grant-type:ciba'],
    backchannelTokenDeliveryMode: 'poll',
    backchannelUserCodeParameter: false,
    createdAt: NOW,
  };
}

export function device(tenantId: string, sub: string, deviceId = uid('d')): { device: Device; summary: DeviceSummary } {
  const push = { type: 'webhook' as const, url: 'http://127.0.0.1:9999/push' };
  return {
    device: {
      tenantId,
      deviceId,
      sub,
      name: 'Phone',
      publicJwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' },
      push,
      createdAt: NOW,
    },
    summary: { deviceId, name: 'Phone', createdAt: NOW, push },
  };
}

export function request(overrides: Partial<AuthRequest> = {}): AuthRequest {
  const txn = uid('txn');
  return {
    txn,
    authReqId: `${txn}.secret`,
    tenantId: 'acme',
    clientId: 'client-1',
    sub: 'alice',
    claims: { email: 'alice@example.com', address: { country: 'DE' } },
    scope: 'openid',
    bindingMessage: 'code 4F-22',
    authorizationDetails: [{ type: 'payment_initiation', amount: { value: '12.00', currency: 'EUR' } }],
    deliveryMode: 'poll',
    status: 'pending',
    createdAt: NOW,
    expiresAt: NOW + 5 * MINUTE,
    interval: 5,
    ...overrides,
  };
}

export const evidence = (decision: 'approve' | 'deny' = 'approve'): DecisionEvidence => ({
  proof: 'eyJ.proof.sig',
  deviceId: 'device-1',
  decision,
  receivedAt: NOW + 1000,
});

/** A tenant's keyset with a wrapped and a kms key, a MAC key and the legacy one. */
export const keyset = (tenantId: string): TenantKeyset => ({
  tenantId,
  signing: [
    {
      kid: 'k1',
      alg: 'ES256',
      mode: 'wrapped',
      publicJwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' },
      createdAt: NOW,
      activeFrom: NOW,
      sealed: 'kms:AQID',
    },
    {
      kid: 'k2',
      alg: 'PS256',
      mode: 'kms',
      publicJwk: { kty: 'RSA', n: 'n', e: 'AQAB' },
      createdAt: NOW,
      activeFrom: NOW + 60_000,
      kmsKeyId: 'arn:aws:kms:eu-west-1:111122223333:key/k2',
    },
  ],
  mac: [
    { id: 'legacy', mode: 'kms', createdAt: NOW, kmsKeyId: 'arn:aws:kms:eu-west-1:111122223333:key/h', legacy: true },
    { id: 'm1', mode: 'wrapped', createdAt: NOW, sealed: 'kms:BAUG' },
  ],
  createdAt: NOW,
  updatedAt: NOW,
});
