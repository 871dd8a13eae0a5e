import { randomBytes } from 'node:crypto';
import {
  AwsError,
  authorize,
  type Core,
  type Endpoint,
  type FakeRequest,
  jsonOperation,
  jsonResponse,
  startEndpoint,
} from './endpoint.ts';

/**
 * Secrets Manager (JSON protocol): secrets the tests create before deploying (push credentials, VAPID keys exist
 * before a deployment, as the deploy guide says), found by name, full ARN or partial ARN; `GetSecretValue` and
 * `DescribeSecret` authorized on the secret's ARN (with its random six-character suffix, which is why grants end in
 * `-??????`).
 *
 * Not covered: versions and stages other than AWSCURRENT, rotation, resource policies, binary secrets.
 */
export interface FakeSecret {
  name: string;
  arn: string;
  value: string;
}

export class FakeSecretsManager {
  readonly secrets = new Map<string, FakeSecret>();
  endpoint?: Endpoint;

  constructor(readonly core: Core) {}

  async start(): Promise<void> {
    this.endpoint = await startEndpoint(this.core, {
      signingName: 'secretsmanager',
      protocol: 'json',
      handle: async (request) => jsonResponse(await this.#handle(request)),
    });
  }

  put(name: string, value: string): FakeSecret {
    const suffix = randomBytes(6)
      .toString('base64url')
      .replace(/[^A-Za-z0-9]/g, 'x')
      .slice(0, 6);
    const secret = {
      name,
      arn: `arn:aws:secretsmanager:${this.core.region}:${this.core.account}:secret:${name}-${suffix}`,
      value,
    };
    this.secrets.set(name, secret);
    return secret;
  }

  #find(id: string): FakeSecret {
    const secret = [...this.secrets.values()].find(
      (s) => s.name === id || s.arn === id || (id.startsWith('arn:') && s.arn.startsWith(`${id}-`)),
    );
    if (!secret) throw new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return secret;
  }

  async #handle(request: FakeRequest): Promise<unknown> {
    const { operation, input } = jsonOperation(request);
    if (operation !== 'GetSecretValue' && operation !== 'DescribeSecret') {
      throw new AwsError('UnknownOperationException', `harness: Secrets Manager ${operation} is not implemented`);
    }
    const secret = this.#find(String(input.SecretId ?? ''));
    await authorize(
      this.core,
      'secretsmanager',
      { code: 'AccessDeniedException', status: 400 },
      request.caller,
      `secretsmanager:${operation}`,
      secret.arn,
    );
    if (operation === 'DescribeSecret') return { ARN: secret.arn, Name: secret.name };
    return {
      ARN: secret.arn,
      Name: secret.name,
      SecretString: secret.value,
      VersionId: 'v1',
      VersionStages: ['AWSCURRENT'],
    };
  }

  async stop(): Promise<void> {
    await this.endpoint?.close();
  }
}
