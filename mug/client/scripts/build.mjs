// Builds the participant app into dist/ (git-ignored, shipped in the wheel).
// Everything the browser loads comes out of this folder and is served by the MUG server.
//   dist/app.js, app.css      the participant page (src/main.ts)
//   dist/widgets/<name>.js    anywidget ES modules (src/widgets/<name>.ts), for the notebook
//   dist/vendor/...           third-party runtime files copied from node_modules (see VENDOR)
import { build } from "esbuild";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");

// Runtime files the page loads at run time (not bundled): [from node_modules, to dist/vendor, file filter].
export const VENDOR = [
  // onnxruntime-web's WebAssembly runtime (CPU, single thread); the page sets ort.env.wasm.wasmPaths
  // to static/vendor/ort/ (mug/client/src/policies). Only the plain SIMD build: no WebGPU/JSPI variants.
  ["onnxruntime-web/dist", "ort", /^ort-wasm-simd-threaded\.(wasm|mjs)$/],
];

const started = Date.now();
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

const common = { bundle: true, format: "esm", target: "es2022", minify: true, logLevel: "warning" };
await build({
  ...common,
  entryPoints: { app: join(root, "src/main.ts") },
  outdir: dist,
  sourcemap: "linked",
  legalComments: "linked",
});

const widgetDir = join(root, "src/widgets");
if (existsSync(widgetDir)) {
  const entries = readdirSync(widgetDir).filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts") && !f.startsWith("_"));
  if (entries.length) {
    await build({
      ...common,
      entryPoints: entries.map((f) => join(widgetDir, f)),
      outdir: join(dist, "widgets"),
      // anywidget loads a module from a blob: URL, so everything must be inside the one file.
      sourcemap: false,
      legalComments: "none",
    });
  }
}

for (const [from, to, filter] of VENDOR) {
  const source = join(root, "node_modules", from);
  if (!existsSync(source)) throw new Error(`vendor files missing: ${source} (run npm ci)`);
  const target = join(dist, "vendor", to);
  mkdirSync(target, { recursive: true });
  for (const name of readdirSync(source)) {
    if (!filter || filter.test(name)) cpSync(join(source, name), join(target, name), { recursive: true });
  }
}

const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
writeFileSync(
  join(dist, "build-info.json"),
  JSON.stringify({ version: pkg.version, built: new Date().toISOString() }, null, 2),
);
console.log(`mug client built in ${Date.now() - started} ms -> ${dist}`);
