import * as z from 'zod';
import { InvalidBindingMessage, InvalidRequest } from './errors.ts';

/**
 * Display strings: text a device shows to the person who decides (binding messages, client names, device names,
 * the tenant's display name, the user's name). One set of rules (SECURITY.md, hardening rules 5 and 10), so that what
 * the user reads is what it looks like: NFC-normalized, and refused when it holds
 *
 * - control (Cc), format (Cf: bidi overrides, zero width), private-use (Co), unassigned (Cn) or surrogate (Cs)
 *   characters, or line and paragraph separators;
 * - any Default_Ignorable_Code_Point (invisible by definition: CGJ, the Hangul fillers, variation selectors, tags,
 *   ...), except a zero-width joiner inside an emoji ZWJ sequence and a variation selector after an emoji;
 * - U+2800 BRAILLE PATTERN BLANK and the Hangul fillers (U+115F, U+1160, U+3164, U+FFA0), which render as nothing;
 * - more than 4 combining marks (\p{M}) on one grapheme cluster (a "character" that covers the screen);
 * - white space at either end, or two white-space characters in a row.
 *
 * Letters, digits, punctuation, symbols (emoji with skin tones, ZWJ families, flags, keycaps) and single spaces of
 * any script (the ideographic space of Japanese text included) are fine.
 */

/** At most this many combining marks on one grapheme cluster: Vietnamese and Devanagari need 2 or 3, Zalgo hundreds. */
export const MAX_COMBINING_MARKS = 4;

/**
 * A zero-width joiner inside an emoji ZWJ sequence (UTS #51), between two pictographs (the first may carry a skin tone
 * or VS16), as in a family emoji: it shows as one glyph, not as hidden text.
 */
const EMOJI_ZWJ = /(?<=\p{Extended_Pictographic}[\u{FE0F}\u{1F3FB}-\u{1F3FF}]?)\u200D(?=\p{Extended_Pictographic})/gu;
/** VS15/VS16 after an emoji character (UTS #51 presentation sequences, keycaps such as 1️⃣). */
const EMOJI_VARIATION = /(?<=\p{Emoji})[\uFE0E\uFE0F]/gu;
const FORBIDDEN =
  /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}\u2800\u115F\u1160\u3164\uFFA0]/u;
const MARK = /\p{M}/gu;
const EDGE_SPACE = /^\p{White_Space}|\p{White_Space}$/u;
const DOUBLE_SPACE = /\p{White_Space}{2}/u;

/** Created on first use: building a segmenter loads ICU's break rules (about 13 ms), a cost every cold start paid. */
let segmenter: Intl.Segmenter | undefined;
const graphemes = (text: string) => {
  segmenter ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  return segmenter.segment(text);
};

export const graphemeLength = (text: string): number => {
  let n = 0;
  for (const _ of graphemes(text)) n++;
  return n;
};

/**
 * Why `text` (already NFC) is not safe to show, or undefined. `name` names it in the answer. The length is counted
 * in grapheme clusters, what a person counts as characters.
 */
export const displayStringProblem = (text: string, name: string, maxLength: number): string | undefined => {
  if (text.trim() === '') return `${name} is blank`;
  if (FORBIDDEN.test(text.replace(EMOJI_ZWJ, '').replace(EMOJI_VARIATION, ''))) {
    return `${name} contains control, format, invisible, private-use or unassigned characters`;
  }
  if (EDGE_SPACE.test(text)) return `${name} has leading or trailing white space`;
  if (DOUBLE_SPACE.test(text)) return `${name} has two white-space characters in a row`;
  let length = 0;
  for (const { segment } of graphemes(text)) {
    length++;
    if ((segment.match(MARK)?.length ?? 0) > MAX_COMBINING_MARKS) {
      return `${name} has a character with more than ${MAX_COMBINING_MARKS} combining marks`;
    }
  }
  if (length > maxLength) return `${name} is ${length} characters long; the maximum is ${maxLength}`;
  return undefined;
};

/**
 * A display-string field of a JSON body: at most `max` UTF-16 code units, NFC-normalized, and passing
 * `displayStringProblem` (the endpoint's parse turns a failure into its 400 error, prefixed with the field's name).
 * `allowEmpty`: '' stands for "none" (a tenant without a display name).
 */
export const displayString = (max: number, options: { allowEmpty?: boolean } = {}) =>
  z
    .string()
    .max(max)
    .transform((raw, ctx) => {
      const text = raw.normalize('NFC');
      if (text === '' && options.allowEmpty) return text;
      const problem = displayStringProblem(text, 'the text', max);
      if (problem) {
        ctx.addIssue({ code: 'custom', message: problem });
        return z.NEVER;
      }
      return text;
    });

/** CIBA §7.1 binding_message, made safe to display; at most `maxLength` grapheme clusters. */
export const normalizeBindingMessage = (raw: string, maxLength: number): string => {
  const message = raw.normalize('NFC');
  const problem = displayStringProblem(message, 'binding_message', maxLength);
  if (problem) throw new InvalidBindingMessage(problem);
  return message;
};

/** SECURITY.md hardening rule 5: `acr_values`, shown by the device, is at most 10 values. */
export const MAX_ACR_VALUES = 10;
const ACR_VALUE = /^[\x21-\x7e]{1,255}$/;

/**
 * CIBA §7.1 acr_values: space-separated values, at most 10, each 1-255 printable ASCII characters (the values are
 * URIs or short names); anything else is invalid_request. Returned unchanged.
 */
export const checkAcrValues = (raw: string): string => {
  const values = raw.split(' ');
  if (values.length > MAX_ACR_VALUES) throw new InvalidRequest(`acr_values has more than ${MAX_ACR_VALUES} values`);
  if (!values.every((value) => ACR_VALUE.test(value))) {
    throw new InvalidRequest('acr_values must be single-space-separated values of 1-255 printable ASCII characters');
  }
  return raw;
};
