import type { Capabilities } from '../ports.ts';

/** What `npm start` can do (lib/ports.ts Capabilities): one process on a laptop, for development and evaluation. */
export const LOCAL_CAPABILITIES: Capabilities = {
  developmentModeAllowed: true,
  webhookPush: true,
  knownWebPushServicesOnly: false,
  iamAdminAuthorization: false,
  clientCertificatesVerifiedUpstream: false,
  requestScheme: 'http',
  // The seeded demo client (lib/local/seed.ts).
  defaultConsoleClientId: 'demo-client',
};
