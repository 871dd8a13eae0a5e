import type { AuthRequest, DeviceTransaction, RequestKind } from '../model.ts';
import type { ClientStore } from '../persistence.ts';

const seconds = (ms: number) => Math.floor(ms / 1000);

/** A request with authorization_details asks to approve a transaction; one without, to confirm who the user is. */
export const requestKind = (request: Pick<AuthRequest, 'authorizationDetails'>): RequestKind =>
  request.authorizationDetails?.length ? 'transaction' : 'identity_check';

/** The device's view of a request: who asks and why; never the auth_req_id or notification token. */
export const toDeviceTransaction = async (
  clients: Pick<ClientStore, 'get'>,
  request: AuthRequest,
): Promise<DeviceTransaction> => {
  const client = await clients.get(request.tenantId, request.clientId);
  return {
    txn: request.txn,
    client_id: request.clientId,
    client_name: client?.clientName || request.clientId,
    ...(request.bindingMessage !== undefined ? { binding_message: request.bindingMessage } : {}),
    scope: request.scope,
    ...(request.acrValues !== undefined ? { acr_values: request.acrValues } : {}),
    ...(request.authorizationDetails !== undefined ? { authorization_details: request.authorizationDetails } : {}),
    kind: requestKind(request),
    ...(request.display !== undefined ? { display: request.display } : {}),
    created_at: seconds(request.createdAt),
    expires_at: seconds(request.expiresAt),
  };
};

/** Where a request stands, as operators and devices see it. */
export const requestState = (
  request: AuthRequest,
  now: number,
): 'pending' | 'approved' | 'denied' | 'reported' | 'expired' | 'redeemed' => {
  if (request.status === 'approved') return request.grantPending ? 'approved' : 'redeemed';
  if (request.status === 'denied' || request.status === 'reported') return request.status;
  return request.expiresAt <= now ? 'expired' : 'pending';
};
