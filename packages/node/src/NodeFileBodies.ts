/**
 * File request bodies for the Node runtime: a Node read stream that undici sends as it is,
 * with no Effect step per chunk (see `@dockside/client/FileBodies`). Only for the Node
 * transports (undici, node:http), which `DocksideNode.layer` provides with it.
 *
 * @since 0.1.0
 */
import * as FileBodies from "@dockside/client/FileBodies"
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpBody from "@effect/platform/HttpBody"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as stream from "node:stream"

/**
 * A file as a Node read stream (after a check that it can be opened: a typed error if not),
 * destroyed when the scope closes if the request did not read it to the end.
 */
export const service: FileBodies.Service = {
  body: (source) =>
    Effect.flatMap(FileSystem.FileSystem, (files) =>
      Effect.zipRight(
        files.access(source.path, { readable: true }),
        Effect.acquireRelease(
          Effect.sync(() => {
            let total = 0
            const counted = new stream.Transform({
              transform(chunk: Buffer, _encoding, callback) {
                total += chunk.length
                source.onBytes(total)
                callback(null, chunk)
              }
            })
            // Errors of the file stream reach the request through the pipeline.
            stream.pipeline(
              fs.createReadStream(source.path, { highWaterMark: FileBodies.chunkSize }),
              counted,
              () => {}
            )
            return counted
          }),
          (counted) => Effect.sync(() => counted.destroy())
        ).pipe(
          Effect.map((counted) =>
            HttpBody.raw(counted, { contentType: source.contentType, contentLength: source.size })
          )
        )
      ))
}

/** The service as a layer. */
export const layer: Layer.Layer<FileBodies.FileBodies> = Layer.succeed(FileBodies.FileBodies, service)
