import { banner as consoleBanner, form as consoleForm } from './browser/console-copy.ts';

/**
 * The HTML shells of the web authenticator and the operator console. No inline script or style (the CSP forbids
 * both): the page's settings travel in `data-*` attributes, read by the bundled module.
 */

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Strict: only this origin's scripts, styles, images, connections, manifest and worker; no framing, no forms elsewhere. */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "manifest-src 'self'",
  "worker-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export interface PageInput {
  /** `/assets/...` URL with its version query. */
  asset: (name: string) => string;
  /** The tenant's issuer as the browser sees it. */
  issuer: string;
  tenantName: string;
}

const head = (title: string, input: PageInput, extra = '') => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="theme-color" content="#1f4fd1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="${escapeHtml(input.asset('icon.svg'))}" type="image/svg+xml">
<link rel="stylesheet" href="${escapeHtml(input.asset('style.css'))}">
${extra}</head>`;

/** The body of a page the bundled module fills in: the skip link, the tenant's top bar and the app's mount point. */
const appShell = (
  input: PageInput,
  subtitle: string,
  noScript: string,
  topbarExtra = '',
) => `<a class="skip" href="#main">Skip to content</a>
<header class="topbar">
  <img src="${escapeHtml(input.asset('icon.svg'))}" alt="" width="32" height="32">
  <div>
    <p class="topbar-title">${escapeHtml(input.tenantName)}</p>
    <p class="topbar-sub">${escapeHtml(subtitle)}</p>
  </div>${topbarExtra}
</header>
<main id="main" tabindex="-1">
  <noscript><p class="card">${escapeHtml(noScript)}</p></noscript>
  <div id="app" aria-busy="true"><p class="muted">Loading…</p></div>
</main>`;

export const authenticatorPage = (
  input: PageInput & { manifest: string; serviceWorker: string; webPushKey?: string; userVerification: string },
) => `${head(
  `${input.tenantName} Authenticator`,
  input,
  `<link rel="manifest" href="${escapeHtml(input.manifest)}">
<link rel="apple-touch-icon" href="${escapeHtml(input.asset('icon-192.png'))}">
<script type="module" src="${escapeHtml(input.asset('authenticator.js'))}"></script>
`,
)}
<body class="app" data-issuer="${escapeHtml(input.issuer)}" data-tenant-name="${escapeHtml(input.tenantName)}" data-service-worker="${escapeHtml(input.serviceWorker)}" data-web-push-key="${escapeHtml(input.webPushKey ?? '')}" data-user-verification="${escapeHtml(input.userVerification)}">
${appShell(input, 'Authenticator', 'This authenticator needs JavaScript.', '\n  <p id="live" class="live" hidden></p>')}
</body>
</html>
`;

/**
 * The operator console. Its words depend on the tenant: the code's wording follows the binding mode (the
 * authenticator's does the same, so the operator and the customer are told the same thing), "A payment" appears when
 * the tenant registers `payment_initiation`, and the banner says whose client it acts as.
 */
export const consolePage = (
  input: PageInput & {
    clientName: string;
    clientId: string;
    bindingMode: 'compare' | 'type';
    reportShieldSeconds: number;
    payments: boolean;
  },
) => {
  const words = consoleForm(input.bindingMode);
  return `${head(
    `${input.clientName}: operator console`,
    input,
    `<script type="module" src="${escapeHtml(input.asset('console.js'))}"></script>
`,
  )}
<body class="console" data-issuer="${escapeHtml(input.issuer)}" data-tenant-name="${escapeHtml(input.tenantName)}" data-binding-mode="${input.bindingMode}" data-shield-seconds="${input.reportShieldSeconds}">
<a class="skip" href="#main">Skip to content</a>
<header class="topbar">
  <img src="${escapeHtml(input.asset('icon.svg'))}" alt="" width="32" height="32">
  <div>
    <p class="topbar-title">${escapeHtml(input.clientName)}</p>
    <p class="topbar-sub">Operator console · ${escapeHtml(input.tenantName)}</p>
  </div>
</header>
<p class="demo-banner" role="note">${escapeHtml(consoleBanner(input.clientName, input.clientId))}</p>
<main id="main" tabindex="-1" class="console-grid">
  <section class="card" aria-labelledby="send-title">
    <h1 id="send-title">Verify a customer</h1>
    <p class="muted">${escapeHtml(words.intro)}</p>
    <form id="send-form" novalidate>
      <label for="login-hint">Customer (user id, email:…, phone:…)</label>
      <input id="login-hint" name="login_hint" autocomplete="off" spellcheck="false" required value="alice">
${
  input.payments
    ? `      <fieldset>
        <legend>The customer confirms</legend>
        <label class="check"><input type="radio" name="what" value="identity" checked> Who they are</label>
        <label class="check"><input type="radio" name="what" value="payment"> A payment</label>
      </fieldset>
      <div id="payment-fields" class="payment-fields" hidden>
        <div class="row">
          <div><label for="amount">Amount</label><input id="amount" name="amount" inputmode="decimal" autocomplete="off" value="12.50"></div>
          <div class="narrow"><label for="currency">Currency</label><input id="currency" name="currency" autocomplete="off" maxlength="3" value="EUR"></div>
        </div>
        <div class="row">
          <div><label for="payee">To</label><input id="payee" name="payee" autocomplete="off" value="Café Zeit"></div>
          <div><label for="reference">Reference</label><input id="reference" name="reference" autocomplete="off" value="Invoice 2041"></div>
        </div>
      </div>
`
    : ''
}      <label for="binding-message">${escapeHtml(words.codeLabel)}</label>
      <div class="row">
        <input id="binding-message" name="binding_message" autocomplete="off" maxlength="64">
        <button type="button" id="new-code" class="secondary">New code</button>
      </div>
      <fieldset>
        <legend>Ask for</legend>
        <label class="check"><input type="checkbox" name="scope" value="profile" checked> Name</label>
        <label class="check"><input type="checkbox" name="scope" value="email" checked> Email</label>
        <label class="check"><input type="checkbox" name="scope" value="phone"> Phone</label>
      </fieldset>
      <button type="submit" id="send" class="primary">Send</button>
    </form>
  </section>
  <section class="card" aria-labelledby="status-title">
    <h2 id="status-title">Status</h2>
    <div id="status" role="status" aria-live="polite"><p class="muted">Nothing sent yet.</p></div>
  </section>
</main>
</body>
</html>
`;
};

/**
 * The approval page of a one-time link (`{issuer}/approve#{secret}`, lib/ciba/approval-links.ts): the same consent
 * details and choices as the authenticator, built by approve.js from the fragment, which never reaches the server.
 */
export const approvePage = (input: PageInput) => `${head(
  `${input.tenantName}: approve a request`,
  input,
  `<script type="module" src="${escapeHtml(input.asset('approve.js'))}"></script>
`,
)}
<body class="app" data-issuer="${escapeHtml(input.issuer)}" data-tenant-name="${escapeHtml(input.tenantName)}">
${appShell(input, 'Approve a request', 'This page needs JavaScript.')}
</body>
</html>
`;
