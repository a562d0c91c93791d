/**
 * The legacy `docker save` layout of v1 images, as a folder or a tar archive:
 *
 * ```
 * repositories            {"name":{"tag":"<id>"}}
 * <id>/VERSION            "1.0"
 * <id>/json               the image JSON, exact bytes
 * <id>/layer.tar          the uncompressed layer
 * ```
 *
 * Only these names are ever read or written: every path is built from a checked image id,
 * so nothing from the network or from an archive can land outside the target folder.
 *
 * @since 0.1.0
 */
import * as Errors from "@dockside/protocol/Errors"
import * as Identifiers from "@dockside/protocol/Identifiers"
import * as Tar from "@dockside/protocol/Tar"
import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as path from "node:path"
import * as Files from "./Files.js"

/** `{"name":{"tag":"<id>"}}`. */
export type Repositories = Readonly<Record<string, Readonly<Record<string, string>>>>

/** One image of a layout. */
export interface Image {
  readonly id: Identifiers.ImageId
  /** The JSON bytes exactly as stored. */
  readonly json: Uint8Array
  readonly parent: Option.Option<Identifiers.ImageId>
}

/** Failures of reading or writing a layout. */
export type LayoutError =
  | PlatformError.PlatformError
  | Errors.InvalidDocument
  | Errors.InvalidArgument
  | Errors.CorruptArchive
  | Errors.UnsafePath

/** Does this path name a tar archive rather than a folder? */
export const isArchive = (target: string): boolean => target.endsWith(".tar")

/** The files of an image in a layout folder. */
export const imagePaths = (dir: string, id: Identifiers.ImageId): {
  readonly dir: string
  readonly version: string
  readonly json: string
  readonly layer: string
} => {
  const imageDir = path.join(dir, id)
  return {
    dir: imageDir,
    version: path.join(imageDir, "VERSION"),
    json: path.join(imageDir, "json"),
    layer: path.join(imageDir, "layer.tar")
  }
}

const invalidJson = (what: string, reason: string) => new Errors.InvalidDocument({ what, reason })

/** Decode an image JSON far enough to know its id and parent (both checked). */
export const decodeImage = (json: Uint8Array): Effect.Effect<Image, Errors.InvalidDocument> =>
  Effect.gen(function*() {
    let value: unknown
    try {
      value = JSON.parse(Buffer.from(json).toString("utf8"))
    } catch {
      return yield* invalidJson("image JSON", "the body is not JSON")
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return yield* invalidJson("image JSON", "the body is not a JSON object")
    }
    const { id, parent } = value as { readonly id?: unknown; readonly parent?: unknown }
    if (typeof id !== "string" || !Identifiers.isImageId(id)) {
      return yield* invalidJson("image JSON", "its id is not 64 lower-case hexadecimal characters")
    }
    if (parent !== undefined && parent !== "" && (typeof parent !== "string" || !Identifiers.isImageId(parent))) {
      return yield* invalidJson("image JSON", "its parent is not 64 lower-case hexadecimal characters")
    }
    return { id, json, parent: typeof parent === "string" && parent !== "" ? Option.some(parent) : Option.none() }
  })

/** Read the `repositories` file of a layout folder. */
export const readRepositories = Effect.fn("LegacyLayout.readRepositories")(function*(dir: string) {
  const text = new TextDecoder().decode(yield* Files.readFile(path.join(dir, "repositories")))
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return yield* invalidJson("repositories file", "the file is not JSON")
  }
  const valid = typeof value === "object" && value !== null && !Array.isArray(value) &&
    Object.values(value).every((tags) =>
      typeof tags === "object" && tags !== null && !Array.isArray(tags) &&
      Object.values(tags).every((id) => typeof id === "string")
    )
  if (!valid) return yield* invalidJson("repositories file", `expected {"name":{"tag":"<id>"}}`)
  return value as Repositories
})

/** Read one image (its JSON) from a layout folder; its id must match the folder. */
export const readImage = Effect.fn("LegacyLayout.readImage")(function*(dir: string, id: Identifiers.ImageId) {
  const image = yield* decodeImage(yield* Files.readFile(imagePaths(dir, id).json))
  if (image.id !== id) {
    return yield* invalidJson(`image JSON of ${id}`, `it names the id ${image.id}`)
  }
  return image
})

