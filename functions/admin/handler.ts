import { clientToWire, deleteClient, getClientOrThrow, registerClient } from '../../lib/admin/clients.ts';
import { describeRequest } from '../../lib/admin/requests.ts';
import { deleteTenant, getTenantOrThrow, putTenant, settingsToWire } from '../../lib/admin/tenants.ts';
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
import { InvalidClientMetadata, InvalidRequest, NotFound } from '../../lib/errors.ts';
import { authorizeAdmin } from '../../lib/http/authorize-admin.ts';
import { type HttpEvent, issuerOf, jsonBody, pathParam, tenantParam } from '../../lib/http/event.ts';
import { httpFunction } from '../../lib/http/middleware.ts';
import { json, noContent } from '../../lib/http/response.ts';
import { isValidTenantId } from '../../lib/http/routes.ts';
import type { Deps } from '../../lib/ports.ts';

/** The ports this function uses: its Lambda entry builds only these. */
export type AdminDeps = Pick<
  Deps,
  | 'tenants'
  | 'clients'
  | 'users'
  | 'devices'
  | 'passkeys'
  | 'tickets'
  | 'requests'
  | 'keys'
  | 'events'
  | 'outbound'
  | 'clock'
  | 'logger'
  | 'config'
>;

/** The admin API (docs/admin-api.md). */
export const createHandler = (deps: AdminDeps) =>
  httpFunction(deps.logger, async (event: HttpEvent) => {
    authorizeAdmin(event, deps.config);
    if (event.routeKey === 'PUT /admin/tenants/{tenant}' && !isValidTenantId(event.pathParameters?.tenant ?? '')) {
      throw new InvalidRequest(
        'tenant ids are 1-63 characters of a-z 0-9 and -, starting with a letter or digit; admin, health and assets are reserved',
      );
    }
    const tenantId = tenantParam(event);
    const issuer = issuerOf(event, deps.config, tenantId);
    const route = event.routeKey.replace(' /admin/tenants/{tenant}', ' ');

    if (route === 'PUT ') {
      const { created, tenant } = await putTenant(deps, tenantId, jsonBody(event));
      return json(created ? 201 : 200, settingsToWire(tenant, issuer));
    }
    if (route === 'DELETE ') {
      await deleteTenant(deps, tenantId);
      return noContent();
    }
    const tenant = await getTenantOrThrow(deps, tenantId);
    switch (route) {
      case 'GET ':
        return json(200, settingsToWire(tenant, issuer));
      case 'POST /clients':
        return json(201, await registerClient(deps, tenant, jsonBody(event, InvalidClientMetadata)));
      case 'GET /clients/{client_id}':
        return json(200, clientToWire(await getClientOrThrow(deps, tenantId, pathParam(event, 'client_id'))));
      case 'DELETE /clients/{client_id}':
        await deleteClient(deps, tenantId, pathParam(event, 'client_id'));
        return noContent();
      case 'PUT /users/{sub}': {
        const { created, user } = await putUser(deps, tenantId, pathParam(event, 'sub'), jsonBody(event));
        return json(created ? 201 : 200, userToWire(user));
      }
      case 'DELETE /users/{sub}':
        await deleteUser(deps, tenantId, pathParam(event, 'sub'));
        return noContent();
      case 'GET /users/{sub}':
        return json(200, userToWire(await getUserOrThrow(deps, tenantId, pathParam(event, 'sub'))));
      case 'POST /users/{sub}/enrollment-tickets':
        return json(201, await issueEnrollmentTicket(deps, tenantId, pathParam(event, 'sub'), issuer));
      case 'GET /users/{sub}/devices':
        return json(200, await listDevices(deps, tenantId, pathParam(event, 'sub')));
      case 'DELETE /users/{sub}/devices/{device_id}':
        await revokeDevice(deps, tenantId, pathParam(event, 'sub'), pathParam(event, 'device_id'));
        return noContent();
      case 'DELETE /users/{sub}/devices/{device_id}/passkey':
        await removePasskey(deps, {
          tenantId,
          sub: checkSub(pathParam(event, 'sub')),
          deviceId: pathParam(event, 'device_id'),
        });
        return noContent();
      case 'GET /requests/{auth_req_id}':
        return json(200, await describeRequest(deps, tenantId, pathParam(event, 'auth_req_id')));
      default:
        throw new NotFound('no such admin route');
    }
  });
