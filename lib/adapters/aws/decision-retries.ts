import { SQSClient } from '@aws-sdk/client-sqs';
import { SqsDecisionRetries } from '../sqs-decision-retries.ts';
import { AWS_ENV, type Env, required } from './env.ts';

export const decisionRetries = (env: Env) =>
  new SqsDecisionRetries({ client: new SQSClient({}), queueUrl: required(env, AWS_ENV.decisionRetriesQueueUrl) });
