import type * as z from 'zod';
import { loadTenant } from '../../lib/ciba/load-tenant.ts';
import { NotFound } from '../../lib/errors.ts';
import { baseUrl, type HttpEvent, issuerOf, jsonBody, pathParam, tenantParam } from '../../lib/http/event.ts';
import { httpFunction } from '../../lib/http/middleware.ts';
import { type HttpResult, json, NO_STORE } from '../../lib/http/response.ts';
import { routeTable } from '../../lib/http/route-table.ts';
import type { Deps } from '../../lib/ports.ts';
import { parseWith } from '../../lib/validation.ts';
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

/** The web function's ports: everything but tenant provisioning, keysets (its keys adapter keeps them) and reports. */
export type WebDeps = Omit<Deps, 'platforms' | 'keysets' | 'shields'>;

/**
 * The web authenticator (`GET {issuer}/authenticator`), its PWA manifest, the operator console
 * (`GET {issuer}/console` and its JSON calls: send, poll, cancel), the approval page of links sent by email or text
 * message (`GET {issuer}/approve`; its calls are the consent and device functions') and the static assets
 * (`GET /assets/{file}`). No build at run time: the assets are read once from the build output (lib/web/build.ts).
 */
export const createHandler = (deps: WebDeps, options: WebHandlerOptions = {}) => {
  let assets: Map<string, WebAsset> | undefined;
  const getAssets = () => {
    assets ??= loadAssets(options.assetDirs ?? defaultAssetDirs());
    if (assets.size === 0) {
      assets = undefined;
      throw new NotFound('the web assets are not built: run npm run build:web');
    }
    return assets;
  };

  /** What a page of a tenant needs: the tenant, its issuer, and where the assets are. */
  const pageOf = async (event: HttpEvent) => {
    const base = baseUrl(event, deps.config);
    const basePath = new URL(base).pathname.replace(/\/+$/, '');
    const assetUrl = (name: string) => {
      const asset = getAssets().get(name);
      return `${basePath}/assets/${name}${asset ? `?v=${asset.hash}` : ''}`;
    };
    const tenantId = tenantParam(event);
    const tenant = await loadTenant(deps.tenants, tenantId);
    const issuer = issuerOf(event, deps.config, tenantId);
    const tenantName = tenant.settings.displayName || tenantId;
    return { base, basePath, assetUrl, tenant, tenantId, issuer, tenantName };
  };
  /** The console's JSON calls: its client, from this very origin (CSRF), with a body of `schema`. */
  const consoleCall = async <T extends z.ZodType>(event: HttpEvent, schema: T) => {
    const page = await pageOf(event);
    const client = await consoleClient(deps, page.tenant);
    checkConsoleRequest(event, new URL(page.base).origin);
    return { ...page, client, body: parseWith(schema, jsonBody(event)) };
  };

  return httpFunction(
    deps.logger,
    routeTable<'web'>({
      'GET /assets/{file}': async (event) => serveAsset(getAssets(), event),
      'GET /{tenant}/authenticator': async (event) => {
        const { basePath, assetUrl, tenant, tenantId, issuer, tenantName } = await pageOf(event);
        return html(
          authenticatorPage({
            asset: assetUrl,
            issuer,
            tenantName,
            manifest: `${basePath}/${tenantId}/authenticator/manifest.webmanifest`,
            serviceWorker: `${basePath}/${tenantId}/authenticator/sw.js`,
            ...(tenant.settings.webPush ? { webPushKey: tenant.settings.webPush.vapidPublicKey } : {}),
            userVerification: tenant.settings.userVerification ?? 'none',
          }),
        );
      },
      'GET /{tenant}/authenticator/sw.js': async (event) => {
        const { basePath, tenantId } = await pageOf(event);
        return serviceWorker(getAssets(), event, `${basePath}/${tenantId}/authenticator`);
      },
      'GET /{tenant}/authenticator/manifest.webmanifest': async (event) => {
        const { basePath, assetUrl, tenantId, tenantName } = await pageOf(event);
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
      },
      'GET /{tenant}/console': async (event) => {
        const { assetUrl, tenant, issuer, tenantName } = await pageOf(event);
        const client = await consoleClient(deps, tenant);
        return html(
          consolePage({
            asset: assetUrl,
            issuer,
            tenantName,
            clientName: client.clientName || client.clientId,
            clientId: client.clientId,
            ...consoleSettings(tenant),
          }),
        );
      },
      'POST /{tenant}/console/requests': async (event) => {
        const { tenant, issuer, client, body } = await consoleCall(event, ConsoleSendBody);
        return json(200, await consoleSend(deps, { tenant, issuer, client, body }), NO_STORE);
      },
      'POST /{tenant}/console/poll': async (event) => {
        const { tenant, issuer, client, body } = await consoleCall(event, ConsolePollBody);
        return json(200, await consolePoll(deps, { tenant, issuer, client, body }), NO_STORE);
      },
      'POST /{tenant}/console/cancel': async (event) => {
        const { tenant, client, body } = await consoleCall(event, ConsoleCancelBody);
        return json(200, await consoleCancel(deps, { tenant, client, body }), NO_STORE);
      },
      'GET /{tenant}/approve': async (event) => {
        const { assetUrl, issuer, tenantName } = await pageOf(event);
        return html(approvePage({ asset: assetUrl, issuer, tenantName }));
      },
    }),
  );
};

/**
 * The authenticator's service worker, served under the tenant's authenticator path: its scope can be that path and
 * nothing wider. `Service-Worker-Allowed` names exactly the path without its trailing slash, so the worker may claim
 * `{issuer}/authenticator` (the page itself) but no other tenant's pages, the console or the admin API on the same
 * origin (it used to be served from /assets/ with `Service-Worker-Allowed: /`).
 */
const serviceWorker = (assets: Map<string, WebAsset>, event: HttpEvent, scope: string): HttpResult => {
  const asset = assets.get('sw.js');
  if (!asset) throw new NotFound('no service worker');
  // The worker must see new versions at once.
  return assetAnswer(asset, event, { 'Cache-Control': 'no-cache', 'Service-Worker-Allowed': scope });
};

const serveAsset = (assets: Map<string, WebAsset>, event: HttpEvent): HttpResult => {
  const name = pathParam(event, 'file');
  const asset = ASSET_NAME.test(name) ? assets.get(name) : undefined;
  if (!asset) throw new NotFound('no such asset');
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
