/**
 * Draws the state into the page: the screen in #app (focus on its heading when it changes, for screen readers and
 * keyboards), the live indicator in the top bar, the tab title. Parts are drawn again only when their state changed.
 */
import { h } from '../../dom.ts';
import { documentTitle, live as liveCopy, request as requestCopy, screens } from '../copy.ts';
import { type DeviceState, type Live, type RequestEntry, type State, waiting } from '../state.ts';
import { type FooterHandlers, footer } from './footer.ts';
import { notice } from './notice.ts';
import { keyedList, replaceKeepingFocus } from './patch.ts';
import { type RequestHandlers, type RequestView, requestCard, requestIds, updateTimer } from './request.ts';
import { simpleScreen } from './screens.ts';
import { type SetupHandlers, setup } from './setup.ts';

export interface Handlers extends RequestHandlers, SetupHandlers, FooterHandlers {}

/** Shows one screen: replaces the app's content and moves focus to its heading. */
const show = (app: HTMLElement, nodes: Node[]) => {
  app.replaceChildren(...nodes);
  app.removeAttribute('aria-busy');
  const heading = app.querySelector<HTMLElement>('h1, h2');
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
};

const drawLive = (el: HTMLElement, live: Live | null) => {
  if (!live) return;
  const { text, on } = liveCopy(live);
  el.hidden = false;
  el.textContent = text;
  el.classList.toggle('on', on);
};

export const mountApp = (els: { app: HTMLElement; live: HTMLElement }, on: Handlers) => {
  const baseTitle = document.title;
  let device: ReturnType<typeof deviceView> | undefined;
  return (state: State, previous?: State): void => {
    drawLive(els.live, state.live);
    const { screen } = state;
    if (screen.name === 'loading') return;
    const before = previous?.screen;
    if (!before || before.name !== screen.name || (screen.name !== 'device' && before !== screen)) {
      device = undefined;
      if (screen.name === 'device') {
        device = deviceView(screen, on);
        show(els.app, device.nodes);
        if (!screen.justEnrolled) els.app.focus({ preventScroll: true });
      } else {
        show(els.app, [simpleScreen(screen, state.tenantName)]);
      }
    }
    if (screen.name === 'device' && device) {
      device.patch(screen, state.now);
      document.title = documentTitle(baseTitle, waiting(screen));
    }
  };
};

/** The enrolled authenticator: setup cards, the requests, the empty state, this device. */
const deviceView = (first: DeviceState, on: Handlers) => {
  const intro = first.justEnrolled
    ? notice('success', screens.enrolled(first.tenantName).title, screens.enrolled(first.tenantName).text)
    : null;
  let setupArea = h('div', { class: 'setup' });
  const list = h('div', { class: 'requests', id: 'requests' });
  const empty = h(
    'section',
    { class: 'card empty' },
    h('h2', {}, screens.empty(first.canNotify).title),
    h('p', { class: 'muted' }, screens.empty(first.canNotify).text),
  );
  let foot = footer(first, on);
  // Screen readers hear about a new request without losing their place.
  const announcer = h('p', { class: 'sr-only', 'aria-live': 'polite' });
  let view: RequestView = {
    passkey: first.passkey,
    now: 0,
    tenantName: first.tenantName,
    reportShieldSeconds: first.reportShieldSeconds,
  };
  let passkeyChanged = false;
  const cards = keyedList<RequestEntry>(
    list,
    (e) => e.tx.txn,
    (e) => requestCard(e, view, on),
    (a, b) => a !== b || (passkeyChanged && b.phase !== 'done'),
  );
  let last: DeviceState | undefined;

  const patch = (device: DeviceState, now: number) => {
    passkeyChanged = last !== undefined && last.passkey !== device.passkey;
    view = { ...view, passkey: device.passkey, now };
    if (
      !last ||
      last.passkeyCard !== device.passkeyCard ||
      last.passkeyDone !== device.passkeyDone ||
      last.notifications !== device.notifications
    ) {
      const next = h('div', { class: 'setup' }, ...setup(device, on));
      replaceKeepingFocus(setupArea, next);
      setupArea = next;
      if (device.passkeyCard?.mode === 'replace' && !last?.passkeyCard) {
        next.querySelector('h2')?.scrollIntoView({ block: 'nearest' });
      }
    }
    for (const { item, previous, node } of cards.patch(device.requests)) {
      if (item.phase === 'done' && previous?.phase !== 'done')
        node.querySelector('h2')?.focus({ preventScroll: false });
      if (item.problem && item.problem !== previous?.problem) {
        const code = node.querySelector<HTMLInputElement>(`#${CSS.escape(requestIds(item.tx.txn).code)}`);
        if (item.problem.kind === 'wrong-code') code?.select();
        if (item.problem.kind === 'wrong-code' || item.problem.kind === 'code-missing') code?.focus();
      }
    }
    for (const entry of device.requests) {
      const node = entry.phase !== 'done' ? cards.node(entry.tx.txn) : undefined;
      if (node) updateTimer(node, entry.tx, now);
    }
    empty.hidden = device.requests.length > 0;
    if (device.announcement && device.announcement !== last?.announcement) {
      announcer.textContent = requestCopy.announce(device.announcement.clientName, device.announcement.title);
    }
    if (last && (last.passkey !== device.passkey || last.deviceName !== device.deviceName)) {
      const next = footer(device, on);
      replaceKeepingFocus(foot, next);
      foot = next;
    }
    last = device;
  };

  // The requests come first: on a phone, what to decide is at the top, above the setup cards and the welcome.
  return { nodes: [list, intro, setupArea, empty, foot, announcer].filter((n): n is HTMLElement => n !== null), patch };
};
