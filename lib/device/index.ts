/**
 * The device SDK: runs in Node 20+ and in browsers (WebCrypto, fetch and jose only). Key storage lives
 * in separate modules: `node-key-file.ts` (Node) and `browser-key-store.ts` (IndexedDB).
 */
export {
  type DecideOptions,
  type Decision,
  type DecisionResult,
  type DetailDisplay,
  DeviceClient,
  type DeviceClientOptions,
  type DeviceProfile,
  type DevicePushRegistration,
  type DisplayField,
  type EnrollOptions,
  type RequestKind,
  type Transaction,
  type TransactionStatus,
} from './client.ts';
export { displaysOf, IDENTITY_CHECK_TITLE, kindOf, transactionTitle } from './display.ts';
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
