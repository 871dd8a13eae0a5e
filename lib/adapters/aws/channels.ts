import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SNSClient } from '@aws-sdk/client-sns';
import type { BaseAwsDeps } from '../aws-deps.ts';
import { SesSnsChannelSender } from '../ses-sns-channel-sender.ts';
import { AWS_ENV, type Env } from './env.ts';

/** Approval links sent with SES (email) and SNS SMS (text messages); the links themselves are the `links` store port. */
export const channelSender = (env: Env, _base: BaseAwsDeps): SesSnsChannelSender => {
  const emailFrom = env[AWS_ENV.emailFrom];
  const smsSenderId = env[AWS_ENV.smsSenderId];
  return new SesSnsChannelSender({
    ses: new SESv2Client({}),
    sns: new SNSClient({}),
    ...(emailFrom ? { emailFrom } : {}),
    ...(smsSenderId ? { smsSenderId } : {}),
  });
};
