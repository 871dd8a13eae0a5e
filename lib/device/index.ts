/**
 * The device SDK: runs in Node 20+ and in browsers (WebCrypto, fetch and jose only). Key storage lives
 * in separate modules: `node-key-file.ts` (Node) and `browser-key-store.ts` (IndexedDB).
 */
export {
  type DecideOptions,
  type Decision,
  type DecisionResult,
  DeviceClient,
  type DeviceClientOptions,
  type DeviceProfile,
  type DevicePushRegistration,
  type EnrollOptions,
  type Transaction,
} from './client.ts';
export { createDpopProof, type DpopProofOptions, htuOf, randomJti } from './dpop.ts';
export {
  DeviceApiError,
  deviceApiErrorFrom,
  InvalidBindingCode,
  InvalidDpopProof,
  NotFound,
  RequestNotPending,
  UserVerificationFailed,
  UserVerificationRequired,
} from './errors.ts';
export {
  type ConnectionEvent,
  type DeviceEvent,
  type DeviceEventSource,
  type DeviceEventsOptions,
  followDeviceEvents,
} from './events.ts';
export { DeviceKey, type PrivateEcJwk, type PublicEcJwk } from './key.ts';
