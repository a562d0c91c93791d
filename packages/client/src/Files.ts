/**
 * Writing streams to files: in batches (one write per MiB, not one per network piece) and
 * through a temporary name, so that no half-written file ever looks complete.
 *
 * @since 0.1.0
 */
import * as Errors from "@dockside/protocol/Errors"
import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as crypto from "node:crypto"
import * as path from "node:path"

/** Bytes gathered before one write. */
const batchSize = 1024 * 1024

/**
 * Write `content` to `file` (created or truncated), one write per {@link batchSize} bytes:
 * a write per network piece (~64 KiB) costs the event loop three times as much.
 */
export const writeStream = <E, R>(
  file: string,
  content: Stream.Stream<Uint8Array, E, R>
): Effect.Effect<void, E | PlatformError.PlatformError, R | FileSystem.FileSystem> =>
  Effect.scoped(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const handle = yield* fs.open(file, { flag: "w" })
    const staging = Buffer.allocUnsafe(batchSize) // every byte is written before it is read
    let filled = 0
    const flush = Effect.suspend(() => {
      const bytes = staging.subarray(0, filled)
      filled = 0
      return bytes.length === 0 ? Effect.void : handle.writeAll(bytes)
    })
    // Copies a chunk's pieces from piece `index`, byte `offset` on; a full batch is written
    // before the copy goes on. Most chunks fit in the batch: no effect but `Effect.void`.
    const copy = (
      pieces: ReadonlyArray<Uint8Array>,
      index: number,
      offset: number
    ): Effect.Effect<void, PlatformError.PlatformError> => {
      for (let i = index; i < pieces.length; i++) {
        const bytes = pieces[i]!
        for (let at = i === index ? offset : 0; at < bytes.length;) {
          const n = Math.min(bytes.length - at, batchSize - filled)
          staging.set(n === bytes.length ? bytes : bytes.subarray(at, at + n), filled)
          filled += n
          at += n
          if (filled === batchSize) {
            const [nextIndex, nextOffset] = at === bytes.length ? [i + 1, 0] : [i, at]
            return Effect.zipRight(flush, Effect.suspend(() => copy(pieces, nextIndex, nextOffset)))
          }
        }
      }
      return Effect.void
    }
    yield* Stream.runForEachChunk(content, (chunk) => copy(Chunk.toReadonlyArray(chunk), 0, 0))
    yield* flush
  }))

/**
 * Write `content` to `<target>.<random>.partial`, run `check` (a size or digest comparison),
 * then rename it to `target`; on any failure or interruption the partial file is removed.
 * Each write has a partial file of its own: writers of the same target at the same time (two
 * pulls into one folder) never write into each other's file. A process killed while it
 * writes leaves its partial file: {@link removeStalePartials} clears them.
 */
export const writeAtomically = <E, R, E2 = never, R2 = never>(
  target: string,
  content: Stream.Stream<Uint8Array, E, R>,
  check: Effect.Effect<void, E2, R2> = Effect.void
): Effect.Effect<void, E | E2 | PlatformError.PlatformError, R | R2 | FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const partial = `${target}.${crypto.randomBytes(6).toString("hex")}.partial`
    yield* Effect.gen(function*() {
      yield* writeStream(partial, content)
      yield* check
      yield* fs.rename(partial, target)
    }).pipe(Effect.onError(() => fs.remove(partial, { force: true }).pipe(Effect.ignore)))
  })

/**
 * The size of a file that a user's folder holds (a layout's blob, an archive's layer, an
 * image's JSON), which must be a regular file: opening a FIFO or reading a device would
 * block, past any interruption, or never end, so anything else is `InvalidDocument`.
 */
export const regularFileSize = (
  file: string
): Effect.Effect<number, PlatformError.PlatformError | Errors.InvalidDocument, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const info = yield* (yield* FileSystem.FileSystem).stat(file)
    if (info.type !== "File") return yield* new Errors.InvalidDocument({ what: file, reason: "it is not a file" })
    return Number(info.size)
  })

/** Read a whole regular file (see {@link regularFileSize}). */
export const readFile = (
  file: string
): Effect.Effect<Uint8Array, PlatformError.PlatformError | Errors.InvalidDocument, FileSystem.FileSystem> =>
  Effect.zipRight(regularFileSize(file), Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFile(file)))

/**
 * How long a partial file must have been left untouched to be another process's leftover:
 * a live write adds to its file at least every MiB, which even a crawling transfer brings
 * within a day.
 */
const stalePartialAge = Duration.days(1)

/** The name of a partial file of {@link writeAtomically}. */
const partialName = /\.[0-9a-f]{12}\.partial$/

/**
 * Remove the partial files of {@link writeAtomically} in `folder` that no write has touched
 * for a day: they were left by a process that was killed. A missing folder is left as it is.
 */
export const removeStalePartials = (
  folder: string
): Effect.Effect<void, PlatformError.PlatformError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    if (!(yield* fs.exists(folder))) return
    const now = yield* Clock.currentTimeMillis
    for (const name of yield* fs.readDirectory(folder)) {
      if (!partialName.test(name)) continue
      const file = path.join(folder, name)
      // Another process may finish or remove it meanwhile.
      const modified = yield* fs.stat(file).pipe(Effect.map((info) => info.mtime), Effect.orElseSucceed(Option.none))
      if (Option.isSome(modified) && now - modified.value.getTime() > Duration.toMillis(stalePartialAge)) {
        yield* fs.remove(file, { force: true }).pipe(Effect.ignore)
      }
    }
  })
