/**
 * Every wire error code the service answers with, one class per code (as node-oidc-provider's
 * lib/helpers/errors.js): RFC 6749 §5.2, CIBA Core §11/§13, RFC 7591 §3.2.2, RFC 6750 §3.1, RFC 9449 §7.1, and the
 * device and admin APIs' own codes. Shared by every layer (core, HTTP, local mode) and by the device SDK
 * (lib/device/errors.ts), so a code is spelled once. Browser-safe: no Node imports.
 *
 * Each class carries its code and default HTTP status; an endpoint may override the status (access_denied is 403 at
 * bc-authorize and 400 at the token endpoint). The description is sent (`error_description`, RFC 6749 character set);
 * `detail` is an internal detail that the outermost middleware only logs, never sends.
 */

export interface WireErrorOptions {
  status?: number;
  headers?: Record<string, string>;
  /** Logged with the error, never sent (which check failed, what was registered...). No secrets. */
  detail?: string;
  cause?: unknown;
  /** Machine-readable members of the body beside `error` and `error_description` (see `withFields`). */
  fields?: Readonly<Record<string, unknown>>;
}

/** Extra members of an error body the service sends: flat, JSON-safe values. */
export type ErrorFields = Record<string, string | number | boolean>;

/** RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E. */
export const sanitizeDescription = (text: string): string =>
  text
    .replace(/["\\]/g, "'")
    .replace(/[^\x20-\x7e]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();

/** An error with a wire code: the outermost middleware answers it with its status and `{error, error_description}`. */
export class WireError extends Error {
  static readonly code: string = 'server_error';
  static readonly status: number = 500;
  /** The wire `error` code. */
  readonly error: string;
  readonly status: number;
  readonly headers: Record<string, string>;
  /** Internal detail: logged, never sent. */
  readonly detail: string | undefined;
  /** Members of the body beside `error` and `error_description` (`withFields`; a device error: what the answer held). */
  readonly fields: Readonly<Record<string, unknown>>;

  constructor(description: string, options: WireErrorOptions = {}) {
    super(description, options.cause === undefined ? undefined : { cause: options.cause });
    const type = new.target as typeof WireError;
    this.name = type.name;
    this.error = type.code;
    this.status = options.status ?? type.status;
    this.headers = options.headers ?? {};
    this.detail = options.detail;
    this.fields = options.fields ?? {};
  }

  /** node-oidc-provider's `expose`: below 500 the description is the caller's to read; otherwise a generic answer. */
  get expose(): boolean {
    return this.status < 500;
  }

  /** The same error with another status (access_denied: 403 at bc-authorize, 400 at the token endpoint). */
  withStatus(status: number): this {
    return copyWith(this, { status });
  }

  /**
   * Adds machine-readable members to the body, so that a client decides on them and never on the description's
   * prose (the device API's `invalid_binding_code` says `attempts_left` and `status`). Only for the service's own
   * APIs: the OAuth and CIBA endpoints answer `error` and `error_description` alone (CIBA Core §13).
   */
  withFields(fields: ErrorFields): this {
    return copyWith(this, { fields: { ...this.fields, ...fields } });
  }

  /**
   * The wire body: `error`, `error_description` in the RFC 6749 character set, then any extra fields (never over the
   * first two).
   */
  toJSON(): { error: string; error_description?: string } & Record<string, unknown> {
    const description = sanitizeDescription(this.message);
    const { error: _error, error_description: _description, ...fields } = this.fields;
    return description
      ? { error: this.error, error_description: description, ...fields }
      : { error: this.error, ...fields };
  }
}

/** The same error (class, message, stack) with another status or body fields. */
const copyWith = <E extends WireError>(
  error: E,
  changes: { status?: number; fields?: Readonly<Record<string, unknown>> },
): E => {
  const copy = Object.create(Object.getPrototypeOf(error)) as E;
  Object.assign(copy, error, changes);
  Object.defineProperty(copy, 'message', { value: error.message, writable: true, configurable: true });
  Object.defineProperty(copy, 'stack', { value: error.stack, writable: true, configurable: true });
  return copy;
};

/** A class of wire error, as endpoints name the one their validation failures become. */
export type WireErrorClass = new (description: string, options?: WireErrorOptions) => WireError;

/** Codes that OAuth, OpenID Connect, CIBA and their extensions define. */
export class OAuthError extends WireError {}

export class InvalidRequest extends OAuthError {
  static override readonly code = 'invalid_request';
  static override readonly status = 400;
}
export class InvalidScope extends OAuthError {
  static override readonly code = 'invalid_scope';
  static override readonly status = 400;
}
export class InvalidGrant extends OAuthError {
  static override readonly code = 'invalid_grant';
  static override readonly status = 400;
}
export class UnauthorizedClient extends OAuthError {
  static override readonly code = 'unauthorized_client';
  static override readonly status = 400;
}
export class UnsupportedGrantType extends OAuthError {
  static override readonly code = 'unsupported_grant_type';
  static override readonly status = 400;
}
export class AccessDenied extends OAuthError {
  static override readonly code = 'access_denied';
  static override readonly status = 403;
}
export class ExpiredToken extends OAuthError {
  static override readonly code = 'expired_token';
  static override readonly status = 400;
}
export class AuthorizationPending extends OAuthError {
  static override readonly code = 'authorization_pending';
  static override readonly status = 400;
}
export class SlowDown extends OAuthError {
  static override readonly code = 'slow_down';
  static override readonly status = 400;
}
export class UnknownUserId extends OAuthError {
  static override readonly code = 'unknown_user_id';
  static override readonly status = 400;
}
export class ExpiredLoginHintToken extends OAuthError {
  static override readonly code = 'expired_login_hint_token';
  static override readonly status = 400;
}
export class MissingUserCode extends OAuthError {
  static override readonly code = 'missing_user_code';
  static override readonly status = 400;
}
export class InvalidUserCode extends OAuthError {
  static override readonly code = 'invalid_user_code';
  static override readonly status = 400;
}
export class InvalidBindingMessage extends OAuthError {
  static override readonly code = 'invalid_binding_message';
  static override readonly status = 400;
}
export class InvalidAuthorizationDetails extends OAuthError {
  static override readonly code = 'invalid_authorization_details';
  static override readonly status = 400;
}
export class InvalidClientMetadata extends OAuthError {
  static override readonly code = 'invalid_client_metadata';
  static override readonly status = 400;
}
/** RFC 6750 §3.1 (userinfo, the local admin token): the caller sets the WWW-Authenticate challenge. */
export class InvalidToken extends OAuthError {
  static override readonly code = 'invalid_token';
  static override readonly status = 401;
}
export class InsufficientScope extends OAuthError {
  static override readonly code = 'insufficient_scope';
  static override readonly status = 403;
}
export class TemporarilyUnavailable extends OAuthError {
  static override readonly code = 'temporarily_unavailable';
  static override readonly status = 503;
}
export class ServerError extends OAuthError {
  static override readonly code = 'server_error';
  static override readonly status = 500;
}

/**
 * invalid_client: 401. RFC 6749 §5.2: when the client tried the Authorization header, the answer MUST carry
 * WWW-Authenticate with the scheme it used.
 */
export class InvalidClient extends OAuthError {
  static override readonly code = 'invalid_client';
  static override readonly status = 401;
  constructor(description: string, usedBasic: boolean, options: Omit<WireErrorOptions, 'headers'> = {}) {
    super(description, { ...options, ...(usedBasic ? { headers: { 'WWW-Authenticate': 'Basic realm="ciba"' } } : {}) });
  }
}

/** RFC 9449 §7.1: every DPoP failure, with its challenge. */
export class InvalidDpopProof extends OAuthError {
  static override readonly code = 'invalid_dpop_proof';
  static override readonly status = 401;
  constructor(description: string, options: Omit<WireErrorOptions, 'headers'> = {}) {
    super(description, { ...options, headers: { 'WWW-Authenticate': 'DPoP error="invalid_dpop_proof"' } });
  }
}

// The device and admin APIs' own codes: not OAuth errors.

/** Device API: the typed binding code does not match the binding message (counted; the last one denies). */
export class InvalidBindingCode extends WireError {
  static override readonly code = 'invalid_binding_code';
  static override readonly status = 400;
}
/** Device API: approving needs a passkey assertion with user verification (none sent, or no passkey registered). */
export class UserVerificationRequired extends WireError {
  static override readonly code = 'user_verification_required';
  static override readonly status = 400;
}
/** Device API: the passkey assertion or registration did not verify. */
export class UserVerificationFailed extends WireError {
  static override readonly code = 'user_verification_failed';
  static override readonly status = 400;
}
/** An unknown (or foreign: indistinguishable) tenant, transaction, client, user, device or route. */
export class NotFound extends WireError {
  static override readonly code = 'not_found';
  static override readonly status = 404;
}
/** Device API: a decision on a request that is no longer pending, or the other decision. */
export class RequestNotPending extends WireError {
  static override readonly code = 'request_not_pending';
  static override readonly status = 409;
}
/** A write that lost to a concurrent one, or a record that already exists. */
export class Conflict extends WireError {
  static override readonly code = 'conflict';
  static override readonly status = 409;
}
