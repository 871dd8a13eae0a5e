import type { CDPSession } from 'playwright-core';

/**
 * A CDP virtual platform authenticator (WebAuthn.addVirtualAuthenticator) for the page the session is attached to:
 * CTAP2, internal, resident keys, user verification that succeeds. WebAuthn must be enabled on the session first.
 */
export const addVirtualAuthenticator = async (cdp: CDPSession): Promise<string> =>
  (
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
      },
    })
  ).authenticatorId;
