/**
 * gzip as a stream transform, chunk by chunk, in bounded memory.
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as zlib from "node:zlib"

/**
 * Compress a byte stream with gzip. Each input chunk is handed to zlib and what it has
 * produced so far flows on before the next chunk is read, so memory stays bounded by a
 * chunk and zlib's own window.
 */
export const gzip =
  (options: { readonly level?: number } = {}) =>
  <E, R>(input: Stream.Stream<Uint8Array, E, R>): Stream.Stream<Uint8Array, E, R> =>
    Stream.unwrapScoped(
      Effect.map(
        Effect.acquireRelease(
          Effect.sync(() => zlib.createGzip(options.level === undefined ? {} : { level: options.level })),
          (engine) => Effect.sync(() => engine.destroy())
        ),
        (engine) => {
          const produced: Array<Uint8Array> = []
          engine.on("data", (bytes: Buffer) => produced.push(bytes))
          const take = (): Chunk.Chunk<Uint8Array> => Chunk.unsafeFromArray(produced.splice(0))
          // Compressing bytes in memory cannot fail, short of a bug: zlib errors are defects.
          const write = (chunk: Chunk.Chunk<Uint8Array>): Effect.Effect<Chunk.Chunk<Uint8Array>> =>
            Effect.async<Chunk.Chunk<Uint8Array>>((resume) => {
              const pieces = Chunk.toReadonlyArray(chunk).filter((bytes) => bytes.length > 0)
              if (pieces.length === 0) return resume(Effect.succeed(take()))
              pieces.forEach((bytes, i) =>
                engine.write(
                  bytes,
                  i < pieces.length - 1
                    ? undefined
                    : (error) => resume(error ? Effect.die(error) : Effect.succeed(take()))
                )
              )
            })
          const finish = Effect.async<Chunk.Chunk<Uint8Array>>((resume) => {
            engine.once("end", () => resume(Effect.succeed(take())))
            engine.once("error", (error) => resume(Effect.die(error)))
            engine.end()
          })
          return input.pipe(
            Stream.mapChunksEffect(write),
            Stream.concat(Stream.flattenChunks(Stream.fromEffect(finish)))
          )
        }
      )
    )
