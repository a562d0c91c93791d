/**
 * Pull, push and copy of OCI / Docker v2 images: between a registry and an OCI image
 * layout folder, and from registry to registry without touching disk. Blobs move in
 * parallel (bounded), are verified while they stream, are skipped when the other side has
 * them, and are mounted across repositories of one registry; manifests go last.
 *
 * @since 0.1.0
 */
import * as Errors from "@dockside/protocol/Errors"
import type * as Identifiers from "@dockside/protocol/Identifiers"
import * as Manifest from "@dockside/protocol/Manifest"
import * as Platform from "@dockside/protocol/Platform"
import * as Reference from "@dockside/protocol/Reference"
import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as path from "node:path"
import type * as Distribution from "./Distribution.js"
import * as FileBodies from "./FileBodies.js"
import * as Files from "./Files.js"
import * as OciLayout from "./OciLayout.js"
import * as Progress from "./Progress.js"
import * as Retry from "./Retry.js"

/** Blobs moved at the same time (default). */
export const defaultConcurrency = 4

/** Common options of the flows. */
export interface FlowOptions {
  /** Blobs at the same time (default 4). */
  readonly concurrency?: number | undefined
  /** The platform to take from an index (default: the host's); ignored for single manifests. */
  readonly platform?: Platform.Platform | undefined
}

/** What a flow moved. */
export interface Result {
  /** The digest of the top manifest written or pushed. */
  readonly digest: Identifiers.Digest
  readonly mediaType: string
  /** Blobs moved, and blobs that were already there (or mounted). */
  readonly transferred: number
  readonly skipped: number
}

/** The host platform, as Node names it. */
export const hostPlatform = (): Platform.Platform => Platform.host(process.platform, process.arch)

/**
 * The blobs an image manifest references: config first, then layers, each digest once (an
 * image may repeat a layer; its blob is moved once).
 */
export const blobsOf = (manifest: Manifest.Manifest): ReadonlyArray<Manifest.Descriptor> => {
  switch (manifest._tag) {
    case "DockerManifest":
    case "OciManifest": {
      const all = [manifest.document.config, ...manifest.document.layers]
      return all.filter((blob, i) => all.findIndex((other) => other.digest === blob.digest) === i)
    }
    default:
      return []
  }
}

/** The child manifests of an index. */
export const childrenOf = (manifest: Manifest.Manifest): ReadonlyArray<Manifest.Descriptor> =>
  manifest._tag === "OciIndex" || manifest._tag === "DockerManifestList" ? manifest.document.manifests : []

const transient = (error: { readonly _tag: string; readonly status?: number }): boolean =>
  error._tag === "ConnectionFailed" || error._tag === "NetworkTimeout" || error._tag === "UnexpectedResponse" ||
  (error._tag === "HttpStatusError" && (error.status ?? 0) >= 500)

