import type { z } from 'zod';
import { InvalidRequest, type WireErrorClass } from './errors.ts';

/** One line per problem, `field: what is wrong`, joined with `; `. */
export const describeIssues = (error: z.ZodError): string =>
  error.issues
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      const message =
        issue.code === 'unrecognized_keys'
          ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`
          : issue.message;
      return path ? `${path}: ${message}` : message;
    })
    .join('; ');

/** Validates a body with a zod schema; a failure is a 400 with every problem in one line. */
export const parseWith = <T extends z.ZodType>(
  schema: T,
  value: unknown,
  Fail: WireErrorClass = InvalidRequest,
): z.infer<T> => {
  const result = schema.safeParse(value);
  if (!result.success) throw new Fail(describeIssues(result.error));
  return result.data;
};
