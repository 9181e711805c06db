// Builds the participant app into dist/ (git-ignored, shipped in the wheel).
// Everything the browser loads comes out of this folder and is served by the MUG server.
import { build } from "esbuild";
import { mkdirSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

const started = Date.now();
await build({
  entryPoints: { app: join(root, "src/main.ts") },
  outdir: dist,
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: "linked",
  legalComments: "linked",
  logLevel: "warning",
});

const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
writeFileSync(
  join(dist, "build-info.json"),
  JSON.stringify({ version: pkg.version, built: new Date().toISOString() }, null, 2),
);
console.log(`mug client built in ${Date.now() - started} ms -> ${dist}`);
