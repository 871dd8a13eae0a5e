import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SNSClient } from '@aws-sdk/client-sns';
import type { ChannelPorts } from '../../channel-ports.ts';
import type { BaseAwsDeps } from '../aws-deps.ts';
import { DynamoDbApprovalLinks } from '../dynamodb-approval-links.ts';
import { createStoreClient } from '../dynamodb-client.ts';
import { SesSnsChannelSender } from '../ses-sns-channel-sender.ts';
import { AWS_ENV, type Env, required } from './env.ts';

/** Approval links in the ledger table, sent with SES and SNS SMS. */
export const channels = (env: Env, _base: BaseAwsDeps): ChannelPorts => {
  const emailFrom = env[AWS_ENV.emailFrom];
  const smsSenderId = env[AWS_ENV.smsSenderId];
  return {
    links: new DynamoDbApprovalLinks({ client: createStoreClient(), ledgerTable: required(env, AWS_ENV.ledgerTable) }),
    sender: new SesSnsChannelSender({
      ses: new SESv2Client({}),
      sns: new SNSClient({}),
      ...(emailFrom ? { emailFrom } : {}),
      ...(smsSenderId ? { smsSenderId } : {}),
    }),
  };
};
