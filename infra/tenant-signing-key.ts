import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { KMS_KEY_SPEC } from '../lib/adapters/kms-keys.ts';
import type { SigningAlg } from '../lib/model.ts';

const currentKeyAlias = (aliasPrefix: string, tenantId: string): string => `${aliasPrefix}${tenantId}`;
const previousKeyAlias = (aliasPrefix: string, tenantId: string): string => `${aliasPrefix}${tenantId}/previous`;
const hmacKeyAlias = (aliasPrefix: string, tenantId: string): string => `${aliasPrefix}${tenantId}/hmac`;

export interface TenantSigningKeyProps {
  tenantId: string;
  /** e.g. `alias/ciba/` */
  aliasPrefix: string;
  alg: SigningAlg;
  version: number;
  previousAlg: SigningAlg;
}

/**
 * Deployments before keysets only (`ciba:legacyKeys=keep` keeps them in the template for the one deployment that
 * upgrades: docs/deploy.md "Upgrading"; the logical ids must not change). Tenants' keys are data now (lib/keyset.ts).
 *
 * A tenant's asymmetric KMS signing keys: the current one behind `alias/{prefix}/{tenant}` and, after a
 * rotation (a version bump in the tenants file), the previous one behind `alias/{prefix}/{tenant}/previous`,
 * still published in the JWKS so tokens it signed keep verifying. Keys are retained: removing one from the
 * template never deletes key material; schedule its deletion by hand once no token it signed is alive.
 * Also the tenant's HMAC_256 key behind `alias/{prefix}/{tenant}/hmac`, which derives client_secret_jwt secrets
 * (never published; deleting it changes every such client's secret).
 */
export class TenantSigningKey extends Construct {
  readonly current: kms.Key;
  readonly previous?: kms.Key;
  readonly hmac: kms.Key;

  constructor(scope: Construct, id: string, props: TenantSigningKeyProps) {
    super(scope, id);
    const key = (version: number, alg: SigningAlg) =>
      new kms.Key(this, `V${version}`, {
        description: `ciba ${props.tenantId} token signing key v${version} (${alg})`,
        keySpec: kms.KeySpec[KMS_KEY_SPEC[alg] as 'ECC_NIST_P256' | 'RSA_2048'],
        keyUsage: kms.KeyUsage.SIGN_VERIFY,
        removalPolicy: RemovalPolicy.RETAIN,
        pendingWindow: Duration.days(30),
      });
    this.current = key(props.version, props.alg);
    new kms.Alias(this, 'CurrentAlias', {
      aliasName: currentKeyAlias(props.aliasPrefix, props.tenantId),
      targetKey: this.current,
    });
    if (props.version > 1) {
      this.previous = key(props.version - 1, props.previousAlg);
      new kms.Alias(this, 'PreviousAlias', {
        aliasName: previousKeyAlias(props.aliasPrefix, props.tenantId),
        targetKey: this.previous,
      });
    }
    this.hmac = new kms.Key(this, 'Hmac', {
      description: `ciba ${props.tenantId} client_secret_jwt derivation key (HMAC_256)`,
      keySpec: kms.KeySpec.HMAC_256,
      keyUsage: kms.KeyUsage.GENERATE_VERIFY_MAC,
      removalPolicy: RemovalPolicy.RETAIN,
      pendingWindow: Duration.days(30),
    });
    new kms.Alias(this, 'HmacAlias', {
      aliasName: hmacKeyAlias(props.aliasPrefix, props.tenantId),
      targetKey: this.hmac,
    });
  }
}
