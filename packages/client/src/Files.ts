/**
 * Writing streams to files: in batches (one write per MiB, not one per network piece) and
 * through a temporary name, so that no half-written file ever looks complete.
 *
 * @since 0.1.0
 */
import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

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
    yield* Stream.runForEachChunk(content, (chunk) =>
      Effect.gen(function*() {
        for (const bytes of chunk) {
          for (let offset = 0; offset < bytes.length;) {
            const n = Math.min(bytes.length - offset, batchSize - filled)
            staging.set(n === bytes.length ? bytes : bytes.subarray(offset, offset + n), filled)
            filled += n
            offset += n
            if (filled === batchSize) yield* flush
          }
        }
      }))
    yield* flush
  }))

/**
 * Write `content` to `<target>.partial`, run `check` (a size or digest comparison), then
 * rename it to `target`; on any failure the partial file is removed.
 */
export const writeAtomically = <E, R, E2 = never, R2 = never>(
  target: string,
  content: Stream.Stream<Uint8Array, E, R>,
  check: Effect.Effect<void, E2, R2> = Effect.void
): Effect.Effect<void, E | E2 | PlatformError.PlatformError, R | R2 | FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const partial = `${target}.partial`
    yield* Effect.gen(function*() {
      yield* writeStream(partial, content)
      yield* check
      yield* fs.rename(partial, target)
    }).pipe(Effect.tapError(() => fs.remove(partial, { force: true }).pipe(Effect.ignore)))
  })
