/**
 * The in-memory store behind {@link V2Registry}: content-addressed blobs, repositories
 * (links to blobs, manifests, tags), upload sessions, issued tokens, the logs and the
 * fault knobs, with the rules the HTTP handlers and the service's own operations share:
 * names and references, manifest checks, uploads, pagination and referrers.
 *
 * Every change happens inside one synchronous step (an `Effect.sync` or a handler's
 * synchronous part), so on Node's single thread no request sees a half-made change. A
 * step that waited for a body checks afterwards that what it read before still holds.
 *
 * @internal
 */
import type * as Challenge from "@dockside/protocol/Challenge"
import * as Identifiers from "@dockside/protocol/Identifiers"
import * as Manifest from "@dockside/protocol/Manifest"
import * as MediaType from "@dockside/protocol/MediaType"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { createHash, type Hash, randomBytes, randomUUID } from "node:crypto"
import type { LoggedRequest, TokenRequest } from "../V2Registry.js"

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/**
 * The error codes this server answers: the OCI distribution-spec's, plus distribution's
 * `TAG_INVALID` and `PAGINATION_NUMBER_INVALID` and `UNAVAILABLE` / `UNKNOWN` for injected
 * failures.
 */
export type ErrorCode =
  | "BLOB_UNKNOWN"
  | "BLOB_UPLOAD_INVALID"
  | "BLOB_UPLOAD_UNKNOWN"
  | "DIGEST_INVALID"
  | "MANIFEST_BLOB_UNKNOWN"
  | "MANIFEST_INVALID"
  | "MANIFEST_UNKNOWN"
  | "NAME_INVALID"
  | "NAME_UNKNOWN"
  | "SIZE_INVALID"
  | "UNAUTHORIZED"
  | "DENIED"
  | "UNSUPPORTED"
  | "TOOMANYREQUESTS"
  | "TAG_INVALID"
  | "PAGINATION_NUMBER_INVALID"
  | "UNAVAILABLE"
  | "UNKNOWN"

/** One failure, answered as `{"errors":[{"code","message","detail"}]}` with `status` and `headers`. */
export interface ApiError {
  readonly status: number
  readonly code: ErrorCode
  readonly message: string
  readonly detail?: unknown
  readonly headers?: Readonly<Record<string, string>>
}

/** An {@link ApiError}; `detail` is left out of the body when undefined. */
export const apiError = (
  status: number,
  code: ErrorCode,
  message: string,
  detail?: unknown,
  headers?: Readonly<Record<string, string>>
): ApiError => ({
  status,
  code,
  message,
  ...(detail === undefined ? {} : { detail }),
  ...(headers === undefined ? {} : { headers })
})

// ---------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------

/** A stored blob: its bytes as the chunks they arrived in. */
export interface Blob {
  readonly digest: Identifiers.Digest
  readonly chunks: ReadonlyArray<Uint8Array>
  readonly size: number
}

/** A stored manifest: the exact bytes pushed and what the referrers API needs. */
export interface ManifestRecord {
  readonly digest: Identifiers.Digest
  readonly mediaType: string
  readonly bytes: Uint8Array
  /** The `subject` descriptor's digest (OCI 1.1), if any. */
  readonly subject: Identifiers.Digest | undefined
  /** `artifactType`, or for an OCI image manifest without one, its config's media type. */
  readonly artifactType: string | undefined
  readonly annotations: Readonly<Record<string, string>> | undefined
}

/** A repository: the blobs it links to, its manifests by digest and its tags. */
export interface Repository {
  readonly blobs: Set<Identifiers.Digest>
  readonly manifests: Map<Identifiers.Digest, ManifestRecord>
  readonly tags: Map<string, Identifiers.Digest>
}

/** An upload session: the bytes so far and a running SHA-256 over them. */
export interface Upload {
  readonly id: string
  readonly repository: string
  hash: Hash
  readonly chunks: Array<Uint8Array>
  size: number
  /** A chunk shorter than the minimum chunk length was accepted: it had to be the last one. */
  shortChunk: boolean
}

/** A token the server issued: what it grants, until when (Effect clock, ms). */
export interface Token {
  readonly grants: ReadonlyArray<Challenge.Scope>
  readonly expiresAt: number
}

