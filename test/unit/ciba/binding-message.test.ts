import { describe, expect, it } from 'vitest';
import { graphemeLength, normalizeBindingMessage } from '../../../lib/ciba/binding-message.ts';
import { OAuthError } from '../../../lib/oauth/errors.ts';

const refusal = (raw: string, max = 64): OAuthError | undefined => {
  try {
    normalizeBindingMessage(raw, max);
    return undefined;
  } catch (error) {
    return error as OAuthError;
  }
};

describe('binding messages (CIBA §7.1, docs/clients.md)', () => {
  it('normalizes to NFC: a decomposed é becomes the precomposed character', () => {
    const out = normalizeBindingMessage('Caf\u0065\u0301 4F-22', 64);
    expect(out).toBe('Caf\u00e9 4F-22');
    expect(out).toBe(out.normalize('NFC'));
    expect(normalizeBindingMessage('\u212b', 64)).toBe('\u00c5');
  });

  it('counts grapheme clusters: skin tones, ZWJ families, flags and combining marks are one character each', () => {
    for (const [text, length] of [
      ['abc', 3],
      ['👍🏽', 1],
      ['👨‍👩‍👧‍👦', 1],
      ['🧑🏽‍💻', 1],
      ['🏳️‍🌈', 1],
      ['🇯🇵', 1],
      ['e\u0301', 1],
      ['한국어', 3],
      ['👍🏽👨‍👩‍👧‍👦🇯🇵', 3],
    ] as const) {
      expect(graphemeLength(text), text).toBe(length);
    }
  });

  it('accepts emoji with skin tones and ZWJ families, and letters of any script', () => {
    for (const text of [
      'Approve 👍🏽',
      '👨‍👩‍👧‍👦 family plan',
      'Dev 🧑🏽‍💻',
      '🏳️‍🌈',
      'ログイン 4F-22',
      'Привет',
      'مرحبا',
      'Pay €12.50?',
    ]) {
      expect(normalizeBindingMessage(text, 64), text).toBe(text.normalize('NFC'));
    }
  });

  it('measures the limit in graphemes: 64 family emoji fit in 64, 65 letters do not', () => {
    expect(normalizeBindingMessage('👨‍👩‍👧‍👦'.repeat(64), 64)).toHaveLength('👨‍👩‍👧‍👦'.length * 64);
    expect(normalizeBindingMessage('a'.repeat(64), 64)).toHaveLength(64);
    const tooLong = refusal('a'.repeat(65));
    expect(tooLong?.error).toBe('invalid_binding_message');
    expect(tooLong?.message).toMatch(/65 characters long; the maximum is 64/);
    expect(refusal('👍🏽'.repeat(11), 10)?.error).toBe('invalid_binding_message');
    expect(normalizeBindingMessage('👍🏽'.repeat(10), 10)).toBe('👍🏽'.repeat(10));
  });

  it('counts the limit after NFC: 64 decomposed é fit in 64', () => {
    expect(normalizeBindingMessage('e\u0301'.repeat(64), 64)).toBe('\u00e9'.repeat(64));
  });

  const forbidden: [string, string][] = [
    ['Cc: NUL', 'a\u0000b'],
    ['Cc: BEL', 'a\u0007b'],
    ['Cc: line feed', 'line\nbreak'],
    ['Cc: carriage return', 'line\rbreak'],
    ['Cc: tab', 'a\tb'],
    ['Cc: DEL', 'a\u007fb'],
    ['Cc: C1 control', 'a\u0085b'],
    ['Cf: right-to-left override', 'pay \u202e01 EUR'],
    ['Cf: left-to-right embedding', 'a\u202ab'],
    ['Cf: right-to-left isolate', 'a\u2067b'],
    ['Cf: right-to-left mark', 'a\u200fb'],
    ['Cf: zero width space', 'app\u200brove'],
    ['Cf: zero width non-joiner', 'a\u200cb'],
    ['Cf: zero width joiner between letters', 'a\u200db'],
    ['Cf: zero width joiner after an emoji only', '👍\u200d'],
    ['Cf: zero width joiner before an emoji only', '\u200d👍'],
    ['Cf: byte order mark', '\ufeffhello'],
    ['Cf: soft hyphen', 'pass\u00adword'],
    ['Cf: tag characters (hidden ASCII)', 'ok\u{e0068}\u{e0069}'],
    ['Cf: word joiner', 'a\u2060b'],
    ['Co: private use', 'a\ue000b'],
    ['Co: supplementary private use', 'a\u{f0000}b'],
    ['Cn: unassigned', 'a\u0378b'],
    ['Cn: noncharacter', 'a\ufffeb'],
    ['Cs: lone high surrogate', 'a\ud800b'],
    ['Cs: lone low surrogate', 'a\udc00b'],
    ['Zl: line separator', 'a\u2028b'],
    ['Zp: paragraph separator', 'a\u2029b'],
  ];
  for (const [category, text] of forbidden) {
    it(`refuses ${category} with invalid_binding_message`, () => {
      const error = refusal(text);
      expect(error).toBeInstanceOf(OAuthError);
      expect(error?.error).toBe('invalid_binding_message');
      expect(error?.status).toBe(400);
    });
  }

  it('refuses blank messages and leading or trailing white space', () => {
    for (const text of ['', ' ', '\u3000', ' padded', 'padded ', '\u00a0x']) {
      expect(refusal(text)?.error, JSON.stringify(text)).toBe('invalid_binding_message');
    }
  });
});
