import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ChannelMessage, ChannelSender, Logger } from '../ports.ts';

/**
 * Local mode's development mailbox (docs/channels.md): approval links "sent" by email or text message are kept in
 * memory, per tenant (the newest 100), and listed at `GET {issuer}/mailbox`: JSON, or a small HTML page when the
 * browser asks for HTML. It exists only in local mode (AWS sends with SES and SNS). The log line names the channel
 * and the request, never the link: the link is the secret.
 */
export interface MailboxEntry {
  channel: ChannelMessage['channel'];
  to: string;
  subject: string;
  text: string;
  sent_at: number;
}

const KEEP = 100;

export class DevMailbox implements ChannelSender {
  readonly #byTenant = new Map<string, MailboxEntry[]>();

  constructor(
    private readonly logger: Logger,
    private readonly clock: { now(): number },
  ) {}

  async send(message: ChannelMessage): Promise<void> {
    const list = this.#byTenant.get(message.tenantId) ?? [];
    list.unshift({
      channel: message.channel,
      to: message.to,
      subject: message.subject,
      text: message.text,
      sent_at: Math.floor(this.clock.now() / 1000),
    });
    list.length = Math.min(list.length, KEEP);
    this.#byTenant.set(message.tenantId, list);
    this.logger.info('development mailbox: message kept (see {issuer}/mailbox)', {
      tenant: message.tenantId,
      txn: message.txn,
      channel: message.channel,
    });
  }

  /** The tenant's messages, newest first. */
  messages(tenantId: string): MailboxEntry[] {
    return [...(this.#byTenant.get(tenantId) ?? [])];
  }

  /** `GET /{tenant}/mailbox`: true when it answered. */
  serve(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    const match = /^\/([a-z0-9][a-z0-9-]{0,62})\/mailbox$/.exec(url.pathname);
    if (!match || req.method !== 'GET') return false;
    const messages = this.messages(match[1]!);
    const common = {
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    };
    if (/^text\/html/.test(req.headers.accept ?? '')) {
      res.writeHead(200, {
        ...common,
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Security-Policy': "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
      });
      res.end(mailboxPage(match[1]!, messages));
      return true;
    }
    res.writeHead(200, { ...common, 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ messages }));
    return true;
  }
}

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Links in a message become anchors; everything else is text. */
const withLinks = (text: string): string =>
  escapeHtml(text).replace(/https?:\/\/[^\s<]+/g, (url) => `<a href="${url}">${url}</a>`);

const mailboxPage = (tenantId: string, messages: MailboxEntry[]): string => `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="referrer" content="no-referrer"><title>Development mailbox: ${escapeHtml(tenantId)}</title></head>
<body>
<h1>Development mailbox: ${escapeHtml(tenantId)}</h1>
<p>Local mode only: what would have been sent by email or text message.</p>
${
  messages.length === 0
    ? '<p>No messages.</p>'
    : messages
        .map(
          (m) =>
            `<article><h2>${escapeHtml(m.subject)}</h2><p>${escapeHtml(m.channel)} to ${escapeHtml(m.to)}, ${new Date(m.sent_at * 1000).toISOString()}</p><pre>${withLinks(m.text)}</pre></article>`,
        )
        .join('\n')
}
</body>
</html>
`;
