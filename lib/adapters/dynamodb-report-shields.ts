import type { UserAdmissionGate, UserAdmissionRefusal } from '../ports.ts';

/**
 * Report shields and reachability, kept on the user's directory item so that admitting a request checks them in the
 * same conditional write that counts it against the user's budget (lib/ciba/report-shield.ts explains the rules): a
 * request refused for them spends nothing and costs no extra round trip when admitted.
 *
 * `report_shields` is a map on the user item, client id → epoch ms until which that client is shielded. Entries stay
 * after they lapse (one per client that was ever reported, at most the tenant's clients) until a report or an
 * operator replaces or lifts them; only those still running count.
 */
export const SHIELDS = 'report_shields';

/** Name placeholder of the asking client's entry in `report_shields` (its id is any string: never in the text). */
const GATE_CLIENT = '#gate_client';

/**
 * The condition a gated admission adds to each of its writes, with the names and values it uses: the user has a
 * device (when required), and the client is not shielded at `now`.
 */
export const gateCondition = (
  gate: UserAdmissionGate,
  now: number,
): { condition: string; names: Record<string, string>; values: Record<string, unknown> } => {
  const shield = `#${SHIELDS}.${GATE_CLIENT}`;
  const parts = [`(attribute_not_exists(${shield}) OR ${shield} <= :gate_now)`];
  const values: Record<string, unknown> = { ':gate_now': now };
  if (gate.requireDevice) {
    // Reachable: by a device (unless the tenant does not use them) or by a link channel's claim (lib/ciba/channels.ts).
    const devices = gate.devicesReach !== false;
    const reach = [
      ...(devices ? ['size(#devices) > :gate_zero'] : []),
      ...(gate.orClaims ?? []).map((c) => `attribute_exists(#claims.#${c})`),
    ];
    parts.push(
      reach.length === 0 ? 'attribute_not_exists(#pk)' : reach.length > 1 ? `(${reach.join(' OR ')})` : reach[0]!,
    );
    if (devices) values[':gate_zero'] = 0;
  }
  return { condition: parts.join(' AND '), names: { [GATE_CLIENT]: gate.clientId }, values };
};

/** What the user item's shields say about one client at `now`: the time its shield ends, if one runs. */
export const shieldUntil = (raw: Record<string, unknown>, clientId: string, now: number): number | undefined => {
  const shields = raw[SHIELDS];
  if (!shields || typeof shields !== 'object' || !Object.hasOwn(shields, clientId)) return undefined;
  const until = (shields as Record<string, unknown>)[clientId];
  return typeof until === 'number' && until > now ? until : undefined;
};

/**
 * Why a gated admission was refused, from the user item read after every write lost; undefined when the gate holds
 * (the per-user limit refused it). A shield is named before a missing device: it is what the client must hear.
 */
export const gateRefusal = (
  raw: Record<string, unknown>,
  gate: UserAdmissionGate,
  now: number,
): UserAdmissionRefusal | undefined => {
  const until = shieldUntil(raw, gate.clientId, now);
  if (until !== undefined) return { refused: 'shielded', until };
  const hasDevice = gate.devicesReach !== false && Array.isArray(raw.devices) && raw.devices.length > 0;
  if (gate.requireDevice && !hasDevice) {
    const claims = (raw.claims ?? {}) as Record<string, unknown>;
    if (!(gate.orClaims ?? []).some((c) => typeof claims[c] === 'string')) return { refused: 'unreachable' };
  }
  return undefined;
};

/** What a refused gated admission reads of the user item to say why. */
export const GATE_PROJECTION = `#pk, #devices, #claims, #${SHIELDS}`;

/**
 * The writes that set a shield, tried in turn: extend the client's entry in an existing map (never shortening a
 * longer shield), or create the map. Each is conditional on the user existing.
 */
export const SHIELD_WRITES = [
  {
    update: `SET #${SHIELDS}.${GATE_CLIENT} = :until`,
    condition: `attribute_exists(#${SHIELDS}) AND (attribute_not_exists(#${SHIELDS}.${GATE_CLIENT}) OR #${SHIELDS}.${GATE_CLIENT} < :until)`,
  },
  { update: `SET #${SHIELDS} = :map`, condition: `attribute_exists(#pk) AND attribute_not_exists(#${SHIELDS})` },
] as const;

/** Lifting removes the client's entry, only when there is one. */
export const LIFT_WRITE = {
  update: `REMOVE #${SHIELDS}.${GATE_CLIENT}`,
  condition: `attribute_exists(#${SHIELDS}.${GATE_CLIENT})`,
} as const;

/** A command whose expressions name the client's entry, with the entry's name placeholder set to the client id. */
export const forClient = <T extends { ExpressionAttributeNames?: Record<string, string> }>(
  command: T,
  clientId: string,
): T =>
  command.ExpressionAttributeNames && GATE_CLIENT in command.ExpressionAttributeNames
    ? { ...command, ExpressionAttributeNames: { ...command.ExpressionAttributeNames, [GATE_CLIENT]: clientId } }
    : command;
