import { clientToWire, deleteClient, getClientOrThrow, registerClient } from '../../lib/admin/clients.ts';
import { describeRequest } from '../../lib/admin/requests.ts';
import {
  deleteTenant,
  describeTenantKeys,
  getTenantOrThrow,
  putTenant,
  rotateTenantKeys,
  settingsToWire,
  TENANT_DELETION_STEP,
} from '../../lib/admin/tenants.ts';
import {
  checkSub,
  deleteUser,
  getUserOrThrow,
  issueEnrollmentTicket,
  listDevices,
  putUser,
  revokeDevice,
  userToWire,
} from '../../lib/admin/users.ts';
import { removePasskey } from '../../lib/ciba/passkey.ts';
import { liftReportShield } from '../../lib/ciba/report-shield.ts';
import { InvalidClientMetadata, InvalidRequest, NotFound } from '../../lib/errors.ts';
import { authorizeAdmin } from '../../lib/http/authorize-admin.ts';
import { type HttpEvent, issuerOf, jsonBody, pathParam, tenantParam } from '../../lib/http/event.ts';
import { httpFunction } from '../../lib/http/middleware.ts';
import { type HttpResult, json, noContent } from '../../lib/http/response.ts';
import { routeTable } from '../../lib/http/route-table.ts';
import { isValidTenantId } from '../../lib/http/routes.ts';
import type { Tenant } from '../../lib/model.ts';
import type { Deps } from '../../lib/ports.ts';

/** The ports this function uses: its Lambda entry builds only these. */
export type AdminDeps = Pick<
  Deps,
  | 'tenants'
  | 'clients'
  | 'users'
  | 'shields'
  | 'devices'
  | 'passkeys'
  | 'tickets'
  | 'requests'
  | 'keys'
  | 'platforms'
  | 'events'
  | 'outbound'
  | 'clock'
  | 'logger'
  | 'config'
>;

/** The admin API (docs/admin-api.md): every route authorized (IAM in AWS, the admin token locally) first. */
export const createHandler = (deps: AdminDeps) => {
  /** A route of a tenant's resources: the tenant must exist. */
  const ofTenant =
    (run: (event: HttpEvent, tenant: Tenant, issuer: string) => Promise<HttpResult>) => async (event: HttpEvent) => {
      const tenantId = tenantParam(event);
      return run(event, await getTenantOrThrow(deps, tenantId), issuerOf(event, deps.config, tenantId));
    };
  const sub = (event: HttpEvent) => pathParam(event, 'sub');
  const routes = routeTable<'admin'>({
    'PUT /admin/tenants/{tenant}': async (event) => {
      if (!isValidTenantId(event.pathParameters?.tenant ?? '')) {
        throw new InvalidRequest(
          'tenant ids are 1-63 characters of a-z 0-9 and -, starting with a letter or digit; admin, health and assets are reserved',
        );
      }
      const tenantId = tenantParam(event);
      const { created, tenant } = await putTenant(deps, tenantId, jsonBody(event));
      return json(created ? 201 : 200, settingsToWire(tenant, issuerOf(event, deps.config, tenantId)));
    },
    // Bounded work per call: 204 once the tenant is gone, 202 while items remain (the tenant is already unknown
    // everywhere; the next DELETE resumes).
    'DELETE /admin/tenants/{tenant}': async (event) => {
      const tenantId = tenantParam(event);
      const outcome = await deleteTenant(deps, tenantId, { maxItems: TENANT_DELETION_STEP });
      if (outcome === 'absent') throw new NotFound('unknown tenant');
      return outcome === 'deleted' ? noContent() : json(202, { tenant: tenantId, status: 'deleting' });
    },
    'GET /admin/tenants/{tenant}': ofTenant(async (_event, tenant, issuer) =>
      json(200, settingsToWire(tenant, issuer)),
    ),
    'POST /admin/tenants/{tenant}/clients': ofTenant(async (event, tenant) =>
      json(201, await registerClient(deps, tenant, jsonBody(event, InvalidClientMetadata))),
    ),
    'GET /admin/tenants/{tenant}/clients/{client_id}': ofTenant(async (event, tenant) =>
      json(200, clientToWire(await getClientOrThrow(deps, tenant.tenantId, pathParam(event, 'client_id')))),
    ),
    'DELETE /admin/tenants/{tenant}/clients/{client_id}': ofTenant(async (event, tenant) => {
      await deleteClient(deps, tenant.tenantId, pathParam(event, 'client_id'));
      return noContent();
    }),
    'PUT /admin/tenants/{tenant}/users/{sub}': ofTenant(async (event, tenant) => {
      const { created, user } = await putUser(deps, tenant.tenantId, sub(event), jsonBody(event));
      return json(created ? 201 : 200, userToWire(user, deps.clock.now()));
    }),
    'DELETE /admin/tenants/{tenant}/users/{sub}': ofTenant(async (event, tenant) => {
      await deleteUser(deps, tenant.tenantId, sub(event));
      return noContent();
    }),
    'GET /admin/tenants/{tenant}/users/{sub}': ofTenant(async (event, tenant) =>
      json(200, userToWire(await getUserOrThrow(deps, tenant.tenantId, sub(event)), deps.clock.now())),
    ),
    'DELETE /admin/tenants/{tenant}/users/{sub}/shields/{client_id}': ofTenant(async (event, tenant) => {
      await liftReportShield(deps, {
        tenantId: tenant.tenantId,
        user: await getUserOrThrow(deps, tenant.tenantId, sub(event)),
        clientId: pathParam(event, 'client_id'),
      });
      return noContent();
    }),
    'POST /admin/tenants/{tenant}/users/{sub}/enrollment-tickets': ofTenant(async (event, tenant, issuer) =>
      json(201, await issueEnrollmentTicket(deps, tenant.tenantId, sub(event), issuer)),
    ),
    'GET /admin/tenants/{tenant}/users/{sub}/devices': ofTenant(async (event, tenant) =>
      json(200, await listDevices(deps, tenant.tenantId, sub(event))),
    ),
    'DELETE /admin/tenants/{tenant}/users/{sub}/devices/{device_id}': ofTenant(async (event, tenant) => {
      await revokeDevice(deps, tenant.tenantId, sub(event), pathParam(event, 'device_id'));
      return noContent();
    }),
    'DELETE /admin/tenants/{tenant}/users/{sub}/devices/{device_id}/passkey': ofTenant(async (event, tenant) => {
      await removePasskey(deps, {
        tenantId: tenant.tenantId,
        sub: checkSub(sub(event)),
        deviceId: pathParam(event, 'device_id'),
      });
      return noContent();
    }),
    'GET /admin/tenants/{tenant}/keys': ofTenant(async (_event, tenant) =>
      json(200, await describeTenantKeys(deps, tenant.tenantId)),
    ),
    'POST /admin/tenants/{tenant}/keys/rotate': ofTenant(async (_event, tenant) =>
      json(200, await rotateTenantKeys(deps, tenant.tenantId)),
    ),
    'GET /admin/tenants/{tenant}/requests/{auth_req_id}': ofTenant(async (event, tenant) =>
      json(200, await describeRequest(deps, tenant.tenantId, pathParam(event, 'auth_req_id'))),
    ),
  });
  return httpFunction(deps.logger, async (event: HttpEvent) => {
    authorizeAdmin(event, deps.config);
    return routes(event);
  });
};
