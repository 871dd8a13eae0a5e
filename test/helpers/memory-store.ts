import {
  type CallbackLease,
  claimed,
  decidedFor,
  mayClaim,
  mayRecord,
  recorded,
} from '../../lib/ciba/callback-lease.ts';
import { gateHolds } from '../../lib/ciba/report-shield.ts';
import {
  applyRateWindowRefund,
  applyRateWindowWrite,
  rateWindowRefundApplies,
  rateWindowWriteApplies,
} from '../../lib/ciba/user-rate-window.ts';
import type { AuthRequest, Client, Device, RefreshTokenRecord, Tenant, TenantKeyset, User } from '../../lib/model.ts';
import type { AdmissionShard, ApprovalLink, RateWindow, StorePorts, TenantCounters } from '../../lib/persistence.ts';

/**
 * In-memory fakes of every persistence port (lib/persistence.ts), for unit tests of the core. They keep records as
 * the DynamoDB adapter does and apply the core's own transition rules (rate windows, the admission gate, callback
 * leases);
 * test/contract/ runs the same suite against them and against the adapter on dynalite, so they cannot drift.
 */
export interface MemoryState {
  tenants: Map<string, Tenant>;
  keysets: Map<string, TenantKeyset>;
  clients: Map<string, Client>;
  users: Map<string, User & { window?: RateWindow }>;
  devices: Map<string, Device & { proofIds: Record<string, number> }>;
  requests: Map<string, AuthRequest & { lease?: CallbackLease }>;
  tickets: Map<string, { tenantId: string; sub: string; expiresAt: number }>;
  used: Map<string, number>;
  refreshTokens: Map<string, RefreshTokenRecord>;
  revocations: Map<string, number>;
  quotas: Map<string, number>;
  /** Per shard: its counts per minute, and per pending window (`{length}/{window}`) those of it and the one before. */
  admission: Map<string, Pick<TenantCounters, 'minutes'> & { pending: Record<string, number> }>;
  /** Approval links by hash, the channels each request was sent by (txn, channel), text messages per tenant and day. */
  links: Map<string, ApprovalLink>;
  linksSent: Set<string>;
  textsPerDay: Map<string, number>;
}

const key = (...parts: string[]) => parts.join('\u0000');
const shardKey = ({ tenantId, shard }: AdmissionShard) => key(tenantId, String(shard));
const copy = <T>(value: T): T => structuredClone(value);
const requestOf = ({ lease: _lease, ...request }: AuthRequest & { lease?: CallbackLease }): AuthRequest =>
  copy(request);
const userOf = ({ window: _window, ...user }: User & { window?: RateWindow }): User => copy(user);
const deviceOf = ({ proofIds: _ids, ...device }: Device & { proofIds: Record<string, number> }): Device => copy(device);

export const memoryState = (): MemoryState => ({
  tenants: new Map(),
  keysets: new Map(),
  clients: new Map(),
  users: new Map(),
  devices: new Map(),
  requests: new Map(),
  tickets: new Map(),
  used: new Map(),
  refreshTokens: new Map(),
  revocations: new Map(),
  quotas: new Map(),
  admission: new Map(),
  links: new Map(),
  linksSent: new Set(),
  textsPerDay: new Map(),
});

