/**
 * Pull and push of v1 images, in the order Docker 17.03's puller and pusher use
 * (spec §9), between a {@link V1Session} and the legacy `docker save` layout.
 *
 * @since 0.1.0
 */
import * as Compression from "@dockside/protocol/Compression"
import * as Errors from "@dockside/protocol/Errors"
import * as Identifiers from "@dockside/protocol/Identifiers"
import * as V1Wire from "@dockside/protocol/V1Wire"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as crypto from "node:crypto"
import * as Files from "./Files.js"
import * as LegacyLayout from "./LegacyLayout.js"
import * as Progress from "./Progress.js"
import * as Retry from "./Retry.js"
import type * as V1Session from "./V1Session.js"

/** What {@link pushV1} pushes. */
export interface PushOptions {
  /** Remote name, e.g. `me/app`. */
  readonly name: string
  readonly tag: string
  /** A legacy layout folder, or a `.tar` archive of one. */
  readonly source: string
  /** The image to push; default: `repositories[name][tag]` of the source. */
  readonly image?: string | undefined
}

/** What {@link pushV1} did. */
export interface PushResult {
  /** Every image of the chain, root first; `pushed` is false when the registry had it. */
  readonly images: ReadonlyArray<{ readonly id: string; readonly pushed: boolean }>
  readonly endpoints: ReadonlyArray<string>
}

/** What {@link pullV1} pulls. */
export interface PullOptions {
  /** Remote name, e.g. `me/app`. */
  readonly name: string
  /** One tag, or every tag when absent. */
  readonly tag?: string | undefined
  /** A folder, or a path ending in `.tar` for an archive. */
  readonly dest: string
}

/** What {@link pullV1} wrote. */
export interface PullResult {
  readonly tags: Readonly<Record<string, string>>
  /** Every image written, root first per tag. */
  readonly images: ReadonlyArray<string>
}

/** Use a layout folder, unpacking an archive into a temporary one first. */
const withSourceFolder = <A, E, R>(source: string, use: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    if (!LegacyLayout.isArchive(source)) return yield* use(source)
    const fs = yield* FileSystem.FileSystem
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "dockside-v1-" })
    yield* LegacyLayout.unpack(source, dir)
    return yield* use(dir)
  }).pipe(Effect.scoped)

/** Push an image chain and its tag (spec §9 "Push"). */
export const pushV1 = Effect.fn("V1Flows.pushV1")(function*(session: V1Session.Service, options: PushOptions) {
  const fs = yield* FileSystem.FileSystem
  const tag = yield* Identifiers.parseTag(options.tag)
  return yield* withSourceFolder(options.source, (dir) =>
    Effect.gen(function*() {
      const topId = options.image ??
        (yield* LegacyLayout.readRepositories(dir))[options.name]?.[tag] ??
        (yield* new Errors.InvalidArgument({
          name: "source",
          value: options.source,
          reason: `the repositories file has no image tagged ${options.name}:${tag}`
        }))
      const top = yield* Identifiers.parseImageId(topId)
      const chain = yield* LegacyLayout.readChain(dir, top)
      const list: Array<V1Wire.ImgData> = chain.map((image) =>
        image.id === top ? { id: image.id, tag } : { id: image.id }
      )
      const { endpoints } = yield* session.pushImageJsonIndex(options.name, list, false)
      const pushed = new Set<string>()
      const checksums = new Map<string, string>()
      for (const registry of endpoints) {
        const present = yield* Effect.forEach(
          chain,
          (image) =>
            Effect.map(
              Effect.either(session.lookupRemoteImage(image.id, registry)),
              (result) => result._tag === "Right"
            ),
          { concurrency: 5 }
        )
        for (const [i, image] of chain.entries()) {
          if (present[i] === true) {
            yield* Progress.publish(Progress.Event.Done({ id: image.id, action: "skipped" }))
            continue
          }
          const stored = yield* session.pushImageJson({ id: image.id }, image.json, registry).pipe(
            Effect.as(true),
            Effect.catchTag("AlreadyExists", () => Effect.succeed(false))
          )
          if (!stored) {
            yield* Progress.publish(Progress.Event.Done({ id: image.id, action: "skipped" }))
            continue
          }
          const path = LegacyLayout.imagePaths(dir, image.id).layer
          const size = yield* Files.regularFileSize(path)
          yield* Progress.publish(Progress.Event.Started({ id: image.id, action: "push", size }))
          const layer = fs.stream(path, { chunkSize: 64 * 1024 }).pipe(counting(image.id, size))
          const sums = yield* asUnit(session.pushImageLayer(image.id, layer, registry, image.json))
          yield* session.pushImageChecksum({
            id: image.id,
            checksum: sums.checksum,
            checksumPayload: sums.checksumPayload
          }, registry)
          checksums.set(image.id, sums.checksum)
          pushed.add(image.id)
          yield* Progress.publish(Progress.Event.Done({ id: image.id, action: "pushed" }))
        }
        yield* session.pushRegistryTag(options.name, top, tag, registry)
      }
      const final = list.map((entry) => {
        const checksum = checksums.get(entry.id)
        return checksum === undefined ? entry : { ...entry, checksum }
      })
      yield* session.pushImageJsonIndex(options.name, final, true, endpoints)
      return {
        images: chain.map((image) => ({ id: image.id, pushed: pushed.has(image.id) })),
        endpoints
      } satisfies PushResult
    }))
})

