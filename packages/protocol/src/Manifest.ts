/**
 * Registry v2 / OCI Distribution wire documents: descriptors, the four manifest kinds
 * (Docker schema 2 manifest and manifest list, OCI image manifest and index), schema 1
 * for reading, and the small JSON bodies of the API (errors, tag list, catalog,
 * referrers).
 *
 * Decoding ignores fields it does not know (newer spec versions add some), and keeps
 * only the known ones: a manifest's digest must always be computed on the bytes as
 * received, never on a re-encoding.
 *
 * Bodies are read under the rules of dockside's JSON helper: strict UTF-8, no byte order
 * mark, no `__proto__` key anywhere (so no record, e.g. a schema 1 signature header, can
 * get a foreign prototype), and errors that never quote the body.
 *
 * Names from the network are not all checked while decoding, so that one bad entry does
 * not hide the rest: tag lists and catalogs hold plain strings, and schema 1's `name` and
 * `tag` are kept as written. Callers must check them ({@link validTags},
 * {@link validRepositories}, `Identifiers.parseRepositoryName`, `Identifiers.parseTag`)
 * before building a URL or a path from them.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Errors from "./Errors.js"
import * as Identifiers from "./Identifiers.js"
import * as Json from "./internal/json.js"
import * as MediaType from "./MediaType.js"
import * as Platform from "./Platform.js"

/** An optional field that, when present, holds a value (JSON has no `undefined`). */
const optional = <S extends Schema.Schema.All>(schema: S): Schema.optionalWith<S, { exact: true }> =>
  Schema.optionalWith(schema, { exact: true })

const Annotations = Schema.Record({ key: Schema.String, value: Schema.String })

const isHttpUrl = (url: string): boolean => {
  try {
    const { protocol } = new URL(url)
    return protocol === "http:" || protocol === "https:"
  } catch {
    return false
  }
}

/** A URL a descriptor may point to for its content: only `http:` and `https:` URLs. */
export const DescriptorUrl = Schema.String.pipe(
  Schema.filter((url) => isHttpUrl(url) || "a descriptor URL must be an absolute http: or https: URL"),
  Schema.annotations({ identifier: "DescriptorUrl" })
)

/** A content descriptor: what a blob or manifest is, its digest and size; `urls` are http(s) only. */
export const Descriptor = Schema.Struct({
  mediaType: Schema.String,
  digest: Identifiers.Digest,
  size: Schema.NonNegativeInt,
  urls: optional(Schema.Array(DescriptorUrl)),
  annotations: optional(Annotations),
  platform: optional(Platform.Platform),
  artifactType: optional(Schema.String)
}).annotations({ identifier: "Descriptor" })
/** @see {@link Descriptor} */
export type Descriptor = typeof Descriptor.Type

/** A Docker image manifest, schema 2 (`mediaType` is required by Docker's spec). */
export const DockerManifest = Schema.Struct({
  schemaVersion: Schema.Literal(2),
  mediaType: Schema.Literal(MediaType.DockerManifest),
  config: Descriptor,
  layers: Schema.Array(Descriptor)
}).annotations({ identifier: "DockerManifest" })
/** @see {@link DockerManifest} */
export type DockerManifest = typeof DockerManifest.Type

/** A Docker manifest list: one image manifest per platform. */
export const DockerManifestList = Schema.Struct({
  schemaVersion: Schema.Literal(2),
  mediaType: Schema.Literal(MediaType.DockerManifestList),
  manifests: Schema.Array(Descriptor)
}).annotations({ identifier: "DockerManifestList" })
/** @see {@link DockerManifestList} */
export type DockerManifestList = typeof DockerManifestList.Type

/** An OCI image manifest (`mediaType` may be absent; `subject` and `artifactType` are OCI 1.1). */
export const OciManifest = Schema.Struct({
  schemaVersion: Schema.Literal(2),
  mediaType: optional(Schema.Literal(MediaType.OciManifest)),
  artifactType: optional(Schema.String),
  config: Descriptor,
  layers: Schema.Array(Descriptor),
  subject: optional(Descriptor),
  annotations: optional(Annotations)
}).annotations({ identifier: "OciManifest" })
/** @see {@link OciManifest} */
export type OciManifest = typeof OciManifest.Type