export const memoryStore = (state: MemoryState = memoryState()): StorePorts & { state: MemoryState } => {
  const decidable = (txn: string, owner: { tenantId: string; sub: string }, now: number) => {
    const r = state.requests.get(txn);
    return r && r.tenantId === owner.tenantId && r.sub === owner.sub && r.status === 'pending' && r.expiresAt > now
      ? r
      : undefined;
  };
  const listed = (tenantId: string, sub: string, deviceId: string) =>
    state.users.get(key(tenantId, sub))?.devices.find((d) => d.deviceId === deviceId);
  return {
    state,
    tenants: {
      get: async (tenantId) => {
        const tenant = state.tenants.get(tenantId);
        return tenant?.deleting ? undefined : copy(tenant);
      },
      find: async (tenantId) => copy(state.tenants.get(tenantId)),
      async save(tenant, expected) {
        const current = state.tenants.get(tenant.tenantId);
        if (expected === null ? current !== undefined : current?.updatedAt !== expected) return 'conflict';
        state.tenants.set(tenant.tenantId, copy(tenant));
        return 'ok';
      },
      async delete(tenantId, maxItems = Number.POSITIVE_INFINITY) {
        const current = state.tenants.get(tenantId);
        if (!current) return 'absent';
        state.tenants.set(tenantId, { ...current, deleting: true, updatedAt: current.updatedAt + 1 });
        let budget = maxItems;
        for (const map of [state.clients, state.users, state.devices] as Map<string, unknown>[]) {
          for (const k of map.keys()) {
            if (!k.startsWith(key(tenantId, ''))) continue;
            if (budget-- <= 0) return 'continues';
            map.delete(k);
          }
        }
        state.keysets.delete(tenantId);
        state.tenants.delete(tenantId);
        return 'deleted';
      },
    },
    keysets: {
      get: async (tenantId) => copy(state.keysets.get(tenantId)),
      async save(keyset, expected) {
        const current = state.keysets.get(keyset.tenantId);
        if (expected === null ? current !== undefined : current?.updatedAt !== expected) return 'conflict';
        state.keysets.set(keyset.tenantId, copy(keyset));
        return 'ok';
      },
    },
    clients: {
      get: async (tenantId, clientId) => copy(state.clients.get(key(tenantId, clientId))),
      async create(client) {
        if (state.clients.has(key(client.tenantId, client.clientId))) return 'conflict';
        state.clients.set(key(client.tenantId, client.clientId), copy(client));
        return 'ok';
      },
      delete: async (tenantId, clientId) => state.clients.delete(key(tenantId, clientId)),
    },
    users: {
      async get(tenantId, sub) {
        const user = state.users.get(key(tenantId, sub));
        return user && userOf(user);
      },
      async save(user, expected) {
        const current = state.users.get(key(user.tenantId, user.sub));
        if (expected === null ? current !== undefined : current?.updatedAt !== expected) return 'conflict';
        // The profile only: the device list, the report shields and the rate window are kept.
        const { devices: _devices, reportShields: _shields, ...profile } = copy(user);
        state.users.set(key(user.tenantId, user.sub), {
          ...profile,
          devices: current?.devices ?? [],
          ...(current?.reportShields ? { reportShields: current.reportShields } : {}),
          ...(current?.window ? { window: current.window } : {}),
        });
        return 'ok';
      },
      async delete(tenantId, sub) {
        const user = state.users.get(key(tenantId, sub));
        state.users.delete(key(tenantId, sub));
        return user && userOf(user);
      },
      async upgradeUserCode(tenantId, sub, legacyHash, mac) {
        const user = state.users.get(key(tenantId, sub));
        if (user?.userCodeHash !== legacyHash) return 'conflict';
        delete user.userCodeHash;
        user.userCodeMac = mac;
        return 'ok';
      },
      findByEmail: async (tenantId, email) =>
        [...state.users.values()]
          .filter((u) => u.tenantId === tenantId && u.claims.email?.toLowerCase() === email.toLowerCase())
          .map((u) => u.sub),
      findByPhone: async (tenantId, phone) =>
        [...state.users.values()]
          .filter((u) => u.tenantId === tenantId && u.claims.phone_number === phone)
          .map((u) => u.sub),
    },
    rateWindows: {
      async write(tenantId, sub, write, window, gate) {
        const user = state.users.get(key(tenantId, sub));
        if (!user || !rateWindowWriteApplies(user.window ?? {}, write, window)) return 'conflict';
        if (gate && !gateHolds(user, gate)) return 'conflict';
        user.window = applyRateWindowWrite(user.window ?? {}, write, window.minute);
        return { user: userOf(user), minute: user.window.minute! };
      },
      async refund(tenantId, sub, refund, minute) {
        const user = state.users.get(key(tenantId, sub));
        if (!user?.window || !rateWindowRefundApplies(user.window, refund, minute)) return 'conflict';
        user.window = applyRateWindowRefund(user.window, refund);
        return 'ok';
      },
    },
    shields: {
      async shield(tenantId, sub, clientId, until) {
        const user = state.users.get(key(tenantId, sub));
        if (!user) return;
        const current = user.reportShields?.[clientId];
        if (current !== undefined && current >= until) return;
        user.reportShields = { ...user.reportShields, [clientId]: until };
      },
      async lift(tenantId, sub, clientId) {
        const user = state.users.get(key(tenantId, sub));
        if (!user?.reportShields || !Object.hasOwn(user.reportShields, clientId)) return false;
        const { [clientId]: _lifted, ...rest } = user.reportShields;
        user.reportShields = rest;
        return true;
      },
    },
    devices: {
      async get(tenantId, deviceId) {
        const device = state.devices.get(key(tenantId, deviceId));
        return device && deviceOf(device);
      },
      async create(device) {
        if (state.devices.has(key(device.tenantId, device.deviceId))) return 'conflict';
        state.devices.set(key(device.tenantId, device.deviceId), { ...copy(device), proofIds: {} });
        return 'ok';
      },
      async listOnUser(tenantId, sub, summary) {
        const user = state.users.get(key(tenantId, sub));
        if (!user) return 'conflict';
        user.devices.push(copy(summary));
        return 'ok';
      },
      async delete(tenantId, sub, deviceId) {
        if (state.devices.get(key(tenantId, deviceId))?.sub !== sub) return false;
        state.devices.delete(key(tenantId, deviceId));
        const user = state.users.get(key(tenantId, sub));
        if (user) user.devices = user.devices.filter((d) => d.deviceId !== deviceId);
        return true;
      },
      async purge(tenantId, deviceIds) {
        for (const id of deviceIds) state.devices.delete(key(tenantId, id));
      },
    },
    pushChannels: {
      async set(tenantId, sub, deviceId, push) {
        const device = state.devices.get(key(tenantId, deviceId));
        if (device?.sub !== sub) return 'conflict';
        device.push = copy(push);
        const summary = listed(tenantId, sub, deviceId);
        if (summary) summary.push = copy(push);
        return 'ok';
      },
      async disable(tenantId, sub, deviceId) {
        const device = state.devices.get(key(tenantId, deviceId));
        if (device?.sub === sub && device.push) device.push.disabled = true;
        const summary = listed(tenantId, sub, deviceId);
        if (summary?.push) summary.push.disabled = true;
      },
    },
    passkeys: {
      async set(tenantId, deviceId, passkey, expected) {
        const device = state.devices.get(key(tenantId, deviceId));
        if (!device || (device.passkey?.credentialId ?? null) !== expected) return 'conflict';
        device.passkey = copy(passkey);
        return 'ok';
      },
      async remove(tenantId, sub, deviceId) {
        const device = state.devices.get(key(tenantId, deviceId));
        if (device?.sub !== sub || !device.passkey) return undefined;
        const removed = device.passkey;
        delete device.passkey;
        return removed;
      },
    },
    deviceProofs: {
      async use(tenantId, deviceId, jti, expiresAt) {
        const device = state.devices.get(key(tenantId, deviceId));
        if (!device || jti in device.proofIds) return undefined;
        device.proofIds[jti] = expiresAt;
        return { device: deviceOf(device), proofIds: { ...device.proofIds } };
      },
      async forget(tenantId, deviceId, jtis) {
        const device = state.devices.get(key(tenantId, deviceId));
        for (const jti of jtis) if (device) delete device.proofIds[jti];
      },
    },
    replay: {
      async useOnce(id, expiresAt) {
        if (state.used.has(id)) return false;
        state.used.set(id, expiresAt);
        return true;
      },
    },
    requests: {
      async create(request) {
        if (state.requests.has(request.txn)) return 'conflict';
        state.requests.set(request.txn, copy(request));
        return 'ok';
      },
      async get(txn) {
        const r = state.requests.get(txn);
        return r && requestOf(r);
      },
      async delete(txn) {
        state.requests.delete(txn);
      },
      async withdraw(txn) {
        if (state.requests.get(txn)?.status !== 'pending') return false;
        return state.requests.delete(txn);
      },
      listPending: async (tenantId, sub, now) =>
        [...state.requests.values()]
          .filter((r) => r.tenantId === tenantId && r.sub === sub && r.status === 'pending' && r.expiresAt > now)
          .sort((a, b) => b.createdAt - a.createdAt)
          .map(requestOf),
    },
    polls: {
      async poll(txn, authReqId, owner, now) {
        const r = state.requests.get(txn);
        if (!r || r.authReqId !== authReqId || r.tenantId !== owner.tenantId || r.clientId !== owner.clientId) {
          return undefined;
        }
        const before = requestOf(r);
        r.lastPolledAt = now;
        delete r.grantPending;
        return before;
      },
      async slowDown(txn, addSeconds) {
        const r = state.requests.get(txn);
        if (r) r.interval += addSeconds;
      },
      async restoreGrant(txn) {
        const r = state.requests.get(txn);
        if (r?.status === 'approved') r.grantPending = true;
      },
    },
    decisions: {
      async decide(txn, owner, status, evidence, now) {
        const r = decidable(txn, owner, now);
        if (!r) return 'conflict';
        Object.assign(r, { status, decidedAt: now, authTime: now, evidence: copy(evidence) });
        if (status === 'approved') r.grantPending = true;
        return requestOf(r);
      },
      async countBindingCodeMismatch(txn, owner, now) {
        const r = decidable(txn, owner, now);
        if (!r) return 'conflict';
        r.bindingCodeAttempts = (r.bindingCodeAttempts ?? 0) + 1;
        return requestOf(r);
      },
    },
    callbacks: {
      async claim(txn, { attempt, now, leaseUntil, decidedFor: tenantId }) {
        const r = state.requests.get(txn);
        if (!r || !mayClaim({ ...r.lease, ...(r.callback ? { state: r.callback.state } : {}) }, attempt, now)) {
          return 'conflict';
        }
        if (tenantId !== undefined && !decidedFor(r, tenantId)) return 'conflict';
        r.lease = claimed(r.lease ?? {}, attempt, leaseUntil);
        r.callback ??= { state: 'pending', attempts: [] };
        return requestOf(r);
      },
      async savePushResponse(txn, sealedResponse, now) {
        const r = state.requests.get(txn);
        if (!r?.grantPending || r.status !== 'approved') return 'conflict';
        r.sealedPushResponse = sealedResponse;
        r.redeemedAt = now;
        delete r.grantPending;
        return requestOf(r);
      },
      async record(txn, attempt, outcome) {
        const r = state.requests.get(txn);
        if (!r?.callback || !r.lease || !mayRecord(r.lease, attempt.attempt)) return 'conflict';
        r.callback.attempts.push(copy(attempt));
        r.callback.state = outcome.state;
        if (outcome.deliveredAt !== undefined) r.callback.deliveredAt = outcome.deliveredAt;
        if (outcome.deadLetterReason !== undefined) r.callback.deadLetterReason = outcome.deadLetterReason;
        r.lease = recorded(r.lease, outcome.state);
        if (outcome.state !== 'pending') delete r.sealedPushResponse;
        return 'ok';
      },
    },
    tickets: {
      async create(ticketHash, owner, expiresAt) {
        state.tickets.set(ticketHash, { ...owner, expiresAt });
      },
      async consume(ticketHash, now) {
        const ticket = state.tickets.get(ticketHash);
        if (!ticket || ticket.expiresAt <= now) return undefined;
        state.tickets.delete(ticketHash);
        return { tenantId: ticket.tenantId, sub: ticket.sub };
      },
    },
    refreshTokens: {
      async create(record) {
        if (state.refreshTokens.has(record.tokenHash)) return 'conflict';
        state.refreshTokens.set(record.tokenHash, copy(record));
        return 'ok';
      },
      get: async (tokenHash) => copy(state.refreshTokens.get(tokenHash)),
      async use(tokenHash, owner, now) {
        const record = state.refreshTokens.get(tokenHash);
        if (!record || record.tenantId !== owner.tenantId || record.clientId !== owner.clientId) return undefined;
        if (record.usedAt !== undefined) return { outcome: 'reused', record: copy(record) };
        if (record.expiresAt <= now) return undefined;
        record.usedAt = now;
        return { outcome: 'rotated', record: copy(record) };
      },
    },
    revocations: {
      async revoke(kind, id, expiresAt) {
        state.revocations.set(key(kind, id), expiresAt);
      },
      isRevoked: async (kind, id, now) => (state.revocations.get(key(kind, id)) ?? 0) > now,
    },
    quotas: {
      count: async (k, window) => state.quotas.get(key(k, String(window))) ?? 0,
      async increment(k, window, { below }) {
        const count = state.quotas.get(key(k, String(window))) ?? 0;
        if (count >= below) return 'conflict';
        state.quotas.set(key(k, String(window)), count + 1);
        return 'ok';
      },
    },
    admission: {
      async count(counter, at, limits, _expiresAt, amount = 1) {
        const c = state.admission.get(shardKey(counter));
        const window = (w: number) => `${at.windowMs}/${w}`;
        if (!c || c.minutes[at.minute + 1] !== undefined || c.pending[window(at.window + 2)] !== undefined) {
          return 'conflict';
        }
        const counts = c.minutes[at.minute] ?? { tenant: 0, clients: {} };
        const ok =
          counts.tenant + amount <= limits.tenantPerMinute &&
          (counts.clients[at.clientId] ?? 0) + amount <= limits.clientPerMinute &&
          (c.pending[window(at.window)] ?? 0) + amount <= limits.maxPending;
        if (!ok) return 'conflict';
        counts.tenant += amount;
        counts.clients[at.clientId] = (counts.clients[at.clientId] ?? 0) + amount;
        c.minutes[at.minute] = counts;
        for (const w of [at.window, at.window + 1]) c.pending[window(w)] = (c.pending[window(w)] ?? 0) + amount;
        // What no request needs any more: the minutes before, the windows that ended before this one started.
        for (const m of Object.keys(c.minutes)) if (Number(m) < at.minute) delete c.minutes[Number(m)];
        for (const name of Object.keys(c.pending)) {
          const [length, w] = name.split('/').map(Number) as [number, number];
          if ((w + 1) * length <= at.window * at.windowMs) delete c.pending[name];
        }
        return 'ok';
      },
      async read(counter, windowMs) {
        const c = state.admission.get(shardKey(counter));
        if (!c) return { exists: false, minutes: {}, pending: {} };
        const pending: Record<number, number> = {};
        for (const [name, n] of Object.entries(c.pending)) {
          const [length, w] = name.split('/').map(Number) as [number, number];
          if (length === windowMs) pending[w] = n;
        }
        return { exists: true, minutes: copy(c.minutes), pending };
      },
      async create(counter, counts, windowMs) {
        if (state.admission.has(shardKey(counter))) return 'conflict';
        const pending = Object.fromEntries(Object.entries(counts.pending).map(([w, n]) => [`${windowMs}/${w}`, n]));
        state.admission.set(shardKey(counter), { minutes: copy(counts.minutes), pending });
        return 'ok';
      },
      async release(counter, { windowMs, window }) {
        const c = state.admission.get(shardKey(counter));
        if (!c) return;
        const [own, next] = [`${windowMs}/${window}`, `${windowMs}/${window + 1}`];
        if ((c.pending[own] ?? 0) > 0 && (c.pending[next] ?? 0) > 0) {
          c.pending[own]!--;
          c.pending[next]!--;
        } else if (c.pending[own] === undefined && (c.pending[next] ?? 0) > 0) c.pending[next]!--;
      },
    },
    links: {
      async issue(link) {
        const sent = key(link.txn, link.channel);
        if (state.linksSent.has(sent)) return 'conflict';
        state.linksSent.add(sent);
        if (state.links.has(link.hash)) return 'conflict';
        state.links.set(link.hash, copy(link));
        return 'ok';
      },
      find: async (hash) => copy(state.links.get(hash)),
      async countText(tenantId, day, cap) {
        const count = state.textsPerDay.get(key(tenantId, day)) ?? 0;
        if (count >= cap) return false;
        state.textsPerDay.set(key(tenantId, day), count + 1);
        return true;
      },
    },
  };
};
