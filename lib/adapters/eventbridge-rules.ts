/**
 * Which of the service's events a rule on the bus may take: an event that no enabled rule may take is not put on the
 * bus (EventBridge would drop it), which saves its PutEvents charge (docs/events.md "Which events are put on the
 * bus").
 *
 * The reading is deliberately partial and errs towards "may take": only exact string values of `source`,
 * `detail-type` and the members of `detail` (at any depth) are compared. Every other filter (`prefix`,
 * `anything-but`, `exists`, `numeric`, `wildcard`, ...), a number, `null` or boolean in a list, a top-level field other
 * than those three, an array or a missing object in the event: all count as a match. So a rule is never starved of an
 * event EventBridge would give it; at worst an event nobody takes is put anyway (test/unit/adapters/eventbridge-rules
 * checks this against the AWS-shape harness's full implementation of the pattern language).
 */

import { eventDetail } from '../events.ts';
import type { CibaEvent } from '../ports.ts';
import { CIBA_EVENT_SOURCE } from './eventbridge-format.ts';

/** The fields of a put event that the reading compares. */
export interface PutEventView {
  source: string;
  'detail-type': string;
  detail: Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const COMPARED_TOP_LEVEL = new Set(['source', 'detail-type', 'detail']);

const mayTakeObject = (pattern: unknown, value: unknown, top: boolean): boolean => {
  if (!isObject(pattern)) return true;
  return Object.entries(pattern).every(([key, expected]) => {
    if (key === '$or')
      return (
        !Array.isArray(expected) || expected.length === 0 || expected.some((alt) => mayTakeObject(alt, value, top))
      );
    if (top && !COMPARED_TOP_LEVEL.has(key)) return true;
    const field = isObject(value) ? value[key] : undefined;
    if (isObject(expected)) return isObject(field) ? mayTakeObject(expected, field, false) : true;
    if (!Array.isArray(expected) || !expected.every((item) => typeof item === 'string')) return true;
    // An exact string matches only that string; a field the event lacks matches no exact value.
    if (field === undefined) return false;
    return typeof field === 'string' ? expected.includes(field) : true;
  });
};

/** Whether a rule with this event pattern may take the event (false only when it certainly does not). */
export const mayTake = (pattern: unknown, event: PutEventView): boolean => mayTakeObject(pattern, event, true);

/** Whether a rule with any of these patterns may take the service's event, as it is put on the bus. */
export const takenByAny = (patterns: readonly unknown[], event: CibaEvent): boolean => {
  const view: PutEventView = { source: CIBA_EVENT_SOURCE, 'detail-type': event.type, detail: eventDetail(event) };
  return patterns.some((pattern) => mayTake(pattern, view));
};
