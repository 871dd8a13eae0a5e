import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Static files of the web authenticator and console, as the build step (lib/web/build.ts) writes them. */
export interface WebAsset {
  body: Buffer;
  contentType: string;
  /** Short content hash: the pages reference `?v=<hash>`, so such requests may be cached for good. */
  hash: string;
}

export const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
};

/** Asset names: flat, lower-case, a known extension. Anything else is 404 (no path traversal possible). */
export const ASSET_NAME = /^[a-z0-9][a-z0-9-]*\.(js|css|svg|png|json|webmanifest)$/;

/**
 * Where the built assets are: next to the Lambda bundle (`web/`, copied there by the CDK bundling hook), or in the
 * source tree (`lib/web/dist/`, where `npm run build:web` writes them).
 */
export const defaultAssetDirs = (): string[] => [
  fileURLToPath(new URL('./web/', import.meta.url)),
  fileURLToPath(new URL('./dist/', import.meta.url)),
];

export const loadAssets = (dirs: string[]): Map<string, WebAsset> => {
  const dir = dirs.find((d) => existsSync(join(d, 'authenticator.js')));
  const assets = new Map<string, WebAsset>();
  if (!dir) return assets;
  for (const name of readdirSync(dir)) {
    const type = CONTENT_TYPES[extname(name)];
    if (!type || !ASSET_NAME.test(name)) continue;
    const body = readFileSync(join(dir, name));
    assets.set(name, {
      body,
      contentType: type,
      hash: createHash('sha256').update(body).digest('base64url').slice(0, 12),
    });
  }
  return assets;
};
