// The app's unit tests: esbuild compiles each test/*.test.ts (with what it imports) for Node, and Node's
// built-in test runner runs them. No browser: the tested modules are the pure ones.
import { build } from "esbuild";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

const root = new URL(".", import.meta.url).pathname;
const tests = readdirSync(join(root, "test")).filter((name) => name.endsWith(".test.ts"));
const out = mkdtempSync(join(tmpdir(), "telehub-web-tests-"));
try {
  await build({
    entryPoints: tests.map((name) => join(root, "test", name)),
    bundle: true,
    platform: "node",
    format: "esm",
    target: ["node20"],
    outdir: out,
    outExtension: { ".js": ".mjs" },
    jsx: "automatic",
    jsxImportSource: "preact",
    logLevel: "warning",
  });
  const compiled = readdirSync(out).filter((name) => name.endsWith(".mjs")).map((name) => join(out, name));
  const run = spawnSync(process.execPath, ["--test", "--test-reporter=spec", ...compiled], { stdio: "inherit", env: { ...process.env, TZ: "UTC" } });
  process.exitCode = run.status ?? 1;
} finally {
  rmSync(out, { recursive: true, force: true });
}
