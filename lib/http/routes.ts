/**
 * Every HTTP route of the service, in API Gateway HTTP API route-key syntax, and the function that
 * serves it. The local server routes with this table; the CDK stack creates one API route per entry.
 */
export type FunctionName = 'discovery' | 'bc-authorize' | 'token' | 'userinfo' | 'consent' | 'device' | 'admin' | 'web';

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  fn: FunctionName;
  /** Admin routes are IAM (SigV4) authorized in AWS and bearer-token authorized locally. */
  admin?: boolean;
  /** The operator console: always served locally; in AWS only when the deployment turns it on (`ciba:console`). */
  console?: boolean;
}

const ROUTE_TABLE = [
  { method: 'GET', path: '/{tenant}/.well-known/openid-configuration', fn: 'discovery' },
  { method: 'GET', path: '/{tenant}/.well-known/jwks.json', fn: 'discovery' },
  { method: 'POST', path: '/{tenant}/bc-authorize', fn: 'bc-authorize' },
  { method: 'POST', path: '/{tenant}/oauth/token', fn: 'token' },
  { method: 'POST', path: '/{tenant}/oauth/revoke', fn: 'token' },
  { method: 'POST', path: '/{tenant}/oauth/introspect', fn: 'token' },
  { method: 'GET', path: '/{tenant}/userinfo', fn: 'userinfo' },
  { method: 'POST', path: '/{tenant}/userinfo', fn: 'userinfo' },
  { method: 'POST', path: '/{tenant}/device/enrollments', fn: 'device' },
  { method: 'GET', path: '/{tenant}/device/transactions', fn: 'consent' },
  { method: 'GET', path: '/{tenant}/device/transactions/{txn}', fn: 'consent' },
  { method: 'POST', path: '/{tenant}/device/transactions/{txn}', fn: 'device' },
  { method: 'GET', path: '/{tenant}/device', fn: 'consent' },
  { method: 'PUT', path: '/{tenant}/device/push', fn: 'device' },
  { method: 'POST', path: '/{tenant}/device/passkey/registration-options', fn: 'device' },
  { method: 'POST', path: '/{tenant}/device/passkey', fn: 'device' },
  { method: 'GET', path: '/{tenant}/authenticator', fn: 'web' },
  { method: 'GET', path: '/{tenant}/authenticator/manifest.webmanifest', fn: 'web' },
  { method: 'GET', path: '/{tenant}/authenticator/sw.js', fn: 'web' },
  { method: 'GET', path: '/{tenant}/console', fn: 'web', console: true },
  { method: 'POST', path: '/{tenant}/console/requests', fn: 'web', console: true },
  { method: 'POST', path: '/{tenant}/console/poll', fn: 'web', console: true },
  { method: 'POST', path: '/{tenant}/console/cancel', fn: 'web', console: true },
  { method: 'GET', path: '/{tenant}/approve', fn: 'web' },
  { method: 'POST', path: '/{tenant}/approve/view', fn: 'consent' },
  { method: 'POST', path: '/{tenant}/approve/decide', fn: 'device' },
  { method: 'GET', path: '/assets/{file}', fn: 'web' },
  { method: 'PUT', path: '/admin/tenants/{tenant}', fn: 'admin', admin: true },
  { method: 'GET', path: '/admin/tenants/{tenant}', fn: 'admin', admin: true },
  { method: 'DELETE', path: '/admin/tenants/{tenant}', fn: 'admin', admin: true },
  { method: 'POST', path: '/admin/tenants/{tenant}/clients', fn: 'admin', admin: true },
  { method: 'GET', path: '/admin/tenants/{tenant}/clients/{client_id}', fn: 'admin', admin: true },
  { method: 'DELETE', path: '/admin/tenants/{tenant}/clients/{client_id}', fn: 'admin', admin: true },
  { method: 'PUT', path: '/admin/tenants/{tenant}/users/{sub}', fn: 'admin', admin: true },
  { method: 'GET', path: '/admin/tenants/{tenant}/users/{sub}', fn: 'admin', admin: true },
  { method: 'DELETE', path: '/admin/tenants/{tenant}/users/{sub}', fn: 'admin', admin: true },
  { method: 'POST', path: '/admin/tenants/{tenant}/users/{sub}/enrollment-tickets', fn: 'admin', admin: true },
  { method: 'GET', path: '/admin/tenants/{tenant}/users/{sub}/devices', fn: 'admin', admin: true },
  { method: 'DELETE', path: '/admin/tenants/{tenant}/users/{sub}/devices/{device_id}', fn: 'admin', admin: true },
  {
    method: 'DELETE',
    path: '/admin/tenants/{tenant}/users/{sub}/devices/{device_id}/passkey',
    fn: 'admin',
    admin: true,
  },
  { method: 'DELETE', path: '/admin/tenants/{tenant}/users/{sub}/shields/{client_id}', fn: 'admin', admin: true },
  { method: 'GET', path: '/admin/tenants/{tenant}/requests/{auth_req_id}', fn: 'admin', admin: true },
  { method: 'GET', path: '/admin/tenants/{tenant}/keys', fn: 'admin', admin: true },
  { method: 'POST', path: '/admin/tenants/{tenant}/keys/rotate', fn: 'admin', admin: true },
] as const satisfies readonly Route[];

export const ROUTES: readonly Route[] = ROUTE_TABLE;

type RouteOf<F extends FunctionName> = Extract<(typeof ROUTE_TABLE)[number], { fn: F }>;
/** The API Gateway route keys (`METHOD /path`) of a function's routes: its handler's route table has exactly these. */
export type RouteKeyOf<F extends FunctionName> =
  RouteOf<F> extends infer R
    ? R extends { method: string; path: string }
      ? `${R['method']} ${R['path']}`
      : never
    : never;

/** The route keys of a function, from the table (tests compare them with the handler's route table). */
export const routeKeysOf = (fn: FunctionName): string[] =>
  ROUTES.filter((r) => r.fn === fn).map((r) => `${r.method} ${r.path}`);

/** Tenant ids: `[a-z0-9][a-z0-9-]{0,62}` minus reserved words (docs/admin-api.md). */
export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const RESERVED_TENANT_IDS = new Set(['admin', 'health', 'assets']);
export const isValidTenantId = (id: string): boolean => TENANT_ID_PATTERN.test(id) && !RESERVED_TENANT_IDS.has(id);
