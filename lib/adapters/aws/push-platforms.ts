import { SNSClient } from '@aws-sdk/client-sns';
import type { BaseAwsDeps } from '../aws-deps.ts';
import { SnsPushPlatforms } from '../sns-push-platforms.ts';
import { AWS_ENV, type Env, required } from './env.ts';
import { secretReader } from './secrets.ts';

/** The tenants' SNS platform applications, made from credentials in Secrets Manager (the admin API, the provisioner). */
export const pushPlatforms = (env: Env, base: BaseAwsDeps) =>
  new SnsPushPlatforms({
    sns: new SNSClient({}),
    readSecret: secretReader(),
    platformApplicationArnTemplate: required(env, AWS_ENV.snsPlatformApplicationArn),
    prefix: required(env, AWS_ENV.deployment),
    logger: base.logger,
  });