/** Failures after which a whole transfer (a layer upload, an image download) is worth starting over. */
const isTransient = (error: { readonly _tag: string; readonly status?: number }): boolean =>
  error._tag === "ConnectionFailed" || error._tag === "NetworkTimeout" ||
  (error._tag === "HttpStatusError" && (error.status ?? 0) >= 500)

/** Restart a streamed transfer as a unit after a transient failure (the policies cannot replay it). */
const asUnit = <A, E extends { readonly _tag: string }, R>(transfer: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Retry.asUnit(transfer, (error) => isTransient(error as { readonly _tag: string; readonly status?: number }))

/** Publish the bytes that go by as `Bytes` events. */
const counting = (id: string, size?: number) => <E, R>(stream: Stream.Stream<Uint8Array, E, R>) =>
  Stream.suspend(() => {
    let done = 0
    return Stream.tap(stream, (bytes) => {
      done += bytes.length
      return Progress.publish(Progress.Event.Bytes({ id, done, size }))
    })
  })

/** Pull a repository's tag (or all tags) into a layout folder or archive (spec §9 "Pull"). */
export const pullV1 = Effect.fn("V1Flows.pullV1")(function*(session: V1Session.Service, options: PullOptions) {
  const fs = yield* FileSystem.FileSystem
  const tag = options.tag === undefined ? undefined : yield* Identifiers.parseTag(options.tag)
  const data = yield* session.getRepositoryData(options.name)
  const endpoints = data.endpoints
  const tagged = tag === undefined
    ? yield* session.getRemoteTags(endpoints, options.name)
    : { [tag]: yield* session.getRemoteTag(endpoints, options.name, tag) }
  // Everything from the network is checked before it names a path. `Object.fromEntries`
  // keeps a tag named `__proto__` (an assignment would set the object's prototype instead).
  const checked: Array<readonly [string, Identifiers.ImageId]> = []
  for (const [name, id] of Object.entries(tagged)) {
    checked.push([yield* Identifiers.parseTag(name), yield* Identifiers.parseImageId(id)])
  }
  const tags: Record<string, Identifiers.ImageId> = Object.fromEntries(checked)

  const pullInto = (dir: string) =>
    Effect.gen(function*() {
      yield* fs.makeDirectory(dir, { recursive: true })
      const written = new Set<string>()
      const order: Array<string> = []
      for (const id of new Set(Object.values(tags))) {
        yield* fromFirstRegistry(endpoints, (registry) =>
          Effect.gen(function*() {
            const ancestry = yield* session.getRemoteHistory(id, registry)
            if (ancestry[0] !== id) {
              return yield* new Errors.InvalidDocument({
                what: `ancestry of ${id}`,
                reason: "it does not start with the image"
              })
            }
            for (const ancestor of [...ancestry].reverse()) {
              if (written.has(ancestor)) continue
              yield* asUnit(pullImage(session, dir, ancestor, registry))
              written.add(ancestor)
              order.push(ancestor)
            }
          }))
      }
      const existing = yield* readExisting(dir)
      yield* LegacyLayout.writeRepositories(dir, {
        ...existing,
        [options.name]: { ...existing[options.name], ...tags }
      })
      return { tags, images: order } satisfies PullResult
    })

  if (!LegacyLayout.isArchive(options.dest)) return yield* pullInto(options.dest)
  return yield* Effect.scoped(Effect.gen(function*() {
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "dockside-v1-" })
    const result = yield* pullInto(dir)
    yield* LegacyLayout.pack(dir, options.dest)
    return result
  }))
})

