/**
 * gzip and gunzip as stream transforms, chunk by chunk.
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as zlib from "node:zlib"
import * as Errors from "./Errors.js"

/** The two bytes every gzip stream starts with. */
export const isGzip = (bytes: Uint8Array): boolean => bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b

/**
 * Run a stream through a zlib engine: each input chunk is written, and what the engine has
 * produced by the time it took the chunk flows on before the next chunk is read, so memory
 * stays bounded by a chunk's worth of output and zlib's window.
 */
const through = <F>(
  makeEngine: () => zlib.Gzip | zlib.Gunzip,
  failure: (error: Error, consumed: number) => Effect.Effect<never, F>
) =>
<E, R>(input: Stream.Stream<Uint8Array, E, R>): Stream.Stream<Uint8Array, E | F, R> =>
  Stream.unwrapScoped(
    Effect.map(
      Effect.acquireRelease(Effect.sync(makeEngine), (engine) => Effect.sync(() => engine.destroy())),
      (engine) => {
        const produced: Array<Uint8Array> = []
        let consumed = 0
        let failed: Error | undefined
        // The one waiting write or finish; an 'error' event settles it (write callbacks may never run then).
        let waiting: ((effect: Effect.Effect<Chunk.Chunk<Uint8Array>, F>) => void) | undefined
        const settle = (effect: Effect.Effect<Chunk.Chunk<Uint8Array>, F>) => {
          const resume = waiting
          waiting = undefined
          resume?.(effect)
        }
        engine.on("data", (bytes: Buffer) => produced.push(bytes))
        engine.on("error", (error) => {
          failed ??= error
          settle(failure(error, consumed))
        })
        const take = (): Chunk.Chunk<Uint8Array> => Chunk.unsafeFromArray(produced.splice(0))
        const write = (chunk: Chunk.Chunk<Uint8Array>): Effect.Effect<Chunk.Chunk<Uint8Array>, F> =>
          Effect.async<Chunk.Chunk<Uint8Array>, F>((resume) => {
            if (failed !== undefined) return resume(failure(failed, consumed))
            const pieces = Chunk.toReadonlyArray(chunk).filter((bytes) => bytes.length > 0)
            if (pieces.length === 0) return resume(Effect.succeed(take()))
            waiting = resume
            pieces.forEach((bytes, i) =>
              engine.write(bytes, (error) => {
                consumed += bytes.length
                if (i === pieces.length - 1 && !error) settle(Effect.succeed(take()))
              })
            )
          })
        const finish = Effect.async<Chunk.Chunk<Uint8Array>, F>((resume) => {
          if (failed !== undefined) return resume(failure(failed, consumed))
          waiting = resume
          engine.once("end", () => settle(Effect.succeed(take())))
          engine.end()
        })
        return input.pipe(
          Stream.mapChunksEffect(write),
          Stream.concat(Stream.flattenChunks(Stream.fromEffect(finish)))
        )
      }
    )
  )

/** Compress a byte stream with gzip (compressing bytes in memory cannot fail: zlib errors are defects). */
export const gzip = (
  options: { readonly level?: number } = {}
): <E, R>(input: Stream.Stream<Uint8Array, E, R>) => Stream.Stream<Uint8Array, E, R> =>
  through(
    () => zlib.createGzip(options.level === undefined ? {} : { level: options.level }),
    (error) => Effect.die(error)
  )

/** Decompress a gzip stream; bad or truncated input fails with `CorruptArchive`. */
export const gunzip = (): <E, R>(
  input: Stream.Stream<Uint8Array, E, R>
) => Stream.Stream<Uint8Array, E | Errors.CorruptArchive, R> =>
  through(
    () => zlib.createGunzip(),
    (error, consumed) => Effect.fail(new Errors.CorruptArchive({ reason: `gzip: ${error.message}`, offset: consumed }))
  )

/**
 * Decompress a stream when it is gzip (judged by its first two bytes), pass it on as it is
 * otherwise: a v1 registry may store a layer either way.
 */
export const gunzipIfGzip = <E, R>(
  input: Stream.Stream<Uint8Array, E, R>
): Stream.Stream<Uint8Array, E | Errors.CorruptArchive, R> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const pull = yield* Stream.toPull(input)
    const head: Array<Uint8Array> = []
    let size = 0
    let ended = false
    while (size < 2 && !ended) {
      const next = yield* Effect.either(pull)
      if (Either.isLeft(next)) {
        if (Option.isSome(next.left)) return yield* Effect.fail(next.left.value)
        ended = true
      } else {
        for (const bytes of next.right) {
          head.push(bytes)
          size += bytes.length
        }
      }
    }
    const first = Buffer.concat(head)
    const whole = Stream.concat(Stream.make(first), ended ? Stream.empty : Stream.repeatEffectChunkOption(pull))
    return isGzip(first) ? whole.pipe(gunzip()) : whole
  }))
