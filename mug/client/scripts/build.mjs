// Builds the participant app into dist/ (git-ignored, shipped in the wheel).
// Everything the browser loads comes out of this folder and is served by the MUG server.
//   dist/app.js, app.css      the participant page (src/main.ts)
//   dist/admin.js, admin.css  the admin dashboard (src/admin/main.ts)
//   dist/widgets/<name>.js    anywidget ES modules (src/widgets/<name>.ts), for the notebook
//   dist/worker.js            the client-side runtime's Web Worker (src/runtime/worker.ts): Pyodide + env + policies
//   dist/vendor/...           third-party runtime files copied from node_modules (see VENDOR)
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
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
  // Pyodide's core (the npm package has no package wheels); the worker loads it from static/vendor/pyodide/.
  ["pyodide", "pyodide", /^(pyodide\.mjs|pyodide\.asm\.(js|wasm)|python_stdlib\.zip|pyodide-lock\.json)$/],
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

// The admin dashboard (src/admin/main.ts): dist/admin.js and admin.css, served only with the admin
// token under admin/ (mug/server/web/admin.py).
await build({
  ...common,
  entryPoints: { admin: join(root, "src/admin/main.ts") },
  outdir: dist,
  sourcemap: false,
  legalComments: "none",
});

// The client-side runtime's worker: its own ES module (new Worker(url, {type: "module"})), with
// onnxruntime-web bundled in; bridge.py goes in as text and is written into Pyodide at load time.
await build({
  ...common,
  entryPoints: { worker: join(root, "src/runtime/worker.ts") },
  outdir: dist,
  loader: { ".py": "text" },
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

// micropip is not in the pyodide npm package: download the version its lock pins from PyPI at build
// time (cached in .cache/), serve it next to the lock, and rewrite its sha256 in the served lock to
// our file's (PyPI's build differs from Pyodide's; the browser checks the hash).
function provisionMicropip() {
  const lockPath = join(dist, "vendor", "pyodide", "pyodide-lock.json");
  const lock = JSON.parse(readFileSync(lockPath, "utf8"));
  const entry = lock.packages?.micropip;
  if (!entry) throw new Error(`${lockPath} has no micropip entry`);
  const cache = join(root, ".cache", "micropip", entry.version);
  const wanted = (name) => name.startsWith(`micropip-${entry.version}-`) && name.endsWith(".whl");
  let found = existsSync(cache) ? readdirSync(cache).find(wanted) : undefined;
  if (!found) {
    mkdirSync(cache, { recursive: true });
    const python = process.env.PYTHON || "python3";
    const args = ["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.13",
      "--dest", cache, `micropip==${entry.version}`];
    const result = spawnSync(python, args, { encoding: "utf8" });
    found = readdirSync(cache).find(wanted);
    if (result.status !== 0 || !found) {
      const why = result.error ? result.error.message : (result.stderr || result.stdout || "").trim().split("\n").slice(-5).join("\n");
      throw new Error(
        `mug client build: could not download micropip ${entry.version} (needed by Pyodide in the browser) with ` +
          `\`${python} ${args.join(" ")}\`: ${why}\n` +
          `PyPI must be reachable at build time (or put ${entry.file_name} into ${cache}; set PYTHON to choose the interpreter).`,
      );
    }
  }
  const wheel = readFileSync(join(cache, found));
  writeFileSync(join(dist, "vendor", "pyodide", entry.file_name), wheel);
  entry.sha256 = createHash("sha256").update(wheel).digest("hex");
  writeFileSync(lockPath, JSON.stringify(lock));
}
try {
  provisionMicropip();
} catch (err) {
  console.error(err.message);
  process.exit(1);
}

const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
writeFileSync(
  join(dist, "build-info.json"),
  JSON.stringify({ version: pkg.version, built: new Date().toISOString() }, null, 2),
);
console.log(`mug client built in ${Date.now() - started} ms -> ${dist}`);
