import { describe, expect, it, vi } from 'vitest';
import { listPendingTransactions, prefetchPending } from '../../../lib/ciba/device-api.ts';
import { authenticateDevice } from '../../../lib/ciba/verify-device-proof.ts';
import { createDpopProof, DeviceKey } from '../../../lib/device/index.ts';
import type { AuthRequest, Device } from '../../../lib/model.ts';

const HTU = 'https://id.example/acme/device/transactions';
const clock = { now: () => Date.now() };

const pendingFor = (tenantId: string, sub: string): AuthRequest =>
  ({
    txn: `txn-of-${sub}`,
    tenantId,
    clientId: 'c1',
    sub,
    scope: 'openid',
    status: 'pending',
    createdAt: Date.now(),
    expiresAt: Date.now() + 60_000,
  }) as AuthRequest;

/** A store whose list reads are recorded, and whose proof write waits until the test lets it go. */
const storeFor = (device: Device | undefined) => {
  const log: string[] = [];
  let release!: () => void;
  const written = new Promise<void>((r) => {
    release = r;
  });
  const deps = {
    clock,
    deviceProofs: {
      use: async () => {
        log.push('proof write started');
        await written;
        log.push('proof write done');
        return device && { device, proofIds: {} };
      },
      forget: async () => undefined,
    },
    requests: {
      listPending: async (tenantId: string, sub: string) => {
        log.push(`list ${sub}`);
        return [pendingFor(tenantId, sub)];
      },
    },
    clients: { get: async () => undefined },
  };
  return { deps: deps as never, log, release };
};

const deviceOf = async (key: DeviceKey, tenantId: string, sub: string): Promise<Device> =>
  ({
    tenantId,
    deviceId: key.thumbprint,
    sub,
    name: 'phone',
    publicJwk: key.publicJwk,
    createdAt: 0,
  }) as Device;

const listAs = async (key: DeviceKey, tenantId: string, device: Device | undefined) => {
  const { deps, log, release } = storeFor(device);
  const proof = await createDpopProof(key, { htm: 'GET', htu: HTU });
  const auth = authenticateDevice(deps, { tenantId, proof, htm: 'GET', htu: HTU }, (id) =>
    prefetchPending(deps, tenantId, id),
  );
  // Hold the write until it has started (the proof verified): what started before it completes is what overlaps.
  await vi.waitFor(() => expect(log).toContain('proof write started'));
  await Promise.resolve();
  const beforeWrite = [...log];
  release();
  const { device: authenticated, alongside } = await auth;
  const listed = await listPendingTransactions(deps, authenticated, undefined, alongside);
  return { listed: listed.transactions.map((t) => t.txn), log, beforeWrite };
};

describe("the device's list: the query beside the proof's write", () => {
  it('queries after the write for a device this process has not seen, beside it afterwards', async () => {
    const key = await DeviceKey.generate();
    const tenantId = `t-${Math.random()}`;
    const device = await deviceOf(key, tenantId, 'alice');
    const first = await listAs(key, tenantId, device);
    expect(first.beforeWrite).toEqual(['proof write started']);
    expect(first.listed).toEqual(['txn-of-alice']);
    const second = await listAs(key, tenantId, device);
    expect(second.beforeWrite.sort()).toEqual(['list alice', 'proof write started']);
    expect(second.log.filter((l) => l.startsWith('list'))).toEqual(['list alice']); // one query, not two
    expect(second.listed).toEqual(['txn-of-alice']);
  });

  it("never shows the early read when the device now belongs to someone else: queries that user's list", async () => {
    const key = await DeviceKey.generate();
    const tenantId = `t-${Math.random()}`;
    await listAs(key, tenantId, await deviceOf(key, tenantId, 'alice'));
    const moved = await listAs(key, tenantId, await deviceOf(key, tenantId, 'bob'));
    expect(moved.beforeWrite).toContain('list alice');
    expect(moved.listed).toEqual(['txn-of-bob']);
  });

  it('hands nothing back when the device does not authenticate', async () => {
    const key = await DeviceKey.generate();
    const tenantId = `t-${Math.random()}`;
    await listAs(key, tenantId, await deviceOf(key, tenantId, 'alice'));
    await expect(listAs(key, tenantId, undefined)).rejects.toMatchObject({ error: 'invalid_dpop_proof' });
  });
});
