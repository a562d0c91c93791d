/**
 * File request bodies: the portable one (`FileBodies.streamed`, an Effect Stream) and the
 * Node one (`NodeFileBodies`, a Node read stream handed to undici) keep the same contract,
 * checked against `V2Registry` through `DocksideNode.layer`; `V2Flows.push` uses the Node
 * one there and still reports each blob's bytes.
 */
import * as FileBodies from "@dockside/client/FileBodies"
import * as Progress from "@dockside/client/Progress"
import * as V2Flows from "@dockside/client/V2Flows"
import * as DocksideNode from "@dockside/node/DocksideNode"
import * as NodeFileBodies from "@dockside/node/NodeFileBodies"
import type * as Identifiers from "@dockside/protocol/Identifiers"
import * as Reference from "@dockside/protocol/Reference"
import * as OciImages from "@dockside/testing/OciImages"
import * as V2Registry from "@dockside/testing/V2Registry"
import type * as HttpBody from "@effect/platform/HttpBody"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { execFileSync } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "dockside-bodies-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const digestOf = (bytes: Uint8Array) =>
  `sha256:${createHash("sha256").update(bytes).digest("hex")}` as Identifiers.Digest

const implementations: ReadonlyArray<readonly [string, FileBodies.Service]> = [
  ["FileBodies.streamed", FileBodies.streamed],
  ["NodeFileBodies", NodeFileBodies.service]
]

