/**
 * After `tsc -b`: bundle the `dockside` command into one CommonJS file (`dist/bundle.cjs`),
 * write its V8 code cache from a training run of it (a pull from an in-process registry),
 * and make the launcher (`dist/dockside.js`, the package's `bin`) executable. Run by the
 * root `npm run build`.
 *
 * Node resolves and compiles each of the ~1,000 ES modules of Effect, @effect/cli and
 * dockside one by one: ~0.6 s before the command starts. The bundle with its code cache
 * starts in about a quarter of that. In the bundle, `undici` is the part of it the command
 * uses (`undici.mjs`).
 */
import * as OciImages from "@dockside/testing/OciImages"
import * as V2Registry from "@dockside/testing/V2Registry"
import * as Effect from "effect/Effect"
import * as esbuild from "esbuild"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
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
// The code cache comes from a training run: the command pulls a small image from a registry
// in this process, and V8 caches what that run compiled. V8 takes a code cache only from a
// process with the same flags: the run has those of the launcher's #! line.
const codeCache = Url.pathToFileURL(here("../dist/CodeCache.js")).href
const { flags } = await import(codeCache)
await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
  const registry = yield* V2Registry.make()
  const image = OciImages.image("code-cache", [64 * 1024, 1024])
  for (const blob of [image.config, ...image.layers]) yield* registry.addBlob("training/app", blob.bytes)
  yield* registry.addManifest("training/app", image.manifest.bytes, { tag: "v1" })
  const folder = yield* Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "dockside-code-cache-"))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )
  // A failed run must not leave a cache behind, nor an older one in its place.
  Fs.rmSync(`${bundle}.cache`, { force: true })
  const code = yield* Effect.async((resume) => {
    const child = ChildProcess.spawn(process.execPath, [
      ...flags(launcher),
      "--input-type=module",
      "--eval",
      `import * as CodeCache from ${JSON.stringify(codeCache)}\nCodeCache.train(${JSON.stringify(bundle)})`,
      "dockside",
      "pull",
      "--quiet",
      `${registry.host}/training/app:v1`,
      Path.join(folder, "layout")
    ], {
      stdio: ["ignore", "ignore", "inherit"],
      // Not the build's environment: a proxy or a DOCKSIDE_* variable there is not for this run.
      env: { PATH: process.env.PATH ?? "", HOME: folder, DOCKER_CONFIG: folder },
      // SIGKILL: the command would take a SIGTERM as an interruption, and exit 0.
      timeout: 60_000,
      killSignal: "SIGKILL"
    })
    child.on("error", (error) => resume(Effect.die(error)))
    child.on("exit", (exit) => resume(Effect.succeed(exit)))
  })
  if (code !== 0) {
    Fs.rmSync(`${bundle}.cache`, { force: true })
    return yield* Effect.die(new Error(`the training run for the code cache of ${bundle} failed`))
  }
})))
Fs.chmodSync(launcher, 0o755)
