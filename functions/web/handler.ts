import * as z from 'zod';
import { decideByLink, openApprovalLink } from '../../lib/ciba/approval-links.ts';
import { loadTenant } from '../../lib/ciba/load-tenant.ts';
import { baseUrl, type HttpEvent, issuerOf, jsonBody, pathParam, tenantParam } from '../../lib/http/event.ts';
import { httpFunction } from '../../lib/http/middleware.ts';
import { type HttpResult, json, NO_STORE } from '../../lib/http/response.ts';
import { parseWith } from '../../lib/http/validation.ts';
import { NotFound } from '../../lib/oauth/errors.ts';
import type { Deps } from '../../lib/ports.ts';
import { ASSET_NAME, defaultAssetDirs, loadAssets, type WebAsset } from '../../lib/web/assets.ts';
import {
  ConsoleCancelBody,
  ConsolePollBody,
  ConsoleSendBody,
  checkConsoleRequest,
  consoleCancel,
  consoleClient,
  consolePoll,
  consoleSend,
  consoleSettings,
} from '../../lib/web/console-api.ts';
import { approvePage, authenticatorPage, consolePage, PAGE_CSP } from '../../lib/web/pages.ts';

/** The approval page's calls: the link's secret (from the URL fragment) travels in the body, never in a URL. */
const ApproveViewBody = z.strictObject({ link: z.string().min(1).max(100) });
const ApproveDecideBody = z.strictObject({
  link: z.string().min(1).max(100),
  decision: z.enum(['approve', 'deny', 'report']),
  binding_code: z.string().min(1).max(100).optional(),
});

export interface WebHandlerOptions {
  /** Directories to look for the built assets in, first match wins (default: next to the bundle, then lib/web/dist). */
  assetDirs?: string[];
}

const PAGE_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Security-Policy': PAGE_CSP,
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Permissions-Policy': 'camera=(), microphone=(), geolocation=()',
  // The page is small and names the current asset versions: always revalidate.
  'Cache-Control': 'no-cache',
};

const html = (body: string): HttpResult => ({ statusCode: 200, headers: { ...PAGE_HEADERS }, body });

/**
 * The web authenticator (`GET {issuer}/authenticator`), its PWA manifest, the operator console
 * (`GET {issuer}/console` and its JSON calls: send, poll, cancel), the approval page of links sent by email or text
 * message (`GET {issuer}/approve` and its JSON calls: view, decide) and the static assets (`GET /assets/{file}`). No build at run
 * time: the assets are read once from the build output (lib/web/build.ts).
 */
/** The web function's ports: everything but tenant provisioning. */
export type WebDeps = Omit<Deps, 'platforms'>;