describe("file bodies", () => {
  for (const [name, bodies] of implementations) {
    it.scoped(`${name}: an uploaded file arrives whole and its bytes are counted; a missing file is a typed error`, () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const dir = yield* tempDir
        const bytes = randomBytes(3 * FileBodies.chunkSize + 1234)
        const path = join(dir, "blob")
        writeFileSync(path, bytes)
        const totals: Array<number> = []
        const file = yield* bodies.body({
          path,
          size: bytes.length,
          contentType: "application/octet-stream",
          onBytes: (total) => void totals.push(total)
        })
        const distribution = yield* DocksideNode.distribution()
        const blob = { digest: digestOf(bytes), size: bytes.length }
        yield* distribution.putBlob({ registry: registry.host, repository: "team/app" }, blob, file.body)
        expect(yield* file.failure).toEqual(Option.none())
        const stored = yield* registry.blobBytes(blob.digest)
        expect(Option.map(stored, (b) => Buffer.from(b).equals(bytes))).toEqual(Option.some(true))
        expect(totals.length).toBeGreaterThan(1)
        expect(totals.at(-1)).toBe(bytes.length)
        expect(totals).toEqual([...totals].sort((a, b) => a - b))

        const missing = yield* Effect.flip(bodies.body({
          path: join(dir, "missing"),
          size: 1,
          contentType: "application/octet-stream",
          onBytes: () => {}
        }))
        expect(missing._tag).toBe("SystemError")
        expect(missing.message).toContain("missing")
      }).pipe(Effect.provide(DocksideNode.layer())))

    it.scoped(`${name}: a file that fails while it is read fails the upload, and says why`, () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const dir = yield* tempDir
        // A folder can be opened (access) but not read: EISDIR once the body is read.
        const file = yield* bodies.body({
          path: dir,
          size: 1000,
          contentType: "application/octet-stream",
          onBytes: () => {}
        })
        const distribution = yield* DocksideNode.distribution()
        const blob = { digest: digestOf(new Uint8Array(1000)), size: 1000 }
        yield* Effect.flip(distribution.putBlob({ registry: registry.host, repository: "team/app" }, blob, file.body))
        const failed = yield* file.failure
        expect(Option.map(failed, (error) => error._tag)).toEqual(Option.some("SystemError"))
        expect(Option.map(failed, (error) => error.message.includes("EISDIR"))).toEqual(Option.some(true))
      }).pipe(Effect.provide(DocksideNode.layer())))
  }

  it.scoped("NodeFileBodies: a body that is never sent is destroyed with its scope (its file is closed)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = join(dir, "blob")
      writeFileSync(path, randomBytes(1000))
      const file = yield* Effect.scoped(NodeFileBodies.service.body({
        path,
        size: 1000,
        contentType: "application/octet-stream",
        onBytes: () => {}
      }))
      expect(file.body._tag).toBe("Raw")
      const readable = (file.body as HttpBody.Raw).body as { readonly destroyed: boolean }
      expect(readable.destroyed).toBe(true)
    }).pipe(Effect.provide(DocksideNode.layer())))

  it.scoped("V2Flows.push through DocksideNode.layer uploads every blob and reports each one's bytes to its size", () =>
    Effect.gen(function*() {
      const registry = yield* V2Registry.make()
      const dir = yield* tempDir
      const image = OciImages.image("bodies", [FileBodies.chunkSize * 2 + 7, 5000])
      OciImages.writeLayout(dir, OciImages.blobsOf(image), image.manifest, "v1")
      const events: Array<Progress.Event> = []
      const target = yield* Reference.parse(`${registry.host}/team/app:v1`)
      const result = yield* V2Flows.push(yield* DocksideNode.distribution(), dir, target).pipe(
        Effect.provideService(Progress.Progress, { publish: (event) => Effect.sync(() => void events.push(event)) })
      )
      expect(result.transferred).toBe(3)
      for (const blob of [image.config, ...image.layers]) {
        const stored = yield* registry.blobBytes(blob.digest)
        expect(Option.map(stored, (b) => Buffer.from(b).equals(blob.bytes))).toEqual(Option.some(true))
        const bytes = events.filter((e) => e._tag === "Bytes" && e.id === blob.digest)
        expect(bytes.at(-1)).toMatchObject({ done: blob.size, size: blob.size })
      }
    }).pipe(Effect.provide(DocksideNode.layer())))

  it.scoped("V2Flows.push refuses a layout blob that is not a file, with a typed error", () =>
    Effect.gen(function*() {
      const registry = yield* V2Registry.make()
      const dir = yield* tempDir
      const image = OciImages.image("folder", [2000])
      OciImages.writeLayout(dir, OciImages.blobsOf(image), image.manifest, "v1")
      const layerPath = join(dir, "blobs", "sha256", image.layers[0]!.digest.slice(7))
      rmSync(layerPath)
      mkdirSync(layerPath)
      const target = yield* Reference.parse(`${registry.host}/team/app:v1`)
      const error = yield* Effect.flip(V2Flows.push(yield* DocksideNode.distribution(), dir, target))
      expect(error._tag).toBe("InvalidDocument")
      expect(error.message).toContain("it is not a file")

      // A FIFO in the manifest's place (or index.json's) would block the read, never to end.
      for (const file of [join(dir, "blobs", "sha256", image.manifest.digest.slice(7)), join(dir, "index.json")]) {
        const saved = readFileSync(file)
        rmSync(file)
        execFileSync("mkfifo", [file])
        // A read that blocks cannot be interrupted: the test's own timeout is what would end it.
        const blocked = yield* Effect.flip(V2Flows.push(yield* DocksideNode.distribution(), dir, target))
        expect([file, blocked._tag, blocked.message]).toEqual([
          file,
          "InvalidDocument",
          expect.stringContaining("it is not a file")
        ])
        rmSync(file)
        writeFileSync(file, saved)
      }
    }).pipe(Effect.provide(DocksideNode.layer())))

  it.scoped("V2Flows.push refuses a layout blob whose file is not the manifest's size, before sending it", () =>
    Effect.gen(function*() {
      const registry = yield* V2Registry.make()
      const dir = yield* tempDir
      const image = OciImages.image("short", [4000])
      OciImages.writeLayout(dir, OciImages.blobsOf(image), image.manifest, "v1")
      const layer = image.layers[0]!
      writeFileSync(join(dir, "blobs", "sha256", layer.digest.slice(7)), layer.bytes.subarray(0, layer.size - 100))
      const target = yield* Reference.parse(`${registry.host}/team/app:v1`)
      const error = yield* Effect.flip(V2Flows.push(yield* DocksideNode.distribution(), dir, target))
      expect(error._tag).toBe("SizeMismatch")
      expect(error.message).toContain(`expected ${layer.size} bytes, got ${layer.size - 100}`)
      const requests = yield* registry.requests
      const layerPuts = requests.filter((r) => r.method === "PUT" && r.url.includes(encodeURIComponent(layer.digest)))
      expect(requests.some((r) => r.method === "HEAD" && r.path.endsWith(layer.digest))).toBe(true)
      expect(layerPuts).toEqual([])
    }).pipe(Effect.provide(DocksideNode.layer())))
})
