/**
 * Every word the operator console shows. The code's words agree with the authenticator's for the tenant's binding
 * mode (authenticator/copy.ts): in `compare` the customer checks the code the operator reads out against the one on
 * their phone; in `type` the customer types the code the operator reads out, which only someone on the call can do.
 */

export type BindingMode = 'compare' | 'type';

/** "1 hour", "10 minutes": how long a report keeps this console away (the authenticator says the same). */
export { duration } from './authenticator/copy.ts';

export const form = (mode: BindingMode) => ({
  intro:
    mode === 'type'
      ? 'The customer gets a request on their phone and types the code you read to them: only someone on this call can approve.'
      : 'The customer gets a request on their phone. Read them the code: it must match the one on their phone.',
  codeLabel: mode === 'type' ? 'Code the customer types' : 'Code to read to the customer',
});

export const banner = (clientName: string, clientId: string) =>
  `Demo console: it acts as the client ${clientName} (${clientId}) of this server, on the server side. Use it with test customers.`;

export const waiting = {
  title: (customer: string) => `Waiting for ${customer} to answer on their phone…`,
  readOut: (mode: BindingMode) =>
    mode === 'type'
      ? 'Read this code to the customer: they type it on their phone to approve'
      : 'Read this code to the customer: it must match the one on their phone',
  noCode: 'No code was sent: the customer can only tell this request from another by who asks.',
  theySee: 'Their phone shows',
  timeLeft: 'Time left: ',
  cancel: 'Cancel request',
  cancelling: 'Cancelling…',
};

/** Each state of the customer's answer, in words: a title and what to do now. */
export const outcome = {
  approved: (who: string, what: string | undefined) => ({
    title: what ? `Approved by ${who}` : `Approved: ${who} is verified`,
    text: what
      ? `${who} approved “${what}” on their phone.`
      : `${who} confirmed on their phone that it is them. You can go on.`,
  }),
  denied: (who: string) => ({ title: 'Denied', text: `${who} did not approve. Do not go on.` }),
  reported: (who: string, shield: string) => ({
    title: 'Reported: not the customer’s request',
    text: `${who} says they did not ask for this. Stop: whoever you are talking to may not be the customer. This console cannot send ${who} requests for ${shield}.`,
  }),
  expired: { title: 'Expired', text: 'Nobody answered in time. Send again if needed.' },
  cancelled: {
    title: 'Cancelled',
    text: 'You withdrew the request: it was denied, and the customer’s phone no longer shows it.',
  },
  noDevice: (who: string) => ({
    title: 'No authenticator',
    text: `${who} has no phone or other authenticator enrolled, so nothing can reach them. Enroll their phone first (an administrator runs npx ciba user enroll-link ${who} --qr and they scan the code), or verify them another way.`,
  }),
  shielded: (who: string, until: string) => ({
    title: 'Blocked by the customer',
    text: `${who} reported a request from this console as not theirs: it cannot send them requests until ${until}. Verify them another way, or ask an administrator to lift the block if they agree.`,
  }),
  notSent: { title: 'Not sent' },
  error: { title: 'Error' },
};

export const identity = {
  caption: 'Verified identity',
  customer: 'Customer id',
  name: 'Name',
  email: 'Email',
  phone: 'Phone',
  verified: ' (verified)',
  at: 'Approved at',
  claims: 'The ID token’s claims',
};
