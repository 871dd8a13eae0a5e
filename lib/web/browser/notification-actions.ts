/**
 * What the authenticator's notification lets a person do without opening the page: Deny, and "I didn't ask for this"
 * (report). Declining is as easy as granting, easier even: approving needs the page (to read the request, type the
 * code, use the passkey), refusing does not. The service worker signs the decision with the device key this browser
 * enrolled (IndexedDB, the same key the page uses) and answers with a notification that says what happened.
 */
import type { Decision, DecisionResult } from '../../device/client.ts';
import { RequestNotPending } from '../../device/errors.ts';

/** The notification's buttons (NotificationOptions.actions), in the order the system shows them. */
export const NOTIFICATION_ACTIONS = [
  { action: 'deny', title: 'Deny' },
  { action: 'report', title: "I didn't ask for this" },
] as const satisfies readonly { action: Decision; title: string }[];

export type NotificationAction = (typeof NOTIFICATION_ACTIONS)[number]['action'];

export const isNotificationAction = (action: string): action is NotificationAction =>
  NOTIFICATION_ACTIONS.some((a) => a.action === action);

/** The issuer a worker serves, from its scope (`{issuer}/authenticator/`). */
export const issuerOfScope = (scope: string): string => scope.replace(/\/+$/, '').replace(/\/authenticator$/, '');

/** The enrolled device, as far as a notification action needs it. */
export interface ActionDevice {
  decide(txn: string, decision: Decision): Promise<DecisionResult>;
}

/**
 * Sends the decision a notification action stands for, and says what to show next: a notification that confirms it,
 * or `open: true` when the page must take over (no key in this browser, the service unreachable or refusing).
 */
export const answerFromNotification = async (
  device: ActionDevice | undefined,
  input: { txn: string | undefined; action: NotificationAction },
): Promise<{ open: true } | { open: false; title: string; body: string }> => {
  if (!device || !input.txn) return { open: true };
  try {
    const result = await device.decide(input.txn, input.action);
    return result.status === 'reported'
      ? {
          open: false,
          title: 'Reported',
          body: 'The request was denied and its sender blocked for a while. Never approve for someone who asks you to.',
        }
      : { open: false, title: 'Denied', body: 'The request was denied. Nothing was shared.' };
  } catch (error) {
    if (error instanceof RequestNotPending) {
      return { open: false, title: 'No longer pending', body: 'It expired, was cancelled or was answered elsewhere.' };
    }
    return { open: true };
  }
};
