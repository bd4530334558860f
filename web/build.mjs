// The production build: one bundle and one stylesheet with content-hashed names in dist/assets, and
// dist/index.html referencing them (no inline script or style: the Content-Security-Policy forbids both).
// Prints the gzipped size of every emitted file and fails when the total is over the budget.
import { build } from "esbuild";
import { mkdirSync, readFileSync, rmSync, writeFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";

const BUDGET_GZIP_BYTES = 150 * 1024;
const root = new URL(".", import.meta.url).pathname;
const dist = join(root, "dist");

rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, "assets"), { recursive: true });

const result = await build({
  entryPoints: { app: join(root, "src/main.tsx") },
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2020"],
  outdir: join(dist, "assets"),
  entryNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  jsx: "automatic",
  jsxImportSource: "preact",
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
});

const outputs = Object.keys(result.metafile.outputs).map((path) => relative(join(root, "dist"), join(root, path)));
const script = outputs.find((path) => path.endsWith(".js"));
const stylesheet = outputs.find((path) => path.endsWith(".css"));
if (!script || !stylesheet) throw new Error(`the build emitted no script or no stylesheet: ${outputs.join(", ")}`);

const template = readFileSync(join(root, "index.html"), "utf8");
writeFileSync(
  join(dist, "index.html"),
  template.replace("%STYLESHEET%", `/${stylesheet}`).replace("%SCRIPT%", `/${script}`),
);

function filesUnder(folder) {
  return readdirSync(folder).flatMap((name) => {
    const path = join(folder, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

let total = 0;
console.log("web/dist, gzipped:");
for (const path of filesUnder(dist).sort()) {
  const size = gzipSync(readFileSync(path), { level: 9 }).length;
  total += size;
  console.log(`  ${relative(dist, path).padEnd(40)} ${(size / 1024).toFixed(1).padStart(7)} KB`);
}
console.log(`  ${"total".padEnd(40)} ${(total / 1024).toFixed(1).padStart(7)} KB (budget ${BUDGET_GZIP_BYTES / 1024} KB)`);
if (total > BUDGET_GZIP_BYTES) {
  console.error(`the bundle is over its budget: ${(total / 1024).toFixed(1)} KB gzipped > ${BUDGET_GZIP_BYTES / 1024} KB`);
  process.exit(1);
}
