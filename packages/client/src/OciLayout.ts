/**
 * The OCI image layout on disk: `oci-layout`, `index.json` and `blobs/<alg>/<hex>`.
 * Blobs are written through a temporary name, verified while they stream, and renamed
 * only when complete, so an interrupted pull never leaves a file that looks complete.
 * Paths are built from checked digests only.
 *
 * @since 0.1.0
 */
import * as Errors from "@dockside/protocol/Errors"
import * as Identifiers from "@dockside/protocol/Identifiers"
import * as Manifest from "@dockside/protocol/Manifest"
import * as MediaType from "@dockside/protocol/MediaType"
import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as crypto from "node:crypto"
import * as path from "node:path"
import * as Files from "./Files.js"

/** The annotation that names an image in `index.json` (a tag). */
export const refNameAnnotation = "org.opencontainers.image.ref.name"

/** The `oci-layout` file's content. */
export const layoutVersion = { imageLayoutVersion: "1.0.0" } as const

/** The path of a blob in a layout. */
export const blobPath = (dir: string, digest: Identifiers.Digest): string =>
  path.join(dir, "blobs", Identifiers.digestAlgorithm(digest), Identifiers.digestHex(digest))

/** Does the layout hold this blob, complete and with the right digest? (The file is hashed.) */
export const hasBlob = Effect.fn("OciLayout.hasBlob")(function*(dir: string, digest: Identifiers.Digest, size: number) {
  const fs = yield* FileSystem.FileSystem
  const file = blobPath(dir, digest)
  const info = yield* Effect.option(fs.stat(file))
  // Not a regular file (a FIFO would block the read): not the blob.
  if (Option.isNone(info) || info.value.type !== "File" || Number(info.value.size) !== size) return false
  const hash = crypto.createHash(Identifiers.digestAlgorithm(digest))
  yield* Stream.runForEach(
    fs.stream(file, { chunkSize: 256 * 1024 }),
    (bytes) => Effect.sync(() => void hash.update(bytes))
  )
  return `${Identifiers.digestAlgorithm(digest)}:${hash.digest("hex")}` === digest
})

/**
 * Write a blob: the bytes go to a partial file of its own, hashed and counted on the way;
 * only when digest and size match is it renamed into place.
 */
export const writeBlob = <E, R>(
  dir: string,
  blob: { readonly digest: Identifiers.Digest; readonly size: number },
  content: Stream.Stream<Uint8Array, E, R>,
  options: {
    /** The content verifies itself (it fails before its end on a mismatch): do not hash it twice. */
    readonly verified?: boolean | undefined
  } = {}
): Effect.Effect<
  void,
  E | PlatformError.PlatformError | Errors.DigestMismatch | Errors.SizeMismatch,
  R | FileSystem.FileSystem
> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const target = blobPath(dir, blob.digest)
    yield* fs.makeDirectory(path.dirname(target), { recursive: true })
    const hash = crypto.createHash(Identifiers.digestAlgorithm(blob.digest))
    let size = 0
    const counted = Stream.mapChunks(content, (chunk) => {
      for (const bytes of chunk) {
        size += bytes.length
        if (options.verified !== true) hash.update(bytes)
      }
      return chunk
    })
    yield* Files.writeAtomically(
      target,
      counted,
      Effect.suspend((): Effect.Effect<void, Errors.SizeMismatch | Errors.DigestMismatch> => {
        if (size !== blob.size) {
          return Effect.fail(
            new Errors.SizeMismatch({ what: `blob ${blob.digest}`, expected: blob.size, actual: size })
          )
        }
        const actual = options.verified === true
          ? blob.digest
          : `${Identifiers.digestAlgorithm(blob.digest)}:${hash.digest("hex")}`
        return actual === blob.digest
          ? Effect.void
          : Effect.fail(new Errors.DigestMismatch({ what: "blob", expected: blob.digest, actual }))
      })
    )
  }).pipe(Effect.withSpan("OciLayout.writeBlob"))

