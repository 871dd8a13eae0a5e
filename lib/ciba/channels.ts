import type { Channel, LinkChannel, TenantSettings, User } from '../model.ts';

/**
 * Channels without the app (docs/channels.md): a tenant's `channels` say how its users are reached, in order:
 * `device` (the enrolled devices), `email` and `sms` (a one-time approval link to the user's `email` or
 * `phone_number`). A user is reachable when one of the tenant's channels reaches them; a request goes first to the
 * first channel that does, and, with `channel_fallback_seconds`, once more to the next one if still pending then.
 */

export const DEFAULT_CHANNELS: Channel[] = ['device'];

/** The link channels and the user claim each one sends to. */
export const LINK_CHANNEL_CLAIM = { email: 'email', sms: 'phone_number' } as const satisfies Record<
  LinkChannel,
  string
>;

export const tenantChannels = (settings: TenantSettings): Channel[] => settings.channels ?? DEFAULT_CHANNELS;

/** The user claims that make a user without a device reachable under the tenant's channels. */
export const reachingClaims = (settings: TenantSettings): ('email' | 'phone_number')[] =>
  tenantChannels(settings)
    .filter((c): c is LinkChannel => c !== 'device')
    .map((c) => LINK_CHANNEL_CLAIM[c]);

/** The tenant's channels that reach this user, in the tenant's order. */
export const channelsReaching = (settings: TenantSettings, user: Pick<User, 'devices' | 'claims'>): Channel[] =>
  tenantChannels(settings).filter((c) =>
    c === 'device' ? user.devices.length > 0 : typeof user.claims[LINK_CHANNEL_CLAIM[c]] === 'string',
  );

/** Text messages cost money per message: a tenant sends at most this many a UTC day unless its setting says otherwise. */
export const DEFAULT_SMS_DAILY_LIMIT = 1000;

export const smsDailyLimit = (settings: TenantSettings): number => settings.smsDailyLimit ?? DEFAULT_SMS_DAILY_LIMIT;
