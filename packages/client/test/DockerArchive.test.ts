/**
 * DockerArchive: a `docker save` folder whose manifest.json is not what Docker writes gets a
 * typed error, never a crash, and names no file outside the folder.
 */
import * as DockerArchive from "@dockside/client/DockerArchive"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "dockside-archive-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const config = `${"a".repeat(64)}.json`
const layer = `${"b".repeat(64)}/layer.tar`

describe("DockerArchive.toOciLayout", () => {
  it.scoped("a manifest.json that is not a list of {Config, RepoTags, Layers} is InvalidDocument", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        ["not a list", "is not a list of {Config, RepoTags, Layers} entries"],
        [[null], "is not a list of {Config, RepoTags, Layers} entries"],
        [[{ RepoTags: "app:latest", Config: config, Layers: [layer] }], "is not a list"],
        [[{ RepoTags: ["app:latest"], Config: config, Layers: "x" }], "is not a list"],
        [[{ RepoTags: ["app:latest"], Config: 7, Layers: [layer] }], "is not a list"],
        [[], "lists no image"],
        [[{ RepoTags: ["app:latest"], Config: "../../etc/passwd", Layers: [layer] }], "is not a layout path"]
      ]
      for (const [manifest, reason] of cases) {
        const source = yield* tempDir
        const out = yield* tempDir
        writeFileSync(join(source, "manifest.json"), JSON.stringify(manifest))
        const error = yield* Effect.flip(DockerArchive.toOciLayout(source, join(out, "layout"), { tag: "latest" }))
        expect([manifest, error._tag, error.message]).toEqual([
          manifest,
          "InvalidDocument",
          expect.stringContaining(reason)
        ])
        expect(existsSync(join(out, "layout"))).toBe(false)
      }
      const source = yield* tempDir
      writeFileSync(join(source, "manifest.json"), "{")
      const notJson = yield* Effect.flip(DockerArchive.toOciLayout(source, join(source, "layout"), { tag: "latest" }))
      expect(notJson.message).toContain("manifest.json is not JSON")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("a layer that is a FIFO is InvalidDocument, not a read that never ends", () =>
    Effect.gen(function*() {
      const source = yield* tempDir
      writeFileSync(
        join(source, "manifest.json"),
        JSON.stringify([{ RepoTags: ["app:latest"], Config: config, Layers: [layer] }])
      )
      writeFileSync(join(source, config), "{}")
      mkdirSync(join(source, layer, ".."))
      execFileSync("mkfifo", [join(source, layer)])
      const error = yield* Effect.flip(DockerArchive.toOciLayout(source, join(source, "layout"), { tag: "latest" }))
      expect(error._tag).toBe("InvalidDocument")
      expect(error.message).toContain("it is not a file")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("a layer path that would leave the folder is UnsafePath", () =>
    Effect.gen(function*() {
      const source = yield* tempDir
      writeFileSync(
        join(source, "manifest.json"),
        JSON.stringify([{ RepoTags: ["app:latest"], Config: config, Layers: [layer, "../../outside/layer.tar"] }])
      )
      const error = yield* Effect.flip(DockerArchive.toOciLayout(source, join(source, "layout"), { tag: "latest" }))
      expect(error._tag).toBe("UnsafePath")
      expect(error.message).toContain("../../outside/layer.tar")
    }).pipe(Effect.provide(NodeContext.layer)))
})
