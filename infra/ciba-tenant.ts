import { Annotations, Aspects, CustomResource, type IAspect, Stack } from 'aws-cdk-lib';
import { Construct, type IConstruct } from 'constructs';
import {
  batchCount,
  batchOf,
  TENANTS_INDEX_RESOURCE,
  TENANTS_RESOURCE,
} from '../functions/tenant-provisioner/resources.ts';
import {
  InvalidTenantsFile,
  parseTenantEntry,
  type TenantConfig,
  type TenantFileEntry,
  tenantEntry,
} from './tenants.ts';

/**
 * A tenant of the deployment declared in CDK code, beside or instead of the tenants file (docs/deploy.md "Tenants in
 * CDK code"; infra/examples/tenants-in-code.ts). Its props are an entry of the tenants file, checked as the file is
 * (parseTenantEntry: the admin API's settings checks, secrets under the deployment's name...): an invalid one throws
 * `InvalidTenantsFile` naming the tenant and the field. It is data, not infrastructure: it adds no CloudFormation
 * resource of its own but joins its service stack's `CibaTenants`, which provisions every tenant, the file's and the
 * constructs', through one custom resource per 100 tenants. Create it in the service stack (`buildCibaApp(app).service`
 * or any construct inside it), before the app is synthesized.
 */
export class CibaTenant extends Construct {
  readonly tenant: TenantConfig;

  constructor(scope: Construct, id: string, props: TenantFileEntry) {
    super(scope, id);
    const tenants = CibaTenants.inStack(Stack.of(this));
    if (!tenants) {
      throw new InvalidTenantsFile(
        `CibaTenant ${this.node.path}: create it in the ciba service stack (buildCibaApp(app).service), which provisions the tenants`,
      );
    }
    this.tenant = parseTenantEntry(props, `CibaTenant ${this.node.path}`, { prefix: tenants.prefix });
    tenants.add(this.tenant);
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
  /** The deployment's name: the secrets a tenant names must be under `{prefix}/` (the stack sets it). */
  prefix?: string;

  static of(stack: Stack): CibaTenants {
    return CibaTenants.inStack(stack) ?? new CibaTenants(stack, 'Tenants');
  }

  /** The stack's tenants, if it provisions tenants (the service stack). */
  static inStack(stack: Stack): CibaTenants | undefined {
    const existing = stack.node.tryFindChild('Tenants');
    return existing instanceof CibaTenants ? existing : undefined;
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

  /** A tenant already checked (the tenants file's, parsed; a CibaTenant's). */
  add(tenant: TenantConfig): void {
    if (this.#materialized) {
      throw new InvalidTenantsFile(`tenant ${tenant.id} was added after the tenants were synthesized`);
    }
    if (this.#tenants.has(tenant.id)) {
      throw new InvalidTenantsFile(
        `tenant ${tenant.id} is defined twice (in the tenants file and a CibaTenant, or in two CibaTenants)`,
      );
    }
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
        `callbacks of tenants (${nonDefault.map((t) => t.id).join(', ')}) no longer apply: the shared callback rule retries for 24 h; set callback_max_attempts and callback_max_age_seconds in the settings instead.`,
      );
    }
  }
}