/** The whole mutable state of one server. */
export interface State {
  readonly blobs: Map<Identifiers.Digest, Blob>
  readonly repositories: Map<string, Repository>
  readonly uploads: Map<string, Upload>
  readonly tokens: Map<string, Token>
  /** Refresh token → user name (empty for the anonymous user of an open token server). */
  readonly refreshTokens: Map<string, string>
  readonly log: Array<LoggedRequest>
  readonly tokenLog: Array<TokenRequest>
  /** Key of the HMAC that signs blob redirects. */
  readonly signingKey: Uint8Array
  /** Requests still to answer with `failStatus` and `failHeaders`. */
  failCount: number
  failStatus: number
  failHeaders: Readonly<Record<string, string>>
  /** Blob downloads still to cut after `cutBytes` body bytes. */
  cutCount: number
  cutBytes: number
  /** Blob downloads still to stall after their headers. */
  stallCount: number
  /** Origin blob GETs are redirected to, if any. */
  redirectTo: string | undefined
}

/** An empty store. */
export const empty = (): State => ({
  blobs: new Map(),
  repositories: new Map(),
  uploads: new Map(),
  tokens: new Map(),
  refreshTokens: new Map(),
  log: [],
  tokenLog: [],
  signingKey: randomBytes(32),
  failCount: 0,
  failStatus: 500,
  failHeaders: {},
  cutCount: 0,
  cutBytes: 0,
  stallCount: 0,
  redirectTo: undefined
})

// ---------------------------------------------------------------------------------------
// Names and references
// ---------------------------------------------------------------------------------------

export const isDigest: (value: unknown) => value is Identifiers.Digest = Schema.is(Identifiers.Digest)
const isTag = Schema.is(Identifiers.Tag)

/** Why a repository name is refused, if it is. */
export const nameProblem = (name: string): string | undefined =>
  name.length > Identifiers.maxNameLength
    ? `a repository name has at most ${Identifiers.maxNameLength} characters`
    : Identifiers.checkRepositoryPath(name)

/** A manifest reference from a URL: a tag or a digest. */
export type Reference =
  | { readonly _tag: "Tag"; readonly tag: string }
  | { readonly _tag: "Digest"; readonly digest: Identifiers.Digest }

/** 400 `DIGEST_INVALID` for a value that is not a digest. */
export const invalidDigest = (digest: unknown): ApiError =>
  apiError(400, "DIGEST_INVALID", "provided digest is not a valid digest", { digest })

/** Read a reference: with a `:` it must be a digest (else `DIGEST_INVALID`), otherwise a tag (else `TAG_INVALID`). */
export const parseReference = (reference: string): Either.Either<Reference, ApiError> => {
  if (reference.includes(":")) {
    return isDigest(reference)
      ? Either.right({ _tag: "Digest", digest: reference })
      : Either.left(invalidDigest(reference))
  }
  return isTag(reference)
    ? Either.right({ _tag: "Tag", tag: reference })
    : Either.left(apiError(400, "TAG_INVALID", "manifest tag is not a valid tag", { tag: reference }))
}

// ---------------------------------------------------------------------------------------
// Blobs
// ---------------------------------------------------------------------------------------

/** The repository record, created when missing. */
const repositoryOf = (state: State, name: string): Repository => {
  const existing = state.repositories.get(name)
  if (existing !== undefined) return existing
  const created: Repository = { blobs: new Set(), manifests: new Map(), tags: new Map() }
  state.repositories.set(name, created)
  return created
}

/** The blob, when the repository links to it. */
export const linkedBlob = (state: State, name: string, digest: Identifiers.Digest): Blob | undefined =>
  state.repositories.get(name)?.blobs.has(digest) === true ? state.blobs.get(digest) : undefined

/** Store a blob (unless its digest is known: content-addressed) and link the repository to it. */
export const linkBlob = (state: State, name: string, blob: Blob): void => {
  if (!state.blobs.has(blob.digest)) state.blobs.set(blob.digest, blob)
  repositoryOf(state, name).blobs.add(blob.digest)
}

/** Unlink a blob from a repository; its bytes go when no repository links to them. */
export const unlinkBlob = (state: State, name: string, digest: Identifiers.Digest): boolean => {
  const repository = state.repositories.get(name)
  if (repository === undefined || !repository.blobs.delete(digest)) return false
  const stillLinked = Array.from(state.repositories.values()).some((other) => other.blobs.has(digest))
  if (!stillLinked) state.blobs.delete(digest)
  return true
}

/** The repositories that link to a blob, sorted. */
export const linksOf = (state: State, digest: Identifiers.Digest): ReadonlyArray<string> =>
  Array.from(state.repositories).filter(([, repository]) => repository.blobs.has(digest)).map(([name]) => name).sort()

