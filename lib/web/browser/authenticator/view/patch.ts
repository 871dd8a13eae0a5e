/**
 * Puts freshly drawn nodes in place of the old ones without taking from the user what they had in hand: the
 * focused control and what was typed keep across a redraw (matched by element id).
 */

const byId = (root: Element, id: string): HTMLElement | null =>
  root.id === id ? (root as HTMLElement) : root.querySelector<HTMLElement>(`#${CSS.escape(id)}`);

const focusable = (el: HTMLElement | null): el is HTMLElement =>
  !!el && !(el as HTMLButtonElement | HTMLInputElement).disabled;

/**
 * Replaces `old` by `next`. Returns the id of a focused control that could not take the focus back because it is
 * disabled now (a button while its action runs): pass it as `refocus` to the next replacement of the same item.
 */
export const replaceKeepingFocus = (old: Element, next: Element, refocus?: string): string | undefined => {
  const active = document.activeElement;
  const focusedId = active instanceof HTMLElement && old.contains(active) && active.id ? active.id : refocus;
  const selection =
    active instanceof HTMLInputElement && old.contains(active)
      ? { start: active.selectionStart, end: active.selectionEnd }
      : undefined;
  for (const input of old.querySelectorAll<HTMLInputElement>('input[id]')) {
    const twin = byId(next, input.id);
    if (twin instanceof HTMLInputElement) twin.value = input.value;
  }
  old.replaceWith(next);
  if (!focusedId) return undefined;
  const target = byId(next, focusedId);
  if (!focusable(target)) return target ? focusedId : undefined;
  target.focus({ preventScroll: true });
  if (selection && target instanceof HTMLInputElement) target.setSelectionRange(selection.start, selection.end);
  return undefined;
};

interface Shown<T> {
  item: T;
  node: HTMLElement;
  refocus?: string | undefined;
}

/** What a patch did to one item: drawn for the first time (`previous` undefined) or again. */
export interface Drawn<T> {
  item: T;
  previous?: T | undefined;
  node: HTMLElement;
}

/**
 * A list kept in step with an array: an item is drawn again only when `changed(previous, item)`, removed when gone,
 * and the nodes follow the array's order.
 */
export const keyedList = <T>(
  container: HTMLElement,
  key: (item: T) => string,
  draw: (item: T) => HTMLElement,
  changed: (previous: T, item: T) => boolean,
) => {
  const shown = new Map<string, Shown<T>>();
  const patch = (items: T[]): Drawn<T>[] => {
    const drawn: Drawn<T>[] = [];
    const keys = new Set(items.map(key));
    for (const [k, s] of shown) {
      if (!keys.has(k)) {
        s.node.remove();
        shown.delete(k);
      }
    }
    let cursor: ChildNode | null = container.firstChild;
    for (const item of items) {
      const k = key(item);
      let s = shown.get(k);
      if (!s) {
        s = { item, node: draw(item) };
        shown.set(k, s);
        drawn.push({ item, node: s.node });
      } else if (changed(s.item, item)) {
        const node = draw(item);
        s.refocus = replaceKeepingFocus(s.node, node, s.refocus);
        if (cursor === s.node) cursor = node;
        drawn.push({ item, previous: s.item, node });
        s.node = node;
        s.item = item;
      } else {
        s.item = item;
      }
      if (s.node !== cursor) container.insertBefore(s.node, cursor);
      cursor = s.node.nextSibling;
    }
    return drawn;
  };
  /** The node shown for an item (the clock redraws the timer inside it). */
  const node = (k: string): HTMLElement | undefined => shown.get(k)?.node;
  return { patch, node };
};