/** Restart a streamed transfer as a unit after a transient failure (the policies cannot replay it). */
const asUnit = <A, E extends { readonly _tag: string }, R>(transfer: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Retry.asUnit(transfer, (error) => transient(error as { readonly _tag: string; readonly status?: number }))

/** Interval of the progress events of a transfer. */
const progressInterval = Duration.millis(100)

/**
 * The progress of one transfer: its running byte count, published as `Progress` `Bytes`
 * events every {@link progressInterval} while the scope is open (not once per chunk).
 */
const progress = (id: string, size: number) =>
  Effect.gen(function*() {
    let done = 0
    let published = 0
    const publish = Effect.suspend(() => {
      if (done === published) return Effect.void
      published = done
      return Progress.publish(Progress.Event.Bytes({ id, done, size }))
    })
    yield* Effect.forkScoped(Effect.repeat(publish, Schedule.spaced(progressInterval)))
    return { set: (total: number): void => void (done = total), publish }
  })

/** A blob's bytes, counted for {@link progress}; the last count is published at the end. */
const counted = (id: string, size: number) => <E, R>(stream: Stream.Stream<Uint8Array, E, R>) =>
  Stream.unwrapScoped(Effect.map(progress(id, size), (bytes) => {
    let total = 0
    return stream.pipe(
      Stream.mapChunks((chunk) => {
        for (const piece of chunk) total += piece.length
        bytes.set(total)
        return chunk
      }),
      Stream.concat(Stream.execute(bytes.publish))
    )
  }))

/** Run a transfer that tells its running byte count through a callback, with {@link progress}. */
const sampled = <A, E, R>(
  id: string,
  size: number,
  transfer: (onBytes: (total: number) => void) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.scoped(Effect.gen(function*() {
    const bytes = yield* progress(id, size)
    const result = yield* transfer(bytes.set)
    yield* bytes.publish
    return result
  }))

const tagOf = (reference: Reference.Reference): Option.Option<string> =>
  reference.tag !== undefined ? Option.some(reference.tag) : Option.none()

/** Pick the manifest to work on: the platform's from an index, or the manifest itself. */
const resolve = (
  distribution: Distribution.Service,
  reference: Reference.Reference,
  platform: Platform.Platform
) =>
  Effect.gen(function*() {
    const top = yield* distribution.getManifest(reference)
    const decoded = yield* Manifest.decode(top.bytes, top.mediaType)
    if (decoded._tag !== "OciIndex" && decoded._tag !== "DockerManifestList") return { ...top, decoded }
    const chosen = Platform.select(platform, decoded.document.manifests)
    if (Option.isNone(chosen)) {
      return yield* new Errors.InvalidArgument({
        name: "platform",
        value: Platform.format(platform),
        reason: `${Reference.format(reference)} has no manifest for it (it has ${
          decoded.document.manifests.map((m) => m.platform === undefined ? "?" : Platform.format(m.platform)).join(", ")
        })`
      })
    }
    const child = new Reference.Reference({
      registry: reference.registry,
      repository: reference.repository,
      digest: chosen.value.digest
    })
    const manifest = yield* distribution.getManifest(child)
    return { ...manifest, decoded: yield* Manifest.decode(manifest.bytes, manifest.mediaType) }
  })

/** Pull an image into an OCI image layout folder (one platform of an index). */
export const pull = Effect.fn("V2Flows.pull")(function*(
  distribution: Distribution.Service,
  reference: Reference.Reference,
  dir: string,
  options: FlowOptions = {}
) {
  const manifest = yield* resolve(distribution, reference, options.platform ?? hostPlatform())
  if (manifest.decoded._tag === "Schema1") {
    return yield* new Errors.InvalidDocument({
      what: "manifest",
      reason: "schema 1 manifests can be read but not pulled into an OCI layout"
    })
  }
  // What an earlier pull that was killed left half-written.
  yield* Files.removeStalePartials(dir)
  yield* Files.removeStalePartials(path.join(dir, "blobs", "sha256"))
  let transferred = 0
  let skipped = 0
  yield* Effect.forEach(blobsOf(manifest.decoded), (blob) =>
    Effect.gen(function*() {
      if (yield* OciLayout.hasBlob(dir, blob.digest, blob.size)) {
        skipped++
        return yield* Progress.publish(Progress.Event.Done({ id: blob.digest, action: "skipped" }))
      }
      yield* Progress.publish(Progress.Event.Started({ id: blob.digest, action: "pull", size: blob.size }))
      // getBlob verifies digest and size as the bytes stream: the layout does not hash them again.
      const content = distribution.getBlob(reference, blob).pipe(counted(blob.digest, blob.size))
      yield* asUnit(OciLayout.writeBlob(dir, blob, content, { verified: true }))
      transferred++
      yield* Progress.publish(Progress.Event.Done({ id: blob.digest, action: "pulled" }))
    }), { concurrency: options.concurrency ?? defaultConcurrency, discard: true })
  const written = yield* OciLayout.writeBytes(dir, manifest.bytes)
  yield* OciLayout.addToIndex(
    dir,
    { mediaType: manifest.mediaType, digest: written.digest, size: written.size },
    tagOf(reference)
  )
  return { digest: manifest.digest, mediaType: manifest.mediaType, transferred, skipped } satisfies Result
})

/** Push the blobs of a manifest that the registry lacks; counts of moved and present blobs. */
const pushBlobs = <E extends { readonly _tag: string }, R>(
  distribution: Distribution.Service,
  target: Reference.Reference,
  blobs: ReadonlyArray<Manifest.Descriptor>,
  /** One upload of a blob, with its progress; restarted as a unit after a transient failure. */
  upload: (blob: Manifest.Descriptor) => Effect.Effect<void, E, R>,
  options: FlowOptions & { readonly mountFrom?: Option.Option<Reference.Reference> }
) =>
  Effect.gen(function*() {
    let transferred = 0
    let skipped = 0
    yield* Effect.forEach(blobs, (blob) =>
      Effect.gen(function*() {
        if (Option.isSome(yield* distribution.headBlob(target, blob.digest))) {
          skipped++
          return yield* Progress.publish(Progress.Event.Done({ id: blob.digest, action: "skipped" }))
        }
        const source = options.mountFrom ?? Option.none()
        if (
          Option.isSome(source) && source.value.registry === target.registry &&
          source.value.repository !== target.repository
        ) {
          if (yield* distribution.mountBlob(target, blob.digest, source.value.repository)) {
            skipped++
            return yield* Progress.publish(Progress.Event.Done({ id: blob.digest, action: "mounted" }))
          }
        }
        yield* Progress.publish(Progress.Event.Started({ id: blob.digest, action: "push", size: blob.size }))
        yield* asUnit(upload(blob))
        transferred++
        yield* Progress.publish(Progress.Event.Done({ id: blob.digest, action: "pushed" }))
      }), { concurrency: options.concurrency ?? defaultConcurrency, discard: true })
    return { transferred, skipped }
  })

/**
 * Upload a blob of a layout as a file body (sent natively where the runtime can), after a
 * check that it is a file of the size the manifest gives it. A failure to read the file
 * is reported as such (not retried), not as the failed request it causes.
 */
const uploadFile = (
  distribution: Distribution.Service,
  target: Reference.Reference,
  dir: string,
  blob: Manifest.Descriptor
) =>
  sampled(blob.digest, blob.size, (onBytes) =>
    Effect.gen(function*() {
      const path = OciLayout.blobPath(dir, blob.digest)
      const size = yield* Files.regularFileSize(path)
      if (size !== blob.size) {
        return yield* new Errors.SizeMismatch({
          what: `blob ${blob.digest} in ${dir}`,
          expected: blob.size,
          actual: size
        })
      }
      const file = yield* (yield* FileBodies.FileBodies).body({
        path,
        size,
        contentType: "application/octet-stream",
        onBytes
      })
      yield* distribution.putBlob(target, blob, file.body).pipe(
        Effect.catchAll((error) =>
          Effect.flatMap(file.failure, (failed) => Effect.fail(Option.getOrElse(failed, () => error)))
        )
      )
    }).pipe(Effect.scoped))

/** Failures of {@link copy}. */
export type CopyError =
  | Distribution.RequestError
  | Errors.UnexpectedResponse
  | Errors.DigestMismatch
  | Errors.SizeMismatch
  | Errors.InvalidArgument
  | Errors.InvalidDocument

/** Failures of {@link push}: those of a copy, and the layout's file errors. */
export type PushError = CopyError | PlatformError.PlatformError

/** Push an image from an OCI image layout folder (the manifest named by the tag, or the only one). */
export const push = Effect.fn("V2Flows.push")(function*(
  distribution: Distribution.Service,
  dir: string,
  target: Reference.Reference,
  options: FlowOptions & { readonly image?: string | undefined } = {}
) {
  const descriptor = yield* OciLayout.findManifest(dir, Option.fromNullable(options.image ?? target.tag))
  const totals = { transferred: 0, skipped: 0 }
  const pushManifest = (
    descriptor: Manifest.Descriptor,
    tag: Option.Option<string>
  ): Effect.Effect<Identifiers.Digest, PushError, FileSystem.FileSystem> =>
    Effect.gen(function*() {
      const bytes = yield* OciLayout.readBytes(dir, descriptor.digest, 4 * 1024 * 1024)
      const decoded = yield* Manifest.decode(bytes, descriptor.mediaType)
      for (const child of childrenOf(decoded)) yield* pushManifest(child, Option.none())
      const moved = yield* pushBlobs(
        distribution,
        target,
        blobsOf(decoded),
        (blob) => uploadFile(distribution, target, dir, blob),
        options
      )
      totals.transferred += moved.transferred
      totals.skipped += moved.skipped
      return yield* distribution.putManifest(
        target,
        Option.getOrElse(tag, () => descriptor.digest),
        {
          bytes,
          mediaType: decoded.mediaType
        }
      )
    })
  const digest = yield* pushManifest(descriptor, tagOf(target))
  return { digest, mediaType: descriptor.mediaType, ...totals } satisfies Result
})

/**
 * Copy an image from one repository to another, registry to registry, without touching
 * disk: an index with every platform, blobs mounted when both are on one registry.
 */
export const copy = Effect.fn("V2Flows.copy")(function*(
  distribution: Distribution.Service,
  source: Reference.Reference,
  target: Reference.Reference,
  options: FlowOptions = {}
) {
  const totals = { transferred: 0, skipped: 0 }
  const copyManifest = (
    from: Reference.Reference,
    tag: Option.Option<string>
  ): Effect.Effect<{ readonly digest: Identifiers.Digest; readonly mediaType: string }, CopyError> =>
    Effect.gen(function*() {
      const manifest = yield* distribution.getManifest(from)
      const decoded = yield* Manifest.decode(manifest.bytes, manifest.mediaType)
      for (const child of childrenOf(decoded)) {
        yield* copyManifest(
          new Reference.Reference({ registry: from.registry, repository: from.repository, digest: child.digest }),
          Option.none()
        )
      }
      const moved = yield* pushBlobs(
        distribution,
        target,
        blobsOf(decoded),
        (blob) =>
          distribution.uploadBlob(target, blob, distribution.getBlob(from, blob).pipe(counted(blob.digest, blob.size))),
        {
          ...options,
          mountFrom: Option.some(from)
        }
      )
      totals.transferred += moved.transferred
      totals.skipped += moved.skipped
      const digest = yield* distribution.putManifest(target, Option.getOrElse(tag, () => manifest.digest), {
        bytes: manifest.bytes,
        mediaType: manifest.mediaType === "" ? decoded.mediaType : manifest.mediaType
      })
      return { digest, mediaType: manifest.mediaType }
    })
  const result = yield* copyManifest(source, Option.orElse(tagOf(target), () => tagOf(source)))
  return { ...result, ...totals } satisfies Result
})
