import { join } from 'node:path';

/**
 * Where browser tests write their screenshots: docs/screenshots/ with `UPDATE_SCREENSHOTS=1` (the ones README.md and
 * docs/ show), test-results/screenshots/ otherwise (looked at, never committed).
 */
export const SCREENSHOTS = join(
  import.meta.dirname,
  process.env.UPDATE_SCREENSHOTS === '1' ? '../../docs/screenshots' : '../../test-results/screenshots',
);
