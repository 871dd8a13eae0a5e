/**
 * Every wire error code, one class per code (RFC 6749 §5.2, CIBA Core §11/§13, RFC 7591 §3.2.2, RFC 6750 §3.1),
 * each with its default HTTP status. An endpoint may override the status (access_denied is 403 at
 * bc-authorize and 400 at the token endpoint).
 */
export class OAuthError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(
    readonly error: string,
    description: string,
    status = 400,
    headers: Record<string, string> = {},
    /** Machine-readable members beside `error` and `error_description` (see `withFields`). */
    readonly fields: ErrorFields = {},
  ) {
    super(description);
    this.status = status;
    this.headers = headers;
  }

  withStatus(status: number): OAuthError {
    return new OAuthError(this.error, this.message, status, this.headers, this.fields);
  }

  /**
   * Adds machine-readable members to the body, so that a client decides on them and never on the description's
   * prose (the device API's `invalid_binding_code` says `attempts_left` and `status`). Only for the service's own
   * APIs: the OAuth and CIBA endpoints answer `error` and `error_description` alone (CIBA Core §13).
   */
  withFields(fields: ErrorFields): OAuthError {
    return new OAuthError(this.error, this.message, this.status, this.headers, { ...this.fields, ...fields });
  }

  /** The wire body: `error`, `error_description` in the RFC 6749 character set, then any extra fields. */
  toJSON(): { error: string; error_description?: string } & ErrorFields {
    const description = sanitizeDescription(this.message);
    const { error: _error, error_description: _description, ...fields } = this.fields;
    return description
      ? { error: this.error, error_description: description, ...fields }
      : { error: this.error, ...fields };
  }
}

/** Extra members of an error body: flat, JSON-safe values. */
export type ErrorFields = Record<string, string | number | boolean>;

/** RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E. */
export const sanitizeDescription = (text: string): string =>
  text
    .replace(/["\\]/g, "'")
    .replace(/[^\x20-\x7e]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();

const define =
  (code: string, status: number) =>
  (description: string, headers: Record<string, string> = {}) =>
    new OAuthError(code, description, status, headers);

export const InvalidRequest = define('invalid_request', 400);
export const InvalidScope = define('invalid_scope', 400);
export const InvalidGrant = define('invalid_grant', 400);
export const UnauthorizedClient = define('unauthorized_client', 400);
export const UnsupportedGrantType = define('unsupported_grant_type', 400);
export const AccessDenied = define('access_denied', 403);
export const ExpiredToken = define('expired_token', 400);
export const AuthorizationPending = define('authorization_pending', 400);
export const SlowDown = define('slow_down', 400);
export const UnknownUserId = define('unknown_user_id', 400);
export const ExpiredLoginHintToken = define('expired_login_hint_token', 400);
export const MissingUserCode = define('missing_user_code', 400);
export const InvalidUserCode = define('invalid_user_code', 400);
export const InvalidBindingMessage = define('invalid_binding_message', 400);
export const InvalidAuthorizationDetails = define('invalid_authorization_details', 400);
export const InvalidClientMetadata = define('invalid_client_metadata', 400);
export const InvalidToken = define('invalid_token', 401);
export const InvalidDpopProof = (description: string) =>
  new OAuthError('invalid_dpop_proof', description, 401, { 'WWW-Authenticate': 'DPoP error="invalid_dpop_proof"' });
/** Device API: the typed binding code does not match the binding message (counted; the last one denies). */
export const InvalidBindingCode = define('invalid_binding_code', 400);
/** Device API: approving needs a passkey assertion with user verification (none sent, or no passkey registered). */
export const UserVerificationRequired = define('user_verification_required', 400);
/** Device API: the passkey assertion or registration did not verify. */
export const UserVerificationFailed = define('user_verification_failed', 400);
export const NotFound = define('not_found', 404);
export const RequestNotPending = define('request_not_pending', 409);
export const Conflict = define('conflict', 409);
export const MethodNotAllowed = define('invalid_request', 405);
export const PayloadTooLarge = define('invalid_request', 413);
export const TemporarilyUnavailable = define('temporarily_unavailable', 503);
export const ServerError = define('server_error', 500);

/**
 * invalid_client: 401. RFC 6749 §5.2: when the client tried the Authorization header, the answer MUST
 * carry WWW-Authenticate with the scheme it used.
 */
export const InvalidClient = (description: string, usedBasic: boolean) =>
  new OAuthError('invalid_client', description, 401, usedBasic ? { 'WWW-Authenticate': 'Basic realm="ciba"' } : {});
