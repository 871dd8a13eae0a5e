import type { WriteOutcome } from './ports.ts';

/**
 * The ports of channels without the app (lib/ciba/approval-links.ts owns the rules): the one-time approval links a
 * user is sent by email or text message, and the sender that delivers them. Kept apart from the Store port: links are
 * their own aggregate, with their own DynamoDB adapter (lib/adapters/dynamodb-approval-links.ts).
 */

/** The link channels. */
export type LinkChannel = 'email' | 'sms';

/** One approval link as stored: never the secret, only its SHA-256. */
export interface ApprovalLink {
  /** SHA-256 (base64url) of the link's secret. */
  hash: string;
  tenantId: string;
  txn: string;
  sub: string;
  channel: LinkChannel;
  createdAt: number;
  /** The request's expiry: the link dies with it. */
  expiresAt: number;
}

export interface ApprovalLinks {
  /**
   * Stores a new link, only if no link of this channel was issued for the request before (a request is sent by each
   * channel at most once): 'conflict' then, and nothing is stored.
   */
  issue(link: ApprovalLink): Promise<WriteOutcome>;
  /** The link with this hash, or undefined (unknown, or its request expired). */
  find(hash: string): Promise<ApprovalLink | undefined>;
  /**
   * Counts one text message against the tenant's daily cap (UTC day `day`, `YYYY-MM-DD`) in one conditional write:
   * false, and nothing counted, when `cap` messages were already sent that day.
   */
  countText(tenantId: string, day: string, cap: number): Promise<boolean>;
}

/** A message carrying an approval link. `text` holds the link: it is never logged. */
export interface ChannelMessage {
  channel: LinkChannel;
  /** An email address or an E.164 phone number. */
  to: string;
  tenantId: string;
  txn: string;
  subject: string;
  text: string;
}

export interface ChannelSender {
  send(message: ChannelMessage): Promise<void>;
}

export interface ChannelPorts {
  links: ApprovalLinks;
  sender: ChannelSender;
}
