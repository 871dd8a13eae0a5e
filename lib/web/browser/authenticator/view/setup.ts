/** The setup area above the requests: the passkey card and the notifications offer, each from its state. */
import { h } from '../../dom.ts';
import { notifications as notificationsCopy, passkey as passkeyCopy, passkeyDone, problemText } from '../copy.ts';
import type { DeviceState } from '../state.ts';
import { notice } from './notice.ts';

export interface SetupHandlers {
  passkeyStep(): void;
  enableNotifications(): void;
}

export const setup = (device: DeviceState, on: SetupHandlers): Node[] => {
  const nodes: Node[] = [];
  if (device.passkeyCard) {
    const copy = passkeyCopy(device.passkeyCard, device.tenantName);
    const button = h(
      'button',
      { type: 'button', class: 'primary', id: 'passkey-step', disabled: device.passkeyCard.busy },
      copy.button,
    );
    button.addEventListener('click', () => on.passkeyStep());
    nodes.push(
      h(
        'section',
        { class: 'card setup-card', id: 'passkey-card' },
        h('h2', {}, copy.title),
        h('p', {}, copy.text),
        h('p', { class: 'error', role: 'alert' }, copy.problem || null),
        button,
      ),
    );
  }
  if (device.passkeyDone) {
    const copy = passkeyDone(device.passkeyDone);
    nodes.push(notice('success', copy.title, copy.text));
  }
  const { state, problem } = device.notifications;
  if (state === 'offered' || state === 'busy') {
    const button = h(
      'button',
      { type: 'button', class: 'secondary', id: 'notifications-on', disabled: state === 'busy' },
      notificationsCopy.button,
    );
    button.addEventListener('click', () => on.enableNotifications());
    nodes.push(
      h(
        'section',
        { class: 'card setup-card' },
        h('h2', {}, notificationsCopy.title),
        h('p', {}, notificationsCopy.text),
        h('p', { class: 'error', role: 'alert' }, problem ? problemText(problem) : null),
        button,
      ),
    );
  } else if (state === 'on') {
    nodes.push(notice('success', notificationsCopy.on.title, notificationsCopy.on.text));
  }
  return nodes;
};