// ---------------------------------------------------------------------------------------
// Uploads
// ---------------------------------------------------------------------------------------

/** A new upload session; registered only when `register` (a monolithic POST uses one unregistered). */
export const newUpload = (state: State, repository: string, register: boolean): Upload => {
  const upload: Upload = {
    id: randomUUID(),
    repository,
    hash: createHash("sha256"),
    chunks: [],
    size: 0,
    shortChunk: false
  }
  if (register) state.uploads.set(upload.id, upload)
  return upload
}

/** A chunk received onto a copy of an upload's hash, to commit once it is known to be whole. */
export interface Chunk {
  readonly hash: Hash
  readonly chunks: ReadonlyArray<Uint8Array>
  readonly size: number
}

/** Append a received chunk to its upload. */
export const commit = (upload: Upload, chunk: Chunk, minChunkLength: number | undefined): void => {
  upload.hash = chunk.hash
  for (const bytes of chunk.chunks) upload.chunks.push(bytes)
  upload.size += chunk.size
  if (minChunkLength !== undefined && chunk.size < minChunkLength) upload.shortChunk = true
}

/** The upload's `Range` header value: `0-<last byte offset>` (`0-0` when empty, as distribution answers). */
export const uploadRange = (upload: Upload): string => `0-${Math.max(upload.size - 1, 0)}`

/**
 * Finish an upload: its bytes must have `expected` as digest (SHA-256 from the running hash;
 * another algorithm is computed over the stored chunks). The session is closed either way;
 * on success the blob is stored and linked to the session's repository.
 */
export const completeUpload = (
  state: State,
  upload: Upload,
  expected: Identifiers.Digest
): Either.Either<Blob, ApiError> => {
  state.uploads.delete(upload.id)
  const algorithm = Identifiers.digestAlgorithm(expected)
  const hex = algorithm === "sha256"
    ? upload.hash.digest("hex")
    : upload.chunks.reduce((hash, chunk) => hash.update(chunk), createHash(algorithm)).digest("hex")
  const computed = `${algorithm}:${hex}`
  if (computed !== expected) {
    return Either.left(
      apiError(400, "DIGEST_INVALID", "provided digest did not match uploaded content", { expected, computed })
    )
  }
  const blob: Blob = { digest: expected, chunks: upload.chunks, size: upload.size }
  linkBlob(state, upload.repository, blob)
  return Either.right(state.blobs.get(expected) ?? blob)
}

// ---------------------------------------------------------------------------------------
// Manifests
// ---------------------------------------------------------------------------------------

/** The manifest media types a push may use (schema 1 is read-only, as in distribution). */
const pushableMediaTypes: ReadonlyArray<string> = [
  MediaType.OciManifest,
  MediaType.OciIndex,
  MediaType.DockerManifest,
  MediaType.DockerManifestList
]

const invalidManifest = (message: string, detail?: unknown): ApiError =>
  apiError(400, "MANIFEST_INVALID", message, detail)

/** The manifest a repository holds under a reference. */
export const findManifest = (state: State, name: string, reference: Reference): ManifestRecord | undefined => {
  const repository = state.repositories.get(name)
  if (repository === undefined) return undefined
  const digest = reference._tag === "Tag" ? repository.tags.get(reference.tag) : reference.digest
  return digest === undefined ? undefined : repository.manifests.get(digest)
}