/** Write bytes (a manifest, a config) as a blob; their digest (sha256) and size. */
export const writeBytes = Effect.fn("OciLayout.writeBytes")(function*(dir: string, bytes: Uint8Array) {
  const digest = `sha256:${crypto.createHash("sha256").update(bytes).digest("hex")}` as Identifiers.Digest
  yield* writeBlob(dir, { digest, size: bytes.length }, Stream.make(bytes))
  return { digest, size: bytes.length }
})

/** A small blob (manifest, config) in memory, checked against its digest. */
export const readBytes = Effect.fn("OciLayout.readBytes")(
  function*(dir: string, digest: Identifiers.Digest, limit: number) {
    const fs = yield* FileSystem.FileSystem
    if ((yield* Files.regularFileSize(blobPath(dir, digest))) > limit) {
      return yield* new Errors.InvalidDocument({ what: `blob ${digest}`, reason: `it is larger than ${limit} bytes` })
    }
    const bytes = yield* fs.readFile(blobPath(dir, digest))
    const actual = `${Identifiers.digestAlgorithm(digest)}:${
      crypto.createHash(Identifiers.digestAlgorithm(digest)).update(bytes).digest("hex")
    }`
    if (actual !== digest) {
      return yield* new Errors.DigestMismatch({ what: `blob ${digest} in the layout`, expected: digest, actual })
    }
    return bytes
  }
)

/** The layout's `index.json`, or an empty index when there is none yet. */
export const readIndex = Effect.fn("OciLayout.readIndex")(function*(dir: string) {
  const fs = yield* FileSystem.FileSystem
  const file = path.join(dir, "index.json")
  if (!(yield* fs.exists(file))) {
    return {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: []
    } satisfies Manifest.OciIndex as Manifest.OciIndex
  }
  return yield* Manifest.decodeReferrers(yield* Files.readFile(file))
})

/**
 * Record a manifest in `index.json` (creating the layout files as needed); an entry with
 * the same ref name is replaced. Two pulls into one folder at the same time each write the
 * index they read: the last one wins, and the other's entry may be missing from it.
 */
export const addToIndex = Effect.fn("OciLayout.addToIndex")(function*(
  dir: string,
  descriptor: Manifest.Descriptor,
  refName: Option.Option<string>
) {
  const fs = yield* FileSystem.FileSystem
  yield* fs.makeDirectory(dir, { recursive: true })
  yield* fs.writeFileString(path.join(dir, "oci-layout"), JSON.stringify(layoutVersion))
  const index = yield* readIndex(dir)
  const entry: Manifest.Descriptor = Option.match(refName, {
    onNone: () => descriptor,
    onSome: (name) => ({ ...descriptor, annotations: { ...descriptor.annotations, [refNameAnnotation]: name } })
  })
  const others = index.manifests.filter((m) =>
    Option.isSome(refName) ? m.annotations?.[refNameAnnotation] !== refName.value : m.digest !== descriptor.digest
  )
  const next = { ...index, manifests: [...others, entry] }
  yield* Files.writeAtomically(
    path.join(dir, "index.json"),
    Stream.make(new TextEncoder().encode(JSON.stringify(next)))
  )
})

/**
 * The manifest descriptor of a layout for a ref name (a tag), or the only one when no name
 * is given or the only one has no name.
 */
export const findManifest = Effect.fn("OciLayout.findManifest")(function*(dir: string, refName: Option.Option<string>) {
  const index = yield* readIndex(dir)
  const only = index.manifests.length === 1 ? index.manifests[0] : undefined
  // A name the layout does not hold still finds its only manifest when that one is unnamed.
  const found = Option.match(refName, {
    onNone: () => only,
    onSome: (name) =>
      index.manifests.find((m) => m.annotations?.[refNameAnnotation] === name) ??
        (only?.annotations?.[refNameAnnotation] === undefined ? only : undefined)
  })
  if (found === undefined) {
    return yield* new Errors.InvalidArgument({
      name: "image",
      value: Option.getOrElse(refName, () => dir),
      reason: Option.isSome(refName)
        ? `the layout's index.json has no manifest named ${refName.value}`
        : `the layout holds ${index.manifests.length} manifests: name one`
    })
  }
  return found
})
