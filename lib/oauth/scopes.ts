import type { User, UserClaims } from '../model.ts';

/** OIDC Core §5.4: the claims each standard scope releases. */
export const SCOPE_CLAIMS: Record<string, readonly (keyof UserClaims)[]> = {
  openid: [],
  profile: [
    'name',
    'family_name',
    'given_name',
    'middle_name',
    'nickname',
    'preferred_username',
    'profile',
    'picture',
    'website',
    'gender',
    'birthdate',
    'zoneinfo',
    'locale',
    'updated_at',
  ],
  email: ['email', 'email_verified'],
  phone: ['phone_number', 'phone_number_verified'],
  address: ['address'],
  // OIDC Core §11: asks for a refresh token (clients registered for the refresh_token grant only).
  offline_access: [],
};

export const SUPPORTED_SCOPES = Object.keys(SCOPE_CLAIMS);

export const CLAIMS_SUPPORTED = [
  'sub',
  'iss',
  'aud',
  'exp',
  'iat',
  'auth_time',
  'acr',
  ...new Set(Object.values(SCOPE_CLAIMS).flat()),
];

export const splitScope = (scope: string): string[] => scope.split(' ').filter((s) => s !== '');

/** The user's claims that the granted scopes release, plus `sub`. */
export const claimsForScope = (user: User, scope: string): Record<string, unknown> => {
  const out: Record<string, unknown> = { sub: user.sub };
  for (const s of splitScope(scope)) {
    for (const claim of SCOPE_CLAIMS[s] ?? []) {
      const value = user.claims[claim];
      if (value !== undefined) out[claim] = value;
    }
  }
  return out;
};