/** An OCI image index (`mediaType` may be absent). Also the body of a referrers response. */
export const OciIndex = Schema.Struct({
  schemaVersion: Schema.Literal(2),
  mediaType: optional(Schema.Literal(MediaType.OciIndex)),
  artifactType: optional(Schema.String),
  manifests: Schema.Array(Descriptor),
  subject: optional(Descriptor),
  annotations: optional(Annotations)
}).annotations({ identifier: "OciIndex" })
/** @see {@link OciIndex} */
export type OciIndex = typeof OciIndex.Type

/** One JWS signature of a signed schema 1 manifest (kept as received, not verified). */
export const Schema1Signature = Schema.Struct({
  header: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  signature: Schema.String,
  protected: Schema.String
}).annotations({ identifier: "Schema1Signature" })
/** @see {@link Schema1Signature} */
export type Schema1Signature = typeof Schema1Signature.Type

/**
 * A Docker schema 1 manifest, for reading old images: layers newest first. `name` and
 * `tag` are kept as written, unchecked: check them with `Identifiers.parseRepositoryName`
 * and `Identifiers.parseTag` before building a URL or a path from them.
 */
export const Schema1Manifest = Schema.Struct({
  schemaVersion: Schema.Literal(1),
  name: Schema.String,
  tag: Schema.String,
  architecture: Schema.String,
  fsLayers: Schema.Array(Schema.Struct({ blobSum: Identifiers.Digest })),
  history: Schema.Array(Schema.Struct({ v1Compatibility: Schema.String })),
  signatures: optional(Schema.Array(Schema1Signature))
}).annotations({ identifier: "Schema1Manifest" })
/** @see {@link Schema1Manifest} */
export type Schema1Manifest = typeof Schema1Manifest.Type

/**
 * A decoded manifest: its kind, the media type it was recognised as, and the document.
 * For an OCI document without a `mediaType` field, `mediaType` is the OCI type it was
 * recognised as.
 */
export type Manifest = Data.TaggedEnum<{
  DockerManifest: { readonly mediaType: string; readonly document: DockerManifest }
  DockerManifestList: { readonly mediaType: string; readonly document: DockerManifestList }
  OciManifest: { readonly mediaType: string; readonly document: OciManifest }
  OciIndex: { readonly mediaType: string; readonly document: OciIndex }
  Schema1: { readonly mediaType: string; readonly document: Schema1Manifest }
}>

/** Constructors, `$is` and `$match` for {@link Manifest}. */
export const Manifest: Data.TaggedEnum.Constructor<Manifest> = Data.taggedEnum<Manifest>()

// ---------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------

const invalid = (what: string, reason: string): Errors.InvalidDocument => new Errors.InvalidDocument({ what, reason })

/** A JSON body that must be an object. */
const parseObject = (what: string, input: Uint8Array | string): Either.Either<object, Errors.InvalidDocument> =>
  Either.flatMap(
    Json.parseDocument(what, input),
    (json) =>
      typeof json === "object" && json !== null && !Array.isArray(json)
        ? Either.right(json)
        : Either.left(invalid(what, "the body is not a JSON object"))
  )

const decoder = <A, I>(
  what: string,
  schema: Schema.Schema<A, I>
): (input: Uint8Array | string) => Effect.Effect<A, Errors.InvalidDocument> => {
  const decode = Json.decodeWith(schema, what)
  return (input) => Either.flatMap(parseObject(what, input), decode)
}

type Kind = Manifest["_tag"]

const kindOfMediaType: Readonly<Record<string, Kind>> = {
  [MediaType.DockerManifest]: "DockerManifest",
  [MediaType.DockerManifestList]: "DockerManifestList",
  [MediaType.OciManifest]: "OciManifest",
  [MediaType.OciIndex]: "OciIndex",
  [MediaType.DockerSchema1Manifest]: "Schema1",
  [MediaType.DockerSchema1SignedManifest]: "Schema1"
}

