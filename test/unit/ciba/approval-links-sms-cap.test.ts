import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sendApprovalLink, textCapMemory } from '../../../lib/ciba/approval-links.ts';
import { type AuthRequest, DEFAULT_TENANT_SETTINGS, type Tenant, type User } from '../../../lib/model.ts';
import type { Logger } from '../../../lib/ports.ts';

/**
 * The tenant's daily cap of text messages (`sms_daily_limit`) is counted by the store in one conditional write per
 * message; a process that saw the cap reached refuses the day's next ones without any write (docs/deploy.md
 * "Capacity"), and never refuses one the store would have admitted.
 */
const DAY = Date.UTC(2026, 0, 1, 12);
const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

const tenant = (tenantId: string, smsDailyLimit: number): Tenant => ({
  tenantId,
  settings: { ...DEFAULT_TENANT_SETTINGS, channels: ['sms'], smsDailyLimit },
  createdAt: 0,
  updatedAt: 0,
});
const user: User = {
  tenantId: 'acme',
  sub: 'alice',
  claims: { phone_number: '+15555550100' },
  devices: [],
  createdAt: 0,
  updatedAt: 0,
};
let n = 0;
const request = (tenantId: string): AuthRequest => ({
  txn: `txn-${n++}`,
  authReqId: 'x',
  tenantId,
  clientId: 'c',
  sub: 'alice',
  claims: {},
  scope: 'openid',
  deliveryMode: 'poll',
  status: 'pending',
  createdAt: DAY,
  expiresAt: DAY + 300_000,
  interval: 5,
});

/** A store that counts as the DynamoDB adapter does (one count per tenant and day), recording every write. */
const world = () => {
  const counts = new Map<string, number>();
  const writes: string[] = [];
  const sent: string[] = [];
  let now = DAY;
  const deps = {
    links: {
      async issue(link: { txn: string }) {
        writes.push(`issue ${link.txn}`);
        return 'ok' as const;
      },
      async find() {
        return undefined;
      },
      async countText(tenantId: string, day: string, cap: number) {
        writes.push(`count ${tenantId} ${day}`);
        const count = counts.get(`${tenantId}#${day}`) ?? 0;
        if (count >= cap) return false;
        counts.set(`${tenantId}#${day}`, count + 1);
        return true;
      },
    },
    sender: {
      async send(message: { tenantId: string }) {
        sent.push(message.tenantId);
      },
    },
    clock: { now: () => now },
    logger: silent,
  };
  return {
    deps: deps as never,
    writes,
    sent,
    setNow: (t: number) => {
      now = t;
    },
  };
};

const sms = (w: ReturnType<typeof world>, t: Tenant, memory = textCapMemory()) =>
  sendApprovalLink(
    w.deps,
    { tenant: t, client: { clientId: 'c', clientName: 'C' }, user, request: request(t.tenantId), channel: 'sms' },
    memory,
  );

describe('sms_daily_limit in one process', () => {
  it('refuses past the cap without a write once it saw the cap reached; another tenant, a higher cap or the next day asks the store again', async () => {
    const w = world();
    const memory = textCapMemory();
    const acme = tenant('acme', 2);
    expect([await sms(w, acme, memory), await sms(w, acme, memory), await sms(w, acme, memory)]).toEqual([
      true,
      true,
      false,
    ]);
    const writes = w.writes.length;
    // The day's next links of the tenant: refused, nothing written (no link, no mark, no count).
    for (let i = 0; i < 5; i++) expect(await sms(w, acme, memory)).toBe(false);
    expect(await sms(w, tenant('acme', 1), memory)).toBe(false);
    expect(w.writes.length).toBe(writes);
    // Another tenant counts on its own.
    expect(await sms(w, tenant('bank', 1), memory)).toBe(true);
    // The cap raised: the store is asked again, and admits.
    expect(await sms(w, tenant('acme', 3), memory)).toBe(true);
    // The next UTC day: asked again.
    w.setNow(DAY + 86_400_000);
    expect(await sms(w, acme, memory)).toBe(true);
    expect(w.sent).toEqual(['acme', 'acme', 'bank', 'acme', 'acme']);
  });

  it('sends exactly what the store admits, with or without the memory, whatever the order of tenants, caps and days', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({ tenant: fc.constantFrom('a', 'b'), cap: fc.integer({ min: 0, max: 4 }), day: fc.nat(2) }),
          {
            maxLength: 40,
          },
        ),
        async (steps) => {
          const remembering = world();
          const memory = textCapMemory();
          const forgetting = world();
          for (const step of steps) {
            const t = tenant(step.tenant, step.cap);
            remembering.setNow(DAY + step.day * 86_400_000);
            forgetting.setNow(DAY + step.day * 86_400_000);
            // A fresh memory each time: a process that knows nothing (every request its own Lambda instance).
            expect(await sms(remembering, t, memory)).toBe(await sms(forgetting, t, textCapMemory()));
          }
          expect(remembering.sent).toEqual(forgetting.sent);
          expect(remembering.writes.length).toBeLessThanOrEqual(forgetting.writes.length);
        },
      ),
      { numRuns: 200 },
    );
  });
});
