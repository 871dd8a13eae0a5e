import { secretsEqual } from '../crypto.ts';
import { BINDING_CODE_MAX_ATTEMPTS } from '../model.ts';

/**
 * What counts when a person types the code the consumption device shows: letters and digits only, compatibility
 * normalized (NFKC: full-width digits are digits) and case-folded. `Code 4F-22` and `code 4f22` are the same code.
 */
export const normalizeBindingCode = (text: string): string =>
  text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]/gu, '');

/** Whether the typed code matches the request's binding message (constant time on the normalized forms). */
export const bindingCodeMatches = (typed: string, bindingMessage: string): boolean => {
  const expected = normalizeBindingCode(bindingMessage);
  const presented = normalizeBindingCode(typed);
  return expected.length > 0 && secretsEqual(presented, expected);
};

/** Wrong codes left after `attempts` mismatches; at 0 the request is denied. */
export const bindingCodeAttemptsLeft = (attempts: number, max = BINDING_CODE_MAX_ATTEMPTS): number =>
  Math.max(0, max - attempts);
