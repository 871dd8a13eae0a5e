import type { Construct } from 'constructs';
import { CibaTenant } from '../ciba-tenant.ts';

/**
 * Tenants declared in CDK code (docs/deploy.md "Tenants in CDK code"): one per business unit, from a list the platform
 * team already keeps. Each `CibaTenant` takes an entry of the tenants file and is checked as the file is; none adds a
 * CloudFormation resource of its own (they join the service stack's batches, one resource per 100 tenants).
 */
export const BUSINESS_UNITS = ['retail', 'wealth', 'insurance'] as const;

export const declareTenants = (service: Construct): CibaTenant[] => [
  ...BUSINESS_UNITS.map(
    (unit) =>
      new CibaTenant(service, `Tenant-${unit}`, {
        id: `bank-${unit}`,
        settings: {
          display_name: `Bank ${unit}`,
          delivery_modes: ['poll', 'ping'],
          binding_message_required: true,
        },
        on_delete: 'retain',
      }),
  ),
  // A tenant whose signing key stays in KMS (a KMS Sign per token: docs/deploy.md "Signing keys").
  new CibaTenant(service, 'Tenant-payments', {
    id: 'payments',
    settings: { display_name: 'Payments', signing_alg: 'PS256', key_mode: 'kms', fapi: true },
  }),
];
