import { randomUUID } from 'node:crypto';
import { AwsError, authorize, type Core, type Endpoint, type FakeRequest, startEndpoint } from './endpoint.ts';

/**
 * SES v2 (REST JSON): `SendEmail` (POST /v2/email/outbound-emails) with a simple message, as approval links are sent
 * (docs/channels.md). The sender must belong to a verified identity (`verify(domain or address)`), and the call is
 * authorized as SES does, `ses:SendEmail` on that identity's ARN. In the sandbox (the default of a new account),
 * every recipient must be verified too. Sent messages are kept for the tests.
 *
 * Not covered: templates, raw messages, configuration sets, sending quotas and rates, bounces and complaints.
 */
export interface SentEmail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  at: number;
}

export class FakeSes {
  readonly identities = new Set<string>();
  readonly sent: SentEmail[] = [];
  /** New accounts are in the sandbox: recipients must be verified identities too. */
  sandbox = true;
  endpoint?: Endpoint;

  constructor(readonly core: Core) {}

  async start(): Promise<void> {
    this.endpoint = await startEndpoint(this.core, {
      signingName: 'ses',
      protocol: 'rest-json',
      handle: (request) => this.#handle(request),
    });
  }

  verify(identity: string): void {
    this.identities.add(identity.toLowerCase());
  }

  /** The verified identity an address belongs to: the address itself, else its domain. */
  #identityOf(address: string): string | undefined {
    const lower = address.toLowerCase();
    if (this.identities.has(lower)) return lower;
    const domain = lower.split('@')[1];
    return domain && this.identities.has(domain) ? domain : undefined;
  }

  async #handle(request: FakeRequest) {
    if (request.method !== 'POST' || request.path !== '/v2/email/outbound-emails') {
      throw new AwsError('NotFoundException', `harness: SES ${request.method} ${request.path} is not implemented`, 404);
    }
    const input = JSON.parse(request.body.toString('utf8')) as {
      FromEmailAddress?: string;
      Destination?: { ToAddresses?: string[] };
      Content?: { Simple?: { Subject?: { Data?: string }; Body?: { Text?: { Data?: string } } } };
    };
    const from = input.FromEmailAddress ?? '';
    const to = input.Destination?.ToAddresses ?? [];
    const simple = input.Content?.Simple;
    if (!from || to.length === 0 || !simple?.Subject?.Data || !simple.Body?.Text?.Data) {
      throw new AwsError(
        'BadRequestException',
        'FromEmailAddress, a destination, a subject and a body are required',
        400,
      );
    }
    const identity = this.#identityOf(from);
    const arn = `arn:aws:ses:${this.core.region}:${this.core.account}:identity/${identity ?? from.split('@')[1] ?? from}`;
    await authorize(
      this.core,
      'ses',
      { code: 'AccessDeniedException', status: 403 },
      request.caller,
      'ses:SendEmail',
      arn,
    );
    if (!identity) {
      throw new AwsError(
        'MessageRejected',
        `Email address is not verified. The following identities failed the check: ${from}`,
        400,
      );
    }
    const unverified = this.sandbox ? to.filter((address) => !this.#identityOf(address)) : [];
    if (unverified.length > 0) {
      throw new AwsError(
        'MessageRejected',
        `Email address is not verified. The following identities failed the check: ${unverified.join(', ')}`,
        400,
      );
    }
    this.sent.push({ from, to, subject: simple.Subject.Data, text: simple.Body.Text.Data, at: this.core.clock.now() });
    return {
      status: 200,
      headers: { 'content-type': 'application/json', 'x-amzn-requestid': randomUUID() },
      body: JSON.stringify({ MessageId: randomUUID() }),
    };
  }

  async stop(): Promise<void> {
    await this.endpoint?.close();
  }
}
