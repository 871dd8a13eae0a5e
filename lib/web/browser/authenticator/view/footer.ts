import { h } from '../../dom.ts';
import { footer as copy } from '../copy.ts';
import type { DeviceState } from '../state.ts';

export interface FooterHandlers {
  replacePasskey(): void;
  forget(): void;
}

/** This device: its name, whether it has a passkey (with a way to replace it), and a way to forget it. */
export const footer = (device: DeviceState, on: FooterHandlers): HTMLElement => {
  const forget = h('button', { type: 'button', class: 'link', id: 'forget-device' }, copy.forget);
  forget.addEventListener('click', () => on.forget());
  const replace = device.passkey
    ? h('button', { type: 'button', class: 'link', id: 'replace-passkey' }, copy.replacePasskey)
    : null;
  replace?.addEventListener('click', () => on.replacePasskey());
  return h(
    'footer',
    { class: 'device-footer' },
    h('p', {}, ...copy.device(device.deviceName, device.passkey)),
    replace,
    forget,
    // The key's thumbprint means nothing to the user: there for an administrator who asks, out of the way.
    h(
      'details',
      { class: 'about-device' },
      h('summary', {}, copy.about),
      h('p', {}, copy.deviceIdLabel),
      h('p', { class: 'mono device-id' }, device.deviceId),
    ),
  );
};
