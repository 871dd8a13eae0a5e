/**
 * A hint (an email address, a phone number) that matches several users identifies none of them: a push must never go
 * to a guess. The stores return every match; this decides.
 */
export const soleMatch = (subs: readonly string[]): string | undefined =>
  new Set(subs).size === 1 ? subs[0] : undefined;
