import type { DetailDisplay, DeviceTransaction, DisplayField, RequestKind } from '../model.ts';
import { createDpopProof } from './dpop.ts';
import { DeviceApiError, deviceApiErrorFrom } from './errors.ts';
import { type DeviceEvent, type DeviceEventsOptions, followDeviceEvents } from './events.ts';
import type { DeviceKey } from './key.ts';

/**
 * A pending CIBA transaction as the device sees it (docs/device-api.md). Show `kind` and `display` first: the title
 * ("Confirm it's you" for an `identity_check`, each `display[i].title` for a `transaction`) and its labelled
 * fields, then the binding message.
 */
export type Transaction = DeviceTransaction;

/** What the service rendered for one `authorization_details` element: a title and labelled values, safe to show. */
export type { DetailDisplay, DisplayField, RequestKind };

/** Where a transaction stands (consent details carry it; the pending list holds pending ones only). */
export type TransactionStatus = 'pending' | 'approved' | 'denied' | 'reported' | 'expired';

/** `report`: "I did not ask for this": denies the request and keeps the client from asking this user for a while. */
export type Decision = 'approve' | 'deny' | 'report';

/** How the service reaches the device: a webhook (local mode) or a mobile push token. */
export type DevicePushRegistration =
  | { type: 'webhook'; url: string }
  | { type: 'apns' | 'apns_sandbox' | 'fcm'; token: string }
  | { type: 'webpush'; subscription: unknown };

/** GET {issuer}/device: this device and the tenant's rules for approving. */
export interface DeviceProfile {
  device_id: string;
  name: string;
  created_at: number;
  push: { type: string; disabled: boolean } | null;
  passkey: boolean;
  tenant: {
    display_name: string;
    binding_code_confirmation: boolean;
    user_verification: 'none' | 'passkey';
    /** How long a report keeps the reported client from asking this user again (absent from older services). */
    report_shield_seconds?: number;
    web_push_public_key?: string;
  };
}

export interface DecideOptions {
  /** Binding-code confirmation: the code shown on the consumption device, as the user typed it. */
  bindingCode?: string;
  /** User verification: the WebAuthn assertion (`PublicKeyCredential.toJSON()`) over `transaction.webauthn.challenge`. */
  webauthn?: unknown;
}

/**
 * WebAuthn creation options (`PublicKeyCredentialCreationOptionsJSON`) for the device's passkey. When the device
 * already has one, `assertion_options` (`PublicKeyCredentialRequestOptionsJSON`, the same challenge) asks it to
 * confirm the replacement: pass its result as `assertion` to `registerPasskey`.
 */
export type PasskeyRegistrationOptions = Record<string, unknown> & {
  challenge: string;
  rp: { id?: string; name: string };
  assertion_options?: {
    challenge: string;
    rpId: string;
    allowCredentials: { id: string; type: 'public-key'; transports?: string[] }[];
    userVerification: 'required';
    timeout: number;
  };
};

export interface EnrollOptions {
  ticket: string;
  name?: string;
  push?: DevicePushRegistration;
}

export interface DecisionResult {
  txn: string;
  status: 'approved' | 'denied' | 'reported';
}

export interface DeviceClientOptions {
  /** The tenant's issuer, `{base}/{tenant}`, exactly as the device reaches it (it becomes every proof's `htu`). */
  issuer: string;
  key: DeviceKey;
  fetch?: typeof fetch;
  /** The device's clock in milliseconds since the epoch (default `Date.now`). */
  now?: () => number;
}

/**
 * How far (seconds) the device's clock may drift from the service's before its proofs take the service's time: half
 * the service's allowance for a proof's `iat` (60 s), so a clock that drifts is corrected before it is refused.
 */
const CLOCK_DRIFT_SECONDS = 30;

/**
 * The device side of the service: enrollment, pending transactions, consent details and decisions,
 * every request signed with a DPoP proof by the device key.
 */
export class DeviceClient {
  readonly issuer: string;
  readonly key: DeviceKey;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  /** The service's clock minus this device's, in seconds, as the service's `Date` headers tell it (0 until off). */
  #clockOffset = 0;

  constructor(options: DeviceClientOptions) {
    this.issuer = options.issuer.replace(/\/+$/, '');
    this.key = options.key;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#now = options.now ?? Date.now;
  }

  /** The device id: the RFC 7638 thumbprint of the key. */
  get deviceId(): string {
    return this.key.thumbprint;
  }

  /** Enrolls this key for the user the one-time ticket was issued for. */
  async enroll(options: EnrollOptions): Promise<{ device_id: string }> {
    const body: Record<string, unknown> = { ticket: options.ticket };
    if (options.name !== undefined) body['name'] = options.name;
    if (options.push !== undefined) body['push'] = options.push;
    return this.#call<{ device_id: string }>('POST', '/device/enrollments', { body });
  }

  /** The user's pending transactions, newest first. */
  async pending(options: { signal?: AbortSignal } = {}): Promise<Transaction[]> {
    const answer = await this.#call<{ transactions?: Transaction[] }>('GET', '/device/transactions', {
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return answer.transactions ?? [];
  }

  /**
   * Follows this device's requests as they arrive: the service's event stream (`GET {issuer}/device/events`, each
   * connection with a fresh DPoP proof), reconnected with backoff, and polling of `pending()` beside it; where the
   * service has no stream (AWS answers 404) polling alone. Works in browsers and Node. Leave the `for await` loop
   * or abort `signal` to stop.
   *
   * ```ts
   * for await (const event of device.events()) {
   *   if (event.type === 'transaction') show(await device.get(event.txn));
   *   if (event.type === 'pending') showAll(event.transactions);
   * }
   * ```
   */
  events(options: DeviceEventsOptions = {}): AsyncGenerator<DeviceEvent, void, undefined> {
    return followDeviceEvents(
      {
        openStream: (signal) => this.#send('GET', '/device/events', { signal, accept: 'text/event-stream' }),
        pending: (signal) => this.pending({ signal }),
      },
      options,
    );
  }

