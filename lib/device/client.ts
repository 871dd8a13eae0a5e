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
}

/**
 * The device side of the service: enrollment, pending transactions, consent details and decisions,
 * every request signed with a DPoP proof by the device key.
 */
export class DeviceClient {
  readonly issuer: string;
  readonly key: DeviceKey;
  readonly #fetch: typeof fetch;

  constructor(options: DeviceClientOptions) {
    this.issuer = options.issuer.replace(/\/+$/, '');
    this.key = options.key;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
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

  /** One request signed with a fresh DPoP proof; a failure to reach the service is `network_error` (status 0). */
  async #send(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    request: { body?: unknown; extraClaims?: Record<string, unknown>; signal?: AbortSignal; accept?: string },
  ): Promise<Response> {
    const { body, extraClaims, signal } = request;
    const url = `${this.issuer}${path}`;
    const proof = await createDpopProof(
      this.key,
      extraClaims ? { htm: method, htu: url, extraClaims } : { htm: method, htu: url },
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
