import * as client from 'openid-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UserVerificationRequired } from '../../lib/device/index.ts';
import { SoftwareAuthenticator } from '../helpers/software-authenticator.ts';
import { type Shape, startShape } from './harness.ts';

/** A tenant that requires a passkey (user_verification: passkey) through the AWS shape. */
describe('passkeys on the AWS shape', () => {
  let shape: Shape;

  beforeAll(async () => {
    shape = await startShape();
  }, 300_000);
  afterAll(() => shape?.stop());
  afterEach(() => shape.cloud.expectNoDenials());

  it('registers the device passkey, refuses an approval without it, and approves with its assertion', async () => {
    const registered = await shape.registerClient('shop');
    const device = await shape.enrolledDevice('shop', 'noah');
    const rp = await shape.relyingParty('shop', registered);
    const authenticator = new SoftwareAuthenticator(new URL(shape.issuer('shop')).origin);

    const options = (await device.passkeyRegistrationOptions()) as { challenge: string; rp: { id?: string } };
    expect(await device.registerPasskey(authenticator.create(options))).toEqual({
      credential_id: authenticator.credentialId.toString('base64url'),
    });

    const ack = await client.initiateBackchannelAuthentication(rp, { scope: 'openid', login_hint: 'noah' });
    const [tx] = await device.pending();
    expect(tx!.webauthn).toMatchObject({ userVerification: 'required' });
    await expect(device.decide(tx!.txn, 'approve')).rejects.toBeInstanceOf(UserVerificationRequired);
    const webauthn = tx!.webauthn as { challenge: string; rpId?: string };
    expect(await device.decide(tx!.txn, 'approve', { webauthn: authenticator.get(webauthn) })).toEqual({
      txn: tx!.txn,
      status: 'approved',
    });
    const tokens = await client.pollBackchannelAuthenticationGrant(rp, ack);
    expect(tokens.claims()).toMatchObject({ sub: 'noah' });
  });
});