/** What a manifest refers to that the repository lacks: a blob, or a child manifest of an index. */
const missingReference = (repository: Repository | undefined, manifest: Manifest.Manifest): ApiError | undefined => {
  switch (manifest._tag) {
    case "DockerManifest":
    case "OciManifest": {
      const { config, layers } = manifest.document
      // a foreign or non-distributable layer with URLs is fetched from them, never pushed
      const local = [config, ...layers].filter((descriptor) => (descriptor.urls ?? []).length === 0)
      const missing = local.find((descriptor) => repository?.blobs.has(descriptor.digest) !== true)
      return missing === undefined
        ? undefined
        : apiError(400, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry", { digest: missing.digest })
    }
    case "DockerManifestList":
    case "OciIndex": {
      const missing = manifest.document.manifests.find((child) => repository?.manifests.has(child.digest) !== true)
      return missing === undefined
        ? undefined
        : apiError(400, "MANIFEST_UNKNOWN", "manifest unknown to registry", { digest: missing.digest })
    }
    case "Schema1":
      return invalidManifest("schema 1 manifests are not accepted")
  }
}

/**
 * Check a manifest push: `Content-Type` is a pushable manifest media type, the body decodes
 * as that kind (a `mediaType` field must say the same), the `expected` digest (a push by
 * digest) matches the bytes, computed with its algorithm, and what the manifest refers to
 * is in the repository: config and layers of an image manifest, the children of an index.
 * The record's digest is that of the exact bytes (SHA-256 unless `expected` says otherwise).
 */
export const checkManifest = (
  state: State,
  name: string,
  bytes: Uint8Array,
  contentType: string | undefined,
  expected: Identifiers.Digest | undefined
): Effect.Effect<ManifestRecord, ApiError> =>
  Effect.gen(function*() {
    const mediaType = contentType === undefined ? "" : MediaType.essence(contentType)
    if (!pushableMediaTypes.includes(mediaType)) {
      return yield* Effect.fail(
        invalidManifest("Content-Type is not a manifest media type this registry accepts", {
          contentType: contentType ?? null,
          accepted: pushableMediaTypes
        })
      )
    }
    const manifest = yield* Effect.mapError(
      Manifest.decode(bytes, mediaType),
      (error) => invalidManifest("manifest invalid", error.message)
    )
    if (manifest.mediaType !== mediaType) {
      return yield* Effect.fail(
        invalidManifest("the manifest's mediaType does not match its Content-Type", {
          contentType: mediaType,
          mediaType: manifest.mediaType
        })
      )
    }
    const algorithm = expected === undefined ? "sha256" : Identifiers.digestAlgorithm(expected)
    const digest = `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}` as Identifiers.Digest
    if (expected !== undefined && expected !== digest) {
      return yield* Effect.fail(
        apiError(400, "DIGEST_INVALID", "provided digest did not match the manifest", {
          expected,
          computed: digest
        })
      )
    }
    const missing = missingReference(state.repositories.get(name), manifest)
    if (missing !== undefined) return yield* Effect.fail(missing)
    const oci = manifest._tag === "OciManifest" || manifest._tag === "OciIndex" ? manifest.document : undefined
    return {
      digest,
      mediaType,
      bytes,
      subject: oci?.subject?.digest,
      artifactType: manifest._tag === "OciManifest"
        ? manifest.document.artifactType ?? manifest.document.config.mediaType
        : oci?.artifactType,
      annotations: oci?.annotations
    }
  })

/** Store a checked manifest, and point `tag` at it when given. */
export const storeManifest = (state: State, name: string, record: ManifestRecord, tag: string | undefined): void => {
  const repository = repositoryOf(state, name)
  repository.manifests.set(record.digest, record)
  if (tag !== undefined) repository.tags.set(tag, record.digest)
}

/** Delete by digest (the manifest and every tag on it) or by tag (the tag only); whether anything went. */
export const deleteManifest = (state: State, name: string, reference: Reference): boolean => {
  const repository = state.repositories.get(name)
  if (repository === undefined) return false
  if (reference._tag === "Tag") return repository.tags.delete(reference.tag)
  if (!repository.manifests.delete(reference.digest)) return false
  for (const [tag, digest] of repository.tags) {
    if (digest === reference.digest) repository.tags.delete(tag)
  }
  return true
}

/** The referrers of `subject` in a repository, as descriptors, optionally of one artifact type. */
export const referrers = (
  state: State,
  name: string,
  subject: Identifiers.Digest,
  artifactType: string | undefined
): ReadonlyArray<Manifest.Descriptor> =>
  Array.from(state.repositories.get(name)?.manifests.values() ?? [])
    .filter((record) => record.subject === subject)
    .filter((record) => artifactType === undefined || record.artifactType === artifactType)
    .map((record) => ({
      mediaType: record.mediaType,
      digest: record.digest,
      size: record.bytes.length,
      ...(record.artifactType === undefined ? {} : { artifactType: record.artifactType }),
      ...(record.annotations === undefined ? {} : { annotations: record.annotations })
    }))

// ---------------------------------------------------------------------------------------
// Pagination
// ---------------------------------------------------------------------------------------

/** One page of a list sorted by code unit: after `last`, at most `n` (all when undefined). */
export const page = (
  names: Iterable<string>,
  n: number | undefined,
  last: string | undefined
): { readonly items: ReadonlyArray<string>; readonly more: boolean } => {
  const after = Array.from(names).sort().filter((item) => last === undefined || item > last)
  return n === undefined ? { items: after, more: false } : { items: after.slice(0, n), more: n > 0 && after.length > n }
}
