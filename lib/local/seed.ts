import { registerClient } from '../admin/clients.ts';
import { putTenant } from '../admin/tenants.ts';
import { putUser } from '../admin/users.ts';
import type { Deps } from '../ports.ts';

export const DEMO_TENANT = 'demo';
export const DEMO_CLIENT_ID = 'demo-client';
export const DEMO_USER = 'alice';

/**
 * The demo tenant's one registered authorization_details type (RFC 9396), with a display template, so that a newcomer
 * can send a payment from the operator console (or `ciba authorize --authorization-details`) and see it on the
 * authenticator as "Pay 12.50 EUR to Café Zeit" (docs/clients.md, "Rich Authorization Requests").
 */
export const DEMO_PAYMENT_TYPE = {
  payment_initiation: {
    type: 'object',
    required: ['type', 'instructedAmount', 'creditorName'],
    properties: {
      type: { const: 'payment_initiation' },
      instructedAmount: {
        type: 'object',
        required: ['amount', 'currency'],
        additionalProperties: false,
        properties: {
          amount: { type: 'string', pattern: '^[0-9]{1,9}(\\.[0-9]{1,2})?$' },
          currency: { type: 'string', pattern: '^[A-Z]{3}$' },
        },
      },
      creditorName: { type: 'string', maxLength: 70 },
      creditorAccount: {
        type: 'object',
        additionalProperties: false,
        properties: { iban: { type: 'string', maxLength: 34 } },
      },
      remittanceInformation: { type: 'string', maxLength: 140 },
    },
    additionalProperties: false,
    display: {
      title: 'Pay {instructedAmount.amount} {instructedAmount.currency} to {creditorName}',
      fields: [
        { label: 'To account', value: '{creditorAccount.iban}' },
        { label: 'Reference', value: '{remittanceInformation}' },
      ],
    },
  },
};

export interface DemoCredentials {
  client_id: string;
  client_secret: string;
}

/**
 * On first start with an empty store: the `demo` tenant (development mode on), a poll client and a
 * user, through the same core operations the admin API uses. Returns the client's credentials when
 * it created them (the secret exists only now; the store keeps its hash).
 */
export const seedDemo = async (deps: Deps): Promise<DemoCredentials | undefined> => {
  // Also while a deletion of it is under way (DELETE answered 202): that is finished by repeating the DELETE.
  if (await deps.tenants.find(DEMO_TENANT)) return undefined;
  const { tenant } = await putTenant(deps, DEMO_TENANT, {
    display_name: 'ACME Support',
    development_mode: true,
    authorization_details_types: DEMO_PAYMENT_TYPE,
  });
  await putUser(deps, DEMO_TENANT, DEMO_USER, {
    name: 'Alice Example',
    given_name: 'Alice',
    family_name: 'Example',
    email: 'alice@example.com',
    email_verified: true,
    phone_number: '+15555550100',
  });
  const client = await registerClient(deps, tenant, {
    client_id: DEMO_CLIENT_ID,
    client_name: 'ACME Support Console',
    grant_types: ['urn:openid:params:grant-type:ciba'],
    token_endpoint_auth_method: 'client_secret_basic',
    backchannel_token_delivery_mode: 'poll',
  });
  return { client_id: client.client_id, client_secret: client.client_secret ?? '' };
};
