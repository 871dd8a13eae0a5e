import * as wire from '../errors.ts';

/**
 * Typed errors of the device API. The service answers `{error, error_description}`, and for some codes
 * machine-readable members beside them; each known `error` code has its own subclass so that callers can
 * `instanceof` instead of comparing strings, and decide on those members, never on the description (prose for people).
 * The codes are the service's own classes' (lib/errors.ts): one spelling of each, and every device error is a
 * `WireError`.
 */
export class DeviceApiError extends wire.WireError {
  override readonly name: string = 'DeviceApiError';
  /** The service's `error` code, or `unexpected_response` when the body held none. */
  override readonly error: string;
  readonly description?: string;
  constructor(
    /** HTTP status of the answer (0 when the request did not reach the service). */
    status: number,
    error: string,
    /** Text for people: show it, never match on it. */
    description?: string,
    /** The answer's other members (`attempts_left`, `status`, ...): what the service says beyond the code. */
    fields: Readonly<Record<string, unknown>> = {},
  ) {
    super(description ? `${error}: ${description}` : error, { status, fields });
    this.error = error;
    if (description !== undefined) this.description = description;
  }
}

/** 401 `invalid_dpop_proof`: missing/malformed proof, unknown (revoked or never enrolled) key, stale `iat`, replayed `jti`. */
export class InvalidDpopProof extends DeviceApiError {
  override readonly name = 'InvalidDpopProof';
}

/** 404 `not_found`: unknown transaction, or one that belongs to another user or tenant. */
export class NotFound extends DeviceApiError {
  override readonly name = 'NotFound';
}

/** 409 `request_not_pending`: the transaction expired, was decided the other way, or is finished. */
export class RequestNotPending extends DeviceApiError {
  override readonly name = 'RequestNotPending';
}

/** 400 `invalid_binding_code`: the typed code does not match; counted, and the last allowed mistake denies the request. */
export class InvalidBindingCode extends DeviceApiError {
  override readonly name = 'InvalidBindingCode';

  /** Wrong codes the request still takes (`attempts_left`); 0 once none are left. Undefined if the service did not say. */
  get attemptsLeft(): number | undefined {
    const left = this.fields['attempts_left'];
    return typeof left === 'number' ? left : undefined;
  }

  /** The request's status after this mistake (`status`): `denied` when it was the last allowed one. */
  get requestStatus(): 'pending' | 'denied' | undefined {
    const status = this.fields['status'];
    return status === 'pending' || status === 'denied' ? status : undefined;
  }
}

/**
 * `user_verification_required`: 400 when the tenant needs a passkey assertion to approve (or the device has no
 * passkey); 403 when replacing a passkey without a verified assertion by the current one.
 */
export class UserVerificationRequired extends DeviceApiError {
  override readonly name = 'UserVerificationRequired';
}

/** 400 `user_verification_failed`: the passkey assertion or registration did not verify. */
export class UserVerificationFailed extends DeviceApiError {
  override readonly name = 'UserVerificationFailed';
}

const BY_CODE: Record<string, typeof DeviceApiError> = {
  [wire.InvalidDpopProof.code]: InvalidDpopProof,
  [wire.NotFound.code]: NotFound,
  [wire.RequestNotPending.code]: RequestNotPending,
  [wire.InvalidBindingCode.code]: InvalidBindingCode,
  [wire.UserVerificationRequired.code]: UserVerificationRequired,
  [wire.UserVerificationFailed.code]: UserVerificationFailed,
};

/** Builds the typed error for a non-2xx answer of the device API. */
export const deviceApiErrorFrom = (status: number, body: unknown): DeviceApiError => {
  const b = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const error = typeof b['error'] === 'string' ? b['error'] : 'unexpected_response';
  const description =
    typeof b['error_description'] === 'string'
      ? b['error_description']
      : error === 'unexpected_response'
        ? `HTTP ${status}`
        : undefined;
  const { error: _error, error_description: _description, ...fields } = b;
  const Ctor = BY_CODE[error] ?? DeviceApiError;
  return new Ctor(status, error, description, fields);
};
