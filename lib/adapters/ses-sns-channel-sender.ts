import { type SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { ChannelMessage, ChannelSender } from '../ports.ts';

/**
 * Approval links in AWS (docs/channels.md): email through SES (`SendEmail` from the deployment's verified identity),
 * text messages through SNS (`Publish` to the phone number, transactional, with the deployment's sender ID when it has
 * one). A channel the deployment did not configure fails the send (logged by the caller; the request stands).
 */
export class SesSnsChannelSender implements ChannelSender {
  readonly #ses: SESv2Client;
  readonly #sns: SNSClient;
  readonly #emailFrom: string | undefined;
  readonly #smsSenderId: string | undefined;

  constructor(options: {
    ses: SESv2Client;
    sns: SNSClient;
    /** The verified SES identity's address the messages come from. */
    emailFrom?: string;
    /** An alphanumeric sender ID where the destination country allows one. */
    smsSenderId?: string;
  }) {
    this.#ses = options.ses;
    this.#sns = options.sns;
    this.#emailFrom = options.emailFrom;
    this.#smsSenderId = options.smsSenderId;
  }

  async send(message: ChannelMessage): Promise<void> {
    if (message.channel === 'email') {
      if (!this.#emailFrom) throw new Error('the deployment has no email sender (ciba:emailFrom)');
      await this.#ses.send(
        new SendEmailCommand({
          FromEmailAddress: this.#emailFrom,
          Destination: { ToAddresses: [message.to] },
          Content: {
            Simple: {
              Subject: { Data: message.subject, Charset: 'UTF-8' },
              Body: { Text: { Data: message.text, Charset: 'UTF-8' } },
            },
          },
        }),
      );
      return;
    }
    await this.#sns.send(
      new PublishCommand({
        PhoneNumber: message.to,
        Message: message.text,
        MessageAttributes: {
          'AWS.SNS.SMS.SMSType': { DataType: 'String', StringValue: 'Transactional' },
          ...(this.#smsSenderId
            ? { 'AWS.SNS.SMS.SenderID': { DataType: 'String', StringValue: this.#smsSenderId } }
            : {}),
        },
      }),
    );
  }
}
