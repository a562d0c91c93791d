/**
 * Request bodies made from files (the blobs of a layout that a push uploads). By default a
 * file is streamed through the platform's `FileSystem` as an Effect `Stream`, which any
 * `HttpClient` can send; a runtime may send files natively instead: `DocksideNode.layer`
 * hands undici a Node read stream, with no Effect step per chunk (a push then takes about
 * a third less CPU).
 *
 * @since 0.1.0
 */
import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpBody from "@effect/platform/HttpBody"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

/** What a body is made of. */
export interface Source {
  readonly path: string
  /** The file's size in bytes: the body's `Content-Length`. */
  readonly size: number
  readonly contentType: string
  /** Told the running total of bytes read, as they are read (progress). */
  readonly onBytes: (total: number) => void
}

/** A request body made from a file, and what went wrong reading the file, if anything did. */
export interface FileBody {
  readonly body: HttpBody.HttpBody
  /**
   * The error of reading the file, once the request has failed: a request fails when its
   * body does, and the file's own error says more than the transport's.
   */
  readonly failure: Effect.Effect<Option.Option<PlatformError.PlatformError>>
}

/** Makes request bodies from files. */
export interface Service {
  /**
   * A body with the file's bytes, to be sent once (make another for a retry) before the
   * scope closes (what it holds open is released then); fails with a `PlatformError` when
   * the file cannot be opened.
   */
  readonly body: (
    source: Source
  ) => Effect.Effect<FileBody, PlatformError.PlatformError, FileSystem.FileSystem | Scope.Scope>
}

/** Bytes read from a file per chunk. */
export const chunkSize = 256 * 1024

/** The portable way: the file as an Effect `Stream` of the platform's `FileSystem`. */
export const streamed: Service = {
  body: (source) =>
    Effect.flatMap(FileSystem.FileSystem, (fs) =>
      Effect.map(fs.access(source.path, { readable: true }), () => {
        let failed = Option.none<PlatformError.PlatformError>()
        let total = 0
        const bytes = fs.stream(source.path, { chunkSize }).pipe(
          Stream.tap((piece) =>
            Effect.sync(() => {
              total += piece.length
              source.onBytes(total)
            })
          ),
          Stream.tapError((error) => Effect.sync(() => void (failed = Option.some(error))))
        )
        return {
          body: HttpBody.stream(bytes, source.contentType, source.size),
          failure: Effect.sync(() => failed)
        }
      }))
}

/** The {@link Service} in use: {@link streamed} unless a runtime layer provides another. */
export class FileBodies extends Context.Reference<FileBodies>()("@dockside/client/FileBodies", {
  defaultValue: (): Service => streamed
}) {}
