import * as client from 'openid-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CIBA_GRANT, pushedTxn, type Shape, startShape } from './harness.ts';
import { serviceTemplate, tenantsFile, variantAssembly } from './synth.ts';

const PROVISIONED = { 'ciba:tableCapacity': 'provisioned:5-400' };

/**
 * `ciba:tableCapacity=provisioned:{min}-{max}` deployed through the AWS shape: both tables and their indexes are created
 * on provisioned capacity, and a poll flow runs on them with the functions' own roles (no denial). Auto scaling's
 * targets and policies are template resources the harness records without running (docs/aws-shape.md).
 */
describe('tables on provisioned capacity on the AWS shape', () => {
  let shape: Shape;

  beforeAll(async () => {
    shape = await startShape({ dir: await variantAssembly(PROVISIONED) });
  }, 300_000);
  afterAll(() => shape?.stop());
  afterEach(() => shape.cloud.expectNoDenials());

  it('creates the tables and their indexes with the minimum units, and a poll flow gets tokens', async () => {
    for (const name of shape.cloud.dynamodb.tables.keys()) {
      const { Table } = (await shape.cloud.dynamodb.direct('DescribeTable', { TableName: name })) as {
        Table: {
          ProvisionedThroughput: { ReadCapacityUnits: number; WriteCapacityUnits: number };
          GlobalSecondaryIndexes?: {
            ProvisionedThroughput: { ReadCapacityUnits: number; WriteCapacityUnits: number };
          }[];
        };
      };
      expect(Table.ProvisionedThroughput, name).toMatchObject({ ReadCapacityUnits: 5, WriteCapacityUnits: 5 });
      for (const index of Table.GlobalSecondaryIndexes ?? []) {
        expect(index.ProvisionedThroughput, name).toMatchObject({ ReadCapacityUnits: 5, WriteCapacityUnits: 5 });
      }
    }
    expect(shape.cloud.dynamodb.tables.size).toBe(2);

    const registered = await shape.registerClient('acme', { grant_types: [CIBA_GRANT] });
    const device = await shape.enrolledDevice('acme', 'alice', { type: 'fcm', token: 'fcm-alice-provisioned' });
    const rp = await shape.relyingParty('acme', registered);
    const ack = await client.initiateBackchannelAuthentication(rp, {
      scope: 'openid',
      login_hint: 'alice',
      binding_message: 'Code 7K-31',
    });
    const txn = pushedTxn(shape.cloud, 'fcm-alice-provisioned');
    expect(await device.decide(txn, 'approve')).toEqual({ txn, status: 'approved' });
    const tokens = await client.pollBackchannelAuthenticationGrant(rp, ack);
    expect(tokens.id_token).toBeTruthy();
    expect(tokens.claims()?.sub).toBe('alice');
  });

  // Six throttled writes in a row: more than the SDK's default 4 attempts, within the provisioner's 10 (adaptive mode).
  it("provisions a tenants file's change through throttled writes, retrying in the SDK's adaptive mode", async () => {
    const tenants = tenantsFile((all) => {
      all.find((t) => t.id === 'acme')!.settings.display_name = 'ACME throttled';
    });
    const dir = await variantAssembly({ ...PROVISIONED, 'ciba:tenants': tenants });

    const throttle = {
      writes: 6,
      throttled: 0,
      by: (caller: { functionName?: string }) => /tenant-?provisioner/i.test(caller.functionName ?? ''),
    };
    shape.cloud.dynamodb.throttle = throttle;
    try {
      await shape.cloud.cfn.deploy('ciba-service', serviceTemplate(dir));
    } finally {
      shape.cloud.dynamodb.throttle = undefined;
    }
    expect(throttle.throttled).toBe(6);
    await shape.cloud.advance(31_000);
    expect((await shape.admin('GET', '/admin/tenants/acme')).body).toMatchObject({ display_name: 'ACME throttled' });
  }, 300_000);
});
