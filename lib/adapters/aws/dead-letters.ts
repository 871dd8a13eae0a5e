import { SQSClient } from '@aws-sdk/client-sqs';
import { SqsDeadLetters } from '../sqs-dead-letters.ts';
import { AWS_ENV, type Env, required } from './env.ts';

export const deadLetters = (env: Env) =>
  new SqsDeadLetters({ client: new SQSClient({}), queueUrl: required(env, AWS_ENV.deadLetterQueueUrl) });