export const createHandler = (deps: WebDeps, options: WebHandlerOptions = {}) => {
  let assets: Map<string, WebAsset> | undefined;
  const getAssets = () => {
    assets ??= loadAssets(options.assetDirs ?? defaultAssetDirs());
    if (assets.size === 0) {
      assets = undefined;
      throw NotFound('the web assets are not built: run npm run build:web');
    }
    return assets;
  };

  return httpFunction(deps.logger, async (event: HttpEvent) => {
    const base = baseUrl(event, deps.config);
    const basePath = new URL(base).pathname.replace(/\/+$/, '');
    const assetUrl = (name: string) => {
      const asset = getAssets().get(name);
      return `${basePath}/assets/${name}${asset ? `?v=${asset.hash}` : ''}`;
    };

    if (event.routeKey === 'GET /assets/{file}') return serveAsset(getAssets(), event);

    const tenantId = tenantParam(event);
    const tenant = await loadTenant(deps.store, tenantId);
    const issuer = issuerOf(event, deps.config, tenantId);
    const tenantName = tenant.settings.displayName || tenantId;
    const pageInput = { asset: assetUrl, issuer, tenantName };

    switch (event.routeKey) {
      case 'GET /{tenant}/authenticator':
        return html(
          authenticatorPage({
            ...pageInput,
            manifest: `${basePath}/${tenantId}/authenticator/manifest.webmanifest`,
            serviceWorker: `${basePath}/${tenantId}/authenticator/sw.js`,
            ...(tenant.settings.webPush ? { webPushKey: tenant.settings.webPush.vapidPublicKey } : {}),
            userVerification: tenant.settings.userVerification ?? 'none',
          }),
        );
      case 'GET /{tenant}/authenticator/sw.js':
        return serviceWorker(getAssets(), event, `${basePath}/${tenantId}/authenticator`);
      case 'GET /{tenant}/authenticator/manifest.webmanifest':
        return {
          statusCode: 200,
          headers: { 'Content-Type': 'application/manifest+json', 'Cache-Control': 'public, max-age=300' },
          body: JSON.stringify({
            name: `${tenantName} Authenticator`,
            short_name: tenantName.slice(0, 12),
            description: `Approve sign-in requests for ${tenantName}`,
            id: `${basePath}/${tenantId}/authenticator`,
            start_url: `${basePath}/${tenantId}/authenticator`,
            scope: `${basePath}/${tenantId}/authenticator`,
            display: 'standalone',
            background_color: '#f5f7fb',
            theme_color: '#1f4fd1',
            icons: [
              { src: assetUrl('icon.svg'), sizes: 'any', type: 'image/svg+xml', purpose: 'any' },
              { src: assetUrl('icon-192.png'), sizes: '192x192', type: 'image/png', purpose: 'any maskable' },
              { src: assetUrl('icon-512.png'), sizes: '512x512', type: 'image/png', purpose: 'any maskable' },
            ],
          }),
        };
      case 'GET /{tenant}/console': {
        const client = await consoleClient(deps, tenant);
        return html(
          consolePage({
            ...pageInput,
            clientName: client.clientName || client.clientId,
            clientId: client.clientId,
            ...consoleSettings(tenant),
          }),
        );
      }
      case 'POST /{tenant}/console/requests': {
        const client = await consoleClient(deps, tenant);
        checkConsoleRequest(event, new URL(base).origin);
        const body = parseWith(ConsoleSendBody, jsonBody(event));
        return json(200, await consoleSend(deps, { tenant, issuer, client, body }), NO_STORE);
      }
      case 'POST /{tenant}/console/poll': {
        const client = await consoleClient(deps, tenant);
        checkConsoleRequest(event, new URL(base).origin);
        const body = parseWith(ConsolePollBody, jsonBody(event));
        return json(200, await consolePoll(deps, { tenant, issuer, client, body }), NO_STORE);
      }
      case 'POST /{tenant}/console/cancel': {
        const client = await consoleClient(deps, tenant);
        checkConsoleRequest(event, new URL(base).origin);
        const body = parseWith(ConsoleCancelBody, jsonBody(event));
        return json(200, await consoleCancel(deps, { tenant, client, body }), NO_STORE);
      }
      case 'GET /{tenant}/approve':
        return html(approvePage(pageInput));
      case 'POST /{tenant}/approve/view': {
        const body = parseWith(ApproveViewBody, jsonBody(event));
        return json(200, await openApprovalLink(deps, { tenant, secret: body.link }), NO_STORE);
      }
      case 'POST /{tenant}/approve/decide': {
        const body = parseWith(ApproveDecideBody, jsonBody(event));
        const userAgent = event.headers?.['user-agent'];
        const sourceIp = event.requestContext?.http?.sourceIp;
        const decided = await decideByLink(deps, {
          tenant,
          secret: body.link,
          decision: body.decision,
          ...(body.binding_code !== undefined ? { bindingCode: body.binding_code } : {}),
          ...(userAgent ? { userAgent } : {}),
          ...(sourceIp ? { sourceIp } : {}),
        });
        return json(200, decided, NO_STORE);
      }
      default:
        throw NotFound('no such page');
    }
  });
};

/**
 * The authenticator's service worker, served under the tenant's authenticator path: its scope can be that path and
 * nothing wider. `Service-Worker-Allowed` names exactly the path without its trailing slash, so the worker may claim
 * `{issuer}/authenticator` (the page itself) but no other tenant's pages, the console or the admin API on the same
 * origin (it used to be served from /assets/ with `Service-Worker-Allowed: /`).
 */
const serviceWorker = (assets: Map<string, WebAsset>, event: HttpEvent, scope: string): HttpResult => {
  const asset = assets.get('sw.js');
  if (!asset) throw NotFound('no service worker');
  // The worker must see new versions at once.
  return assetAnswer(asset, event, { 'Cache-Control': 'no-cache', 'Service-Worker-Allowed': scope });
};

const serveAsset = (assets: Map<string, WebAsset>, event: HttpEvent): HttpResult => {
  const name = pathParam(event, 'file');
  const asset = ASSET_NAME.test(name) ? assets.get(name) : undefined;
  if (!asset) throw NotFound('no such asset');
  const versioned = event.queryStringParameters?.v === asset.hash;
  return assetAnswer(asset, event, {
    'Cache-Control': versioned ? 'public, max-age=31536000, immutable' : 'public, max-age=300, must-revalidate',
  });
};

const assetAnswer = (asset: WebAsset, event: HttpEvent, extra: Record<string, string>): HttpResult => {
  const headers = { 'Content-Type': asset.contentType, ETag: `"${asset.hash}"`, ...extra };
  if (event.headers?.['if-none-match'] === `"${asset.hash}"`) return { statusCode: 304, headers, body: '' };
  return { statusCode: 200, headers, body: asset.body.toString('base64'), isBase64Encoded: true };
};
