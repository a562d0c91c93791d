/**
 * The launcher's code cache: a bundle runs the same with its cache, without one, and with
 * a cache that does not fit (V8 ignores it); the installed command starts through its `#!`
 * line with the cache the build made.
 */
import * as CodeCache from "@dockside/cli/CodeCache"
import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import * as Dockside from "./support/Dockside.js"

const withBundle = (source: string, test: (bundle: string) => void): void => {
  const dir = mkdtempSync(join(tmpdir(), "dockside-codecache-"))
  try {
    const bundle = join(dir, "bundle.cjs")
    writeFileSync(bundle, source)
    test(bundle)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

describe("CodeCache", () => {
  it("a training run writes a bundle's cache as its process exits; the bundle runs with it, without one, and with one that does not fit", () =>
    withBundle(
      "globalThis.__codeCacheRuns = (globalThis.__codeCacheRuns ?? 0) + 1; module.exports = require('node:path').basename(__filename)",
      (bundle) => {
        const runs = () => (globalThis as { __codeCacheRuns?: number }).__codeCacheRuns ?? 0
        const before = runs()
        CodeCache.run(bundle)
        expect(existsSync(CodeCache.cacheFile(bundle))).toBe(false)
        const codeCache = JSON.stringify(pathToFileURL(Dockside.bin.replace(/dockside\.js$/, "CodeCache.js")).href)
        const inChild = (code: string) =>
          execFileSync(process.execPath, [
            "--input-type=module",
            "--eval",
            `import * as CodeCache from ${codeCache}\n${code}`
          ], {
            encoding: "utf8"
          })
        inChild(`CodeCache.train(${JSON.stringify(bundle)})`)
        expect(inChild(`process.stdout.write(String(CodeCache.accepts(${JSON.stringify(bundle)})))`)).toBe("true")
        CodeCache.run(bundle)
        writeFileSync(CodeCache.cacheFile(bundle), "not a code cache")
        CodeCache.run(bundle)
        expect(runs() - before).toBe(3)
      }
    ))

  it("the build's code cache is taken under the launcher's #! flags, and the command starts through that line", () => {
    const bundle = Dockside.bin.replace(/dockside\.js$/, "bundle.cjs")
    const codeCache = pathToFileURL(Dockside.bin.replace(/dockside\.js$/, "CodeCache.js")).href
    const accepted = (flags: ReadonlyArray<string>) =>
      execFileSync(process.execPath, [
        ...flags,
        "--input-type=module",
        "--eval",
        `import * as CodeCache from ${JSON.stringify(codeCache)}
process.stdout.write(String(CodeCache.accepts(${JSON.stringify(bundle)})))`
      ], { encoding: "utf8" })
    expect(CodeCache.flags(Dockside.bin)).toEqual(["--max-semi-space-size=2", "--wasm-tiering-budget=1"])
    expect(accepted(CodeCache.flags(Dockside.bin))).toBe("true")
    // Made for those flags: V8 turns it down under others, and the bundle compiles as usual.
    expect(accepted([])).toBe("false")
    expect(execFileSync(Dockside.bin, ["--version"], { encoding: "utf8" }).trim()).toBe("0.1.0")
  })
})