/** The `repositories` file already in a folder, or nothing. */
const readExisting = (dir: string) =>
  LegacyLayout.readRepositories(dir).pipe(
    Effect.catchIf(
      (error) => error._tag === "SystemError" && error.reason === "NotFound",
      () => Effect.succeed<LegacyLayout.Repositories>({})
    )
  )

/** Failures that mean "this registry cannot serve it": the next endpoint is tried. */
const unreachable = new Set(["ConnectionFailed", "NetworkTimeout", "HttpStatusError", "RetriesExhausted"])

/** Run `f` on each registry in order until one succeeds or fails for another reason than reachability. */
const fromFirstRegistry = <A, E extends { readonly _tag: string }, R>(
  registries: ReadonlyArray<string>,
  f: (registry: string) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | Errors.MissingEndpoints, R> =>
  registries.length === 0
    ? Effect.fail(new Errors.MissingEndpoints({ method: "GET", url: "" }))
    : registries.slice(1).reduce<Effect.Effect<A, E | Errors.MissingEndpoints, R>>(
      (previous, registry) =>
        Effect.catchAll(previous, (error) => unreachable.has(error._tag) ? f(registry) : Effect.fail(error)),
      f(registries[0]!)
    )

/**
 * Pull one image: its JSON (retried by the transport's retry policy),
 * checked to name the expected id, then its layer, gunzipped on the way when the
 * registry stored gzip, and verified against `X-Docker-Checksum-Payload` when sent.
 */
const pullImage = (session: V1Session.Service, dir: string, id: Identifiers.ImageId, registry: string) =>
  Effect.gen(function*() {
    // Docker's puller retries this call itself; here the transport's retry policy does.
    const remote = yield* session.getRemoteImageJson(id, registry)
    const image = yield* LegacyLayout.decodeImage(remote.json)
    if (image.id !== id) {
      return yield* new Errors.InvalidDocument({ what: `image JSON of ${id}`, reason: `it names the id ${image.id}` })
    }
    const payload = crypto.createHash("sha256").update(remote.json).update("\n")
    yield* Progress.publish(
      Progress.Event.Started({ id, action: "pull", size: remote.size >= 0 ? remote.size : undefined })
    )
    const raw = session.getRemoteImageLayer(id, registry, remote.size).pipe(
      Stream.tap((bytes) => Effect.sync(() => void payload.update(bytes))),
      counting(id, remote.size >= 0 ? remote.size : undefined)
    )
    const verified = Compression.gunzipIfGzip(raw).pipe(Stream.concat(
      Stream.fromEffect(Effect.suspend(() => {
        const actual = `sha256:${payload.digest("hex")}`
        return remote.checksumPayload === undefined || remote.checksumPayload === actual
          ? Effect.void
          : Effect.fail(new Errors.DigestMismatch({ what: `layer ${id}`, expected: remote.checksumPayload, actual }))
      })).pipe(Stream.drain)
    ))
    yield* LegacyLayout.writeImage(dir, image, verified)
    yield* Progress.publish(Progress.Event.Done({ id, action: "pulled" }))
  }).pipe(Effect.withSpan("V1Flows.pullImage"))
