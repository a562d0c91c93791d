/**
 * `docker save` output as an OCI image layout, so that it can be pushed to a v2 registry:
 * the `manifest.json` format of Docker ≥ 1.10, the legacy `repositories` format (its v1
 * image JSON chain turned into an image config, as Docker's v1 → v2 migration does), and
 * Docker 25's archives that already are OCI layouts. Layers stay uncompressed
 * (`application/vnd.oci.image.layer.v1.tar`); their digests are computed while they are
 * copied.
 *
 * @since 0.1.0
 */
import * as Errors from "@dockside/protocol/Errors"
import * as Identifiers from "@dockside/protocol/Identifiers"
import type * as Manifest from "@dockside/protocol/Manifest"
import * as MediaType from "@dockside/protocol/MediaType"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as crypto from "node:crypto"
import * as path from "node:path"
import * as Files from "./Files.js"
import * as LegacyLayout from "./LegacyLayout.js"
import * as OciLayout from "./OciLayout.js"

const invalid = (reason: string) => new Errors.InvalidDocument({ what: "docker save archive", reason })

/** The entries of `manifest.json`, one per image. */
const SaveEntries = Schema.Array(Schema.Struct({
  Config: Schema.String,
  RepoTags: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
  Layers: Schema.Array(Schema.String)
}))

const configPath = /^(?:[a-f0-9]{64}\.json|blobs\/sha256\/[a-f0-9]{64})$/
const layerPath = /^(?:[a-f0-9]{64}\/layer\.tar|blobs\/sha256\/[a-f0-9]{64})$/

const parseJson = (bytes: Uint8Array, what: string): Effect.Effect<unknown, Errors.InvalidDocument> =>
  Effect.try({
    try: (): unknown => JSON.parse(Buffer.from(bytes).toString("utf8")),
    catch: () => invalid(`${what} is not JSON`)
  })

/** Copy a file into the layout as a blob, hashing it on the way. */
const addFile = (fs: FileSystem.FileSystem, dir: string, file: string) =>
  Effect.gen(function*() {
    const size = yield* Files.regularFileSize(file)
    const hash = crypto.createHash("sha256")
    yield* Stream.runForEach(fs.stream(file, { chunkSize: 256 * 1024 }), (bytes) =>
      Effect.sync(() => void hash.update(bytes)))
    const digest = Identifiers.Digest.make(`sha256:${hash.digest("hex")}`)
    if (!(yield* OciLayout.hasBlob(dir, digest, size))) {
      yield* OciLayout.writeBlob(dir, { digest, size }, fs.stream(file, { chunkSize: 256 * 1024 }))
    }
    return { digest, size }
  })

/** Write config + layers as an OCI manifest into the layout, named `tag`. */
const writeImage = (
  fs: FileSystem.FileSystem,
  dir: string,
  config: Uint8Array,
  layerFiles: ReadonlyArray<string>,
  tag: string
) =>
  Effect.gen(function*() {
    const written = yield* OciLayout.writeBytes(dir, config)
    const layers: Array<Manifest.Descriptor> = []
    for (const file of layerFiles) {
      const blob = yield* addFile(fs, dir, file)
      layers.push({ mediaType: MediaType.OciLayer, ...blob })
    }
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, ...written },
      layers
    }))
    const top = yield* OciLayout.writeBytes(dir, manifest)
    yield* OciLayout.addToIndex(dir, { mediaType: MediaType.OciManifest, ...top }, Option.some(tag))
  })

/** The v1 fields that are not part of an image config. */
const v1Only = new Set(["id", "parent", "Size", "parent_id", "layer_id", "throwaway", "checksum"])

/**
 * Convert an unpacked `docker save` folder into an OCI layout at `dir`, the image named
 * `name:tag` (or the only one) under the ref name `tag`. Returns the ref name used.
 */
