#!/usr/bin/env -S node --max-semi-space-size=2
/**
 * The `dockside` command as installed (the package's `bin`). It runs the CLI bundle that
 * `npm run build` makes from `bin.ts` (`bundle.cjs`: one file instead of ~1,000 modules
 * to resolve and compile), with the V8 code cache made for it (see {@link CodeCache}).
 *
 * The `#!` line gives Node a young generation of 2 MiB (the default grows to 16 MiB): the
 * network buffers of a transfer are then freed after a few MiB instead of a few dozen, which
 * keeps the peak RSS of large pulls and pushes under 150 MiB at a few percent of speed.
 *
 * @since 0.1.0
 */
import * as url from "node:url"
import * as CodeCache from "./CodeCache.js"

CodeCache.run(url.fileURLToPath(new URL("bundle.cjs", import.meta.url)))