/** The image and its parents in a layout folder, root first. */
export const readChain = Effect.fn("LegacyLayout.readChain")(function*(dir: string, top: Identifiers.ImageId) {
  const chain: Array<Image> = []
  const seen = new Set<string>()
  let next: Option.Option<Identifiers.ImageId> = Option.some(top)
  while (Option.isSome(next)) {
    if (seen.has(next.value)) return yield* invalidJson("image chain", `the parents of ${top} form a loop`)
    seen.add(next.value)
    const image: Image = yield* readImage(dir, next.value)
    chain.push(image)
    next = image.parent
  }
  return chain.reverse()
})

/** Write an image (VERSION, json, layer.tar) into a layout folder. */
export const writeImage = <E, R>(
  dir: string,
  image: { readonly id: Identifiers.ImageId; readonly json: Uint8Array },
  layer: Stream.Stream<Uint8Array, E, R>
): Effect.Effect<void, E | PlatformError.PlatformError, R | FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const paths = imagePaths(dir, image.id)
    yield* fs.makeDirectory(paths.dir, { recursive: true })
    yield* Files.writeAtomically(paths.layer, layer)
    yield* fs.writeFile(paths.json, image.json)
    yield* fs.writeFileString(paths.version, "1.0")
  }).pipe(Effect.withSpan("LegacyLayout.writeImage"))

/** Write (replace) the `repositories` file of a layout folder. */
export const writeRepositories = Effect.fn("LegacyLayout.writeRepositories")(
  function*(dir: string, repositories: Repositories) {
    const fs = yield* FileSystem.FileSystem
    yield* fs.writeFileString(path.join(dir, "repositories"), JSON.stringify(repositories))
  }
)

// ---------------------------------------------------------------------------------------
// Archives
// ---------------------------------------------------------------------------------------

/** The files of both `docker save` formats (legacy, `manifest.json`, and Docker 25's OCI layout). */
const memberFile =
  /^(?:repositories|manifest\.json|index\.json|oci-layout|[a-f0-9]{64}\.json|[a-f0-9]{64}\/(?:VERSION|json|layer\.tar)|blobs\/sha256\/[a-f0-9]{64})$/
const memberDirectory = /^(?:[a-f0-9]{64}|blobs|blobs\/sha256)\/?$/
/** Where a `layer.tar` symlink may point: another image's layer, or a blob. */
const layerLink = /^\.\.\/(?:[a-f0-9]{64}\/layer\.tar|blobs\/sha256\/[a-f0-9]{64})$/

type Event =
  | { readonly _tag: "entry"; readonly header: Tar.Header }
  | { readonly _tag: "data"; readonly bytes: Uint8Array }
  | { readonly _tag: "end" }

/** The entries of a tar stream as events, in order. */
const tarEvents = <E, R>(
  archive: Stream.Stream<Uint8Array, E, R>
): Stream.Stream<Event, E | Errors.CorruptArchive, R> =>
  Stream.suspend(() => {
    let events: Array<Event> = []
    const reader = new Tar.Reader({
      entry: (header) => events.push({ _tag: "entry", header }),
      data: (bytes) => events.push({ _tag: "data", bytes }),
      entryEnd: () => events.push({ _tag: "end" })
    })
    const run = (action: () => void): Effect.Effect<Chunk.Chunk<Event>, Errors.CorruptArchive> =>
      Effect.suspend(() => {
        try {
          action()
        } catch (error) {
          if (error instanceof Errors.CorruptArchive) return Effect.fail(error)
          throw error
        }
        const out = Chunk.unsafeFromArray(events)
        events = []
        return Effect.succeed(out)
      })
    return archive.pipe(
      Stream.takeWhile(() => !reader.ended),
      Stream.mapChunksEffect((chunk) => run(() => Chunk.forEach(chunk, (bytes) => reader.write(bytes)))),
      Stream.concat(Stream.flattenChunks(Stream.fromEffect(run(() => reader.end()))))
    )
  })

/**
 * Unpack a `docker save` archive of any format into a folder. Only the formats' own names
 * are taken (`repositories`, `<id>/VERSION|json|layer.tar`, `manifest.json`,
 * `<hex>.json`, `index.json`, `oci-layout`, `blobs/sha256/<hex>`); other entries are
 * skipped; a `layer.tar` that is a symlink to `../<id>/layer.tar` or
 * `../blobs/sha256/<hex>` (as Docker writes for shared layers) is copied; anything else
 * that is not a plain file fails with `UnsafePath`.
 */
