import { randomBytes } from 'node:crypto';
import { DeleteItemCommand, GetItemCommand, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { moveLegacyDirectory } from '../../lib/adapters/dynamodb/directory-layout.ts';
import { fromItem, type Tables, toItem } from '../../lib/adapters/dynamodb/expression.ts';
import { dynamoDbStore } from '../../lib/adapters/dynamodb/index.ts';
import { deviceItem, userItem } from '../../lib/adapters/dynamodb/items.ts';
import { DIRECTORY_TABLE_DEFAULT, LEDGER_TABLE_DEFAULT } from '../../lib/adapters/dynamodb-schema.ts';
import { addDevice } from '../../lib/ciba/device-api.ts';
import { soleMatch } from '../../lib/ciba/hint-match.ts';
import {
  ADMISSION_SHARDS,
  admissionMemory,
  admitTenantRequest,
  releaseTenantRequest,
} from '../../lib/ciba/tenant-admission.ts';
import { admitUserRequest, RateWindowHints, refundUserRequest } from '../../lib/ciba/user-rate-window.ts';
import { useDeviceProof } from '../../lib/ciba/verify-device-proof.ts';
import { runCli } from '../../lib/cli/main.ts';
import { type EmbeddedDynamoDb, startEmbeddedDynamoDb } from '../../lib/local/embedded-dynamodb.ts';
import type { AuthRequest, Device, DeviceSummary, User } from '../../lib/model.ts';
import type { StorePorts, UserAdmissionGate } from '../../lib/persistence.ts';
import { type Admitted, expectEveryShardFull, expectWithinLimits } from '../helpers/admission-checks.ts';
import { memoryStore } from '../helpers/memory-store.ts';
import {
  client,
  device,
  evidence,
  keyset,
  MINUTE,
  NOW,
  request,
  tenant,
  uid,
  user,
} from '../helpers/store-fixtures.ts';
import { testContext } from '../unit/cli/context.ts';

/**
 * The contract of the persistence ports (lib/persistence.ts), one suite run against both implementations: the
 * in-memory fakes the core's unit tests use (test/helpers/memory-store.ts) and the DynamoDB adapter on dynalite.
 * The core's rules on top of the ports (rate windows, admission, orphan devices, proof pruning, hint ambiguity) run
 * here through their core modules, so the fakes and the adapter must answer them alike.
 */

let embedded: EmbeddedDynamoDb | undefined;
const implementations: [string, () => Promise<StorePorts>][] = [
  ['in-memory fakes', async () => memoryStore()],
  [
    'DynamoDB adapter on dynalite',
    async () => {
      embedded = await startEmbeddedDynamoDb({ dataDir: 'memory' });
      return dynamoDbStore({
        client: embedded.client,
        directoryTable: DIRECTORY_TABLE_DEFAULT,
        ledgerTable: LEDGER_TABLE_DEFAULT,
      });
    },
  ],
];

afterAll(async () => {
  await embedded?.stop();
});

describe.each(implementations)('%s', (_name, make) => {
  let s: StorePorts;
  beforeAll(async () => {
    s = await make();
  });
  // The core's rules over the ports, as the operations use them.
  const hints = new RateWindowHints();
  const admitUser = (
    tenantId: string,
    sub: string,
    limitPerMinute: number,
    now: number,
    gate?: Omit<UserAdmissionGate, 'now'>,
  ) => admitUserRequest(s, { tenantId, sub, limitPerMinute, now, ...(gate ? { gate } : {}) }, hints);
  const findByEmail = async (tenantId: string, email: string) => soleMatch(await s.users.findByEmail(tenantId, email));
  const findByPhone = async (tenantId: string, phone: string) => soleMatch(await s.users.findByPhone(tenantId, phone));
  const createDevice = (d: Device, summary: DeviceSummary) => addDevice(s, d, summary);
  const useProof = (tenantId: string, deviceId: string, jti: string, expiresAt: number, now: number) =>
    useDeviceProof(s, { tenantId, deviceId, jti, expiresAt, now });

  describe('tenants', () => {
    it('creates a tenant once and reads it back', async () => {
      const record = tenant();
      expect(await s.tenants.save(record, null)).toBe('ok');
      expect(await s.tenants.get(record.tenantId)).toEqual(record);
      expect(await s.tenants.save(record, null)).toBe('conflict');
    });

    it('returns undefined for an unknown tenant', async () => {
      expect(await s.tenants.get(uid('nobody'))).toBeUndefined();
    });

    it('updates a tenant only when updatedAt is what the caller read', async () => {
      const record = tenant();
      await s.tenants.save(record, null);
      const updated = { ...record, settings: { ...record.settings, displayName: 'ACME' }, updatedAt: NOW + 1 };
      expect(await s.tenants.save(updated, NOW)).toBe('ok');
      const stale = { ...record, settings: { ...record.settings, displayName: 'Stale' }, updatedAt: NOW + 2 };
      expect(await s.tenants.save(stale, NOW)).toBe('conflict');
      expect((await s.tenants.get(record.tenantId))?.settings.displayName).toBe('ACME');
    });

    it('does not update a tenant that does not exist', async () => {
      expect(await s.tenants.save(tenant(), NOW)).toBe('conflict');
    });

    it('deletes a tenant with everything under it', async () => {
      const record = tenant();
      await s.tenants.save(record, null);
      const clients = Array.from({ length: 30 }, () => client(record.tenantId));
      await Promise.all(clients.map((c) => s.clients.create(c)));
      const u = user(record.tenantId);
      await s.users.save(u, null);
      const d = device(record.tenantId, u.sub);
      await createDevice(d.device, d.summary);
      await s.keysets.save(keyset(record.tenantId), null);

      expect(await s.tenants.delete(record.tenantId)).toBe('deleted');

      expect(await s.tenants.get(record.tenantId)).toBeUndefined();
      expect(await s.clients.get(record.tenantId, clients[0]!.clientId)).toBeUndefined();
      expect(await s.users.get(record.tenantId, u.sub)).toBeUndefined();
      expect(await s.devices.get(record.tenantId, d.device.deviceId)).toBeUndefined();
      expect(await s.keysets.get(record.tenantId)).toBeUndefined();
      expect(await findByEmail(record.tenantId, 'ada@example.com')).toBeUndefined();
    });

    it('deletes a tenant in bounded steps: marked deleted first (get no longer finds it), then resumed to the end', async () => {
      const record = tenant();
      await s.tenants.save(record, null);
      const clients = Array.from({ length: 5 }, () => client(record.tenantId));
      await Promise.all(clients.map((c) => s.clients.create(c)));
      await s.keysets.save(keyset(record.tenantId), null);

      expect(await s.tenants.delete(record.tenantId, 2)).toBe('continues');
      expect(await s.tenants.get(record.tenantId)).toBeUndefined();
      expect(await s.tenants.find(record.tenantId)).toMatchObject({ tenantId: record.tenantId, deleting: true });
      // Nothing creates it again meanwhile.
      expect(await s.tenants.save(tenant(record.tenantId), null)).toBe('conflict');
      // The keyset goes last (it names the KMS keys to schedule for deletion).
      expect(await s.keysets.get(record.tenantId)).toBeDefined();
      expect(await s.tenants.delete(record.tenantId, 2)).toBe('continues');
      expect(await s.tenants.delete(record.tenantId, 2)).toBe('deleted');
      expect(await s.tenants.find(record.tenantId)).toBeUndefined();
      expect(await s.keysets.get(record.tenantId)).toBeUndefined();
      for (const c of clients) expect(await s.clients.get(record.tenantId, c.clientId)).toBeUndefined();
      expect(await s.tenants.delete(record.tenantId, 2)).toBe('absent');
    });

    it('reports absent when deleting a tenant that does not exist', async () => {
      expect(await s.tenants.delete(uid('nobody'))).toBe('absent');
    });
  });

  describe('clients', () => {
    it('creates a client once, reads it and deletes it', async () => {
      const c = { ...client('acme'), scope: 'openid profile', backchannelClientNotificationEndpoint: 'https://rp/cb' };
      expect(await s.clients.create(c)).toBe('ok');
      expect(await s.clients.create(c)).toBe('conflict');
      expect(await s.clients.get('acme', c.clientId)).toEqual(c);
      expect(await s.clients.delete('acme', c.clientId)).toBe(true);
      expect(await s.clients.delete('acme', c.clientId)).toBe(false);
      expect(await s.clients.get('acme', c.clientId)).toBeUndefined();
    });

    it('does not find a client under another tenant', async () => {
      const c = client('tenant-a');
      await s.clients.create(c);
      expect(await s.clients.get('tenant-b', c.clientId)).toBeUndefined();
    });
  });

  describe('users', () => {
    it('creates a user once and reads it back', async () => {
      const u = user(uid('t'), uid('u'), { userCodeHash: 'code-hash' });
      expect(await s.users.save(u, null)).toBe('ok');
      expect(await s.users.get(u.tenantId, u.sub)).toEqual(u);
      expect(await s.users.save(u, null)).toBe('conflict');
    });

    it('updates a user only when updatedAt is what the caller read', async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      const renamed = { ...u, claims: { ...u.claims, name: 'Ada King' }, updatedAt: NOW + 1 };
      expect(await s.users.save(renamed, NOW)).toBe('ok');
      expect(await s.users.save({ ...u, claims: { name: 'Stale' }, updatedAt: NOW + 2 }, NOW)).toBe('conflict');
      expect((await s.users.get(u.tenantId, u.sub))?.claims.name).toBe('Ada King');
    });

    it('does not update a user that does not exist', async () => {
      expect(await s.users.save(user(uid('t')), NOW)).toBe('conflict');
    });

    it('finds a user by email case-insensitively', async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      expect(await findByEmail(u.tenantId, 'ada@example.com')).toBe(u.sub);
      expect(await findByEmail(u.tenantId, 'ADA@EXAMPLE.COM')).toBe(u.sub);
      expect(await findByEmail(u.tenantId, 'bob@example.com')).toBeUndefined();
    });

    it('finds a user by phone number', async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      expect(await findByPhone(u.tenantId, '+15551234567')).toBe(u.sub);
      expect(await findByPhone(u.tenantId, '+15550000000')).toBeUndefined();
    });

    it('does not find a user of tenant A through tenant B', async () => {
      const u = user(uid('tenant-a'));
      await s.users.save(u, null);
      const other = uid('tenant-b');
      expect(await findByEmail(other, 'ada@example.com')).toBeUndefined();
      expect(await findByPhone(other, '+15551234567')).toBeUndefined();
      expect(await s.users.get(other, u.sub)).toBeUndefined();
      expect(await admitUser(other, u.sub, 5, NOW)).toBeUndefined();
    });

    it('does not resolve an email that several users share', async () => {
      const tenantId = uid('t');
      await s.users.save(user(tenantId), null);
      await s.users.save(user(tenantId), null);
      expect(await findByEmail(tenantId, 'ada@example.com')).toBeUndefined();
    });

    it('drops the lookups when email and phone are removed', async () => {
      const u = user(uid('t'), uid('u'), { userCodeHash: 'code-hash' });
      await s.users.save(u, null);
      const { userCodeHash: _, ...withoutCode } = u;
      await s.users.save({ ...withoutCode, claims: { name: 'Ada' }, updatedAt: NOW + 1 }, NOW);
      expect(await findByEmail(u.tenantId, 'ada@example.com')).toBeUndefined();
      expect(await findByPhone(u.tenantId, '+15551234567')).toBeUndefined();
      expect((await s.users.get(u.tenantId, u.sub))?.userCodeHash).toBeUndefined();
    });

    it('keeps devices and rate-limit counters when the profile is saved', async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      const d = device(u.tenantId, u.sub);
      await createDevice(d.device, d.summary);
      await admitUser(u.tenantId, u.sub, 2, NOW);
      await s.users.save({ ...u, devices: [], claims: { name: 'Renamed' }, updatedAt: NOW + 1 }, NOW);

      expect((await s.users.get(u.tenantId, u.sub))?.devices).toEqual([d.summary]);
      expect(await admitUser(u.tenantId, u.sub, 2, NOW)).toHaveProperty('user');
      expect(await admitUser(u.tenantId, u.sub, 2, NOW)).toEqual({ rateLimited: true });
    });
  });

  describe('admitUserRequest', () => {
    it('admits up to the limit per minute and then rate-limits', async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      for (let i = 0; i < 3; i++) {
        const admitted = await admitUser(u.tenantId, u.sub, 3, NOW + i);
        expect(admitted).toEqual({
          user: u,
          counted: { tenantId: u.tenantId, sub: u.sub, minute: Math.floor(NOW / MINUTE) },
        });
      }
      expect(await admitUser(u.tenantId, u.sub, 3, NOW + 10)).toEqual({ rateLimited: true });
    });

    it('counts the previous minute too, and opens a new budget once a whole minute has passed', async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      expect(await admitUser(u.tenantId, u.sub, 1, NOW)).toHaveProperty('user');
      expect(await admitUser(u.tenantId, u.sub, 1, NOW)).toEqual({ rateLimited: true });
      expect(await admitUser(u.tenantId, u.sub, 1, NOW + MINUTE)).toEqual({ rateLimited: true });
      expect(await admitUser(u.tenantId, u.sub, 1, NOW + 2 * MINUTE)).toHaveProperty('user');
    });

    it('never admits more than the limit within 60 s, also across a minute boundary', async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      const start = Math.floor(NOW / MINUTE) * MINUTE;
      const admit = (at: number) => admitUser(u.tenantId, u.sub, 3, at);
      for (const at of [start + 58_000, start + 59_000, start + 59_500]) expect(await admit(at)).toHaveProperty('user');
      // One fixed window alone would admit three more here, a second later.
      expect(await admit(start + MINUTE + 500)).toEqual({ rateLimited: true });
      expect(await admit(start + 2 * MINUTE + 500)).toHaveProperty('user');
    });

    it('carries the previous minute’s count: a budget of 3 after 1 request is 2', async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      const start = Math.floor(NOW / MINUTE) * MINUTE;
      const admit = (at: number) => admitUser(u.tenantId, u.sub, 3, at);
      expect(await admit(start + 30_000)).toHaveProperty('user');
      expect(await admit(start + MINUTE + 10_000)).toHaveProperty('user');
      expect(await admit(start + MINUTE + 20_000)).toHaveProperty('user');
      expect(await admit(start + MINUTE + 30_000)).toEqual({ rateLimited: true });
      // The minute after: the two of the previous minute count.
      expect(await admit(start + 2 * MINUTE + 1_000)).toHaveProperty('user');
      expect(await admit(start + 2 * MINUTE + 2_000)).toEqual({ rateLimited: true });
    });

    it('counts a lagging clock in the newer window instead of refusing or resetting it', async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      expect(await admitUser(u.tenantId, u.sub, 2, NOW + MINUTE)).toHaveProperty('user');
      expect(await admitUser(u.tenantId, u.sub, 2, NOW)).toHaveProperty('user');
      expect(await admitUser(u.tenantId, u.sub, 2, NOW)).toEqual({ rateLimited: true });
      expect(await admitUser(u.tenantId, u.sub, 2, NOW + MINUTE)).toEqual({ rateLimited: true });
    });

    it('does not let a lagging clock reopen an older window', async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      expect(await admitUser(u.tenantId, u.sub, 1, NOW + MINUTE)).toHaveProperty('user');
      expect(await admitUser(u.tenantId, u.sub, 1, NOW)).toEqual({ rateLimited: true });
    });

    it('rate-limits every request when the limit is zero', async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      expect(await admitUser(u.tenantId, u.sub, 0, NOW)).toEqual({ rateLimited: true });
    });

    it('returns undefined for an unknown user', async () => {
      expect(await admitUser('acme', uid('nobody'), 5, NOW)).toBeUndefined();
      expect(await admitUser('acme', uid('nobody'), 0, NOW)).toBeUndefined();
    });

    it('admits exactly the limit out of 20 concurrent requests', async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      const results = await Promise.all(Array.from({ length: 20 }, () => admitUser(u.tenantId, u.sub, 5, NOW)));
      expect(results.filter((r) => r && 'user' in r)).toHaveLength(5);
      expect(results.filter((r) => r && 'rateLimited' in r)).toHaveLength(15);
    });

    it('admits exactly the rest of the budget out of 20 concurrent first requests of a minute', async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      const admit = (at: number) => admitUser(u.tenantId, u.sub, 5, at);
      expect(await admit(NOW)).toHaveProperty('user');
      expect(await admit(NOW)).toHaveProperty('user');
      const results = await Promise.all(Array.from({ length: 20 }, () => admit(NOW + MINUTE)));
      expect(results.filter((r) => r && 'user' in r)).toHaveLength(3);
      expect(results.filter((r) => r && 'rateLimited' in r)).toHaveLength(17);
    });
  });

  describe('refundUserRequest', () => {
    const counted = (admitted: Awaited<ReturnType<typeof admitUser>>) => {
      if (!admitted || !('counted' in admitted)) throw new Error(`not admitted: ${JSON.stringify(admitted)}`);
      return admitted.counted;
    };

    it('gives back exactly one request, so the budget admits one more, and never goes below zero', async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      const first = counted(await admitUser(u.tenantId, u.sub, 2, NOW));
      counted(await admitUser(u.tenantId, u.sub, 2, NOW));
      expect(await admitUser(u.tenantId, u.sub, 2, NOW)).toEqual({ rateLimited: true });
      await refundUserRequest(s, first);
      counted(await admitUser(u.tenantId, u.sub, 2, NOW));
      expect(await admitUser(u.tenantId, u.sub, 2, NOW)).toEqual({ rateLimited: true });
      // Three refunds of two requests: the third finds nothing to give back.
      await refundUserRequest(s, first);
      await refundUserRequest(s, first);
      expect(await s.rateWindows.refund(u.tenantId, u.sub, 'current', first.minute)).toBe('conflict');
      expect(await s.rateWindows.refund(u.tenantId, u.sub, 'previous', first.minute - 1)).toBe('conflict');
      counted(await admitUser(u.tenantId, u.sub, 2, NOW));
      counted(await admitUser(u.tenantId, u.sub, 2, NOW));
      expect(await admitUser(u.tenantId, u.sub, 2, NOW)).toEqual({ rateLimited: true });
    });

    it('gives back from the previous minute’s share once the window has rolled, and nothing once it has passed', async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      const start = Math.floor(NOW / MINUTE) * MINUTE;
      const early = counted(await admitUser(u.tenantId, u.sub, 2, start + 50_000));
      // The next minute rolls the window: the request of the previous minute still counts.
      const late = counted(await admitUser(u.tenantId, u.sub, 2, start + MINUTE + 1_000));
      expect(late.minute).toBe(early.minute + 1);
      expect(await admitUser(u.tenantId, u.sub, 2, start + MINUTE + 2_000)).toEqual({ rateLimited: true });
      expect(await s.rateWindows.refund(u.tenantId, u.sub, 'current', early.minute)).toBe('conflict');
      await refundUserRequest(s, early);
      counted(await admitUser(u.tenantId, u.sub, 2, start + MINUTE + 3_000));
      expect(await admitUser(u.tenantId, u.sub, 2, start + MINUTE + 4_000)).toEqual({ rateLimited: true });
      // The previous minute's share is spent: a second refund of that minute finds nothing to give back.
      await refundUserRequest(s, early);
      expect(await s.rateWindows.refund(u.tenantId, u.sub, 'previous', early.minute)).toBe('conflict');
      expect(await admitUser(u.tenantId, u.sub, 2, start + MINUTE + 5_000)).toEqual({ rateLimited: true });
      // Once a further minute has started, the late window no longer counts: nothing to give back, the budget whole.
      counted(await admitUser(u.tenantId, u.sub, 2, start + 3 * MINUTE));
      await refundUserRequest(s, late);
      counted(await admitUser(u.tenantId, u.sub, 2, start + 3 * MINUTE));
      expect(await admitUser(u.tenantId, u.sub, 2, start + 3 * MINUTE)).toEqual({ rateLimited: true });
    });

    it('refunds counted by a lagging clock in the window they counted in', async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      counted(await admitUser(u.tenantId, u.sub, 2, NOW + MINUTE));
      const lagging = counted(await admitUser(u.tenantId, u.sub, 2, NOW));
      expect(lagging.minute).toBe(Math.floor((NOW + MINUTE) / MINUTE));
      await refundUserRequest(s, lagging);
      counted(await admitUser(u.tenantId, u.sub, 2, NOW + MINUTE));
      expect(await admitUser(u.tenantId, u.sub, 2, NOW + MINUTE)).toEqual({ rateLimited: true });
    });

    it('under concurrent admissions and refunds, never admits more than the limit and never loses a refund', async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      // 3 rounds of 20 concurrent admissions, each admitted one refunded at once: never more than 5 admitted and not
      // yet refunded at a time, and after the rounds the whole budget is back.
      for (let round = 0; round < 3; round++) {
        let inFlight = 0;
        let most = 0;
        const results = await Promise.all(
          Array.from({ length: 20 }, async () => {
            const admitted = await admitUser(u.tenantId, u.sub, 5, NOW);
            if (!admitted || !('counted' in admitted)) return false;
            inFlight++;
            most = Math.max(most, inFlight);
            await refundUserRequest(s, admitted.counted);
            inFlight--;
            return true;
          }),
        );
        expect(most).toBeLessThanOrEqual(5);
        expect(results.filter(Boolean).length).toBeGreaterThanOrEqual(5);
      }
      const admitted = await Promise.all(Array.from({ length: 8 }, () => admitUser(u.tenantId, u.sub, 5, NOW)));
      expect(admitted.filter((r) => r && 'user' in r)).toHaveLength(5);
    });

    it('gives nothing back for an unknown user', async () => {
      expect(await s.rateWindows.refund('acme', uid('nobody'), 'current', 1)).toBe('conflict');
      expect(await s.rateWindows.refund('acme', uid('nobody'), 'previous', 1)).toBe('conflict');
    });
  });

  describe('admission gate and report shields (lib/ciba/report-shield.ts)', () => {
    const gate = (clientId: string) => ({ clientId, requireDevice: true });

    const withDevice = async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      const d = device(u.tenantId, u.sub);
      await createDevice(d.device, d.summary);
      return u;
    };

    it('refuses a user without a device, counting nothing, and admits once a device is enrolled', async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      for (let i = 0; i < 3; i++) {
        expect(await admitUser(u.tenantId, u.sub, 2, NOW, gate('c1'))).toEqual({ refused: 'unreachable' });
      }
      // Without the gate (a caller that does not ask) the same user is admitted: the refusals counted nothing.
      expect(await admitUser(u.tenantId, u.sub, 2, NOW)).toHaveProperty('user');
      const d = device(u.tenantId, u.sub);
      await createDevice(d.device, d.summary);
      expect(await admitUser(u.tenantId, u.sub, 2, NOW, gate('c1'))).toHaveProperty('user');
      expect(await admitUser(u.tenantId, u.sub, 2, NOW, gate('c1'))).toEqual({ rateLimited: true });
      expect(await admitUser(uid('t'), u.sub, 2, NOW, gate('c1'))).toBeUndefined();
    });

    it('refuses a shielded client until the shield ends, counting nothing; other clients are admitted', async () => {
      const u = await withDevice();
      await s.shields.shield(u.tenantId, u.sub, 'bad client', NOW + 3_600_000);
      for (let i = 0; i < 3; i++) {
        expect(await admitUser(u.tenantId, u.sub, 2, NOW, gate('bad client'))).toEqual({
          refused: 'shielded',
          until: NOW + 3_600_000,
        });
      }
      // The refusals spent none of the budget of 2.
      const other = await admitUser(u.tenantId, u.sub, 2, NOW, gate('good'));
      expect(other).toHaveProperty('user');
      expect((other as { user: User }).user.reportShields).toEqual({ 'bad client': NOW + 3_600_000 });
      expect(await admitUser(u.tenantId, u.sub, 2, NOW, gate('good'))).toHaveProperty('user');
      // The shield ends: admitted again, in a later minute.
      expect(await admitUser(u.tenantId, u.sub, 2, NOW + 3_600_000, gate('bad client'))).toHaveProperty('user');
    });

    it('never shortens a running shield, extends it, and lifts it once', async () => {
      const u = await withDevice();
      await s.shields.shield(u.tenantId, u.sub, 'c', NOW + 2000);
      await s.shields.shield(u.tenantId, u.sub, 'c', NOW + 1000);
      await s.shields.shield(u.tenantId, u.sub, 'd', NOW + 500);
      expect((await s.users.get(u.tenantId, u.sub))?.reportShields).toEqual({ c: NOW + 2000, d: NOW + 500 });
      await s.shields.shield(u.tenantId, u.sub, 'c', NOW + 3000);
      expect((await s.users.get(u.tenantId, u.sub))?.reportShields?.c).toBe(NOW + 3000);
      expect(await s.shields.lift(u.tenantId, u.sub, 'c')).toBe(true);
      expect(await s.shields.lift(u.tenantId, u.sub, 'c')).toBe(false);
      expect((await s.users.get(u.tenantId, u.sub))?.reportShields).toEqual({ d: NOW + 500 });
      expect(await admitUser(u.tenantId, u.sub, 5, NOW, gate('c'))).toHaveProperty('user');
    });

    it('keeps shields when the profile is saved, and writes none for a user that does not exist', async () => {
      const u = await withDevice();
      await s.shields.shield(u.tenantId, u.sub, 'c', NOW + 2000);
      await s.users.save({ ...u, claims: { name: 'Renamed' }, updatedAt: NOW + 1 }, NOW);
      expect((await s.users.get(u.tenantId, u.sub))?.reportShields).toEqual({ c: NOW + 2000 });
      const ghost = uid('ghost');
      await s.shields.shield(u.tenantId, ghost, 'c', NOW + 2000);
      expect(await s.users.get(u.tenantId, ghost)).toBeUndefined();
      expect(await s.shields.lift(u.tenantId, ghost, 'c')).toBe(false);
    });

    it("admits a user without a device by a link channel's claim, and no longer by devices the tenant does not use", async () => {
      // A tenant with channels ["device", "email"]: a user with an email and no device is reachable.
      const byEmail = { ...gate('c1'), orClaims: ['email' as const] };
      const noContact = user(uid('t'), uid('u'), { claims: { name: 'No Contact' } });
      await s.users.save(noContact, null);
      expect(await admitUser(noContact.tenantId, noContact.sub, 2, NOW, byEmail)).toEqual({ refused: 'unreachable' });
      const withEmail = user(uid('t'), uid('u'), { claims: { email: 'e@example.com' } });
      await s.users.save(withEmail, null);
      expect(await admitUser(withEmail.tenantId, withEmail.sub, 1, NOW, byEmail)).toHaveProperty('user');
      // Only the claims of the tenant's channels count: a phone number does not reach by email.
      const withPhone = user(uid('t'), uid('u'), { claims: { phone_number: '+15551230000' } });
      await s.users.save(withPhone, null);
      expect(await admitUser(withPhone.tenantId, withPhone.sub, 2, NOW, byEmail)).toEqual({ refused: 'unreachable' });
      expect(
        await admitUser(withPhone.tenantId, withPhone.sub, 2, NOW, {
          ...gate('c1'),
          orClaims: ['email', 'phone_number'],
        }),
      ).toHaveProperty('user');
      // A tenant without the device channel: a device alone reaches nobody; a claim of its channels does.
      const d = user(uid('t'), uid('u'), { claims: { name: 'Device Only' } });
      await s.users.save(d, null);
      const enrolled = device(d.tenantId, d.sub);
      await createDevice(enrolled.device, enrolled.summary);
      expect(await admitUser(d.tenantId, d.sub, 5, NOW, byEmail)).toHaveProperty('user');
      const noDevices = { ...gate('c1'), devicesReach: false, orClaims: ['email' as const] };
      expect(await admitUser(d.tenantId, d.sub, 2, NOW, noDevices)).toEqual({ refused: 'unreachable' });
      expect(await admitUser(d.tenantId, d.sub, 2, NOW, { ...gate('c1'), devicesReach: false })).toEqual({
        refused: 'unreachable',
      });
      expect(await admitUser(withEmail.tenantId, withEmail.sub, 5, NOW, noDevices)).toHaveProperty('user');
      // A shield is still named first.
      await s.shields.shield(withEmail.tenantId, withEmail.sub, 'c1', NOW + 1000);
      expect(await admitUser(withEmail.tenantId, withEmail.sub, 5, NOW, byEmail)).toEqual({
        refused: 'shielded',
        until: NOW + 1000,
      });
    });

    it('of concurrent first shields of two clients, both are kept', async () => {
      const u = await withDevice();
      await Promise.all([
        s.shields.shield(u.tenantId, u.sub, 'a', NOW + 1000),
        s.shields.shield(u.tenantId, u.sub, 'b', NOW + 1000),
      ]);
      expect((await s.users.get(u.tenantId, u.sub))?.reportShields).toEqual({ a: NOW + 1000, b: NOW + 1000 });
    });
  });

  describe('tenant keysets', () => {
    it('keeps a keyset per tenant: created once, replaced only over the version that was read', async () => {
      const tenantId = uid('t');
      const first = keyset(tenantId);
      expect(await s.keysets.save(first, null)).toBe('ok');
      expect(await s.keysets.save(first, null)).toBe('conflict');
      expect(await s.keysets.get(tenantId)).toEqual(first);
      const next = { ...first, signing: first.signing.slice(1), updatedAt: NOW + 1 };
      expect(await s.keysets.save(next, NOW - 1)).toBe('conflict');
      expect(await s.keysets.save(next, NOW)).toBe('ok');
      expect(await s.keysets.get(tenantId)).toEqual(next);
      expect(await s.keysets.get(uid('other'))).toBeUndefined();
    });
  });

  describe('devices', () => {
    it('creates a device once and lists it on its user', async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      const d = device(u.tenantId, u.sub);
      expect(await createDevice(d.device, d.summary)).toBe('ok');
      expect(await createDevice(d.device, d.summary)).toBe('conflict');
      expect(await s.devices.get(u.tenantId, d.device.deviceId)).toEqual(d.device);
      expect((await s.users.get(u.tenantId, u.sub))?.devices).toEqual([d.summary]);
    });

    it('does not create a device for a user that does not exist', async () => {
      const d = device(uid('t'), uid('ghost'));
      expect(await createDevice(d.device, d.summary)).toBe('conflict');
      expect(await s.devices.get(d.device.tenantId, d.device.deviceId)).toBeUndefined();
    });

    it('deletes a device and removes it from the user list', async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      const [a, b, c] = [device(u.tenantId, u.sub), device(u.tenantId, u.sub), device(u.tenantId, u.sub)];
      for (const d of [a!, b!, c!]) await createDevice(d.device, d.summary);

      expect(await s.devices.delete(u.tenantId, u.sub, b!.device.deviceId)).toBe(true);
      expect(await s.devices.get(u.tenantId, b!.device.deviceId)).toBeUndefined();
      expect((await s.users.get(u.tenantId, u.sub))?.devices).toEqual([a!.summary, c!.summary]);
      expect(await s.devices.delete(u.tenantId, u.sub, b!.device.deviceId)).toBe(false);
    });

    it('does not delete the device of another user', async () => {
      const owner = user(uid('t'));
      await s.users.save(owner, null);
      const d = device(owner.tenantId, owner.sub);
      await createDevice(d.device, d.summary);
      expect(await s.devices.delete(owner.tenantId, 'mallory', d.device.deviceId)).toBe(false);
      expect(await s.devices.get(owner.tenantId, d.device.deviceId)).toBeDefined();
    });

    it('removes both devices when two are deleted concurrently', async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      const list = [device(u.tenantId, u.sub), device(u.tenantId, u.sub), device(u.tenantId, u.sub)];
      for (const d of list) await createDevice(d.device, d.summary);
      await Promise.all(list.slice(0, 2).map((d) => s.devices.delete(u.tenantId, u.sub, d.device.deviceId)));
      expect((await s.users.get(u.tenantId, u.sub))?.devices).toEqual([list[2]!.summary]);
    });

    it('disables push on the device and on the user list', async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      const [a, b] = [device(u.tenantId, u.sub), device(u.tenantId, u.sub)];
      await createDevice(a.device, a.summary);
      await createDevice(b.device, b.summary);

      await s.pushChannels.disable(u.tenantId, u.sub, b.device.deviceId);

      expect((await s.devices.get(u.tenantId, b.device.deviceId))?.push).toEqual({
        ...b.device.push,
        disabled: true,
      });
      const devices = (await s.users.get(u.tenantId, u.sub))?.devices;
      expect(devices?.[0]?.push?.disabled).toBeUndefined();
      expect(devices?.[1]?.push).toEqual({ ...b.summary.push, disabled: true });
    });

    it('ignores disabling push for an unknown device', async () => {
      await expect(s.pushChannels.disable('acme', 'alice', uid('nothing'))).resolves.toBeUndefined();
    });

    it('round-trips an APNs push channel', async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      const d = device(u.tenantId, u.sub);
      const push = { type: 'apns' as const, token: 'tok', endpointArn: 'arn:aws:sns:endpoint' };
      await createDevice({ ...d.device, push }, { ...d.summary, push });
      expect((await s.devices.get(u.tenantId, d.device.deviceId))?.push).toEqual(push);
      expect((await s.users.get(u.tenantId, u.sub))?.devices[0]?.push).toEqual(push);
    });

    it('writes a passkey only over the one expected (hardening rule 1), and removes it for its user only', async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      const d = device(u.tenantId, u.sub);
      await createDevice(d.device, d.summary);
      const passkey = (credentialId: string, counter = 0) => ({
        credentialId,
        publicKey: 'pk',
        counter,
        createdAt: NOW,
      });
      const stored = async () => (await s.devices.get(u.tenantId, d.device.deviceId))?.passkey?.credentialId;
      const set = (credentialId: string, expected: string | null) =>
        s.passkeys.set(u.tenantId, d.device.deviceId, passkey(credentialId), expected);

      expect(await set('first', null)).toBe('ok');
      // A second "first" registration (it saw no passkey) and a replacement checked against another passkey lose.
      expect(await set('racer', null)).toBe('conflict');
      expect(await set('swap', 'someone-else')).toBe('conflict');
      expect(await stored()).toBe('first');
      expect(await set('second', 'first')).toBe('ok');
      expect(await stored()).toBe('second');

      expect(await s.passkeys.remove(u.tenantId, 'mallory', d.device.deviceId)).toBeUndefined();
      expect((await s.passkeys.remove(u.tenantId, u.sub, d.device.deviceId))?.credentialId).toBe('second');
      expect(await stored()).toBeUndefined();
      expect(await s.passkeys.remove(u.tenantId, u.sub, d.device.deviceId)).toBeUndefined();
      // A counter update of the removed passkey does not bring it back.
      expect(await s.passkeys.set(u.tenantId, d.device.deviceId, passkey('second', 7), 'second')).toBe('conflict');
      expect(await stored()).toBeUndefined();
      expect(await s.passkeys.set(u.tenantId, uid('gone'), passkey('x'), null)).toBe('conflict');
    });
  });

  describe('auth requests', () => {
    it('creates a request once and reads it back', async () => {
      const r = request({ acrValues: 'urn:acr:mfa', clientNotificationToken: 'cnt' });
      expect(await s.requests.create(r)).toBe('ok');
      expect(await s.requests.create(r)).toBe('conflict');
      expect(await s.requests.get(r.txn)).toEqual(r);
      expect(await s.requests.get(uid('nothing'))).toBeUndefined();
    });

    it('withdraws a request only while it is pending: then it is gone, from the user’s list too', async () => {
      const pending = request();
      const decided = request();
      await Promise.all([s.requests.create(pending), s.requests.create(decided)]);
      await s.decisions.decide(
        decided.txn,
        { tenantId: decided.tenantId, sub: decided.sub },
        'approved',
        evidence(),
        NOW,
      );
      expect(await s.requests.withdraw(pending.txn)).toBe(true);
      expect(await s.requests.get(pending.txn)).toBeUndefined();
      expect((await s.requests.listPending(pending.tenantId, pending.sub, NOW)).map((r) => r.txn)).not.toContain(
        pending.txn,
      );
      expect(await s.requests.withdraw(pending.txn)).toBe(false);
      expect(await s.requests.withdraw(decided.txn)).toBe(false);
      expect((await s.requests.get(decided.txn))?.status).toBe('approved');
    });

    it('approves a pending request and marks the grant pending', async () => {
      const r = request();
      await s.requests.create(r);
      const decided = await s.decisions.decide(
        r.txn,
        { tenantId: r.tenantId, sub: r.sub },
        'approved',
        evidence(),
        NOW + 1,
      );
      expect(decided).toEqual({
        ...r,
        status: 'approved',
        decidedAt: NOW + 1,
        authTime: NOW + 1,
        evidence: evidence(),
        grantPending: true,
      });
      expect(await s.requests.get(r.txn)).toEqual(decided);
    });

    it('denies a pending request without a grant', async () => {
      const r = request();
      await s.requests.create(r);
      const decided = await s.decisions.decide(
        r.txn,
        { tenantId: r.tenantId, sub: r.sub },
        'denied',
        evidence('deny'),
        NOW,
      );
      expect(decided).toMatchObject({ status: 'denied', evidence: evidence('deny') });
      expect(decided).not.toHaveProperty('grantPending');
    });

    it('refuses a decision by another tenant or user, after expiry, or twice', async () => {
      const r = request();
      await s.requests.create(r);
      const owner = { tenantId: r.tenantId, sub: r.sub };
      expect(await s.decisions.decide(r.txn, { ...owner, tenantId: 'other' }, 'approved', evidence(), NOW)).toBe(
        'conflict',
      );
      expect(await s.decisions.decide(r.txn, { ...owner, sub: 'mallory' }, 'approved', evidence(), NOW)).toBe(
        'conflict',
      );
      expect(await s.decisions.decide(r.txn, owner, 'approved', evidence(), r.expiresAt)).toBe('conflict');
      expect(await s.decisions.decide(uid('nothing'), owner, 'approved', evidence(), NOW)).toBe('conflict');
      expect(await s.decisions.decide(r.txn, owner, 'approved', evidence(), NOW)).not.toBe('conflict');
      expect(await s.decisions.decide(r.txn, owner, 'approved', evidence(), NOW)).toBe('conflict');
    });

    it('lets exactly one of a concurrent approve and deny win', async () => {
      const r = request();
      await s.requests.create(r);
      const owner = { tenantId: r.tenantId, sub: r.sub };
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          i % 2 === 0
            ? s.decisions.decide(r.txn, owner, 'approved', evidence(), NOW)
            : s.decisions.decide(r.txn, owner, 'denied', evidence('deny'), NOW),
        ),
      );
      const winners = results.filter((x) => x !== 'conflict');
      expect(winners).toHaveLength(1);
      expect((await s.requests.get(r.txn))?.status).toBe((winners[0] as AuthRequest).status);
    });

    const owner = (r: AuthRequest) => ({ tenantId: r.tenantId, clientId: r.clientId });

    it('records polls and returns the request as it was before the poll', async () => {
      const r = request();
      await s.requests.create(r);
      const first = await s.polls.poll(r.txn, r.authReqId, owner(r), NOW + 5000);
      expect(first).toEqual(r);
      const second = await s.polls.poll(r.txn, r.authReqId, owner(r), NOW + 10_000);
      expect(second?.lastPolledAt).toBe(NOW + 5000);
    });

    it('does not poll with a wrong auth_req_id, tenant, client or txn', async () => {
      const r = request();
      await s.requests.create(r);
      expect(await s.polls.poll(r.txn, `${r.txn}.wrong`, owner(r), NOW)).toBeUndefined();
      expect(
        await s.polls.poll(r.txn, r.authReqId, { tenantId: r.tenantId, clientId: 'other-client' }, NOW),
      ).toBeUndefined();
      // Another tenant's client that chose the same client_id.
      expect(
        await s.polls.poll(r.txn, r.authReqId, { tenantId: 'other-tenant', clientId: r.clientId }, NOW),
      ).toBeUndefined();
      expect(await s.polls.poll(uid('nothing'), r.authReqId, owner(r), NOW)).toBeUndefined();
      expect((await s.requests.get(r.txn))?.lastPolledAt).toBeUndefined();
    });

    it('redeems an approved grant exactly once among 50 concurrent polls', async () => {
      const r = request();
      await s.requests.create(r);
      await s.decisions.decide(r.txn, { tenantId: r.tenantId, sub: r.sub }, 'approved', evidence(), NOW);
      const polls = await Promise.all(
        Array.from({ length: 50 }, (_, i) => s.polls.poll(r.txn, r.authReqId, owner(r), NOW + i)),
      );
      expect(polls.filter((p) => p?.grantPending === true)).toHaveLength(1);
      expect(polls.every((p) => p?.status === 'approved')).toBe(true);
      expect((await s.requests.get(r.txn))?.grantPending).toBeUndefined();
    });

    it('restores a grant on an approved request only', async () => {
      const r = request();
      await s.requests.create(r);
      await s.polls.restoreGrant(r.txn);
      expect((await s.requests.get(r.txn))?.grantPending).toBeUndefined();

      await s.decisions.decide(r.txn, { tenantId: r.tenantId, sub: r.sub }, 'approved', evidence(), NOW);
      expect((await s.polls.poll(r.txn, r.authReqId, owner(r), NOW))?.grantPending).toBe(true);
      expect((await s.polls.poll(r.txn, r.authReqId, owner(r), NOW))?.grantPending).toBeUndefined();
      await s.polls.restoreGrant(r.txn);
      expect((await s.polls.poll(r.txn, r.authReqId, owner(r), NOW))?.grantPending).toBe(true);
      await expect(s.polls.restoreGrant(uid('nothing'))).resolves.toBeUndefined();
    });

    it('adds slow_down penalties to the interval', async () => {
      const r = request();
      await s.requests.create(r);
      await s.polls.slowDown(r.txn, 5);
      await s.polls.slowDown(r.txn, 5);
      expect((await s.requests.get(r.txn))?.interval).toBe(15);
      await expect(s.polls.slowDown(uid('nothing'), 5)).resolves.toBeUndefined();
      expect(await s.requests.get('nothing')).toBeUndefined();
    });

    it('lists a user’s pending unexpired requests newest first', async () => {
      const tenantId = uid('t');
      const sub = 'alice';
      const older = request({ tenantId, sub, createdAt: NOW - 2000 });
      const newer = request({ tenantId, sub, createdAt: NOW - 1000 });
      const expired = request({ tenantId, sub, createdAt: NOW - 600_000, expiresAt: NOW - 300_000 });
      const decided = request({ tenantId, sub, createdAt: NOW - 500 });
      const otherUser = request({ tenantId, sub: 'bob' });
      const otherTenant = request({ tenantId: uid('t'), sub });
      for (const r of [older, newer, expired, decided, otherUser, otherTenant]) await s.requests.create(r);
      await s.decisions.decide(decided.txn, { tenantId, sub }, 'denied', evidence('deny'), NOW);

      const pending = await s.requests.listPending(tenantId, sub, NOW);
      expect(pending.map((r) => r.txn)).toEqual([newer.txn, older.txn]);
    });
  });

  describe('enrollment tickets', () => {
    it('consumes a ticket once and returns its owner', async () => {
      const hash = uid('ticket');
      await s.tickets.create(hash, { tenantId: 'acme', sub: 'alice' }, NOW + 10 * MINUTE);
      expect(await s.tickets.consume(hash, NOW)).toEqual({ tenantId: 'acme', sub: 'alice' });
      expect(await s.tickets.consume(hash, NOW)).toBeUndefined();
    });

    it('refuses an expired or unknown ticket', async () => {
      const hash = uid('ticket');
      await s.tickets.create(hash, { tenantId: 'acme', sub: 'alice' }, NOW);
      expect(await s.tickets.consume(hash, NOW)).toBeUndefined();
      expect(await s.tickets.consume(uid('nothing'), NOW)).toBeUndefined();
    });

    it('gives a ticket to exactly one of 10 concurrent consumers', async () => {
      const hash = uid('ticket');
      await s.tickets.create(hash, { tenantId: 'acme', sub: 'alice' }, NOW + MINUTE);
      const results = await Promise.all(Array.from({ length: 10 }, () => s.tickets.consume(hash, NOW)));
      expect(results.filter((r) => r !== undefined)).toEqual([{ tenantId: 'acme', sub: 'alice' }]);
    });
  });

  describe('proof replay', () => {
    it('records a jti once and reports the replay', async () => {
      const jti = uid('jti');
      expect(await s.replay.useOnce(`thumb#${jti}`, NOW + MINUTE)).toBe(true);
      expect(await s.replay.useOnce(`thumb#${jti}`, NOW + MINUTE)).toBe(false);
      expect(await s.replay.useOnce(`other-thumb#${jti}`, NOW + MINUTE)).toBe(true);
    });

    it('accepts exactly one of concurrent uses of the same jti', async () => {
      const jti = uid('jti');
      const results = await Promise.all(Array.from({ length: 10 }, () => s.replay.useOnce(`thumb#${jti}`, NOW)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });
  });

  describe('useDeviceProof (the device and its proof jti in one conditional write)', () => {
    const enrolled = async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      const d = device(u.tenantId, u.sub);
      expect(await createDevice(d.device, d.summary)).toBe('ok');
      return d.device;
    };

    it('returns the device for a new jti and nothing for the same jti again', async () => {
      const d = await enrolled();
      const jti = uid('jti');
      expect(await useProof(d.tenantId, d.deviceId, jti, NOW + 2 * MINUTE, NOW)).toEqual(d);
      expect(await useProof(d.tenantId, d.deviceId, jti, NOW + 2 * MINUTE, NOW)).toBeUndefined();
      expect(await useProof(d.tenantId, d.deviceId, uid('jti'), NOW + 2 * MINUTE, NOW)).toEqual(d);
    });

    it('returns nothing for an unknown device or another tenant, and creates no item', async () => {
      const d = await enrolled();
      expect(await useProof(d.tenantId, uid('unknown'), uid('jti'), NOW, NOW)).toBeUndefined();
      expect(await useProof(uid('other'), d.deviceId, uid('jti'), NOW, NOW)).toBeUndefined();
      expect(await useProof(d.tenantId, 'x'.repeat(2000), uid('jti'), NOW, NOW)).toBeUndefined();
    });

    it('gives the device to exactly one of 32 concurrent uses of one proof', async () => {
      const d = await enrolled();
      const jti = uid('jti');
      const results = await Promise.all(
        Array.from({ length: 32 }, () => useProof(d.tenantId, d.deviceId, jti, NOW + MINUTE, NOW)),
      );
      expect(results.filter((r) => r !== undefined)).toHaveLength(1);
    });

    it('drops expired jtis once enough have gathered, and keeps the unexpired ones', async () => {
      const d = await enrolled();
      const old = Array.from({ length: 8 }, () => uid('old'));
      for (const jti of old) await useProof(d.tenantId, d.deviceId, jti, NOW, NOW - 2 * MINUTE);
      const fresh = uid('fresh');
      await useProof(d.tenantId, d.deviceId, fresh, NOW + 4 * MINUTE, NOW + 2 * MINUTE);
      const probe = uid('probe');
      const kept = await s.deviceProofs.use(d.tenantId, d.deviceId, probe, NOW + 4 * MINUTE);
      expect(Object.keys(kept!.proofIds).sort()).toEqual([fresh, probe].sort());
      // A dropped jti belongs to a proof whose iat no longer passes; a kept one is still refused.
      expect(await useProof(d.tenantId, d.deviceId, fresh, NOW + 4 * MINUTE, NOW + 2 * MINUTE)).toBeUndefined();
    });
  });

  describe('admitTenantRequest (client, tenant and pending budgets on counter shards)', () => {
    const limits = { clientPerMinute: 3, tenantPerMinute: 5, maxPending: 100 };
    const admit = (
      tenantId: string,
      clientId: string,
      now = NOW,
      overrides: Partial<typeof limits> = {},
      pendingWindowMs = 5 * MINUTE,
    ) =>
      admitTenantRequest(s.admission, {
        tenantId,
        clientId,
        limits: { ...limits, ...overrides },
        pendingWindowMs,
        now,
      });
    /** A shard's counts of the minute and the pending window of `now` (pendingSum: of this window and the one before). */
    const shardCounts = async (tenantId: string, shard: number, now = NOW, pendingWindowMs = 5 * MINUTE) => {
      const c = await s.admission.read({ tenantId, shard }, pendingWindowMs);
      if (!c.exists) return undefined;
      const counts = c.minutes[Math.floor(now / MINUTE)];
      return {
        tenantCount: counts?.tenant ?? 0,
        clientCounts: counts?.clients ?? {},
        pendingSum: c.pending[Math.floor(now / pendingWindowMs)] ?? 0,
      };
    };
    /** Every shard's counts added up. */
    const totals = async (tenantId: string) => {
      const sum = { tenantCount: 0, pendingSum: 0, clientCounts: {} as Record<string, number>, shards: 0 };
      for (let shard = 0; shard < ADMISSION_SHARDS; shard++) {
        const c = await shardCounts(tenantId, shard);
        if (!c) continue;
        sum.shards++;
        sum.tenantCount += c.tenantCount;
        sum.pendingSum += c.pendingSum;
        for (const [id, n] of Object.entries(c.clientCounts)) sum.clientCounts[id] = (sum.clientCounts[id] ?? 0) + n;
      }
      return sum;
    };

    it('counts a lease (several requests in one write) only while the counts plus the lease fit every share', async () => {
      const counter = { tenantId: uid('t'), shard: 0 };
      const windowMs = 5 * MINUTE;
      const at = { clientId: 'a', minute: Math.floor(NOW / MINUTE), windowMs, window: Math.floor(NOW / windowMs) };
      const shares = { clientPerMinute: 10, tenantPerMinute: 12, maxPending: 11 };
      const expiresAt = NOW + 60 * MINUTE;
      expect(await s.admission.create(counter, { minutes: {}, pending: {} }, windowMs, expiresAt)).toBe('ok');
      expect(await s.admission.count(counter, at, shares, expiresAt, 8)).toBe('ok');
      expect(await s.admission.count(counter, at, shares, expiresAt, 3)).toBe('conflict'); // the client's 8 + 3 > 10
      expect(await s.admission.count(counter, at, shares, expiresAt, 2)).toBe('ok');
      expect(await s.admission.count(counter, at, shares, expiresAt, 1)).toBe('conflict');
      expect(await s.admission.count(counter, { ...at, clientId: 'b' }, shares, expiresAt, 2)).toBe('conflict'); // pending 10 + 2 > 11
      expect(await s.admission.count(counter, { ...at, clientId: 'b' }, shares, expiresAt)).toBe('ok');
      const c = await s.admission.read(counter, windowMs);
      expect(c.minutes[at.minute]).toEqual({ tenant: 11, clients: { a: 10, b: 1 } });
      expect(c.pending[at.window]).toBe(11);
    });

    it('admits each client up to its limit a minute, then refuses until the minute ends', async () => {
      const tenantId = uid('t');
      for (let i = 0; i < 3; i++) expect(await admit(tenantId, 'a', NOW + i)).toMatchObject({ admitted: true });
      expect(await admit(tenantId, 'a', NOW + 10)).toEqual({
        admitted: false,
        limit: 'client',
        retryAfterSeconds: Math.ceil(((Math.floor(NOW / MINUTE) + 1) * MINUTE - NOW - 10) / 1000),
      });
      expect(await admit(tenantId, 'b', NOW + 10)).toMatchObject({ admitted: true });
      expect(await admit(tenantId, 'a', NOW + MINUTE)).toMatchObject({ admitted: true });
    });

    it('limits the tenant across clients, and a refused request counts nowhere', async () => {
      const tenantId = uid('t');
      for (const c of ['a', 'b', 'a', 'b', 'c']) expect(await admit(tenantId, c)).toMatchObject({ admitted: true });
      expect(await admit(tenantId, 'c')).toMatchObject({ admitted: false, limit: 'tenant' });
      expect(await admit(tenantId, 'a')).toMatchObject({ admitted: false, limit: 'tenant' });
      // min(limits) = 3 shards, each with its share.
      expect(await totals(tenantId)).toEqual({
        tenantCount: 5,
        clientCounts: { a: 2, b: 2, c: 1 },
        pendingSum: 5,
        shards: 3,
      });
    });

    it('counts pending requests over the current and the previous window, Retry-After when a shard has room', async () => {
      const tenantId = uid('t');
      const window = 2 * MINUTE;
      const start = Math.floor(NOW / window) * window;
      const wide = { clientPerMinute: 100, tenantPerMinute: 100, maxPending: 3 };
      for (let i = 0; i < 2; i++)
        expect(await admit(tenantId, 'a', start + i, wide, window)).toMatchObject({ admitted: true });
      // The next window: the previous one's 2 still count.
      expect(await admit(tenantId, 'a', start + window, wide, window)).toMatchObject({ admitted: true });
      expect(await admit(tenantId, 'a', start + window + 1, wide, window)).toEqual({
        admitted: false,
        limit: 'pending',
        // The shards holding the previous window's requests have room when this window ends.
        retryAfterSeconds: Math.ceil((window - 1) / 1000),
      });
      // Two windows later only the last window's request counts.
      expect(await admit(tenantId, 'a', start + 2 * window, wide, window)).toMatchObject({ admitted: true });
    });

    it('admits exactly the limit out of 25 concurrent requests, also when they create the items', async () => {
      const tenantId = uid('t');
      const results = await Promise.all(
        Array.from({ length: 25 }, (_, i) =>
          admit(tenantId, `c${i % 2}`, NOW, { clientPerMinute: 100, tenantPerMinute: 7 }),
        ),
      );
      expect(results.filter((r) => r.admitted)).toHaveLength(7);
      expect(results.filter((r) => !r.admitted).every((r) => !r.admitted && r.limit === 'tenant')).toBe(true);
      expect(await totals(tenantId)).toMatchObject({ tenantCount: 7, pendingSum: 7, shards: 7 });
    });

    it('never exceeds a limit spread over every shard: 100 concurrent requests from processes that know nothing', async () => {
      const tenantId = uid('t');
      const wide = { clientPerMinute: 1_000, tenantPerMinute: 80, maxPending: 1_000 };
      // Each request as if from its own process (a Lambda instance): no memory of full shards.
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          admitTenantRequest(
            s.admission,
            { tenantId, clientId: `c${i % 3}`, limits: wide, pendingWindowMs: 5 * MINUTE, now: NOW },
            admissionMemory(),
          ),
        ),
      );
      expect(results.filter((r) => r.admitted)).toHaveLength(80);
      expect(results.filter((r) => !r.admitted).every((r) => !r.admitted && r.limit === 'tenant')).toBe(true);
      // Shares of 80 over 64 shards: 16 shards of 2, 48 of 1.
      expect(ADMISSION_SHARDS).toBe(64);
      expect(await totals(tenantId)).toMatchObject({ tenantCount: 80, pendingSum: 80, shards: ADMISSION_SHARDS });
      for (let shard = 0; shard < ADMISSION_SHARDS; shard++) {
        expect((await shardCounts(tenantId, shard))?.tenantCount).toBe(shard < 16 ? 2 : 1);
      }
    });

    it('does not let a lagging clock restart a newer minute', async () => {
      const tenantId = uid('t');
      expect(await admit(tenantId, 'a', NOW + MINUTE, { clientPerMinute: 1 })).toMatchObject({ admitted: true });
      expect(await admit(tenantId, 'a', NOW, { clientPerMinute: 1 })).toMatchObject({
        admitted: false,
        limit: 'client',
      });
    });

    it('lets no clock one window ahead open room: a clock behind counts in its window', async () => {
      const tenantId = uid('t');
      const window = 2 * MINUTE;
      const w = Math.floor(NOW / window);
      const start = w * window + 30_000;
      // One shard (a pending cap of 1): a clock one window ahead counts the request in the window after this one.
      const one = { clientPerMinute: 100, tenantPerMinute: 100, maxPending: 1 };
      expect(await admit(tenantId, 'a', start + window, one, window)).toMatchObject({
        admitted: true,
        pendingWindow: w + 1,
      });
      // This clock's window has no request of its own yet, but the one ahead is full.
      expect(await admit(tenantId, 'b', start, one, window)).toMatchObject({ admitted: false, limit: 'pending' });
    });

    it('never exceeds a limit under concurrent requests and releases across minute and window boundaries, and refuses only when every shard is full', async () => {
      const tenantId = uid('t');
      const window = 2 * MINUTE;
      const start = Math.floor(NOW / window) * window;
      const wide = { clientPerMinute: 4, tenantPerMinute: 9, maxPending: 7 };
      const admitted: Admitted[] = [];
      const live = new Set<(typeof admitted)[number]>();
      // The end of a minute, the next minute, the next window (and minute), 12 requests at once from processes that know
      // nothing, while 3 admitted before are given back.
      for (const now of [start + MINUTE - 1, start + MINUTE, start + window, start + window + 1]) {
        const given = [...live].slice(0, 3);
        for (const r of given) live.delete(r);
        const outcomes = await Promise.all([
          ...Array.from({ length: 12 }, async (_, i) => {
            const clientId = `c${i % 3}`;
            const outcome = await admitTenantRequest(
              s.admission,
              { tenantId, clientId, limits: wide, pendingWindowMs: window, now, random: () => i / 12 },
              admissionMemory(),
            );
            if (outcome.admitted) {
              const r = { at: now, clientId, shard: outcome.shard, window: outcome.pendingWindow };
              admitted.push(r);
              live.add(r);
            }
            return { clientId, outcome };
          }),
          ...given.map(async (r) => {
            await releaseTenantRequest(s.admission, {
              tenantId,
              shard: r.shard,
              pendingWindow: r.window,
              pendingWindowMs: window,
            });
            return undefined;
          }),
        ]);
        // The releases above finished with the batch.
        expectWithinLimits(admitted, live, wide, now, window);
        for (const o of outcomes) {
          if (!o || o.outcome.admitted || o.outcome.limit === 'contention') continue;
          await expectEveryShardFull(s.admission, {
            tenantId,
            clientId: o.clientId,
            limits: wide,
            now,
            windowMs: window,
          });
        }
      }
      // Requests were admitted in every minute, and refused too.
      expect(new Set(admitted.map((r) => Math.floor(r.at / MINUTE))).size).toBe(3);
    });

    it('gives a pending slot back on its shard, and this process tries that shard again', async () => {
      const tenantId = uid('t');
      const window = 2 * MINUTE;
      const start = Math.floor(NOW / window) * window;
      // Two shards of one pending slot each.
      const wide = { clientPerMinute: 100, tenantPerMinute: 100, maxPending: 2 };
      const first = await admit(tenantId, 'a', start, wide, window);
      const second = await admit(tenantId, 'a', start + 1, wide, window);
      if (!first.admitted || !second.admitted) throw new Error('not admitted');
      expect(first.pendingWindow).toBe(start / window);
      expect(new Set([first.shard, second.shard])).toEqual(new Set([0, 1]));
      expect(await admit(tenantId, 'a', start + 2, wide, window)).toMatchObject({ admitted: false, limit: 'pending' });
      await releaseTenantRequest(s.admission, {
        tenantId,
        shard: first.shard,
        pendingWindow: start / window,
        pendingWindowMs: window,
      });
      expect(await shardCounts(tenantId, first.shard, start, window)).toMatchObject({ pendingSum: 0 });
      expect(await shardCounts(tenantId, second.shard, start, window)).toMatchObject({ pendingSum: 1 });
      // Found full a moment ago, given back since: tried again.
      expect(await admit(tenantId, 'a', start + 3, wide, window)).toMatchObject({ admitted: true, shard: first.shard });
    });

    it('gives a pending slot back in the window it was counted in, or in the next one, and never below zero', async () => {
      const tenantId = uid('t');
      const window = 2 * MINUTE;
      const start = Math.floor(NOW / window) * window;
      const w = start / window;
      // Two shards (a client limit of 2) of two pending slots each; every request from a new client and a new process,
      // on shard 0 first.
      const wide = { clientPerMinute: 2, tenantPerMinute: 100, maxPending: 4 };
      const at = (now: number, clientId: string) =>
        admitTenantRequest(
          s.admission,
          { tenantId, clientId, limits: { ...limits, ...wide }, pendingWindowMs: window, now, random: () => 0 },
          admissionMemory(),
        );
      const release = (pendingWindow: number) =>
        releaseTenantRequest(s.admission, { tenantId, shard: 0, pendingWindow, pendingWindowMs: window });
      /** Shard 0's pending counts of windows w and w + 1 (and w + 2): each the requests of it and the one before. */
      const pending = async () => {
        const c = await s.admission.read({ tenantId, shard: 0 }, window);
        return [w, w + 1, w + 2].map((v) => c.pending[v]);
      };
      expect(await at(start, 'c1')).toEqual({ admitted: true, pendingWindow: w, shard: 0 });
      expect(await at(start + 1, 'c2')).toEqual({ admitted: true, pendingWindow: w, shard: 0 });
      expect(await pending()).toEqual([2, 2, undefined]);
      // Given back in the same window.
      await release(w);
      expect(await pending()).toEqual([1, 1, undefined]);
      // The next window: the first window's remaining one still counts, and is given back from it.
      expect(await at(start + window, 'c3')).toEqual({ admitted: true, pendingWindow: w + 1, shard: 0 });
      expect((await pending()).slice(1)).toEqual([2, 1]);
      await release(w);
      expect((await pending()).slice(1)).toEqual([1, 1]);
      await release(w + 1);
      expect((await pending()).slice(1)).toEqual([0, 0]);
      // Nothing more to give back, nor from a window that no longer counts: never below zero.
      await release(w + 1);
      await release(w);
      await release(w - 5);
      expect((await pending()).slice(1)).toEqual([0, 0]);
    });
  });

  describe('callback ledger (lib/ciba/callback-lease.ts)', () => {
    const callbackRequest = async (overrides: Partial<AuthRequest> = {}): Promise<AuthRequest> => {
      const txn = randomBytes(16).toString('base64url');
      const r: AuthRequest = {
        txn,
        authReqId: `${txn}.${randomBytes(20).toString('base64url')}`,
        tenantId: 'acme',
        clientId: 'rp',
        sub: 'alice',
        claims: {},
        scope: 'openid',
        deliveryMode: 'push',
        clientNotificationToken: 'tok',
        status: 'approved',
        grantPending: true,
        createdAt: NOW,
        expiresAt: NOW + 300_000,
        interval: 5,
        issuer: 'https://ciba.example.com/acme',
        ...overrides,
      };
      expect(await s.requests.create(r)).toBe('ok');
      return r;
    };

    it('keeps the issuer and the notification token of a request', async () => {
      const r = await callbackRequest();
      expect(await s.requests.get(r.txn)).toMatchObject({ issuer: r.issuer, clientNotificationToken: 'tok' });
    });

    it("claims for the decision's event only a decided ping or push request of that tenant, touching nothing else", async () => {
      const lease = { attempt: 1, now: NOW, leaseUntil: NOW + 60_000 };
      for (const [overrides, tenant] of [
        [{ status: 'pending' }, 'acme'],
        [{ deliveryMode: 'poll', clientNotificationToken: undefined }, 'acme'],
        [{}, 'other'],
      ] as const) {
        const r = await callbackRequest(overrides);
        expect(await s.callbacks.claim(r.txn, { ...lease, decidedFor: tenant })).toBe('conflict');
        // Not claimed: the same attempt without the condition still finds it free.
        expect((await s.requests.get(r.txn))?.callback).toBeUndefined();
      }
      expect(await s.callbacks.claim('no-such-txn', { ...lease, decidedFor: 'acme' })).toBe('conflict');
      for (const status of ['approved', 'denied', 'reported'] as const) {
        for (const deliveryMode of ['ping', 'push'] as const) {
          const r = await callbackRequest({ status, deliveryMode });
          expect(await s.callbacks.claim(r.txn, { ...lease, decidedFor: 'acme' })).toMatchObject({
            txn: r.txn,
            status,
            callback: { state: 'pending', attempts: [] },
          });
          // The lease rules still hold: the same attempt is taken.
          expect(await s.callbacks.claim(r.txn, { ...lease, decidedFor: 'acme' })).toBe('conflict');
        }
      }
    });

    it('claims attempt 1 once, starting an empty pending history', async () => {
      const r = await callbackRequest();
      const claimed = await s.callbacks.claim(r.txn, { attempt: 1, now: NOW, leaseUntil: NOW + 60_000 });
      expect(claimed).toMatchObject({ txn: r.txn, callback: { state: 'pending', attempts: [] } });
      expect(await s.callbacks.claim(r.txn, { attempt: 1, now: NOW, leaseUntil: NOW + 60_000 })).toBe('conflict');
      expect(await s.callbacks.claim(r.txn, { attempt: 2, now: NOW, leaseUntil: NOW + 60_000 })).toBe('conflict');
    });

    it('lets exactly one of many concurrent claims win', async () => {
      const r = await callbackRequest();
      const results = await Promise.all(
        Array.from({ length: 16 }, () => s.callbacks.claim(r.txn, { attempt: 1, now: NOW, leaseUntil: NOW + 60_000 })),
      );
      expect(results.filter((x) => x !== 'conflict')).toHaveLength(1);
    });

    it('frees attempt n+1 once attempt n is recorded, and retakes an attempt whose lease ran out', async () => {
      const r = await callbackRequest({ deliveryMode: 'ping' });
      await s.callbacks.claim(r.txn, { attempt: 1, now: NOW, leaseUntil: NOW + 60_000 });
      expect(await s.callbacks.claim(r.txn, { attempt: 1, now: NOW + 60_001, leaseUntil: NOW + 120_000 })).not.toBe(
        'conflict',
      );
      expect(await s.callbacks.record(r.txn, { attempt: 1, at: NOW, status: 500 }, { state: 'pending' })).toBe('ok');
      expect(await s.callbacks.claim(r.txn, { attempt: 1, now: NOW + 200_000, leaseUntil: NOW + 260_000 })).toBe(
        'conflict',
      );
      expect(await s.callbacks.claim(r.txn, { attempt: 2, now: NOW + 1_000, leaseUntil: NOW + 61_000 })).not.toBe(
        'conflict',
      );
      // A record by an attempt that no longer holds the claim is refused.
      expect(await s.callbacks.record(r.txn, { attempt: 1, at: NOW, status: 500 }, { state: 'pending' })).toBe(
        'conflict',
      );
      expect(
        await s.callbacks.record(
          r.txn,
          { attempt: 2, at: NOW + 1_000, status: 204 },
          {
            state: 'delivered',
            deliveredAt: NOW + 1_000,
          },
        ),
      ).toBe('ok');
      expect((await s.requests.get(r.txn))!.callback).toEqual({
        state: 'delivered',
        attempts: [
          { attempt: 1, at: NOW, status: 500 },
          { attempt: 2, at: NOW + 1_000, status: 204 },
        ],
        deliveredAt: NOW + 1_000,
      });
      expect(await s.callbacks.claim(r.txn, { attempt: 3, now: NOW + 2_000, leaseUntil: NOW + 62_000 })).toBe(
        'conflict',
      );
    });

    it('redeems the grant and keeps the push response exactly once, then drops it when finished', async () => {
      const r = await callbackRequest();
      await s.callbacks.claim(r.txn, { attempt: 1, now: NOW, leaseUntil: NOW + 60_000 });
      const sealed = 'eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..iv.ciphertext.tag';
      const saved = await s.callbacks.savePushResponse(r.txn, sealed, NOW);
      expect(saved).toMatchObject({ sealedPushResponse: sealed, redeemedAt: NOW });
      expect((saved as AuthRequest).grantPending).toBeUndefined();
      expect(await s.callbacks.savePushResponse(r.txn, 'other', NOW)).toBe('conflict');
      expect((await s.requests.get(r.txn))!.sealedPushResponse).toEqual(sealed);
      await s.callbacks.record(
        r.txn,
        { attempt: 1, at: NOW, error: 'x' },
        {
          state: 'dead_lettered',
          deadLetterReason: 'x',
        },
      );
      const after = (await s.requests.get(r.txn))!;
      expect(after.sealedPushResponse).toBeUndefined();
      expect(after.callback).toMatchObject({ state: 'dead_lettered', deadLetterReason: 'x' });
    });
  });

  describe('ports the flows cover (every port has its contract here)', () => {
    it('approval links: one per request and channel, found by hash only; text messages counted below the daily cap', async () => {
      const txn = uid('txn');
      const link = {
        hash: randomBytes(32).toString('base64url'),
        tenantId: 'acme',
        txn,
        sub: 'alice',
        channel: 'email' as const,
        createdAt: NOW,
        expiresAt: NOW + MINUTE,
      };
      expect(await s.links.issue(link)).toBe('ok');
      expect(await s.links.find(link.hash)).toEqual(link);
      // The request was sent by email: a second email link (a redelivered fallback) is refused and not stored.
      const again = { ...link, hash: randomBytes(32).toString('base64url') };
      expect(await s.links.issue(again)).toBe('conflict');
      expect(await s.links.find(again.hash)).toBeUndefined();
      // Another channel of the same request is its own.
      const sms = { ...link, hash: randomBytes(32).toString('base64url'), channel: 'sms' as const };
      expect(await s.links.issue(sms)).toBe('ok');
      expect(await s.links.find(sms.hash)).toEqual(sms);
      expect(await s.links.find(randomBytes(32).toString('base64url'))).toBeUndefined();
      expect(await s.links.find('not-a-hash')).toBeUndefined();
      expect(await s.links.find('x'.repeat(5000))).toBeUndefined();

      const tenant = uid('t');
      expect(await s.links.countText(tenant, '2026-01-01', 2)).toBe(true);
      expect(await s.links.countText(tenant, '2026-01-01', 2)).toBe(true);
      expect(await s.links.countText(tenant, '2026-01-01', 2)).toBe(false);
      expect(await s.links.countText(tenant, '2026-01-02', 2)).toBe(true);
      expect(await s.links.countText(uid('t'), '2026-01-01', 0)).toBe(false);
    });

    it('approval links: of concurrent issues for one request and channel, exactly one is stored', async () => {
      const txn = uid('txn');
      const links = Array.from({ length: 4 }, () => ({
        hash: randomBytes(32).toString('base64url'),
        tenantId: 'acme',
        txn,
        sub: 'alice',
        channel: 'sms' as const,
        createdAt: NOW,
        expiresAt: NOW + MINUTE,
      }));
      const outcomes = await Promise.all(links.map((l) => s.links.issue(l)));
      expect(outcomes.filter((o) => o === 'ok')).toHaveLength(1);
      const found = await Promise.all(links.map((l) => s.links.find(l.hash)));
      expect(found.filter(Boolean)).toHaveLength(1);
    });

    it('quotas: counts below a bound per key and window, and reads 0 for none', async () => {
      const k = uid('q');
      expect(await s.quotas.count(k, 7)).toBe(0);
      expect(await s.quotas.increment(k, 7, { below: 2, expiresAt: NOW })).toBe('ok');
      expect(await s.quotas.increment(k, 7, { below: 2, expiresAt: NOW })).toBe('ok');
      expect(await s.quotas.increment(k, 7, { below: 2, expiresAt: NOW })).toBe('conflict');
      expect(await s.quotas.count(k, 7)).toBe(2);
      expect(await s.quotas.count(k, 8)).toBe(0);
      expect(await s.quotas.increment(k, 8, { below: 0, expiresAt: NOW })).toBe('conflict');
    });

    it('refresh tokens: created once, used once by their own client, a second use is reported as reused', async () => {
      const record = {
        tokenHash: uid('rt'),
        familyId: 'fam',
        tenantId: 'acme',
        clientId: 'rp',
        sub: 'alice',
        scope: 'openid offline_access',
        authTime: NOW,
        createdAt: NOW,
        expiresAt: NOW + MINUTE,
        tenantGeneration: 'g1',
      };
      expect(await s.refreshTokens.create(record)).toBe('ok');
      expect(await s.refreshTokens.create(record)).toBe('conflict');
      expect(await s.refreshTokens.get(record.tokenHash)).toEqual(record);
      const owner = { tenantId: 'acme', clientId: 'rp' };
      expect(await s.refreshTokens.use(record.tokenHash, { ...owner, clientId: 'other' }, NOW)).toBeUndefined();
      expect(await s.refreshTokens.use(record.tokenHash, owner, NOW + 1)).toEqual({
        outcome: 'rotated',
        record: { ...record, usedAt: NOW + 1 },
      });
      expect(await s.refreshTokens.use(record.tokenHash, owner, NOW + 2)).toMatchObject({ outcome: 'reused' });
      const expired = { ...record, tokenHash: uid('rt') };
      await s.refreshTokens.create(expired);
      expect(await s.refreshTokens.use(expired.tokenHash, owner, expired.expiresAt)).toBeUndefined();
      expect(await s.refreshTokens.use(uid('none'), owner, NOW)).toBeUndefined();
    });

    it('revocations: revoked until they expire', async () => {
      const id = uid('jti');
      expect(await s.revocations.isRevoked('access_token', id, NOW)).toBe(false);
      await s.revocations.revoke('access_token', id, NOW + MINUTE);
      expect(await s.revocations.isRevoked('access_token', id, NOW)).toBe(true);
      expect(await s.revocations.isRevoked('refresh_family', id, NOW)).toBe(false);
      expect(await s.revocations.isRevoked('access_token', id, NOW + MINUTE)).toBe(false);
    });

    it('users: a legacy user-code hash is upgraded only while it is still that hash; a deleted user is returned once', async () => {
      const u = user(uid('t'), uid('u'), { userCodeHash: 'legacy' });
      await s.users.save(u, null);
      expect(await s.users.upgradeUserCode(u.tenantId, u.sub, 'other', 'mac')).toBe('conflict');
      expect(await s.users.upgradeUserCode(u.tenantId, u.sub, 'legacy', 'mac')).toBe('ok');
      expect(await s.users.get(u.tenantId, u.sub)).toMatchObject({ userCodeMac: 'mac' });
      expect((await s.users.get(u.tenantId, u.sub))?.userCodeHash).toBeUndefined();
      expect(await s.users.upgradeUserCode(u.tenantId, u.sub, 'legacy', 'mac2')).toBe('conflict');
      const d = device(u.tenantId, u.sub);
      await createDevice(d.device, d.summary);
      expect(await s.users.delete(u.tenantId, u.sub)).toMatchObject({ sub: u.sub, devices: [d.summary] });
      expect(await s.users.delete(u.tenantId, u.sub)).toBeUndefined();
      expect(await s.users.get(u.tenantId, u.sub)).toBeUndefined();
    });

    it('devices: the push channel is set on the device and its summary, only for its user; purge removes records', async () => {
      const u = user(uid('t'));
      await s.users.save(u, null);
      const d = device(u.tenantId, u.sub);
      await createDevice(d.device, d.summary);
      const push = { type: 'fcm' as const, token: 'tok', endpointArn: 'arn:endpoint' };
      expect(await s.pushChannels.set(u.tenantId, 'mallory', d.device.deviceId, push)).toBe('conflict');
      expect(await s.pushChannels.set(u.tenantId, u.sub, d.device.deviceId, push)).toBe('ok');
      expect((await s.devices.get(u.tenantId, d.device.deviceId))?.push).toEqual(push);
      expect((await s.users.get(u.tenantId, u.sub))?.devices[0]?.push).toEqual(push);
      expect(await s.pushChannels.set(u.tenantId, u.sub, uid('gone'), push)).toBe('conflict');
      await s.devices.purge(u.tenantId, [d.device.deviceId, uid('never')]);
      expect(await s.devices.get(u.tenantId, d.device.deviceId)).toBeUndefined();
    });

    it('requests: a wrong binding code is counted only while the request is pending and the owner’s; delete forgets it', async () => {
      const r = request();
      await s.requests.create(r);
      const owner = { tenantId: r.tenantId, sub: r.sub };
      expect(await s.decisions.countBindingCodeMismatch(r.txn, { ...owner, sub: 'mallory' }, NOW)).toBe('conflict');
      expect(await s.decisions.countBindingCodeMismatch(r.txn, owner, NOW)).toMatchObject({ bindingCodeAttempts: 1 });
      expect(await s.decisions.countBindingCodeMismatch(r.txn, owner, NOW)).toMatchObject({ bindingCodeAttempts: 2 });
      expect(await s.decisions.countBindingCodeMismatch(r.txn, owner, r.expiresAt)).toBe('conflict');
      await s.decisions.decide(r.txn, owner, 'denied', evidence('deny'), NOW);
      expect(await s.decisions.countBindingCodeMismatch(r.txn, owner, NOW)).toBe('conflict');
      await s.requests.delete(r.txn);
      expect(await s.requests.get(r.txn)).toBeUndefined();
      await expect(s.requests.delete(uid('none'))).resolves.toBeUndefined();
    });
  });
});

