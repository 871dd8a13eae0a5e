import { InvalidBindingMessage } from '../oauth/errors.ts';

/**
 * Characters a binding message may not contain: control (Cc), format (Cf: bidi overrides, zero-width),
 * private use (Co), unassigned (Cn), surrogates (Cs), and line/paragraph separators. Letters, digits,
 * punctuation, symbols (emoji included) and spaces of any script are fine.
 */
const FORBIDDEN = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Zl}\p{Zp}]/u;
/**
 * The one format character allowed: a zero-width joiner inside an emoji ZWJ sequence (UTS #51), between two
 * pictographs (the first may carry a skin tone or VS16), as in a family emoji. It shows as one glyph, not as
 * hidden text. A joiner anywhere else is refused like any other format character.
 */
const EMOJI_ZWJ = /(?<=\p{Extended_Pictographic}[\u{FE0F}\u{1F3FB}-\u{1F3FF}]?)\u200D(?=\p{Extended_Pictographic})/gu;
/** Created on first use: building a segmenter loads ICU's break rules (about 13 ms), a cost every cold start paid. */
let segmenter: Intl.Segmenter | undefined;

export const graphemeLength = (text: string): number => {
  segmenter ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  let n = 0;
  for (const _ of segmenter.segment(text)) n++;
  return n;
};

/**
 * CIBA §7.1 binding_message, made safe to display: NFC-normalized, no invisible or reordering
 * characters, at most `maxLength` grapheme clusters (what a person counts as characters).
 */
export const normalizeBindingMessage = (raw: string, maxLength: number): string => {
  const message = raw.normalize('NFC');
  if (message.trim() === '') throw InvalidBindingMessage('binding_message is blank');
  if (FORBIDDEN.test(message.replace(EMOJI_ZWJ, ''))) {
    throw InvalidBindingMessage('binding_message contains control, format, private-use or unassigned characters');
  }
  if (message !== message.trim()) throw InvalidBindingMessage('binding_message has leading or trailing white space');
  const length = graphemeLength(message);
  if (length > maxLength) {
    throw InvalidBindingMessage(`binding_message is ${length} characters long; the maximum is ${maxLength}`);
  }
  return message;
};
