/**
 * File request bodies for the Node runtime: a Node read stream that undici sends as it is,
 * with no Effect step per chunk (see `@dockside/client/FileBodies`). Only for the Node
 * transports (undici, node:http), which `DocksideNode.layer` provides with it.
 *
 * @since 0.1.0
 */
import * as FileBodies from "@dockside/client/FileBodies"
import * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpBody from "@effect/platform/HttpBody"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as stream from "node:stream"

/** A file system error of Node as the platform's `SystemError`. */
const systemError = (path: string, error: NodeJS.ErrnoException): PlatformError.PlatformError =>
  new PlatformError.SystemError({
    module: "FileSystem",
    method: "read",
    reason: error.code === "ENOENT" ? "NotFound" : error.code === "EACCES" ? "PermissionDenied" : "Unknown",
    pathOrDescriptor: path,
    ...(error.syscall === undefined ? {} : { syscall: error.syscall }),
    description: error.message,
    cause: error
  })

/**
 * A file as a Node read stream (after a check that it can be opened: a typed error if not),
 * destroyed when the scope closes if the request did not read it to the end.
 */
export const service: FileBodies.Service = {
  body: (source) =>
    Effect.flatMap(FileSystem.FileSystem, (files) =>
      Effect.zipRight(
        files.access(source.path, { readable: true }),
        Effect.map(
          Effect.acquireRelease(
            Effect.sync(() => {
              let failed = Option.none<PlatformError.PlatformError>()
              let total = 0
              const file = fs.createReadStream(source.path, { highWaterMark: FileBodies.chunkSize })
              // Only the file's own errors: the request's (an aborted upload) are the transport's.
              file.once("error", (error) => void (failed = Option.some(systemError(source.path, error))))
              const counted = new stream.Transform({
                transform(chunk: Buffer, _encoding, callback) {
                  total += chunk.length
                  source.onBytes(total)
                  callback(null, chunk)
                }
              })
              // A file error ends the body too, and with it the request.
              stream.pipeline(file, counted, () => {})
              return { counted, failure: Effect.sync(() => failed) }
            }),
            ({ counted }) => Effect.sync(() => counted.destroy())
          ),
          ({ counted, failure }) => ({
            body: HttpBody.raw(counted, { contentType: source.contentType, contentLength: source.size }),
            failure
          })
        )
      ))
}

/** The service as a layer. */
export const layer: Layer.Layer<FileBodies.FileBodies> = Layer.succeed(FileBodies.FileBodies, service)