const knownKind = (mediaType: string): Kind | undefined =>
  Object.hasOwn(kindOfMediaType, mediaType) ? kindOfMediaType[mediaType] : undefined

/** The kind from the `mediaType` field, else the `Content-Type`, else the structure. */
const detect = (
  json: object,
  contentType: string | undefined
): Either.Either<{ readonly kind: Kind; readonly mediaType: string }, Errors.InvalidDocument> => {
  const field = "mediaType" in json ? json.mediaType : undefined
  if (field !== undefined) {
    if (typeof field !== "string") return Either.left(invalid("manifest", "mediaType must be a string"))
    const kind = knownKind(field)
    return kind === undefined
      ? Either.left(invalid("manifest", `unsupported manifest media type "${field}"`))
      : Either.right({ kind, mediaType: field })
  }
  const header = contentType === undefined ? "" : MediaType.essence(contentType)
  const fromHeader = knownKind(header)
  if (fromHeader !== undefined) return Either.right({ kind: fromHeader, mediaType: header })
  if ("manifests" in json) return Either.right({ kind: "OciIndex", mediaType: MediaType.OciIndex })
  if ("layers" in json) return Either.right({ kind: "OciManifest", mediaType: MediaType.OciManifest })
  if ("fsLayers" in json) {
    return Either.right({
      kind: "Schema1",
      mediaType: "signatures" in json ? MediaType.DockerSchema1SignedManifest : MediaType.DockerSchema1Manifest
    })
  }
  return Either.left(
    invalid(
      "manifest",
      "cannot tell the manifest kind: no mediaType field, no manifest Content-Type" +
        (contentType === undefined ? "" : ` (got "${contentType}")`) +
        ", and none of manifests, layers or fsLayers"
    )
  )
}

const decodeDockerManifest = Json.decodeWith(DockerManifest, "Docker schema 2 manifest")
const decodeDockerManifestList = Json.decodeWith(DockerManifestList, "Docker manifest list")
const decodeOciManifest = Json.decodeWith(OciManifest, "OCI image manifest")
const decodeOciIndex = Json.decodeWith(OciIndex, "OCI image index")
const decodeSchema1Manifest = Json.decodeWith(Schema1Manifest, "schema 1 manifest")

const build = (
  json: unknown,
  kind: Kind,
  mediaType: string
): Either.Either<Manifest, Errors.InvalidDocument> => {
  switch (kind) {
    case "DockerManifest":
      return Either.map(
        decodeDockerManifest(json),
        (document) => Manifest.DockerManifest({ mediaType, document })
      )
    case "DockerManifestList":
      return Either.map(
        decodeDockerManifestList(json),
        (document) => Manifest.DockerManifestList({ mediaType, document })
      )
    case "OciManifest":
      return Either.map(
        decodeOciManifest(json),
        (document) => Manifest.OciManifest({ mediaType, document })
      )
    case "OciIndex":
      return Either.map(
        decodeOciIndex(json),
        (document) => Manifest.OciIndex({ mediaType, document })
      )
    case "Schema1":
      return Either.map(
        decodeSchema1Manifest(json),
        (document) => Manifest.Schema1({ mediaType, document })
      )
  }
}

/**
 * Decode manifest bytes. The kind comes from the document's `mediaType` field (it is
 * part of the digested content, so it wins over the header); when the field is absent
 * (allowed by OCI, and always the case for schema 1), from the `Content-Type` if it
 * names a manifest type; otherwise from the structure: `manifests` → OCI index,
 * `layers` → OCI manifest, `fsLayers` → schema 1. Every failure is an
 * {@link Errors.InvalidDocument} saying what is wrong and where.
 */
export const decode = (bytes: Uint8Array, contentType?: string): Effect.Effect<Manifest, Errors.InvalidDocument> =>
  Either.flatMap(
    parseObject("manifest", bytes),
    (json) => Either.flatMap(detect(json, contentType), ({ kind, mediaType }) => build(json, kind, mediaType))
  )