/**
 * The DynamoDB adapter on a directory of the layout before per-user and per-device keys
 * (lib/adapters/dynamodb/directory-layout.ts): every user and device item under `T#{tenant}`. The ports answer as
 * the contract above says, and each item moves to its own key on first use, without losing a write.
 */
describe('DynamoDB adapter on dynalite: users and devices of the directory layout before', () => {
  let legacy: EmbeddedDynamoDb;
  let s: StorePorts;
  let db: Tables;
  beforeAll(async () => {
    legacy = await startEmbeddedDynamoDb({ dataDir: 'memory' });
    db = { client: legacy.client, directory: DIRECTORY_TABLE_DEFAULT, ledger: LEDGER_TABLE_DEFAULT };
    s = dynamoDbStore({ client: legacy.client, directoryTable: db.directory, ledgerTable: db.ledger });
  });
  afterAll(() => legacy?.stop());

  const raw = async (pk: string, sk: string) => {
    const out = await db.client.send(
      new GetItemCommand({ TableName: db.directory, Key: toItem({ pk, sk }), ConsistentRead: true }),
    );
    return out.Item && fromItem(out.Item);
  };
  const put = (item: Record<string, unknown>) =>
    db.client.send(new PutItemCommand({ TableName: db.directory, Item: toItem(item) }));
  /** A user with one device, stored as the release before stored them. */
  const plant = async () => {
    const u = user(uid('t'));
    const d = device(u.tenantId, u.sub);
    const withDevice = { ...u, devices: [d.summary] };
    await put({
      pk: `T#${u.tenantId}`,
      sk: `USER#${u.sub}`,
      ...userItem.toItem(withDevice),
      email_key: `${u.tenantId}#${u.claims.email!.toLowerCase()}`,
    });
    await put({ pk: `T#${u.tenantId}`, sk: `DEVICE#${d.device.deviceId}`, ...deviceItem.toItem(d.device), jtis: {} });
    return { u: withDevice, d: d.device };
  };
  /** The item is at its own key, and only its membership item (its keys, marked moved) is left under the tenant. */
  const expectMoved = async (tenantId: string, sk: string) => {
    expect(await raw(`T#${tenantId}#${sk}`, sk)).toMatchObject({ tenant_id: tenantId });
    expect(await raw(`T#${tenantId}`, sk)).toEqual({ pk: `T#${tenantId}`, sk, moved: true });
  };

  it('reads and finds a user and a device where they are (a read writes nothing), and the first write moves them', async () => {
    const { u, d } = await plant();
    expect(await s.users.findByEmail(u.tenantId, 'ada@example.com')).toEqual([u.sub]);
    expect(await s.users.get(u.tenantId, u.sub)).toEqual(u);
    expect(await s.devices.get(u.tenantId, d.deviceId)).toEqual(d);
    expect(await raw(`T#${u.tenantId}`, `USER#${u.sub}`)).toMatchObject({ tenant_id: u.tenantId });
    expect(
      await s.pushChannels.set(u.tenantId, u.sub, d.deviceId, { type: 'webhook', url: 'https://example.com/p' }),
    ).toBe('ok');
    await expectMoved(u.tenantId, `USER#${u.sub}`);
    await expectMoved(u.tenantId, `DEVICE#${d.deviceId}`);
    expect(await s.users.findByEmail(u.tenantId, 'ada@example.com')).toEqual([u.sub]);
    expect((await s.users.get(u.tenantId, u.sub))?.devices[0]?.push).toEqual({
      type: 'webhook',
      url: 'https://example.com/p',
    });
  });

  it('admits a user through its window write, which returns the user, and counts every concurrent admission', async () => {
    const { u } = await plant();
    const hints = new RateWindowHints();
    const results = await Promise.all(
      Array.from({ length: 12 }, () =>
        admitUserRequest(s, { tenantId: u.tenantId, sub: u.sub, limitPerMinute: 5, now: NOW }, hints),
      ),
    );
    expect(results.filter((r) => r && 'user' in r)).toHaveLength(5);
    expect(results.filter((r) => r && 'rateLimited' in r)).toHaveLength(7);
    await expectMoved(u.tenantId, `USER#${u.sub}`);
  });

  it("authenticates a device by its proof's write once, refusing replays, also when they race its move", async () => {
    const { u, d } = await plant();
    const jti = uid('jti');
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        useDeviceProof(s, { tenantId: u.tenantId, deviceId: d.deviceId, jti, expiresAt: NOW + MINUTE, now: NOW }),
      ),
    );
    expect(results.filter((r) => r !== undefined)).toEqual([d]);
    await expectMoved(u.tenantId, `DEVICE#${d.deviceId}`);
    // Proofs of their own, racing the move of another device: every one is recorded, none refused.
    const other = await plant();
    const own = await Promise.all(
      Array.from({ length: 8 }, () =>
        useDeviceProof(s, {
          tenantId: other.u.tenantId,
          deviceId: other.d.deviceId,
          jti: uid('jti'),
          expiresAt: NOW + MINUTE,
          now: NOW,
        }),
      ),
    );
    expect(own.filter((r) => r === undefined)).toEqual([]);
  });

  it('changes a device (push channel, passkey) and a profile where they are, and the change is kept', async () => {
    const { u, d } = await plant();
    const passkey = { credentialId: 'cred', publicKey: 'pk', counter: 0, createdAt: NOW };
    expect(await s.passkeys.set(u.tenantId, d.deviceId, passkey, null)).toBe('ok');
    expect((await s.devices.get(u.tenantId, d.deviceId))?.passkey).toEqual(passkey);
    expect(await s.users.save({ ...u, claims: { name: 'Ada' }, updatedAt: NOW + 1 }, NOW)).toBe('ok');
    expect((await s.users.get(u.tenantId, u.sub))?.claims).toEqual({ name: 'Ada' });
    expect(await s.users.findByEmail(u.tenantId, 'ada@example.com')).toEqual([]);
  });

  it('does not create a user or device again over one stored before', async () => {
    const { u, d } = await plant();
    expect(await s.users.save(u, null)).toBe('conflict');
    expect(await s.devices.create({ ...d, name: 'Other' })).toBe('conflict');
    expect(await s.devices.get(u.tenantId, d.deviceId)).toEqual(d);
  });

  it('deletes a user and a device of either layout, and a tenant with all of them', async () => {
    const { u, d } = await plant();
    expect(await s.devices.delete(u.tenantId, u.sub, d.deviceId)).toBe(true);
    expect(await s.users.delete(u.tenantId, u.sub)).toMatchObject({ sub: u.sub, devices: [] });
    for (const sk of [`USER#${u.sub}`, `DEVICE#${d.deviceId}`]) {
      expect(await raw(`T#${u.tenantId}`, sk)).toBeUndefined();
      expect(await raw(`T#${u.tenantId}#${sk}`, sk)).toBeUndefined();
    }

    const other = await plant();
    await s.tenants.save(tenant(other.u.tenantId), null);
    const fresh = user(other.u.tenantId);
    await s.users.save(fresh, null);
    expect(await s.users.get(other.u.tenantId, other.u.sub)).toBeDefined(); // moved
    expect(await s.tenants.delete(other.u.tenantId)).toBe('deleted');
    const left = await db.client.send(new ScanCommand({ TableName: db.directory }));
    expect((left.Items ?? []).map(fromItem).filter((i) => String(i.pk).startsWith(`T#${other.u.tenantId}`))).toEqual(
      [],
    );
  });

  it('moves everything at once (local start, the CLI), once', async () => {
    const planted = [await plant(), await plant()];
    await db.client.send(
      new DeleteItemCommand({ TableName: db.directory, Key: toItem({ pk: 'LAYOUT', sk: 'LAYOUT' }) }),
    );
    expect(await moveLegacyDirectory(db)).toBeGreaterThanOrEqual(4); // and what the tests above left unmoved
    const all = ((await db.client.send(new ScanCommand({ TableName: db.directory }))).Items ?? []).map(fromItem);
    expect(
      all.filter((i) => i.tenant_id !== undefined && i.pk === `T#${i.tenant_id}` && /^(USER|DEVICE)#/.test(i.sk)),
    ).toEqual([]);
    for (const { u, d } of planted) {
      await expectMoved(u.tenantId, `USER#${u.sub}`);
      await expectMoved(u.tenantId, `DEVICE#${d.deviceId}`);
    }
    await plant(); // written by a function of the release before after the move: found on its first use
    expect(await moveLegacyDirectory(db)).toBe(0);
  });

  it('`ciba directory move-legacy` moves what is left, whatever an earlier run recorded', async () => {
    const { u, d } = await plant();
    const t = testContext();
    const args = ['directory', 'move-legacy', '--table', db.directory];
    expect(await runCli([...args, '--endpoint', legacy.endpoint], t.ctx)).toBe(0);
    expect(t.stdout()).toMatch(/^moved [1-9]\d* users and devices to their own keys\n$/);
    await expectMoved(u.tenantId, `USER#${u.sub}`);
    await expectMoved(u.tenantId, `DEVICE#${d.deviceId}`);
    const aws = testContext();
    expect(await runCli(args, aws.ctx)).not.toBe(0);
    expect(aws.stderr()).toMatch(/^error: invalid_option — directory move-legacy needs a region/);
    const bad = testContext();
    expect(await runCli([...args, '--endpoint', 'localhost:8000'], bad.ctx)).not.toBe(0);
    expect(bad.stderr()).toContain(
      "option '--endpoint <url>' argument 'localhost:8000' is invalid. must be an http or https URL.",
    );
  });
});
