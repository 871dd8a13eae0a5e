/**
 * Builds the web authenticator and console assets (`npm run build:web`): the browser TypeScript (lib/web/browser,
 * reusing lib/device) bundled by esbuild, the stylesheet and SVG icon copied, PNG icons rasterized. Output:
 * lib/web/dist/ (gitignored), served by functions/web; the CDK bundling copies it next to the web function.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

export const WEB_SOURCE_DIR = fileURLToPath(new URL('./browser/', import.meta.url));
export const WEB_DIST_DIR = fileURLToPath(new URL('./dist/', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** What a build was made from: every file esbuild read, and this file (the icons), with a hash of their contents. */
const STAMP = '.build-inputs.json';
const BUILD_FILE = fileURLToPath(import.meta.url);

/** A hash of the files' contents, or undefined when one of them is gone. */
const hashOf = async (files: string[]): Promise<string | undefined> => {
  const hash = createHash('sha256');
  for (const file of [...files].sort()) {
    const content = await readFile(resolve(ROOT, file)).catch(() => undefined);
    if (content === undefined) return undefined;
    hash.update(file).update('\0').update(content).update('\0');
  }
  return hash.digest('base64url');
};

export const buildWebAssets = async (options: { outDir?: string; minify?: boolean } = {}): Promise<string> => {
  const outDir = options.outDir ?? WEB_DIST_DIR;
  // esbuild is a devDependency: imported only when building.
  const { build } = await import('esbuild');
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const common = {
    bundle: true,
    platform: 'browser' as const,
    target: ['es2022', 'chrome109', 'safari16', 'firefox115'],
    minify: options.minify ?? true,
    legalComments: 'none' as const,
    logLevel: 'warning' as const,
  };
  const inputs = new Set<string>([
    relative(ROOT, BUILD_FILE),
    relative(ROOT, join(WEB_SOURCE_DIR, 'style.css')),
    relative(ROOT, join(WEB_SOURCE_DIR, 'icon.svg')),
  ]);
  const read = (metafile: { inputs: Record<string, unknown> } | undefined) => {
    for (const input of Object.keys(metafile?.inputs ?? {})) inputs.add(relative(ROOT, resolve(input)));
  };
  const bundle = await build({
    ...common,
    metafile: true,
    // authenticator.js from its modules (lib/web/browser/authenticator/), console.js from console.ts.
    entryPoints: [
      { in: join(WEB_SOURCE_DIR, 'authenticator', 'main.ts'), out: 'authenticator' },
      { in: join(WEB_SOURCE_DIR, 'console.ts'), out: 'console' },
      { in: join(WEB_SOURCE_DIR, 'approve.ts'), out: 'approve' },
    ],
    outdir: outDir,
    format: 'esm',
  });
  read(bundle.metafile);
  const worker = await build({
    ...common,
    metafile: true,
    entryPoints: [join(WEB_SOURCE_DIR, 'sw.ts')],
    outfile: join(outDir, 'sw.js'),
    format: 'iife',
  });
  await copyFile(join(WEB_SOURCE_DIR, 'style.css'), join(outDir, 'style.css'));
  await copyFile(join(WEB_SOURCE_DIR, 'icon.svg'), join(outDir, 'icon.svg'));
  await writeFile(join(outDir, 'icon-192.png'), iconPng(192));
  await writeFile(join(outDir, 'icon-512.png'), iconPng(512));
  read(worker.metafile);
  const files = [...inputs];
  await writeFile(join(outDir, STAMP), JSON.stringify({ files, hash: await hashOf(files) }));
  return outDir;
};

/** Whether lib/web/dist was built from the sources as they are now (every input unchanged). */
export const webAssetsCurrent = async (outDir = WEB_DIST_DIR): Promise<boolean> => {
  try {
    const stamp = JSON.parse(await readFile(join(outDir, STAMP), 'utf8')) as { files?: unknown; hash?: unknown };
    if (!Array.isArray(stamp.files) || typeof stamp.hash !== 'string') return false;
    return (await hashOf(stamp.files.map(String))) === stamp.hash;
  } catch {
    return false;
  }
};

/**
 * Local start: builds the assets when a source changed since the last build (a rebuild takes seconds on a busy
 * machine, a check of the inputs milliseconds), so `npm start` always serves the current sources. Without esbuild
 * (an install without devDependencies) an existing build is used as it is.
 */
export const ensureWebAssets = async (warn: (message: string) => void): Promise<void> => {
  if (await webAssetsCurrent()) return;
  try {
    await buildWebAssets();
  } catch (error) {
    const built = await import('node:fs').then((fs) => fs.existsSync(join(WEB_DIST_DIR, 'authenticator.js')));
    warn(
      built
        ? `web assets not rebuilt (${error instanceof Error ? error.message : String(error)}); serving the last build`
        : `web assets missing and not buildable (${error instanceof Error ? error.message : String(error)}): run npm run build:web`,
    );
  }
};

// --- PNG icons: the SVG's design (a check mark on the brand colour), rasterized with 4x4 supersampling. -----------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (bytes: Buffer): number => {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
const chunk = (type: string, data: Buffer): Buffer => {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typed = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed));
  return Buffer.concat([length, typed, crc]);
};

const distanceToSegment = (px: number, py: number, ax: number, ay: number, bx: number, by: number): number => {
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
};

/** A maskable icon: full-bleed brand colour, the check mark inside the central safe zone. */
export const iconPng = (size: number): Buffer => {
  const brand = [0x1f, 0x4f, 0xd1];
  const raw = Buffer.alloc(size * (size * 4 + 1));
  const s = size / 512;
  const samples = 4;
  for (let y = 0; y < size; y++) {
    const row = y * (size * 4 + 1);
    raw[row] = 0; // filter: none
    for (let x = 0; x < size; x++) {
      let cover = 0;
      for (let sy = 0; sy < samples; sy++) {
        for (let sx = 0; sx < samples; sx++) {
          const px = (x + (sx + 0.5) / samples) / s;
          const py = (y + (sy + 0.5) / samples) / s;
          const d = Math.min(
            distanceToSegment(px, py, 172, 262, 230, 320),
            distanceToSegment(px, py, 230, 320, 342, 196),
          );
          if (d <= 22) cover++;
        }
      }
      const a = cover / (samples * samples);
      const i = row + 1 + x * 4;
      raw[i] = Math.round(brand[0]! * (1 - a) + 255 * a);
      raw[i + 1] = Math.round(brand[1]! * (1 - a) + 255 * a);
      raw[i + 2] = Math.round(brand[2]! * (1 - a) + 255 * a);
      raw[i + 3] = 255;
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 6; // RGBA
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
};

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = Date.now();
  buildWebAssets().then(
    (dir) => process.stdout.write(`web assets built in ${Date.now() - started} ms: ${dir}\n`),
    (error: unknown) => {
      process.stderr.write(`web build failed: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