export const unpack = Effect.fn("LegacyLayout.unpack")(function*(archive: string, dir: string) {
  const fs = yield* FileSystem.FileSystem
  yield* fs.makeDirectory(dir, { recursive: true })
  const links: Array<readonly [from: string, to: string]> = []
  let current: { readonly handle: FileSystem.File; readonly close: Effect.Effect<void> } | undefined
  yield* fs.stream(archive, { chunkSize: 64 * 1024 }).pipe(
    tarEvents,
    Stream.runForEach((event) =>
      Effect.gen(function*() {
        if (event._tag === "data") {
          if (current !== undefined && event.bytes.length > 0) yield* current.handle.writeAll(event.bytes)
          return
        }
        if (event._tag === "end") {
          if (current !== undefined) yield* current.close
          current = undefined
          return
        }
        const name = Buffer.from(event.header.name, "latin1").toString("utf8").replace(/^\.\//, "")
        const typeflag = event.header.typeflag
        if (memberDirectory.test(name)) {
          if (typeflag !== "5") return yield* new Errors.UnsafePath({ path: name })
          return yield* fs.makeDirectory(path.join(dir, name), { recursive: true })
        }
        if (!memberFile.test(name)) return // not part of a docker save layout
        // The patterns above admit no `..` and no absolute name: the target stays in `dir`.
        const target = path.join(dir, name)
        yield* fs.makeDirectory(path.dirname(target), { recursive: true })
        if (typeflag === "2" && name.endsWith("/layer.tar")) {
          if (!layerLink.test(event.header.linkname)) {
            return yield* new Errors.UnsafePath({ path: `${name} -> ${event.header.linkname}` })
          }
          links.push([path.join(path.dirname(target), event.header.linkname), target])
          return
        }
        if (typeflag !== "0" && typeflag !== "\0") return yield* new Errors.UnsafePath({ path: name })
        const scope = yield* Scope.make()
        const handle = yield* fs.open(target, { flag: "w" }).pipe(Scope.extend(scope))
        current = { handle, close: Scope.close(scope, Exit.void) }
      })
    ),
    Effect.ensuring(Effect.suspend(() => current?.close ?? Effect.void))
  )
  for (const [from, to] of links) yield* fs.copyFile(from, to)
})

/** Pack a layout folder into a `docker save` style tar archive (written atomically). */
export const pack = Effect.fn("LegacyLayout.pack")(function*(dir: string, archive: string) {
  const fs = yield* FileSystem.FileSystem
  const repositories = yield* readRepositories(dir)
  const ids = (yield* fs.readDirectory(dir)).filter(Identifiers.isImageId).sort()
  const header = (init: Tar.HeaderInit) =>
    Effect.suspend(() => {
      const block = Tar.encodeHeader({ mtime: 0, ...init })
      return typeof block === "string"
        ? Effect.fail(new Errors.InvalidArgument({ name: "archive member", value: init.name, reason: block }))
        : Effect.succeed(block)
    })
  const file = (name: string, source: string) =>
    Stream.unwrap(Effect.gen(function*() {
      const size = Number((yield* fs.stat(source)).size)
      const block = yield* header({ name, size })
      return Stream.make(block).pipe(
        Stream.concat(fs.stream(source, { chunkSize: 64 * 1024 })),
        Stream.concat(Stream.make(Tar.padding(size)))
      )
    }))
  const entries = Stream.fromIterable(ids).pipe(
    Stream.flatMap((id) => {
      const paths = imagePaths(dir, id)
      return Stream.fromEffect(header({ name: `${id}/`, typeflag: "5", mode: 0o755 })).pipe(
        Stream.concat(file(`${id}/VERSION`, paths.version)),
        Stream.concat(file(`${id}/json`, paths.json)),
        Stream.concat(file(`${id}/layer.tar`, paths.layer))
      )
    })
  )
  const repositoriesBytes = Buffer.from(JSON.stringify(repositories))
  const content = Stream.fromEffect(header({ name: "repositories", size: repositoriesBytes.length })).pipe(
    Stream.concat(Stream.make(repositoriesBytes, Tar.padding(repositoriesBytes.length))),
    Stream.concat(entries),
    Stream.concat(Stream.make(new Uint8Array(2 * Tar.blockSize)))
  )
  yield* Files.writeAtomically(archive, content)
})