export const toOciLayout = Effect.fn("DockerArchive.toOciLayout")(function*(
  source: string,
  dir: string,
  wanted: { readonly name?: string | undefined; readonly tag: string }
) {
  const fs = yield* FileSystem.FileSystem
  // Docker 25 and later: the archive already is an OCI layout.
  if (yield* fs.exists(path.join(source, "oci-layout"))) return source
  if (yield* fs.exists(path.join(source, "manifest.json"))) {
    const list = yield* Schema.decodeUnknown(SaveEntries)(
      yield* parseJson(yield* Files.readFile(path.join(source, "manifest.json")), "manifest.json")
    ).pipe(Effect.mapError(() => invalid("manifest.json is not a list of {Config, RepoTags, Layers} entries")))
    if (list.length === 0) return yield* invalid("manifest.json lists no image")
    // `RepoTags` are `[registry/]name:tag`; without a name, the tag alone decides.
    const named = (repoTag: string) =>
      wanted.name === undefined
        ? repoTag.endsWith(`:${wanted.tag}`)
        : repoTag === `${wanted.name}:${wanted.tag}` || repoTag.endsWith(`/${wanted.name}:${wanted.tag}`)
    const entry = list.find((e) => (e.RepoTags ?? []).some(named)) ?? (list.length === 1 ? list[0] : undefined)
    if (entry === undefined) return yield* invalid(`manifest.json has no image tagged ${wanted.tag}`)
    if (!configPath.test(entry.Config)) {
      return yield* invalid(`the Config of a manifest.json entry is not a layout path: ${entry.Config}`)
    }
    const bad = entry.Layers.find((layer) => !layerPath.test(layer))
    if (bad !== undefined) return yield* new Errors.UnsafePath({ path: bad })
    const config = yield* Files.readFile(path.join(source, entry.Config))
    yield* writeImage(fs, dir, config, entry.Layers.map((layer) => path.join(source, layer)), wanted.tag)
    return dir
  }
  // The legacy format: build an image config from the v1 JSON chain.
  const repositories = yield* LegacyLayout.readRepositories(source)
  const byName = wanted.name === undefined ? undefined : repositories[wanted.name]?.[wanted.tag]
  const all = Object.values(repositories).flatMap((tags) => Object.values(tags))
  const topId = byName ?? (all.length === 1 ? all[0] : undefined)
  if (topId === undefined) return yield* invalid(`the repositories file has no image tagged ${wanted.tag}`)
  const chain = yield* LegacyLayout.readChain(source, yield* Identifiers.parseImageId(topId))
  const top = yield* parseJson(chain[chain.length - 1]!.json, "image JSON")
  const diffIds: Array<string> = []
  for (const image of chain) {
    const layer = LegacyLayout.imagePaths(source, image.id).layer
    yield* Files.regularFileSize(layer)
    const hash = crypto.createHash("sha256")
    yield* Stream.runForEach(
      fs.stream(layer, { chunkSize: 256 * 1024 }),
      (bytes) => Effect.sync(() => void hash.update(bytes))
    )
    diffIds.push(`sha256:${hash.digest("hex")}`)
  }
  const config = Object.fromEntries(Object.entries(top as Record<string, unknown>).filter(([key]) => !v1Only.has(key)))
  const history = yield* Effect.forEach(chain, (image) =>
    Effect.map(parseJson(image.json, "image JSON"), (json) => {
      const v1 = json as { readonly created?: unknown; readonly container_config?: { readonly Cmd?: unknown } }
      return {
        ...(typeof v1.created === "string" ? { created: v1.created } : {}),
        ...(Array.isArray(v1.container_config?.Cmd) ? { created_by: v1.container_config.Cmd.join(" ") } : {})
      }
    }))
  const bytes = Buffer.from(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    ...config,
    rootfs: { type: "layers", diff_ids: diffIds },
    history
  }))
  yield* writeImage(fs, dir, bytes, chain.map((image) => LegacyLayout.imagePaths(source, image.id).layer), wanted.tag)
  return dir
})

/**
 * Open a push source: an OCI layout folder as it is; a `docker save` folder or `.tar`
 * archive (either format) converted into a temporary OCI layout (removed with the scope).
 * The layout and the ref name to push.
 */
export const openSource = Effect.fn("DockerArchive.openSource")(function*(
  source: string,
  wanted: { readonly name?: string | undefined; readonly tag: string }
) {
  const fs = yield* FileSystem.FileSystem
  const isArchive = LegacyLayout.isArchive(source)
  if (!isArchive && (yield* fs.exists(path.join(source, "oci-layout")))) return source
  let folder = source
  if (isArchive) {
    folder = yield* fs.makeTempDirectoryScoped({ prefix: "dockside-save-" })
    yield* LegacyLayout.unpack(source, folder)
    if (yield* fs.exists(path.join(folder, "oci-layout"))) return folder
  }
  const layout = yield* fs.makeTempDirectoryScoped({ prefix: "dockside-oci-" })
  return yield* toOciLayout(folder, layout, wanted)
})
