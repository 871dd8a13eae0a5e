/**
 * The web authenticator: enrolls this browser with the ticket in the URL fragment (a non-extractable P-256 key in
 * IndexedDB), lists pending requests live, and approves or denies them with DPoP-signed calls through the device
 * SDK. Wiring only: state.ts holds what is shown, controller.ts does the work (transport.ts for the service,
 * platform.ts for the browser), view/ draws.
 */
import { $ } from '../dom.ts';
import { createController } from './controller.ts';
import { problemOf } from './device-setup.ts';
import { browserPlatform } from './platform.ts';
import { createStore, initialState } from './state.ts';
import { browserTransport } from './transport.ts';
import { mountApp } from './view/app.ts';

const page = document.body.dataset;
const issuer = page.issuer ?? `${location.origin}${location.pathname.replace(/\/authenticator\/?$/, '')}`;

const store = createStore(initialState(page.tenantName ?? 'Authenticator', Date.now() / 1000));
const controller = createController({
  store,
  transport: browserTransport(issuer),
  platform: browserPlatform({ issuer, serviceWorker: page.serviceWorker }),
  webPushKey: page.webPushKey || undefined,
});
const draw = mountApp(
  { app: $('#app'), live: $('#live') },
  {
    decide: (txn, decision, code) => void controller.decide(txn, decision, code),
    dismiss: (txn) => controller.dismiss(txn),
    passkeyStep: () => void controller.passkeyStep(),
    enableNotifications: () => void controller.enableNotifications(),
    replacePasskey: () => controller.offerPasskeyReplacement(),
    forget: () => void controller.forget(),
  },
);
store.subscribe(draw);
controller
  .start()
  .catch((error: unknown) => store.dispatch({ type: 'screen', screen: { name: 'failed', problem: problemOf(error) } }));
