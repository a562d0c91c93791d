/** OciLayout.hasBlob: a blob counts as present only when a regular file holds exactly its bytes. */
import * as Distribution from "@dockside/client/Distribution"
import * as OciLayout from "@dockside/client/OciLayout"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "dockside-layout-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

describe("OciLayout.hasBlob", () => {
  it.scoped("true for the blob's exact bytes; false when missing, different, or not a regular file", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const bytes = Buffer.from("layer bytes")
      const digest = Distribution.digestOf(bytes)
      expect(yield* OciLayout.hasBlob(dir, digest, bytes.length)).toBe(false)
      mkdirSync(dirname(OciLayout.blobPath(dir, digest)), { recursive: true })
      writeFileSync(OciLayout.blobPath(dir, digest), bytes)
      expect(yield* OciLayout.hasBlob(dir, digest, bytes.length)).toBe(true)
      writeFileSync(OciLayout.blobPath(dir, digest), Buffer.from("layer BYTES"))
      expect(yield* OciLayout.hasBlob(dir, digest, bytes.length)).toBe(false)
      // An empty blob's path holding a FIFO (size 0 too): reading it would block for good.
      const empty = Distribution.digestOf(new Uint8Array(0))
      execFileSync("mkfifo", [OciLayout.blobPath(dir, empty)])
      expect(yield* OciLayout.hasBlob(dir, empty, 0)).toBe(false)
    }).pipe(Effect.provide(NodeContext.layer)))
})
