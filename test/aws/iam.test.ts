import { describe, expect, it } from 'vitest';
import { type Caller, IamEvaluator } from './iam.ts';

const role: Caller = {
  arn: 'arn:aws:sts::123456789012:assumed-role/fn-role/ciba-token',
  roleArn: 'arn:aws:iam::123456789012:role/fn-role',
  functionName: 'ciba-token',
  policies: [
    {
      name: 'p',
      document: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: ['kms:GetPublicKey', 'kms:Sign'],
            Resource: 'arn:aws:kms:eu-west-1:123456789012:key/*',
            Condition: { 'ForAnyValue:StringLike': { 'kms:ResourceAliases': 'alias/ciba/*' } },
          },
          { Effect: 'Allow', Action: 'sqs:*', Resource: '*' },
          { Effect: 'Deny', Action: 'sqs:DeleteQueue', Resource: '*' },
        ],
      },
    },
  ],
};
const keyPolicy = {
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::123456789012:root' }, Action: 'kms:*', Resource: '*' },
  ],
};
const KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

describe('the harness IAM evaluation', () => {
  it('tells encryption context pairs apart: a Decrypt allowed for one use of the key only', async () => {
    const iam = new IamEvaluator('123456789012');
    const decrypter: Caller = {
      ...role,
      policies: [
        {
          name: 'open',
          document: {
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Action: 'kms:Decrypt',
                Resource: KEY,
                Condition: { StringEquals: { 'kms:EncryptionContext:key_use': 'mac' } },
              },
            ],
          },
        },
      ],
    };
    const decrypt = (use: string) =>
      iam.authorize({
        caller: decrypter,
        action: 'kms:Decrypt',
        resource: KEY,
        resourcePolicy: keyPolicy,
        context: {
          'kms:EncryptionContext:tenant': 'acme',
          'kms:EncryptionContext:key_use': use,
          'kms:EncryptionContext:key_id': 'm1',
          'kms:EncryptionContextKeys': ['tenant', 'key_use', 'key_id'],
        },
      });
    expect((await decrypt('mac')).allowed).toBe(true);
    expect(await decrypt('signing')).toMatchObject({ allowed: false, result: 'ImplicitlyDenied' });
  });

  it('allows by wildcard action and resource when the condition on the key aliases holds', async () => {
    const iam = new IamEvaluator('123456789012');
    const decision = await iam.authorize({
      caller: role,
      action: 'kms:Sign',
      resource: KEY,
      resourcePolicy: keyPolicy,
      context: { 'kms:ResourceAliases': ['alias/ciba/acme'] },
    });
    expect(decision.allowed).toBe(true);
  });

  it("denies another deployment's key and words it as AWS does, naming function, action and resource", async () => {
    const iam = new IamEvaluator('123456789012');
    const decision = await iam.authorize({
      caller: role,
      action: 'kms:Sign',
      resource: KEY,
      resourcePolicy: keyPolicy,
      context: { 'kms:ResourceAliases': ['alias/other/acme'] },
    });
    expect(decision).toMatchObject({ allowed: false, result: 'ImplicitlyDenied' });
    expect(decision.message).toBe(
      `User: ${role.arn} is not authorized to perform: kms:Sign on resource: ${KEY} because no identity-based policy allows the kms:Sign action`,
    );
    expect(iam.takeDenials()).toEqual([
      expect.objectContaining({ function: 'ciba-token', action: 'kms:Sign', resource: KEY }),
    ]);
  });

  it('puts an explicit Deny before an Allow', async () => {
    const iam = new IamEvaluator('123456789012');
    const decision = await iam.authorize({
      caller: role,
      action: 'sqs:DeleteQueue',
      resource: 'arn:aws:sqs:eu-west-1:123456789012:q',
    });
    expect(decision.result).toBe('ExplicitlyDenied');
    expect(decision.message).toMatch(/with an explicit deny in an? identity-based policy$/);
  });

  it('authorizes actions without resource types on *', async () => {
    const iam = new IamEvaluator('123456789012');
    expect(
      await iam.authorizedResource('sns:CreatePlatformEndpoint', 'arn:aws:sns:eu-west-1:123456789012:app/GCM/x'),
    ).toBe('*');
    expect(await iam.authorizedResource('kms:Sign', KEY)).toBe(KEY);
  });
});
