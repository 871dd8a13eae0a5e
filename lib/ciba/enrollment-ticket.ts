import { sha256 } from '../crypto.ts';

/** The stored key of an enrollment ticket: only its hash, scoped to the tenant (a ticket never works elsewhere). */
export const ticketKey = (tenantId: string, ticket: string) => sha256(`${tenantId}:${ticket}`);
