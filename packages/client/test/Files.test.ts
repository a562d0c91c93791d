/**
 * Files: batched writes give back exactly the bytes of the stream, whatever its chunking;
 * writeAtomically renames only after its check, and leaves nothing behind on a failure.
 */
import * as Files from "@dockside/client/Files"
import * as Errors from "@dockside/protocol/Errors"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { randomBytes } from "node:crypto"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "dockside-files-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** `bytes` cut into pieces of 1 byte to 400 KiB, grouped into chunks of 1 to 6 pieces (seeded). */
const chunked = (bytes: Uint8Array, seed: number): Stream.Stream<Uint8Array> => {
  let state = seed
  const next = (n: number) => {
    state = (state * 1103515245 + 12345) % 2147483648
    return 1 + (state % n)
  }
  const chunks: Array<Chunk.Chunk<Uint8Array>> = []
  for (let at = 0; at < bytes.length;) {
    const pieces: Array<Uint8Array> = []
    for (let k = next(6); k > 0 && at < bytes.length; k--) {
      const size = Math.min(next(400 * 1024), bytes.length - at)
      pieces.push(bytes.subarray(at, at + size))
      at += size
    }
    chunks.push(Chunk.unsafeFromArray(pieces))
  }
  return Stream.fromChunks(...chunks)
}

describe("Files", () => {
  it.scoped("writeStream writes exactly the stream's bytes, across batch boundaries and chunkings", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const bytes = randomBytes(5 * 1024 * 1024 + 12345)
      for (const seed of [1, 2, 3, 4, 5]) {
        const file = join(dir, `out-${seed}`)
        yield* Files.writeStream(file, chunked(bytes, seed))
        expect(readFileSync(file).equals(bytes)).toBe(true)
      }
      yield* Files.writeStream(join(dir, "empty"), Stream.empty)
      expect(readFileSync(join(dir, "empty")).length).toBe(0)
      yield* Files.writeStream(join(dir, "one-mib"), Stream.make(bytes.subarray(0, 1024 * 1024)))
      expect(readFileSync(join(dir, "one-mib")).equals(bytes.subarray(0, 1024 * 1024))).toBe(true)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("writeAtomically renames after its check; a failed check or stream, or an interruption, leaves no file", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const bytes = randomBytes(3000)
      yield* Files.writeAtomically(join(dir, "ok"), Stream.make(bytes))
      expect(readFileSync(join(dir, "ok")).equals(bytes)).toBe(true)

      const refused = yield* Effect.flip(Files.writeAtomically(
        join(dir, "refused"),
        Stream.make(bytes),
        Effect.fail(new Errors.SizeMismatch({ what: "test", expected: 1, actual: 3000 }))
      ))
      expect(refused._tag).toBe("SizeMismatch")
      const broken = yield* Effect.flip(Files.writeAtomically(
        join(dir, "broken"),
        Stream.concat(
          Stream.make(bytes),
          Stream.fail(new Errors.InvalidArgument({ name: "x", value: "y", reason: "z" }))
        )
      ))
      expect(broken._tag).toBe("InvalidArgument")
      const interrupted = yield* Files.writeAtomically(
        join(dir, "interrupted"),
        Stream.concat(Stream.make(bytes), Stream.never)
      )
        .pipe(Effect.fork)
      yield* Effect.sleep("20 millis")
      yield* Fiber.interrupt(interrupted)
      expect(existsSync(join(dir, "refused"))).toBe(false)
      expect(readdirSync(dir).sort()).toEqual(["ok"])
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("writers of the same target at the same time each write a file of their own", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const bytes = randomBytes(3 * 1024 * 1024)
      // Pieces of 1 MiB with pauses between them: the three writes overlap from start to end.
      const slow = Stream.fromIterable([0, 1, 2]).pipe(
        Stream.map((i) => bytes.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024)),
        Stream.tap(() => Effect.sleep("15 millis"))
      )
      const writers = yield* Effect.forkAll(
        [0, 5, 10].map((delay) =>
          Effect.zipRight(Effect.sleep(`${delay} millis`), Files.writeAtomically(join(dir, "blob"), slow))
        )
      )
      yield* Fiber.join(writers)
      expect(readFileSync(join(dir, "blob")).equals(bytes)).toBe(true)
      expect(readdirSync(dir)).toEqual(["blob"])
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("removeStalePartials removes writeAtomically's partial files untouched for a day, nothing else", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const twoDaysAgo = new Date(Date.now() - 2 * 86400 * 1000)
      const hourAgo = new Date(Date.now() - 3600 * 1000)
      for (const name of ["a.1f2e3d4c5b6a.partial", "b.partial", "c", "d.77aa66bb55cc.partial"]) {
        writeFileSync(join(dir, name), "x")
        const when = name.startsWith("d") ? hourAgo : twoDaysAgo
        utimesSync(join(dir, name), when, when)
      }
      yield* Files.removeStalePartials(dir)
      expect(readdirSync(dir).sort()).toEqual(["b.partial", "c", "d.77aa66bb55cc.partial"])
      yield* Files.removeStalePartials(join(dir, "missing"))
    }).pipe(Effect.provide(NodeContext.layer)))
})
