import * as LegacyLayout from "@dockside/client/LegacyLayout"
import * as Tar from "@dockside/protocol/Tar"
import * as Images from "@dockside/testing/LegacyImages"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "dockside-layout-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const entry = (name: string, data: string | Uint8Array = "", init: Partial<Tar.HeaderInit> = {}): Buffer => {
  const bytes = typeof data === "string" ? Buffer.from(data) : data
  const header = Tar.encodeHeader({ name, size: bytes.length, ...init })
  if (typeof header === "string") throw new Error(header)
  return Buffer.concat([header, bytes, Tar.padding(bytes.length)])
}

describe("LegacyLayout", () => {
  it.scoped("pack then unpack keeps every byte; readChain walks parents root first", () =>
    Effect.gen(function*() {
      const work = yield* tempDir
      const { root, top } = Images.twoLayers()
      Images.writeLayout(join(work, "src"), [root, top], { "me/app": { v1: top.id } })
      yield* LegacyLayout.pack(join(work, "src"), join(work, "a.tar"))
      yield* LegacyLayout.unpack(join(work, "a.tar"), join(work, "out"))
      for (const image of [root, top]) {
        expect(Buffer.compare(readFileSync(join(work, "out", image.id, "json")), image.json)).toBe(0)
        expect(Buffer.compare(readFileSync(join(work, "out", image.id, "layer.tar")), image.layer)).toBe(0)
      }
      const chain = yield* LegacyLayout.readChain(join(work, "out"), top.id as never)
      expect(chain.map((image) => image.id)).toEqual([root.id, top.id])
      expect(yield* LegacyLayout.readRepositories(join(work, "out"))).toEqual({ "me/app": { v1: top.id } })
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("archive entries outside the layout are skipped; links only to another layer.tar are followed", () =>
    Effect.gen(function*() {
      const work = yield* tempDir
      const { root } = Images.twoLayers()
      const other = "b".repeat(64)
      const archive = Buffer.concat([
        entry("../escape.txt", "nope"),
        entry("/etc/evil", "nope"),
        entry("manifest.json", "[]"),
        entry(`${root.id}/`, "", { typeflag: "5" }),
        entry(`${root.id}/json`, root.json),
        entry(`${root.id}/layer.tar`, root.layer),
        entry(`${other}/layer.tar`, "", { typeflag: "2", linkname: `../${root.id}/layer.tar` }),
        entry("repositories", "{}"),
        new Uint8Array(1024)
      ])
      writeFileSync(join(work, "in.tar"), archive)
      yield* LegacyLayout.unpack(join(work, "in.tar"), join(work, "out"))
      expect(readdirSync(join(work, "out")).sort()).toEqual([root.id, other, "manifest.json", "repositories"].sort())
      expect(Buffer.compare(readFileSync(join(work, "out", other, "layer.tar")), root.layer)).toBe(0)
      expect(existsSync(join(work, "escape.txt"))).toBe(false)

      for (
        const [name, linkname, typeflag] of [[`${root.id}/layer.tar`, "/etc/passwd", "2"], [
          `${root.id}/json`,
          "",
          "1"
        ]] as const
      ) {
        writeFileSync(
          join(work, "bad.tar"),
          Buffer.concat([entry(name, "", { typeflag, linkname }), new Uint8Array(1024)])
        )
        const error = yield* Effect.flip(LegacyLayout.unpack(join(work, "bad.tar"), join(work, "bad")))
        expect(error._tag).toBe("UnsafePath")
      }
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("image JSON is checked: id format, parent format, loops", () =>
    Effect.gen(function*() {
      expect((yield* Effect.flip(LegacyLayout.decodeImage(Buffer.from(`{"id":"../x"}`))))._tag).toBe("InvalidDocument")
      expect(
        (yield* Effect.flip(LegacyLayout.decodeImage(Buffer.from(`{"id":"${"a".repeat(64)}","parent":"x"}`))))._tag
      ).toBe("InvalidDocument")
      expect((yield* Effect.flip(LegacyLayout.decodeImage(Buffer.from("not json"))))._tag).toBe("InvalidDocument")
      const work = yield* tempDir
      const a = "a".repeat(64)
      const b = "b".repeat(64)
      Images.writeLayout(work, [
        { id: a, json: Buffer.from(`{"id":"${a}","parent":"${b}"}`), layer: Buffer.alloc(1024) },
        { id: b, json: Buffer.from(`{"id":"${b}","parent":"${a}"}`), layer: Buffer.alloc(1024) }
      ], {})
      const loop = yield* Effect.flip(LegacyLayout.readChain(work, a as never))
      expect(loop.message).toContain("loop")
    }).pipe(Effect.provide(NodeContext.layer)))
})
