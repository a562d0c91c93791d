/**
 * After `tsc -b`: bundle the `dockside` command into one CommonJS file (`dist/bundle.cjs`),
 * write its V8 code cache, and make the launcher (`dist/dockside.js`, the package's `bin`)
 * executable. Run by the root `npm run build`.
 *
 * Node resolves and compiles each of the ~1,000 ES modules of Effect, @effect/cli and
 * dockside one by one: ~0.6 s before the command starts. The bundle with its code cache
 * starts in about a quarter of that.
 */
import * as esbuild from "esbuild"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Url from "node:url"

const here = (path) => Url.fileURLToPath(new URL(path, import.meta.url))
const bundle = here("../dist/bundle.cjs")
const launcher = here("../dist/dockside.js")

await esbuild.build({
  entryPoints: [here("../dist/bin.js")],
  outfile: bundle,
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  // Whitespace and syntax only: names stay readable in stack traces.
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: "warning"
})
// V8 takes a code cache only from a process with the same flags: those of the launcher's #! line.
const codeCache = Url.pathToFileURL(here("../dist/CodeCache.js")).href
const { flags } = await import(codeCache)
const wrote = ChildProcess.spawnSync(process.execPath, [
  ...flags(launcher),
  "--input-type=module",
  "--eval",
  `import * as CodeCache from ${JSON.stringify(codeCache)}
CodeCache.write(${JSON.stringify(bundle)})`
], { stdio: "inherit" })
if (wrote.status !== 0) throw new Error(`writing the code cache of ${bundle} failed`)
Fs.chmodSync(launcher, 0o755)