  /** The consent details of one transaction, with where it stands (`status`). */
  async get(txn: string): Promise<Transaction & { status: TransactionStatus }> {
    return this.#call('GET', `/device/transactions/${encodeURIComponent(txn)}`);
  }

  /**
   * Approves, denies or reports ("I did not ask for this"). The proof carries `txn` and `decision` as extra claims,
   * so the stored proof is self-contained evidence of what the device signed.
   */
  async decide(txn: string, decision: Decision, options: DecideOptions = {}): Promise<DecisionResult> {
    const body: Record<string, unknown> = { decision };
    if (options.bindingCode !== undefined) body['binding_code'] = options.bindingCode;
    if (options.webauthn !== undefined) body['webauthn'] = options.webauthn;
    return this.#call<DecisionResult>('POST', `/device/transactions/${encodeURIComponent(txn)}`, {
      body,
      extraClaims: { txn, decision },
    });
  }

  /** This device as the service knows it, with the tenant's approval rules (and Web Push public key). */
  async profile(): Promise<DeviceProfile> {
    return this.#call<DeviceProfile>('GET', '/device');
  }

  /** Replaces the device's push channel (for example a Web Push subscription made after enrollment). */
  async setPush(push: DevicePushRegistration): Promise<{ push: { type: string } }> {
    return this.#call('PUT', '/device/push', { body: { push } });
  }

  /** WebAuthn creation options (JSON) for registering this device's passkey (and confirming with the current one). */
  async passkeyRegistrationOptions(): Promise<PasskeyRegistrationOptions> {
    return this.#call('POST', '/device/passkey/registration-options', { body: {} });
  }

  /**
   * Sends the new passkey (`PublicKeyCredential.toJSON()`) for verification and storage. Replacing a passkey needs
   * `assertion`: the current passkey's assertion over the same challenge (`assertion_options`); without it, or when
   * it does not verify, the service answers 403 and this throws `UserVerificationRequired`.
   */
  async registerPasskey(response: unknown, options: { assertion?: unknown } = {}): Promise<{ credential_id: string }> {
    return this.#call('POST', '/device/passkey', {
      body: { response, ...(options.assertion !== undefined ? { assertion: options.assertion } : {}) },
    });
  }

  async #call<T>(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    request: { body?: unknown; extraClaims?: Record<string, unknown>; signal?: AbortSignal } = {},
  ): Promise<T> {
    const response = await this.#send(method, path, request);
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!response.ok) throw deviceApiErrorFrom(response.status, parsed);
    if (parsed === undefined || typeof parsed !== 'object' || parsed === null) {
      throw new DeviceApiError(response.status, 'unexpected_response', `${method} ${path}: expected a JSON object`);
    }
    return parsed as T;
  }

  /**
   * One request signed with a fresh DPoP proof; a failure to reach the service is `network_error` (status 0).
   *
   * A proof's `iat` is the service's time as far as the device knows it. A device whose clock is off by more than the
   * service allows gets `401 invalid_dpop_proof`, which must not read as "this device is no longer enrolled" (the web
   * authenticator forgets its key on that): when a refusal's `Date` header shows the clocks apart, the request is
   * sent once more with a proof dated by the service's clock, and later proofs keep that offset. A refused request
   * changed nothing on the service, so sending it again is safe.
   */
  async #send(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    request: { body?: unknown; extraClaims?: Record<string, unknown>; signal?: AbortSignal; accept?: string },
  ): Promise<Response> {
    const response = await this.#sendOnce(method, path, request);
    if (response.status !== 401 || !this.#learnClock(response)) return response;
    await response.body?.cancel();
    return this.#sendOnce(method, path, request);
  }

  /** Takes the service's time from a response's `Date` header when it is further off than the drift allowed. */
  #learnClock(response: Response): boolean {
    const serverMs = Date.parse(response.headers.get('date') ?? '');
    if (Number.isNaN(serverMs)) return false;
    const offset = Math.round((serverMs - this.#now()) / 1000);
    if (Math.abs(offset - this.#clockOffset) <= CLOCK_DRIFT_SECONDS) return false;
    this.#clockOffset = offset;
    return true;
  }

  async #sendOnce(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    request: { body?: unknown; extraClaims?: Record<string, unknown>; signal?: AbortSignal; accept?: string },
  ): Promise<Response> {
    const { body, extraClaims, signal } = request;
    const url = `${this.issuer}${path}`;
    const iat = Math.floor(this.#now() / 1000) + this.#clockOffset;
    const proof = await createDpopProof(
      this.key,
      extraClaims ? { htm: method, htu: url, extraClaims, iat } : { htm: method, htu: url, iat },
    );
    const headers: Record<string, string> = { accept: request.accept ?? 'application/json', dpop: proof };
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await this.#fetch(url, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        ...(signal ? { signal } : {}),
        redirect: 'manual',
        // A stream is never served from a cache (the API's answers say no-store themselves).
        ...(request.accept === 'text/event-stream' ? { cache: 'no-store' as const } : {}),
      });
    } catch (cause) {
      const e = new DeviceApiError(0, 'network_error', `${method} ${url}: ${(cause as Error).message}`);
      (e as { cause?: unknown }).cause = cause;
      throw e;
    }
  }
}
