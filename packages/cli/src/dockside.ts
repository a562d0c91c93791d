#!/usr/bin/env -S node --max-semi-space-size=2 --wasm-tiering-budget=1
/**
 * The `dockside` command as installed (the package's `bin`). It runs the CLI bundle that
 * `npm run build` makes from `bin.ts` (`bundle.cjs`: one file instead of ~1,000 modules
 * to resolve and compile), with the V8 code cache made for it (see {@link CodeCache}).
 *
 * The `#!` line gives Node a young generation of 2 MiB (the default grows to 16 MiB): the
 * network buffers of a transfer are then freed after a few MiB instead of a few dozen, which
 * keeps the peak RSS of large pulls and pushes under 150 MiB at a few percent of speed.
 *
 * It also has V8 optimize WebAssembly functions at their first call. undici parses HTTP
 * with llhttp compiled to WebAssembly; by default V8 runs it with its baseline compiler and
 * recompiles it in the background once it is hot, and a process cannot end before that
 * compile has: a short command (`tags`, `manifest`) waited ~60 ms at its end, and large
 * transfers ran the baseline code first. Compiled at once, the compile overlaps the
 * first request instead (`tags` 0.29 → 0.22 s, a 256 MiB pull ~5 % faster).
 *
 * @since 0.1.0
 */
import * as url from "node:url"
import * as CodeCache from "./CodeCache.js"

CodeCache.run(url.fileURLToPath(new URL("bundle.cjs", import.meta.url)))
