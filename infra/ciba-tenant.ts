import { Annotations, Aspects, CustomResource, type IAspect, Stack } from 'aws-cdk-lib';
import { Construct, type IConstruct } from 'constructs';
import {
  batchCount,
  batchOf,
  TENANTS_INDEX_RESOURCE,
  TENANTS_RESOURCE,
} from '../functions/tenant-provisioner/resources.ts';
import { type TenantConfig, tenantEntry } from './tenants.ts';

/**
 * A tenant of the deployment, in CDK code (the tenants file makes one per entry). It is data, not infrastructure: it
 * adds no CloudFormation resource of its own but joins the stack's `CibaTenants`, which provisions every tenant
 * through one custom resource per 100 tenants. Its settings go through the same checks as the admin API's.
 */
export class CibaTenant extends Construct {
  readonly tenant: TenantConfig;

  constructor(scope: Construct, id: string, props: { tenant: TenantConfig }) {
    super(scope, id);
    this.tenant = props.tenant;
    CibaTenants.of(Stack.of(this)).add(props.tenant);
  }
}

/**
 * The tenants of a stack, provisioned as data: `Custom::CibaTenants` resources of about 100 tenants each (a tenant's
 * batch follows from its id) and one `Custom::CibaTenantsIndex` after them, which deletes (`on_delete: destroy`) or
 * releases the tenants that left (functions/tenant-provisioner/resources.ts). The resources are made once every tenant
 * is known, when the app is synthesized, so that tenants may be added after the stack.
 */
export class CibaTenants extends Construct {
  readonly #tenants = new Map<string, TenantConfig>();
  #serviceToken?: string;
  #materialized = false;

  static of(stack: Stack): CibaTenants {
    const existing = stack.node.tryFindChild('Tenants');
    if (existing instanceof CibaTenants) return existing;
    return new CibaTenants(stack, 'Tenants');
  }

  private constructor(scope: Construct, id: string) {
    super(scope, id);
    const aspect: IAspect = {
      visit: (node: IConstruct) => {
        if (node === this) this.#materialize();
      },
    };
    Aspects.of(this).add(aspect);
  }

  /** The provisioner's service token (the stack sets it). */
  set serviceToken(token: string) {
    this.#serviceToken = token;
  }

  get tenants(): TenantConfig[] {
    return [...this.#tenants.values()];
  }

  add(tenant: TenantConfig): void {
    if (this.#materialized) throw new Error(`tenant ${tenant.id} was added after the tenants were synthesized`);
    if (this.#tenants.has(tenant.id)) throw new Error(`tenant ${tenant.id} is defined twice`);
    this.#tenants.set(tenant.id, tenant);
  }

  #materialize(): void {
    if (this.#materialized) return;
    this.#materialized = true;
    if (!this.#serviceToken) throw new Error('CibaTenants: the stack gave no provisioner');
    const tenants = [...this.#tenants.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
    const batches = batchCount(tenants.length);
    const resources: CustomResource[] = [];
    for (let i = 0; i < batches; i++) {
      const members = tenants.filter((t) => batchOf(t.id, batches) === i);
      resources.push(
        new CustomResource(this, `Batch${i}`, {
          serviceToken: this.#serviceToken,
          resourceType: TENANTS_RESOURCE,
          // CloudFormation turns every property into a string: the batch travels as JSON. Secrets are named, never
          // included (the provider framework logs every event).
          properties: { Tenants: JSON.stringify(members.map(tenantEntry)) },
        }),
      );
    }
    const index = new CustomResource(this, 'Index', {
      serviceToken: this.#serviceToken,
      resourceType: TENANTS_INDEX_RESOURCE,
      properties: {
        TenantIds: tenants.map((t) => t.id).join(','),
        Destroy: tenants
          .filter((t) => t.onDelete === 'destroy')
          .map((t) => t.id)
          .join(','),
      },
    });
    for (const r of resources) index.node.addDependency(r);
    const nonDefault = tenants.filter(
      (t) => t.callbacks.retryAttempts !== 185 || t.callbacks.maxEventAgeSeconds !== 86_400,
    );
    if (nonDefault.length > 0) {
      Annotations.of(this).addWarningV2(
        'ciba:tenant-callbacks',
        `callbacks in the tenants file (${nonDefault.map((t) => t.id).join(', ')}) no longer apply: the shared callback rule retries for 24 h; set callback_max_attempts and callback_max_age_seconds in the settings instead.`,
      );
    }
  }
}
