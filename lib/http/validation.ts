import { z } from 'zod';
import { InvalidRequest, type OAuthError } from '../oauth/errors.ts';

/** Validates a body with a zod schema; a failure is a 400 with every problem in one line. */
export const parseWith = <T extends z.ZodType>(
  schema: T,
  value: unknown,
  fail: (description: string) => OAuthError = InvalidRequest,
): z.infer<T> => {
  const result = schema.safeParse(value);
  if (!result.success) throw fail(z.prettifyError(result.error).replace(/\n+/g, '; ').replace(/✖ /g, ''));
  return result.data;
};
