// Runs the client's unit tests with Node's test runner. Node 20 cannot load TypeScript,
// so each test file is bundled by esbuild into a temporary folder first.
import { build } from "esbuild";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnSync } from "node:child_process";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function findTests(dir) {
  const found = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...findTests(path));
    else if (name.endsWith(".test.ts")) found.push(path);
  }
  return found;
}

const filter = process.argv.slice(2);
let tests = findTests(join(root, "test"));
if (filter.length) tests = tests.filter((t) => filter.some((f) => t.includes(f)));
if (tests.length === 0) {
  console.error("no client tests found");
  process.exit(1);
}
// A fresh folder per run, so two runs in one checkout cannot clobber each other's bundles.
const out = mkdtempSync(join(tmpdir(), "mug-client-tests-"));
await build({
  entryPoints: tests,
  outdir: out,
  outbase: join(root, "test"),
  outExtension: { ".js": ".mjs" },
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: "inline",
  logLevel: "warning",
});
const built = tests.map((t) => join(out, relative(join(root, "test"), t)).replace(/\.ts$/, ".mjs"));
const result = spawnSync(process.execPath, ["--enable-source-maps", "--test", ...built], { stdio: "inherit" });
rmSync(out, { recursive: true, force: true });
process.exit(result.status ?? 1);
