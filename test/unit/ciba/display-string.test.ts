import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import {
  checkAcrValues,
  displayString,
  displayStringProblem,
  graphemeLength,
  normalizeBindingMessage,
} from '../../../lib/display-string.ts';
import { OAuthError } from '../../../lib/errors.ts';

const refusal = (raw: string, max = 64): OAuthError | undefined => {
  try {
    normalizeBindingMessage(raw, max);
    return undefined;
  } catch (error) {
    return error as OAuthError;
  }
};

describe('binding messages (CIBA §7.1, SECURITY.md hardening rule 5)', () => {
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

  /** Real-world text that must keep working (hardening rule 5 refuses only what hides or covers). */
  const realWorld: [string, string][] = [
    ['a thumbs-up with a skin tone', 'Approve 👍🏽'],
    ['a ZWJ family', '👨‍👩‍👧‍👦 family plan'],
    ['a ZWJ profession with a skin tone', 'Dev 🧑🏽‍💻'],
    ['a ZWJ flag with VS16', '🏳️‍🌈'],
    ['a ZWJ sequence with a skin tone and VS16', '🧔🏻‍♂️ support'],
    ['a ZWJ couple with a heart and VS16', '👩‍❤️‍💋‍👨'],
    ['an eye in a speech bubble (two VS16)', '👁️‍🗨️'],
    ['a keycap', 'Press 1️⃣'],
    ['a text-presentation sign', 'Café ☕︎'],
    ['regional-indicator flags', 'Trip 🇯🇵 → 🇫🇷 → 🇧🇷'],
    ['Japanese with an ideographic space between words', 'ログイン　確認 4F-22'],
    ['Japanese kana and kanji', '東京駅でのお支払い'],
    ['Vietnamese (stacked diacritics)', 'Xác nhận thanh toán ở Hà Nội'],
    ['Vietnamese, decomposed', 'Vie\u0323\u0302t Nam'],
    ['Devanagari with conjuncts and vowel signs', 'भुगतान की पुष्टि करें क्षत्रिय'],
    ['Thai with tone marks', 'ยืนยันการชำระเงิน'],
    ['Korean', '결제를 승인하시겠습니까'],
    ['Cyrillic', 'Привет'],
    ['Arabic', 'مرحبا بك'],
    ['Hebrew with points', 'שָׁלוֹם'],
    ['a no-break space in French', 'Payer 12\u00a0€'],
    ['currency and punctuation', 'Pay €12.50?'],
  ];
  it.each(realWorld)('accepts %s', (_label, text) => {
    expect(normalizeBindingMessage(text, 64)).toBe(text.normalize('NFC'));
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
    // Hardening rule 5: invisible, blank-looking and screen-covering text
    ['combining grapheme joiner (CGJ)', 'a\u034fb'],
    ['Hangul choseong filler', 'a\u115fb'],
    ['Hangul jungseong filler', 'a\u1160b'],
    ['Hangul filler', 'a\u3164b'],
    ['halfwidth Hangul filler', 'a\uffa0b'],
    ['a message of Hangul fillers only', '\u3164\u3164\u3164'],
    ['braille pattern blank', 'a\u2800b'],
    ['a message of braille blanks only', '\u2800\u2800'],
    ['variation selector after a letter', 'a\ufe0fb'],
    ['variation selector at the start', '\ufe0fabc'],
    ['variation selector 1 (not an emoji one)', '\u845b\ufe00'],
    ['ideographic variation selector', '\u845b\u{e0100}'],
    ['Mongolian free variation selector', 'a\u180bb'],
    ['Khmer inherent vowel', 'a\u17b4b'],
    ['Hangul syllable with a filler', '\u1100\u1160'],
    ['musical formatting (begin beam)', 'a\u{1d173}b'],
    ['shorthand format control', 'a\u{1bca0}b'],
    ['five combining marks on one letter (after NFC)', 'x\u0301\u0302\u0303\u0304\u0305'],
    ['480 combining marks on one letter (Zalgo)', `x${'\u0301'.repeat(480)}`],
    ['five enclosing marks on a digit', `1${'\u20dd'.repeat(5)}`],
    ['two spaces in a row', 'a  b'],
    ['a space and an ideographic space', 'a \u3000b'],
    ['two ideographic spaces', 'ログイン\u3000\u3000確認'],
    ['a no-break space and a space', 'a\u00a0 b'],
  ];
  for (const [category, text] of forbidden) {
    it(`refuses ${category} with invalid_binding_message`, () => {
      const error = refusal(text);
      expect(error).toBeInstanceOf(OAuthError);
      expect(error?.error).toBe('invalid_binding_message');
      expect(error?.status).toBe(400);
    });
  }

  it('accepts four combining marks on one character, and one more character after it', () => {
    expect(normalizeBindingMessage('a\u0301\u0302\u0303\u0304 b\u0301', 64)).toBeTruthy();
  });

  it('refuses blank messages and leading or trailing white space', () => {
    for (const text of ['', ' ', '\u3000', ' padded', 'padded ', '\u00a0x', 'x\u3000', '\u2003x']) {
      expect(refusal(text)?.error, JSON.stringify(text)).toBe('invalid_binding_message');
    }
  });
});

describe('the same rules for every display string (hardening rule 5)', () => {
  const field = z.strictObject({ name: displayString(64).optional() });
  const problem = (name: string) => {
    const result = field.safeParse({ name });
    return result.success ? undefined : result.error.issues[0]?.message;
  };

  it('refuses what a binding message may not hold, naming no more than the problem', () => {
    expect(problem('Phone\nforged log line')).toMatch(/control, format, invisible/);
    expect(problem('x\u001b[31mred')).toMatch(/control, format, invisible/);
    expect(problem('\u3164')).toMatch(/control, format, invisible/);
    expect(problem(`x${'\u0301'.repeat(5)}`)).toMatch(/more than 4 combining marks/);
    expect(problem(' Phone')).toMatch(/leading or trailing white space/);
    expect(problem('My  phone')).toMatch(/two white-space characters/);
    expect(problem('')).toMatch(/blank/);
    expect(problem('x'.repeat(65))).toBeDefined();
  });

  it('normalizes to NFC and keeps real-world names', () => {
    expect(field.parse({ name: 'Jose\u0301 ’s iPhone 📱' }).name).toBe('José ’s iPhone 📱');
    expect(field.parse({ name: '山田　太郎' }).name).toBe('山田　太郎');
  });

  it("allows '' only where it stands for none", () => {
    expect(z.object({ n: displayString(10, { allowEmpty: true }) }).parse({ n: '' }).n).toBe('');
    expect(problem('')).toBeDefined();
  });

  it('checks the length of any display string in grapheme clusters, too', () => {
    expect(displayStringProblem('👨‍👩‍👧‍👦'.repeat(3), 'name', 2)).toMatch(/3 characters long; the maximum is 2/);
  });
});

describe('acr_values (hardening rule 5)', () => {
  it.each([
    'urn:ciba-service:acr:device-key',
    'urn:ciba-service:acr:device-key urn:ciba-service:acr:device-key+passkey',
    Array.from({ length: 10 }, (_, i) => `acr${i}`).join(' '),
    'x'.repeat(255),
  ])('accepts %s', (value) => {
    expect(checkAcrValues(value)).toBe(value);
  });

  it.each([
    ['11 values', Array.from({ length: 11 }, (_, i) => `acr${i}`).join(' ')],
    ['a value of 256 characters', 'x'.repeat(256)],
    ['an empty value', ''],
    ['two spaces', 'a  b'],
    ['a leading space', ' a'],
    ['a tab', 'a\tb'],
    ['a line feed', 'a\nb'],
    ['non-ASCII', 'niveau-élevé'],
    ['a zero-width space', 'a\u200bb'],
    ['DEL', 'a\u007f'],
  ])('refuses %s with invalid_request', (_label, value) => {
    let error: OAuthError | undefined;
    try {
      checkAcrValues(value);
    } catch (e) {
      error = e as OAuthError;
    }
    expect(error?.error).toBe('invalid_request');
  });
});
