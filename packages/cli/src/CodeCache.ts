/**
 * Running the bundled command with a V8 code cache. The bundle (`bundle.cjs`, CommonJS) is
 * compiled as one function; its cache, made at build time from the same function after a
 * training run of the command, lets V8 skip compiling the bundle's ~1.3 MB of JavaScript,
 * and the functions a pull calls, at every start. V8 ignores a cache made for other source
 * or by another version of itself, and compiles as usual.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as Module from "node:module"
import * as path from "node:path"
import * as vm from "node:vm"

/** The file that holds a bundle's code cache. */
export const cacheFile = (bundle: string): string => `${bundle}.cache`

/** A bundle as a script of one function `(exports, require, module, __filename, __dirname)`. */
const script = (bundle: string, cachedData: Buffer | undefined): vm.Script =>
  new vm.Script(
    // On the source's first line: line numbers in stack traces stay those of the bundle.
    `(function (exports, require, module, __filename, __dirname) {${fs.readFileSync(bundle, "utf8")}\n})`,
    cachedData === undefined ? { filename: bundle } : { filename: bundle, cachedData }
  )

/**
 * The node flags of a launcher's `#!` line (`#!/usr/bin/env -S node --flag …`): V8 takes a
 * code cache only from a process with the same flags, so the cache is written under them.
 */
export const flags = (launcher: string): ReadonlyArray<string> => {
  const first = fs.readFileSync(launcher, "utf8").split("\n", 1)[0] ?? ""
  const found = /^#!.*\bnode\b(.*)$/.exec(first)
  return found === null ? [] : found[1]!.trim().split(/\s+/).filter((flag) => flag !== "")
}

/** Whether V8 takes the bundle's code cache in this process (same bundle, V8 and flags). */
export const accepts = (bundle: string): boolean => {
  const cache = cacheFile(bundle)
  return fs.existsSync(cache) && !script(bundle, fs.readFileSync(cache)).cachedDataRejected
}

/** Run a compiled bundle as the module it was built as. */
const execute = (bundle: string, compiled: vm.Script): void => {
  const main = compiled.runInThisContext() as (
    exports: object,
    require: NodeJS.Require,
    module: { exports: object },
    filename: string,
    dirname: string
  ) => void
  const module = { exports: {} }
  main(module.exports, Module.createRequire(bundle), module, bundle, path.dirname(bundle))
}

/**
 * Run a bundle (at build time, a command of it as a training run) and write its code cache
 * when the process exits: the cache then holds the functions the run compiled, not only the
 * bundle's top level, which V8 would otherwise compile at every start on their first call.
 */
export const train = (bundle: string): void => {
  const compiled = script(bundle, undefined)
  process.once("exit", () => fs.writeFileSync(cacheFile(bundle), compiled.createCachedData()))
  execute(bundle, compiled)
}

/** Run a bundle, with its code cache when there is one. */
export const run = (bundle: string): void => {
  const cache = cacheFile(bundle)
  execute(bundle, script(bundle, fs.existsSync(cache) ? fs.readFileSync(cache) : undefined))
}