// ---------------------------------------------------------------------------------------
// API bodies
// ---------------------------------------------------------------------------------------

/** One entry of a distribution error body. `detail` is any JSON. */
export const ErrorDetail = Schema.Struct({
  code: Schema.String,
  message: optional(Schema.String),
  detail: optional(Schema.Unknown)
}).annotations({ identifier: "ErrorDetail" })
/** @see {@link ErrorDetail} */
export type ErrorDetail = typeof ErrorDetail.Type

/** The error body of the distribution API: `{"errors":[{"code","message","detail"}]}`. */
export const ErrorBody = Schema.Struct({
  errors: Schema.Array(ErrorDetail)
}).annotations({ identifier: "ErrorBody" })
/** @see {@link ErrorBody} */
export type ErrorBody = typeof ErrorBody.Type

/** Decode an error body. */
export const decodeErrorBody: (input: Uint8Array | string) => Effect.Effect<ErrorBody, Errors.InvalidDocument> =
  decoder("error body", ErrorBody)

const oneLine = (text: string): string => text.replace(/\s+/g, " ").trim()

/**
 * An error body as one line: `CODE: message (detail)` per entry, joined with `; `.
 * A detail that is not a string is shown as compact JSON.
 */
export const formatErrorBody = (body: ErrorBody): string => {
  if (body.errors.length === 0) return "no error details"
  return body.errors
    .map((entry) => {
      const message = entry.message === undefined || oneLine(entry.message) === "" ? "" : `: ${oneLine(entry.message)}`
      const detail = entry.detail === undefined || entry.detail === null
        ? ""
        : ` (${oneLine(typeof entry.detail === "string" ? entry.detail : JSON.stringify(entry.detail))})`
      return `${entry.code}${message}${detail}`
    })
    .join("; ")
}

/**
 * The tag list body, `{"name","tags":[...]}`; `tags` may be `null` or absent (read as
 * `[]`). The tags are plain strings: use {@link validTags} before putting one into a
 * URL or a path.
 */
export const TagList = Schema.Struct({
  name: Schema.String,
  tags: Schema.optionalWith(Schema.Array(Schema.String), { exact: true, nullable: true, default: () => [] })
}).annotations({ identifier: "TagList" })
/** @see {@link TagList} */
export type TagList = typeof TagList.Type

/** Decode a tag list body. */
export const decodeTagList: (input: Uint8Array | string) => Effect.Effect<TagList, Errors.InvalidDocument> = decoder(
  "tag list",
  TagList
)

/**
 * The tags of a tag list that are valid `Identifiers.Tag`s, and the others, each in
 * order: one bad tag does not hide the rest.
 */
export const validTags = (list: TagList): Identifiers.Partition<Identifiers.Tag> =>
  Identifiers.partition(Identifiers.Tag, list.tags)

/**
 * The catalog body, `{"repositories":[...]}`; `null` or absent is read as `[]`. The
 * names are plain strings: use {@link validRepositories} before putting one into a URL
 * or a path.
 */
export const Catalog = Schema.Struct({
  repositories: Schema.optionalWith(Schema.Array(Schema.String), { exact: true, nullable: true, default: () => [] })
}).annotations({ identifier: "Catalog" })
/** @see {@link Catalog} */
export type Catalog = typeof Catalog.Type

/** Decode a catalog body. */
export const decodeCatalog: (input: Uint8Array | string) => Effect.Effect<Catalog, Errors.InvalidDocument> = decoder(
  "catalog",
  Catalog
)

/**
 * The repositories of a catalog that are valid `Identifiers.RepositoryName`s, and the
 * others, each in order: one bad name does not hide the rest.
 */
export const validRepositories = (catalog: Catalog): Identifiers.Partition<Identifiers.RepositoryName> =>
  Identifiers.partition(Identifiers.RepositoryName, catalog.repositories)

/** Decode a referrers response: an OCI index whose entries carry their `artifactType`. */
export const decodeReferrers: (input: Uint8Array | string) => Effect.Effect<OciIndex, Errors.InvalidDocument> = decoder(
  "referrers response",
  OciIndex
)
