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
 *
 * Format 2 (written since; format 1 is still read) takes the payload's JSON (about 200 bytes: `htu` repeats the
 * txn, `jti` is base64url or a UUID spelled out) down to about 80, which keeps a ping request (its notification token
 * and callback state on top of a poll request's attributes) under 1 KB at every write (docs/performance.md): the same
 * layout, but the payload starts with its form, either its bytes (form 0: length u16, bytes) or, when it is exactly
 * the JSON (no whitespace) of an object of the claims a device's proof carries (htm, htu, iat, jti, txn, decision,
 * nonce, ath; strings and non-negative integers), its members in their order (form 1: length u16, then each member as
 * a tag byte, its name's index << 4 | its value's kind, and the value: a known word as its index, a UUID or a
 * canonical base64url string as its bytes, an integer as LEB128, an `htu` that ends in `/device/transactions/{txn}`
 * as the part before, any other string as its UTF-8; lengths as LEB128). A payload is kept in form 1 only when
 * decoding gives back exactly its bytes, so any other payload (another claim, whitespace, escapes, a float) stays as
 * it was signed.
 */

const FORMAT_V1 = 1;
const FORMAT = 2;
const RAW_PAYLOAD = 0;
const CLAIMS_PAYLOAD = 1;
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

/** The claims form's member names and known words (indexes into these lists are stored: append only). */
const CLAIM_NAMES = ['htm', 'htu', 'iat', 'jti', 'txn', 'decision', 'nonce', 'ath'] as const;
const WORDS = ['POST', 'GET', 'PUT', 'DELETE', 'PATCH', 'approve', 'deny', 'report'] as const;
/** A member value's kind (the tag's low 4 bits). */
const TEXT = 0;
const WORD = 1;
const BASE64URL = 2;
const UUID = 3;
const INTEGER = 4;
const TXN_HTU = 5;
const TXN_PATH = '/device/transactions/';
const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** An unsigned LEB128 number (safe integers: arithmetic, not 32-bit shifts). */
const varint = (n: number): number[] => {
  const out: number[] = [];
  let rest = n;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
  return out;
};

