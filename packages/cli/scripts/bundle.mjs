/**
 * After `tsc -b`: bundle the `dockside` command into one CommonJS file (`dist/bundle.cjs`),
 * write its V8 code cache, and make the launcher (`dist/dockside.js`, the package's `bin`)
 * executable. Run by the root `npm run build`.
 *
 * Node resolves and compiles each of the ~1,000 ES modules of Effect, @effect/cli and
 * dockside one by one: ~0.6 s before the command starts. The bundle with its code cache
 * starts in about a quarter of that. In the bundle, `undici` is the part of it the command
 * uses (`undici.mjs`).
 */
import * as esbuild from "esbuild"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Url from "node:url"

const here = (path) => Url.fileURLToPath(new URL(path, import.meta.url))
const bundle = here("../dist/bundle.cjs")
const launcher = here("../dist/dockside.js")
const undiciSubset = here("undici.mjs")

const { metafile } = await esbuild.build({
  entryPoints: [here("../dist/bin.js")],
  outfile: bundle,
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  // Whitespace and syntax only: names stay readable in stack traces.
  minifyWhitespace: true,
  minifySyntax: true,
  metafile: true,
  logLevel: "warning",
  plugins: [{
    name: "undici-subset",
    setup: (build) =>
      build.onResolve(
        { filter: /^undici$/ },
        (args) => args.importer === undiciSubset ? undefined : { path: undiciSubset }
      )
  }]
})

// Every export of undici that the bundled code reads must be in the subset: the names read
// from a namespace import of undici, or of a module that re-exports it (`export * from "undici"`).
const inputs = metafile.inputs
const subsetKey = Path.relative(process.cwd(), undiciSubset)
const undiciLike = new Set([
  subsetKey,
  ...Object.keys(inputs).filter((input) =>
    inputs[input].imports.some((i) => i.path === subsetKey) &&
    /export \* from "undici"/.test(Fs.readFileSync(input, "utf8"))
  )
])
const provided = new Set(Object.keys(await import(Url.pathToFileURL(undiciSubset).href)))
const missing = Object.keys(inputs).filter((input) => !undiciLike.has(input)).flatMap((input) => {
  const source = Fs.readFileSync(input, "utf8")
  return inputs[input].imports.filter((i) => undiciLike.has(i.path) && i.original !== undefined).flatMap((i) => {
    const specifier = i.original.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")
    const namespace = new RegExp(`import \\* as (\\w+) from "${specifier}"`).exec(source)?.[1]
    if (namespace === undefined) return [`${input}: an import of ${i.original} that is not "import * as"`]
    return [...source.matchAll(new RegExp(`(?<![\\w$./])${namespace}\\.(\\w+)`, "g"))]
      .map((use) => use[1])
      .filter((name) => !provided.has(name))
      .map((name) => `${input}: undici's ${name}`)
  })
})
if (missing.length > 0) {
  throw new Error(`${undiciSubset} lacks what the bundle uses:\n${[...new Set(missing)].join("\n")}`)
}
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
