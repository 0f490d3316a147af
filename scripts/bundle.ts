/**
 * Bundles the `broker` command into one ES module, `dist/broker.mjs`, for the Docker image.
 *
 * Why: a container must be ready within a second of `docker run` (docs/deploy.md). Node spends most
 * of a broker's start loading modules: resolving, reading and compiling some 400 files of our own and
 * of grpc-js, protobufjs, pino and prom-client, which takes 0.45 s on the development machine even
 * with the compile cache. The same code as one file loads in about a third of that.
 *
 * What stays outside the bundle, loaded from node_modules at run time as before:
 * - the native addons (CRC32C, LZ4, Snappy), whose loaders pick a prebuilt binary per platform;
 * - what the code itself loads lazily with `createRequire` (yaml for a config file, proto-loader and
 *   the reflection service on the first reflection call), which esbuild leaves alone.
 * The bundle finds proto/ as `../proto/` from itself, as src/grpc-proto.ts does from src/, so it must
 * sit in a directory beside proto/ and node_modules/ (the image's /app/dist).
 *
 * Development and tests run the TypeScript directly; test/cli/bundle.test.ts runs the bundle.
 *
 *   node scripts/bundle.ts [out-dir]        # default: dist/ at the package root
 *
 * `ESBUILD_DIR` names a directory whose node_modules holds esbuild, for a build (the image's) that
 * installs only the production dependencies into the project.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));

/** Packages with native parts: their loaders require a platform's prebuilt binary by name. */
export const NATIVE_PACKAGES = ['@node-rs/crc32', 'lz4-napi', 'snappy'];

export async function bundleBroker(outDir: string): Promise<string> {
  const from = process.env.ESBUILD_DIR
    ? pathToFileURL(path.join(path.resolve(process.env.ESBUILD_DIR), 'package.json')).href
    : import.meta.url;
  const esbuild = createRequire(from)('esbuild') as typeof import('esbuild');
  const outfile = path.join(outDir, 'broker.mjs');
  await esbuild.build({
    entryPoints: [path.join(root, 'src/cli/broker.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    external: NATIVE_PACKAGES,
    // The CommonJS dependencies call require() for Node's own modules and for the packages left out
    // above; an ES module has no require of its own.
    banner: {
      js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
  return outfile;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const outDir = path.resolve(process.argv[2] ?? path.join(root, 'dist'));
  const outfile = await bundleBroker(outDir);
  process.stdout.write(`bundled the broker into ${path.relative(process.cwd(), outfile) || outfile}\n`);
}
