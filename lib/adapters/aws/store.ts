import { withSettingsCache } from '../../cache.ts';
import type { StorePorts } from '../../persistence.ts';
import type { BaseAwsDeps } from '../aws-deps.ts';
import { callbackLedger } from '../dynamodb/callbacks.ts';
import { admissionStore, quotaStore } from '../dynamodb/counters.ts';
import { deviceProofStore, deviceStore, passkeyStore, pushChannelStore } from '../dynamodb/devices.ts';
import { clientStore, keysetStore, tenantStore } from '../dynamodb/directory.ts';
import { approvalLinkStore } from '../dynamodb/links.ts';
import { decisionStore, pollStore, requestStore } from '../dynamodb/requests.ts';
import { refreshTokenStore, replayGuard, revocationStore, ticketStore } from '../dynamodb/tokens.ts';
import { rateWindowStore, reportShieldStore, userStore } from '../dynamodb/users.ts';
import type { Env } from './env.ts';

/**
 * The persistence ports of a Lambda function, one factory each (`awsDeps({ tenants, requests, ... })`): a function's
 * bundle holds only the DynamoDB modules of the ports its handler asks for. Tenants and clients are read on every
 * request and change rarely: one settings cache per process serves both (lib/cache.ts).
 */
type StoreFactory<K extends keyof StorePorts> = (env: Env, base: BaseAwsDeps) => StorePorts[K];

const settingsCaches = new WeakMap<BaseAwsDeps['tables'], ReturnType<typeof withSettingsCache>>();
const settings = (base: BaseAwsDeps) => {
  let cache = settingsCaches.get(base.tables);
  if (!cache) {
    cache = withSettingsCache({ tenants: tenantStore(base.tables), clients: clientStore(base.tables) }, base.clock);
    settingsCaches.set(base.tables, cache);
  }
  return cache;
};

export const tenants: StoreFactory<'tenants'> = (_env, base) => settings(base).tenants;
export const clients: StoreFactory<'clients'> = (_env, base) => settings(base).clients;
export const keysets: StoreFactory<'keysets'> = (_env, base) => keysetStore(base.tables);
export const users: StoreFactory<'users'> = (_env, base) => userStore(base.tables);
export const rateWindows: StoreFactory<'rateWindows'> = (_env, base) => rateWindowStore(base.tables);
export const shields: StoreFactory<'shields'> = (_env, base) => reportShieldStore(base.tables);
export const devices: StoreFactory<'devices'> = (_env, base) => deviceStore(base.tables);
export const pushChannels: StoreFactory<'pushChannels'> = (_env, base) => pushChannelStore(base.tables);
export const passkeys: StoreFactory<'passkeys'> = (_env, base) => passkeyStore(base.tables);
export const deviceProofs: StoreFactory<'deviceProofs'> = (_env, base) => deviceProofStore(base.tables);
export const replay: StoreFactory<'replay'> = (_env, base) => replayGuard(base.tables);
export const requests: StoreFactory<'requests'> = (_env, base) => requestStore(base.tables);
export const polls: StoreFactory<'polls'> = (_env, base) => pollStore(base.tables);
export const decisions: StoreFactory<'decisions'> = (_env, base) => decisionStore(base.tables);
export const callbacks: StoreFactory<'callbacks'> = (_env, base) => callbackLedger(base.tables);
export const tickets: StoreFactory<'tickets'> = (_env, base) => ticketStore(base.tables);
export const refreshTokens: StoreFactory<'refreshTokens'> = (_env, base) => refreshTokenStore(base.tables);
export const revocations: StoreFactory<'revocations'> = (_env, base) => revocationStore(base.tables);
export const quotas: StoreFactory<'quotas'> = (_env, base) => quotaStore(base.tables);
export const admission: StoreFactory<'admission'> = (_env, base) => admissionStore(base.tables);
export const links: StoreFactory<'links'> = (_env, base) => approvalLinkStore(base.tables);
