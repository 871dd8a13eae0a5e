/**
 * The signed proof a decision keeps as evidence (a compact JWS, the device's DPoP proof), stored as bytes: the
 * proof's text is about 580 characters, of which a third is base64url overhead and the device's public key spelled
 * out in JSON, and it took the request item past 1 KB, so that the decision and the redeeming poll each cost two write
 * units (docs/performance.md). The bytes give back exactly the text that was signed: a proof that would not come back
 * byte for byte (non-canonical base64url, a segment over 64 KB) stays text, and items written as text read as before.
 *
 * Layout (format 1): the format byte; the header, either as its bytes (form 0: length u16, bytes) or, when it is
 * exactly the JSON of an ES256 `dpop+jwt` header with an EC P-256 `jwk` (form 1), as the order of its members and
 * the key's x and y (32 bytes each); the payload (length u16, bytes); the signature (the rest).
 */

const FORMAT = 1;
const RAW_HEADER = 0;
const KEY_HEADER = 1;
const HEADER_MEMBERS = ['alg', 'typ', 'jwk'] as const;
const JWK_MEMBERS = ['kty', 'crv', 'x', 'y'] as const;
const MAX_SEGMENT = 0xffff;

const permutations = <T>(items: readonly T[]): T[][] =>
  items.length <= 1
    ? [[...items]]
    : items.flatMap((item, i) => permutations(items.filter((_, j) => j !== i)).map((rest) => [item, ...rest]));

const HEADER_ORDERS = permutations(HEADER_MEMBERS);
const JWK_ORDERS = permutations(JWK_MEMBERS);

/** The header's JSON for these member orders and this key, as a device serializes it (no whitespace). */
const keyHeader = (headerOrder: readonly string[], jwkOrder: readonly string[], x: Buffer, y: Buffer): string => {
  const jwk: Record<string, string> = {
    kty: 'EC',
    crv: 'P-256',
    x: x.toString('base64url'),
    y: y.toString('base64url'),
  };
  const header: Record<string, unknown> = { alg: 'ES256', typ: 'dpop+jwt' };
  const ordered = (source: Record<string, unknown>, order: readonly string[]) =>
    Object.fromEntries(order.map((name) => [name, source[name]]));
  return JSON.stringify(ordered({ ...header, jwk: ordered(jwk, jwkOrder) }, headerOrder));
};

/** The segment's bytes, when base64url gives back exactly this text. */
const canonical = (segment: string): Buffer | undefined => {
  const bytes = Buffer.from(segment, 'base64url');
  return bytes.toString('base64url') === segment ? bytes : undefined;
};

const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);

/** The header in key form, when it is one (its text comes back exactly). */
const compactHeader = (header: Buffer): Buffer | undefined => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(header.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { jwk } = parsed as { jwk?: unknown };
  if (typeof jwk !== 'object' || jwk === null) return undefined;
  const { x, y } = jwk as { x?: unknown; y?: unknown };
  if (typeof x !== 'string' || typeof y !== 'string') return undefined;
  const xb = canonical(x);
  const yb = canonical(y);
  if (xb?.length !== 32 || yb?.length !== 32) return undefined;
  const headerOrder = HEADER_ORDERS.findIndex((o) => o.join() === Object.keys(parsed).join());
  const jwkOrder = JWK_ORDERS.findIndex((o) => o.join() === Object.keys(jwk).join());
  if (headerOrder < 0 || jwkOrder < 0) return undefined;
  if (keyHeader(HEADER_ORDERS[headerOrder]!, JWK_ORDERS[jwkOrder]!, xb, yb) !== header.toString('utf8'))
    return undefined;
  return Buffer.concat([Buffer.from([KEY_HEADER, headerOrder, jwkOrder]), xb, yb]);
};

/** The proof as bytes, or undefined when it would not come back as exactly this text (then it is stored as text). */
export const proofToBytes = (proof: string): Uint8Array | undefined => {
  const segments = proof.split('.');
  if (segments.length !== 3) return undefined;
  const [header, payload, signature] = segments.map(canonical);
  if (!header || !payload || !signature || header.length > MAX_SEGMENT || payload.length > MAX_SEGMENT) {
    return undefined;
  }
  const bytes = Buffer.concat([
    Buffer.from([FORMAT]),
    compactHeader(header) ?? Buffer.concat([Buffer.from([RAW_HEADER]), u16(header.length), header]),
    u16(payload.length),
    payload,
    signature,
  ]);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
};

/** The proof's text from proofToBytes's bytes. */
export const proofFromBytes = (stored: Uint8Array): string => {
  const bytes = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  if (bytes[0] !== FORMAT) throw new Error(`unknown proof format ${bytes[0]}`);
  let at = 2;
  let header: Buffer;
  if (bytes[1] === KEY_HEADER) {
    const [headerOrder, jwkOrder] = [HEADER_ORDERS[bytes[2]!], JWK_ORDERS[bytes[3]!]];
    if (!headerOrder || !jwkOrder) throw new Error('unknown proof header order');
    header = Buffer.from(keyHeader(headerOrder, jwkOrder, bytes.subarray(4, 36), bytes.subarray(36, 68)), 'utf8');
    at = 68;
  } else {
    const length = bytes.readUInt16BE(at);
    header = bytes.subarray(at + 2, at + 2 + length);
    at += 2 + length;
  }
  const length = bytes.readUInt16BE(at);
  const payload = bytes.subarray(at + 2, at + 2 + length);
  const signature = bytes.subarray(at + 2 + length);
  return [header, payload, signature].map((part) => part.toString('base64url')).join('.');
};

/** The evidence's `proof` attribute: bytes when they give the text back exactly, else the text (also as read). */
export const proofAttribute = {
  toItem: (proof: unknown): unknown => (typeof proof === 'string' ? (proofToBytes(proof) ?? proof) : proof),
  fromItem: (stored: unknown): unknown => (stored instanceof Uint8Array ? proofFromBytes(stored) : stored),
};
