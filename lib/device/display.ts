import type { DetailDisplay, Transaction } from './client.ts';

/** The title of a request that asks the user to confirm who they are (`kind: identity_check`). */
export const IDENTITY_CHECK_TITLE = "Confirm it's you";

/** What a request asks for: `transaction` when it carries authorization_details (older services omit `kind`). */
export const kindOf = (tx: Pick<Transaction, 'kind' | 'authorization_details'>): 'identity_check' | 'transaction' =>
  tx.kind ?? (tx.authorization_details?.length ? 'transaction' : 'identity_check');

/** The rendered details to show first, in order (empty for an identity check). */
export const displaysOf = (tx: Pick<Transaction, 'display'>): DetailDisplay[] => tx.display ?? [];

/**
 * What to title a request's screen with: "Confirm it's you" for an identity check, the display title of a
 * transaction (the first one, "and N more" when it holds several), never a generic "sign-in request".
 */
export const transactionTitle = (tx: Pick<Transaction, 'kind' | 'authorization_details' | 'display'>): string => {
  if (kindOf(tx) === 'identity_check') return IDENTITY_CHECK_TITLE;
  const [first, ...more] = displaysOf(tx);
  if (!first) return 'Approve a transaction';
  return more.length === 0 ? first.title : `${first.title} and ${more.length} more`;
};