/** Bytes read front to back; reading past the end throws. */
class Reader {
  #at = 0;
  constructor(readonly bytes: Buffer) {}
  get done() {
    return this.#at >= this.bytes.length;
  }
  byte(): number {
    const b = this.bytes[this.#at++];
    if (b === undefined) throw new Error('proof bytes end early');
    return b;
  }
  varint(): number {
    let n = 0;
    for (let scale = 1; ; scale *= 0x80) {
      const b = this.byte();
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
    }
  }
  take(length: number): Buffer {
    if (this.#at + length > this.bytes.length) throw new Error('proof bytes end early');
    const part = this.bytes.subarray(this.#at, this.#at + length);
    this.#at += length;
    return part;
  }
}

const withLength = (bytes: Buffer) => [...varint(bytes.length), ...bytes];

/** The payload's JSON text from its members, as a device serializes it (no whitespace). */
const claimsText = (members: [string, string | number][]): string =>
  `{${members.map(([name, value]) => `${JSON.stringify(name)}:${JSON.stringify(value)}`).join(',')}}`;

/** One member's value: its kind and bytes. */
const claimValue = (name: string, value: string | number, txn: unknown): [number, number[]] => {
  if (typeof value === 'number') return [INTEGER, varint(value)];
  const word = (WORDS as readonly string[]).indexOf(value);
  if (word >= 0) return [WORD, [word]];
  if (name === 'htu' && typeof txn === 'string' && value.endsWith(TXN_PATH + encodeURIComponent(txn))) {
    return [TXN_HTU, withLength(Buffer.from(value.slice(0, -(TXN_PATH + encodeURIComponent(txn)).length), 'utf8'))];
  }
  if (UUID_TEXT.test(value)) return [UUID, [...Buffer.from(value.replaceAll('-', ''), 'hex')]];
  const bytes = value.length > 0 ? canonical(value) : undefined;
  if (bytes) return [BASE64URL, withLength(bytes)];
  return [TEXT, withLength(Buffer.from(value, 'utf8'))];
};

/** The payload's JSON text from the claims form. */
const claimsFromBytes = (bytes: Buffer): string => {
  const reader = new Reader(bytes);
  const members: [string, string | number][] = [];
  let htu: { at: number; prefix: string } | undefined;
  while (!reader.done) {
    const tag = reader.byte();
    const name = CLAIM_NAMES[tag >> 4];
    if (name === undefined) throw new Error('unknown proof claim');
    const kind = tag & 0x0f;
    if (kind === INTEGER) members.push([name, reader.varint()]);
    else if (kind === WORD) {
      const word = WORDS[reader.byte()];
      if (word === undefined) throw new Error('unknown proof word');
      members.push([name, word]);
    } else if (kind === UUID) {
      const hex = reader.take(16).toString('hex');
      members.push([
        name,
        [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join('-'),
      ]);
    } else if (kind === BASE64URL) members.push([name, reader.take(reader.varint()).toString('base64url')]);
    else if (kind === TEXT) members.push([name, reader.take(reader.varint()).toString('utf8')]);
    else if (kind === TXN_HTU) {
      htu = { at: members.length, prefix: reader.take(reader.varint()).toString('utf8') };
      members.push([name, '']);
    } else throw new Error('unknown proof claim kind');
  }
  if (htu) {
    const txn = members.find(([name]) => name === 'txn')?.[1];
    if (typeof txn !== 'string') throw new Error('proof htu without its txn');
    members[htu.at]![1] = htu.prefix + TXN_PATH + encodeURIComponent(txn);
  }
  return claimsText(members);
};

/** The payload in the claims form, when it is one (its text comes back exactly). */
const compactClaims = (payload: Buffer): Buffer | undefined => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const members = Object.entries(parsed);
  const out: number[] = [];
  for (const [name, value] of members) {
    const index = (CLAIM_NAMES as readonly string[]).indexOf(name);
    if (index < 0) return undefined;
    if (typeof value === 'number' ? !(Number.isSafeInteger(value) && value >= 0) : typeof value !== 'string') {
      return undefined;
    }
    const [kind, bytes] = claimValue(name, value, (parsed as { txn?: unknown }).txn);
    out.push((index << 4) | kind, ...bytes);
  }
  const compact = Buffer.from(out);
  return compact.length <= MAX_SEGMENT && Buffer.from(claimsFromBytes(compact), 'utf8').equals(payload)
    ? compact
    : undefined;
};

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
  const claims = compactClaims(payload);
  const bytes = Buffer.concat([
    Buffer.from([FORMAT]),
    compactHeader(header) ?? Buffer.concat([Buffer.from([RAW_HEADER]), u16(header.length), header]),
    claims
      ? Buffer.concat([Buffer.from([CLAIMS_PAYLOAD]), u16(claims.length), claims])
      : Buffer.concat([Buffer.from([RAW_PAYLOAD]), u16(payload.length), payload]),
    signature,
  ]);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
};

/** The proof's text from proofToBytes's bytes. */
export const proofFromBytes = (item: Uint8Array): string => {
  const bytes = Buffer.from(item.buffer, item.byteOffset, item.byteLength);
  const format = bytes[0];
  if (format !== FORMAT && format !== FORMAT_V1) throw new Error(`unknown proof format ${format}`);
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
  // Format 2: the payload's form first (format 1 has its bytes only).
  const form = format === FORMAT ? bytes[at++] : RAW_PAYLOAD;
  if (form !== RAW_PAYLOAD && form !== CLAIMS_PAYLOAD) throw new Error(`unknown proof payload form ${form}`);
  const length = bytes.readUInt16BE(at);
  const stored = bytes.subarray(at + 2, at + 2 + length);
  const payload = form === CLAIMS_PAYLOAD ? Buffer.from(claimsFromBytes(stored), 'utf8') : stored;
  const signature = bytes.subarray(at + 2 + length);
  return [header, payload, signature].map((part) => part.toString('base64url')).join('.');
};

/** The evidence's `proof` attribute: bytes when they give the text back exactly, else the text (also as read). */
export const proofAttribute = {
  toItem: (proof: unknown): unknown => (typeof proof === 'string' ? (proofToBytes(proof) ?? proof) : proof),
  fromItem: (stored: unknown): unknown => (stored instanceof Uint8Array ? proofFromBytes(stored) : stored),
};
