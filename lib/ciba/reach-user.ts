import { channelFallbackEvent } from '../events.ts';
import type { AuthRequest, Channel, Client, LinkChannel, Tenant, User } from '../model.ts';
import type { ClientStore, RequestStore, TenantStore, UserStore } from '../persistence.ts';
import type { Deps } from '../ports.ts';
import { type ApprovalLinkDeps, sendApprovalLink } from './approval-links.ts';
import { channelsReaching } from './channels.ts';
import { notifyDevices } from './notify-devices.ts';

/**
 * Reaching the user of a new request (docs/channels.md): by the first of the tenant's channels that reaches them
 * (their devices, or an approval link to their email or phone number) and, with `channel_fallback_seconds`, a timer
 * that sends it by the next one if the request is still pending then. Nothing here fails the request.
 */

const sendBy = async (
  deps: Pick<Deps, 'pushChannels' | 'notifier'> & ApprovalLinkDeps,
  channel: Channel,
  input: { tenant: Tenant; client: Client; user: User; request: AuthRequest },
): Promise<void> => {
  if (channel === 'device') await notifyDevices(deps, input);
  else await sendApprovalLink(deps, { ...input, channel });
};

/**
 * When a new request falls back to the tenant's next channel (`channel_fallback_seconds` after it was created), if
 * the next channel that reaches the user is a link channel and that time comes before the request expires. Kept on
 * the request (`fallbackAt`), so that local mode can set the timer again after a restart (lib/local/recover-timers.ts).
 */
export const fallbackTime = (
  tenant: Tenant,
  user: User,
  request: Pick<AuthRequest, 'createdAt' | 'expiresAt'>,
): number | undefined => {
  const seconds = tenant.settings.channelFallbackSeconds;
  if (seconds === undefined || !fallbackChannel(tenant, user)) return undefined;
  const at = request.createdAt + seconds * 1000;
  return at < request.expiresAt ? at : undefined;
};

export const reachUser = async (
  deps: Pick<Deps, 'pushChannels' | 'notifier' | 'scheduler'> & ApprovalLinkDeps,
  input: { tenant: Tenant; client: Client; user: User; request: AuthRequest },
): Promise<void> => {
  const { tenant, request } = input;
  const [first] = channelsReaching(tenant.settings, input.user);
  const { fallbackAt } = request;
  await Promise.all([
    first ? sendBy(deps, first, input) : Promise.resolve(),
    fallbackAt !== undefined
      ? deps.scheduler
          .schedule(fallbackAt, channelFallbackEvent(request))
          .catch((error: unknown) =>
            deps.logger.error('channel fallback could not be scheduled', { txn: request.txn, error }),
          )
      : Promise.resolve(),
  ]);
};

/** The channel a fallback uses: the next one after the first that reaches the user, when it is a link channel. */
const fallbackChannel = (tenant: Tenant, user: User): LinkChannel | undefined => {
  const next = channelsReaching(tenant.settings, user)[1];
  return next === 'email' || next === 'sms' ? next : undefined;
};

/**
 * The fallback timer: a request still pending is sent by the tenant's next channel that reaches the user, once (the
 * channel is marked sent before its link is stored, so a redelivered timer sends nothing). Fallbacks go to a link
 * channel: a tenant whose devices come after a link channel notifies no device later (the device lists what waits).
 * A request decided, expired or gone is left alone.
 */
export const channelFallback = async (
  deps: {
    requests: Pick<RequestStore, 'get'>;
    tenants: Pick<TenantStore, 'get'>;
    users: Pick<UserStore, 'get'>;
    clients: Pick<ClientStore, 'get'>;
  } & ApprovalLinkDeps,
  input: { tenantId: string; txn: string },
): Promise<'sent' | 'skipped'> => {
  const request = await deps.requests.get(input.txn);
  if (!request || request.tenantId !== input.tenantId) return 'skipped';
  if (request.status !== 'pending' || request.expiresAt <= deps.clock.now()) return 'skipped';
  const [tenant, user, client] = await Promise.all([
    deps.tenants.get(request.tenantId),
    deps.users.get(request.tenantId, request.sub),
    deps.clients.get(request.tenantId, request.clientId),
  ]);
  if (!tenant || !user || !client || request.tenantGeneration !== tenant.generation) return 'skipped';
  const next = fallbackChannel(tenant, user);
  if (!next) return 'skipped';
  deps.logger.info('channel fallback', { tenant: tenant.tenantId, txn: request.txn, channel: next });
  return (await sendApprovalLink(deps, { tenant, client, user, request, channel: next })) ? 'sent' : 'skipped';
};
