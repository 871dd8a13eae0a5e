import { h } from '../../dom.ts';

/** A card that tells something: `error` is an alert, the others a status. */
export const notice = (kind: 'info' | 'error' | 'success', title: string, ...text: (Node | string)[]) =>
  h(
    'section',
    { class: `card notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('h1', {}, title),
    ...text.map((t) => (typeof t === 'string' ? h('p', {}, t) : t)),
  );
