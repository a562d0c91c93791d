/**
 * Bundle the `dockside` command into one file (`dist/dockside.js`) after `tsc -b`.
 *
 * Node resolves and compiles each of the ~1,000 ES modules of Effect, @effect/cli and
 * dockside one by one: ~0.4 s before the command starts. One bundled file starts in about
 * half of that. Run by the root `npm run build`.
 */
import * as esbuild from "esbuild"
import * as Fs from "node:fs"
import * as Url from "node:url"

const here = (path) => Url.fileURLToPath(new URL(path, import.meta.url))
const outfile = here("../dist/dockside.js")

await esbuild.build({
  entryPoints: [here("../dist/bin.js")],
  outfile,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  // Whitespace and syntax only: names stay readable in stack traces.
  minifyWhitespace: true,
  minifySyntax: true,
  // The CommonJS dependencies (undici) call require(): give the ES module one.
  banner: {
    js:
      "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);"
  },
  logLevel: "warning"
})
Fs.chmodSync(outfile, 0o755)
