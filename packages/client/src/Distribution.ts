/**
 * The OCI Distribution (Docker Registry HTTP API v2) client: ping, manifests, blobs
 * (verified streaming with resume), uploads (monolithic, chunked, cross-repository
 * mounts), paginated tags and catalog, referrers, deletes. Every operation is an `Effect`
 * (or a `Stream`) with typed errors, over the context's `HttpClient` with the v2 auth and
 * redirect policies added.
 *
 * @since 0.1.0
 */
import * as Errors from "@dockside/protocol/Errors"
import * as Identifiers from "@dockside/protocol/Identifiers"
import * as Manifest from "@dockside/protocol/Manifest"
import * as MediaType from "@dockside/protocol/MediaType"
import * as Reference from "@dockside/protocol/Reference"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as crypto from "node:crypto"
import * as Bodies from "./Bodies.js"
import * as HttpErrors from "./HttpErrors.js"
import * as InsecureRegistries from "./InsecureRegistries.js"
import * as Progress from "./Progress.js"
import * as Redirects from "./Redirects.js"
import * as RegistryPolicy from "./RegistryPolicy.js"
import * as SingleFlight from "./SingleFlight.js"
import * as V2Auth from "./V2Auth.js"

/** The largest manifest read or written (4 MiB). */
export const maxManifestSize = 4 * 1024 * 1024

/** A repository on a registry: `registry` as in references (`docker.io`, `host:port`). */
export interface Repository {
  readonly registry: string
  readonly repository: string
}

/** Manifest bytes as the registry holds them. */
export interface ManifestBytes {
  readonly bytes: Uint8Array
  readonly mediaType: string
  /** Computed from the bytes, never taken from a header alone. */
  readonly digest: Identifiers.Digest
}

/** What a registry says about a manifest or blob without sending it. */
export interface Stat {
  readonly digest: Identifiers.Digest
  readonly mediaType: string
  readonly size: number
}

/** A blob to read: its digest and size are checked while it streams. */
export interface BlobRef {
  readonly digest: Identifiers.Digest
  readonly size: number
}

/** Failures of a request to a registry. */
export type RequestError =
  | HttpErrors.TransportError
  | Errors.LoginRequired
  | Errors.NotFound
  | Errors.HttpStatusError
  | Errors.BodyTooLarge

/** How the client reaches registries. */
export interface Options {
  /** Credentials per registry host (e.g. from the Docker config); none means anonymous. */
  readonly credentials?: V2Auth.CredentialsLookup | undefined
  readonly userAgent?: string | undefined
}

/** The v2 operations. */
export interface Service {
  readonly ping: (
    registry: string
  ) => Effect.Effect<{ readonly apiVersion: Option.Option<string>; readonly status: number }, RequestError>
  readonly getManifest: (
    reference: Reference.Reference,
    accept?: ReadonlyArray<string>
  ) => Effect.Effect<ManifestBytes, RequestError | Errors.DigestMismatch | Errors.InvalidArgument>
  readonly headManifest: (
    reference: Reference.Reference
  ) => Effect.Effect<Option.Option<Stat>, RequestError | Errors.InvalidArgument>
  readonly putManifest: (
    repository: Repository,
    reference: string,
    manifest: { readonly bytes: Uint8Array; readonly mediaType: string }
  ) => Effect.Effect<Identifiers.Digest, RequestError | Errors.DigestMismatch | Errors.InvalidArgument>
  readonly deleteManifest: (repository: Repository, digest: Identifiers.Digest) => Effect.Effect<void, RequestError>
  readonly headBlob: (
    repository: Repository,
    digest: Identifiers.Digest
  ) => Effect.Effect<Option.Option<number>, RequestError>
  readonly getBlob: (
    repository: Repository,
    blob: BlobRef
  ) => Stream.Stream<Uint8Array, RequestError | Errors.DigestMismatch | Errors.SizeMismatch | Errors.UnexpectedResponse>
  readonly uploadBlob: <E, R>(
    repository: Repository,
    blob: BlobRef,
    content: Stream.Stream<Uint8Array, E, R>,
    options?: { readonly chunkSize?: number | undefined }
  ) => Effect.Effect<void, E | RequestError | Errors.UnexpectedResponse, R>
  /**
   * A monolithic upload of a prepared body (POST, then one PUT with the digest), such as a
   * file body of `FileBodies`; the upload session is deleted when it fails.
   */
  readonly putBlob: (
    repository: Repository,
    blob: BlobRef,
    body: HttpBody.HttpBody
  ) => Effect.Effect<void, RequestError | Errors.UnexpectedResponse>
  readonly mountBlob: (
    repository: Repository,
    digest: Identifiers.Digest,
    from: string
  ) => Effect.Effect<boolean, RequestError | Errors.UnexpectedResponse>
  readonly deleteBlob: (repository: Repository, digest: Identifiers.Digest) => Effect.Effect<void, RequestError>
  readonly tags: (
    repository: Repository,
    options?: { readonly pageSize?: number | undefined }
  ) => Stream.Stream<string, RequestError | Errors.InvalidDocument | Errors.UnexpectedResponse>
  readonly catalog: (
    registry: string,
    options?: { readonly pageSize?: number | undefined }
  ) => Stream.Stream<string, RequestError | Errors.InvalidDocument | Errors.UnexpectedResponse>
  readonly referrers: (
    repository: Repository,
    digest: Identifiers.Digest,
    options?: { readonly artifactType?: string | undefined }
  ) => Effect.Effect<
    Manifest.OciIndex,
    RequestError | Errors.InvalidDocument | Errors.DigestMismatch | Errors.InvalidArgument
  >
}

/** The v2 client service. */
export class Distribution extends Context.Tag("@dockside/client/Distribution")<Distribution, Service>() {}

type Request = HttpClientRequest.HttpClientRequest
type Response = HttpClientResponse.HttpClientResponse

const at = (request: Request) => ({ method: request.method, url: Errors.redactUrl(request.url) })

const drain = Bodies.discard

const readBody = Bodies.read

/** The start of an error body: the distribution error list when it is one, else text. */
const errorDetail = (response: Response): Effect.Effect<string> =>
  Effect.gen(function*() {
    const parts: Array<Uint8Array> = []
    let size = 0
    yield* Stream.runForEachWhile(response.stream, (bytes) =>
      Effect.sync(() => {
        parts.push(bytes)
        size += bytes.length
        return size < 16384
      })).pipe(Effect.ignore)
    const text = Buffer.concat(parts).subarray(0, 16384)
    const decoded = yield* Effect.either(Manifest.decodeErrorBody(text))
    return Either.isRight(decoded)
      ? Manifest.formatErrorBody(decoded.right)
      : Errors.excerpt(text.toString("utf8").trim())
  })

/** The typed error of an unexpected answer, naming the request as it was sent (scheme, last hop). */
const failure = (response: Response, what: string) =>
  Effect.flatMap(
    errorDetail(response),
    (detail): Effect.Effect<never, Errors.LoginRequired | Errors.NotFound | Errors.HttpStatusError> => {
      if (response.status === 401 || response.status === 403) {
        return Effect.fail(new Errors.LoginRequired({ ...at(response.request), detail }))
      }
      if (response.status === 404) return Effect.fail(new Errors.NotFound({ ...at(response.request), what }))
      return Effect.fail(
        new Errors.HttpStatusError({
          ...at(response.request),
          status: response.status,
          detail: `${what}: HTTP ${response.status}`,
          body: detail
        })
      )
    }
  )

/** The largest `OCI-Chunk-Min-Length` followed beyond the chunk size asked for: 64 MiB. */
const maxChunkMinimum = 64 * 1024 * 1024

/** An index without manifests: no referrers. */
const emptyIndex: Manifest.OciIndex = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] }

const hasher = (digest: Identifiers.Digest) => crypto.createHash(Identifiers.digestAlgorithm(digest))

/** Regroup a byte stream into pieces of exactly `size` bytes, the last one shorter. */
const bytesOf = (size: number) => <E, R>(stream: Stream.Stream<Uint8Array, E, R>): Stream.Stream<Uint8Array, E, R> =>
  Stream.suspend(() => {
    let parts: Array<Uint8Array> = []
    let length = 0
    const full = (bytes: Uint8Array): Array<Uint8Array> => {
      const out: Array<Uint8Array> = []
      let rest = bytes
      while (length + rest.length >= size) {
        const take = size - length
        out.push(Buffer.concat([...parts, rest.subarray(0, take)]))
        parts = []
        length = 0
        rest = rest.subarray(take)
      }
      if (rest.length > 0) {
        parts.push(rest)
        length += rest.length
      }
      return out
    }
    return stream.pipe(
      Stream.mapConcat(full),
      Stream.concat(Stream.suspend(() => length > 0 ? Stream.make(Buffer.concat(parts)) : Stream.empty))
    )
  })

/** The digest of bytes with the algorithm of `like` (sha256 by default). */
export const digestOf = (bytes: Uint8Array, algorithm: Identifiers.DigestAlgorithm = "sha256"): Identifiers.Digest =>
  `${algorithm}:${crypto.createHash(algorithm).update(bytes).digest("hex")}` as Identifiers.Digest

/** Build the client from the context's `HttpClient` (with whatever transport policies it carries). */
export const make = Effect.fn("Distribution.make")(function*(options: Options = {}) {
  const base = yield* HttpClient.HttpClient
  // Insecure registries are the runtime's, as its transport's TLS knows them.
  const registries = yield* InsecureRegistries.InsecureRegistries
  const insecure = (host: string): boolean => InsecureRegistries.isInsecureHost(registries, host)
  const client = base.pipe(
    V2Auth.withV2Auth({ credentials: options.credentials, insecure }),
    Redirects.withRedirects()
  )
  const fixed = options.userAgent === undefined ? {} : { "user-agent": options.userAgent }
  // As Docker does for an insecure registry: https first (its certificate not checked by a
  // runtime that knows the host is insecure), plain http when https cannot be spoken there;
  // asked once per host, also when many requests start together.
  const schemes = new Map<string, "http" | "https">()
  const probing = SingleFlight.make<string, "http" | "https", never>()
  const schemeOf = (host: string): Effect.Effect<"http" | "https"> =>
    Effect.suspend(() => {
      const known = schemes.get(host)
      if (known !== undefined) return Effect.succeed(known)
      if (!insecure(host)) return Effect.succeed("https" as const)
      return probing(host, probe(host))
    })
  const probe = (host: string): Effect.Effect<"http" | "https"> =>
    base.execute(HttpClientRequest.get(`https://${host}/v2/`)).pipe(
      Effect.flatMap((response) => Stream.runDrain(response.stream)),
      Effect.timeout("5 seconds"),
      // One try: a refused handshake is the answer, not a fault to retry.
      Effect.provideService(RegistryPolicy.RegistryPolicy, RegistryPolicy.make({ retry: { attempts: 1 } })),
      Effect.match({ onFailure: () => "http" as const, onSuccess: () => "https" as const }),
      Effect.tap((scheme) => Effect.sync(() => schemes.set(host, scheme)))
    )
  const send = (request: Request): Effect.Effect<Response, HttpErrors.TransportError> =>
    Effect.gen(function*() {
      const url = new URL(request.url)
      const scheme = url.protocol === "https:" ? yield* schemeOf(url.host) : "http"
      const target = scheme === "http" && url.protocol === "https:"
        ? HttpClientRequest.setUrl(request, `http://${url.host}${url.pathname}${url.search}`)
        : request
      return yield* client.execute(HttpClientRequest.setHeaders(target, fixed)).pipe(
        Effect.mapError((error) => HttpErrors.fromHttpClientError(target, error))
      )
    })
  const origin = (registry: string): string => `https://${Reference.apiHost(registry)}`
  const repoUrl = (repository: Repository, path: string): string =>
    `${origin(repository.registry)}/v2/${repository.repository}/${path}`

  const ping = Effect.fn("Distribution.ping")(function*(registry: string) {
    const request = HttpClientRequest.get(`${origin(registry)}/v2/`)
    const response = yield* send(request)
    if (response.status !== 200 && response.status !== 401) {
      return yield* failure(response, `registry ${registry}`)
    }
    yield* drain(response)
    return {
      apiVersion: Option.fromNullable(response.headers["docker-distribution-api-version"]),
      status: response.status
    }
  })

  const manifestTarget = (reference: Reference.Reference): Effect.Effect<string, Errors.InvalidArgument> =>
    reference.digest !== undefined
      ? Effect.succeed(reference.digest)
      : reference.tag !== undefined
      ? Effect.succeed(reference.tag)
      : Effect.fail(
        new Errors.InvalidArgument({
          name: "reference",
          value: Reference.format(reference),
          reason: "it names no tag and no digest"
        })
      )

  const checkDigest = (
    what: string,
    bytes: Uint8Array,
    expected: Identifiers.Digest | undefined,
    announced: string | undefined
  ): Effect.Effect<Identifiers.Digest, Errors.DigestMismatch> => {
    const computed = digestOf(bytes)
    for (const claim of [expected, announced]) {
      if (claim === undefined || !Identifiers.isDigest(claim)) continue
      const actual = digestOf(bytes, Identifiers.digestAlgorithm(claim))
      if (actual !== claim) return Effect.fail(new Errors.DigestMismatch({ what, expected: claim, actual }))
    }
    return Effect.succeed(computed)
  }

  const getManifest = Effect.fn("Distribution.getManifest")(function*(
    reference: Reference.Reference,
    accept: ReadonlyArray<string> = MediaType.manifestAccept
  ) {
    const target = yield* manifestTarget(reference)
    const request = HttpClientRequest.get(repoUrl(reference, `manifests/${target}`), {
      headers: { accept: accept.join(", ") }
    })
    const response = yield* send(request)
    if (response.status !== 200) return yield* failure(response, `manifest ${Reference.format(reference)}`)
    const bytes = yield* readBody(request, response, maxManifestSize)
    const digest = yield* checkDigest(
      `manifest ${Reference.format(reference)}`,
      bytes,
      reference.digest,
      response.headers["docker-content-digest"]
    )
    const mediaType = MediaType.essence(response.headers["content-type"] ?? "")
    return { bytes, mediaType, digest } satisfies ManifestBytes
  })

  const headManifest = Effect.fn("Distribution.headManifest")(function*(reference: Reference.Reference) {
    const target = yield* manifestTarget(reference)
    const request = HttpClientRequest.head(repoUrl(reference, `manifests/${target}`), {
      headers: { accept: MediaType.manifestAcceptHeader }
    })
    const response = yield* send(request)
    yield* drain(response)
    if (response.status === 404) return Option.none<Stat>()
    if (response.status !== 200) return yield* failure(response, `manifest ${Reference.format(reference)}`)
    const digest = response.headers["docker-content-digest"]
    return Option.some({
      digest:
        (digest !== undefined && Identifiers.isDigest(digest) ? digest : reference.digest ?? "") as Identifiers.Digest,
      mediaType: MediaType.essence(response.headers["content-type"] ?? ""),
      size: Number(response.headers["content-length"] ?? -1)
    })
  })

  const putManifest = Effect.fn("Distribution.putManifest")(function*(
    repository: Repository,
    reference: string,
    manifest: { readonly bytes: Uint8Array; readonly mediaType: string }
  ) {
    if (manifest.bytes.length > maxManifestSize) {
      return yield* new Errors.InvalidArgument({
        name: "manifest",
        value: `${manifest.bytes.length} bytes`,
        reason: `a manifest has at most ${maxManifestSize} bytes`
      })
    }
    const digest = digestOf(manifest.bytes)
    if (Identifiers.isDigest(reference) && reference !== digest) {
      return yield* new Errors.DigestMismatch({ what: "manifest to push", expected: reference, actual: digest })
    }
    const request = HttpClientRequest.put(repoUrl(repository, `manifests/${reference}`)).pipe(
      HttpClientRequest.bodyUint8Array(manifest.bytes, manifest.mediaType)
    )
    const response = yield* send(request)
    if (response.status !== 201 && response.status !== 200 && response.status !== 202) {
      return yield* failure(response, `manifest ${repository.repository}:${reference}`)
    }
    yield* drain(response)
    const answered = response.headers["docker-content-digest"]
    if (
      answered !== undefined && Identifiers.isDigest(answered) && Identifiers.digestAlgorithm(answered) === "sha256" &&
      answered !== digest
    ) {
      return yield* new Errors.DigestMismatch({ what: "pushed manifest", expected: digest, actual: answered })
    }
    return digest
  })

  const deleteManifest = Effect.fn("Distribution.deleteManifest")(
    function*(repository: Repository, digest: Identifiers.Digest) {
      const request = HttpClientRequest.del(repoUrl(repository, `manifests/${digest}`))
      const response = yield* send(request)
      if (response.status !== 202 && response.status !== 200 && response.status !== 204) {
        return yield* failure(response, `manifest ${repository.repository}@${digest}`)
      }
      yield* drain(response)
    }
  )

  const headBlob = Effect.fn("Distribution.headBlob")(function*(repository: Repository, digest: Identifiers.Digest) {
    const request = HttpClientRequest.head(repoUrl(repository, `blobs/${digest}`))
    const response = yield* send(request)
    yield* drain(response)
    if (response.status === 404) return Option.none<number>()
    if (response.status !== 200) return yield* failure(response, `blob ${digest}`)
    return Option.some(Number(response.headers["content-length"] ?? -1))
  })

  const getBlob = (repository: Repository, blob: BlobRef) => {
    const url = repoUrl(repository, `blobs/${blob.digest}`)
    const what = `blob ${blob.digest}`
    const first = HttpClientRequest.get(url)
    // The span lasts as long as the stream; it is not provided to every pull (that costs per chunk).
    return Stream.unwrapScoped(Effect.gen(function*() {
      const span = yield* Effect.makeSpanScoped("Distribution.getBlob")
      const policy = yield* RegistryPolicy.RegistryPolicy
      const hash = hasher(blob.digest)
      let received = 0
      let failures = 0
      const tooLong = () => new Errors.SizeMismatch({ what, expected: blob.size, actual: received })
      // One response's body; a dropped connection continues with `Range: bytes=<received>-`.
      const piece = (
        request: Request,
        response: Response
      ): Stream.Stream<Uint8Array, RequestError | Errors.SizeMismatch | Errors.UnexpectedResponse> =>
        response.stream.pipe(
          Stream.mapError((error) => HttpErrors.fromHttpClientError(request, error)),
          // Per chunk of the stream, not per piece: one effect for many buffers.
          Stream.mapChunksEffect((chunk) =>
            Effect.suspend(() => {
              for (const bytes of chunk) {
                received += bytes.length
                if (received > blob.size) return Effect.fail(tooLong())
                hash.update(bytes)
              }
              return Effect.succeed(chunk)
            })
          ),
          Stream.catchAll((error) => {
            const resumable = error._tag === "ConnectionFailed" ||
              (error._tag === "NetworkTimeout" && error.phase === "body")
            failures++
            if (!resumable || failures >= policy.retry.attempts) return Stream.fail(error)
            return Stream.unwrap(
              Effect.gen(function*() {
                yield* Effect.sleep(Duration.times(policy.retry.baseDelay, 2 ** (failures - 1)))
                yield* Progress.publish(
                  Progress.Event.Resumed({ url: Errors.redactUrl(url), offset: received, attempt: failures })
                )
                const next = HttpClientRequest.setHeader(first, "range", `bytes=${received}-`)
                const answer = yield* send(next)
                const range = answer.headers["content-range"]
                if (
                  answer.status !== 206 || range === undefined ||
                  !range.replace(/^bytes /, "").startsWith(`${received}-`)
                ) {
                  yield* drain(answer)
                  return yield* new Errors.UnexpectedResponse({
                    ...at(next),
                    status: answer.status,
                    reason: `asked to resume at byte ${received}, got ${answer.status} ${
                      Errors.excerpt(range ?? "without Content-Range")
                    }`
                  })
                }
                return piece(next, answer)
              }).pipe(Effect.withParentSpan(span))
            )
          })
        )
      const response = yield* send(first).pipe(Effect.withParentSpan(span))
      if (response.status !== 200) return yield* failure(response, what)
      return piece(first, response).pipe(
        Stream.concat(
          Stream.fromEffect(Effect.suspend((): Effect.Effect<void, Errors.SizeMismatch | Errors.DigestMismatch> => {
            if (received !== blob.size) {
              return Effect.fail(new Errors.SizeMismatch({ what, expected: blob.size, actual: received }))
            }
            const actual = `${Identifiers.digestAlgorithm(blob.digest)}:${hash.digest("hex")}`
            return actual === blob.digest
              ? Effect.void
              : Effect.fail(new Errors.DigestMismatch({ what, expected: blob.digest, actual }))
          })).pipe(Stream.drain)
        )
      )
    }))
  }

  /** POST to the uploads of a repository; the response's body is for the caller to read or drain. */
  const startUpload = (repository: Repository, query: string) =>
    Effect.gen(function*() {
      const request = HttpClientRequest.post(repoUrl(repository, `blobs/uploads/${query}`)).pipe(
        HttpClientRequest.setHeader("content-length", "0")
      )
      return { request, response: yield* send(request) }
    })

  const locationOf = (request: Request, response: Response) =>
    Effect.gen(function*() {
      const location = response.headers["location"]
      if (location === undefined) {
        return yield* new Errors.UnexpectedResponse({
          ...at(request),
          status: response.status,
          reason: "no Location header"
        })
      }
      const next = URL.canParse(location, request.url) ? new URL(location, request.url) : undefined
      if (next === undefined || (next.protocol !== "https:" && next.protocol !== "http:")) {
        return yield* new Errors.UnexpectedResponse({
          ...at(request),
          status: response.status,
          reason: `the upload location is not an http(s) URL${next === undefined ? "" : ` (${next.protocol})`}`
        })
      }
      // The blob's bytes go over plain http only to an insecure registry.
      if (next.protocol !== "https:" && !insecure(next.host)) {
        return yield* new Errors.UnexpectedResponse({
          ...at(request),
          status: response.status,
          reason: `the upload location is not https: ${Errors.redactUrl(next.href)}`
        })
      }
      return next
    })

  /**
   * Close an upload session that will not be finished, also when the upload was interrupted
   * (a caller's timeout, a sibling blob's failure): at most a few seconds, errors ignored.
   * It runs in a fiber of its own, interruptible: run as the finalizer of an interrupted
   * upload, it could otherwise be stopped neither by its own timeout nor by the transport
   * policies' timers, which it would wait out.
   */
  const cancel = (location: URL): Effect.Effect<void> =>
    send(HttpClientRequest.del(location)).pipe(
      Effect.flatMap(drain),
      Effect.timeout("5 seconds"),
      Effect.ignore,
      Effect.interruptible,
      Effect.forkDaemon,
      Effect.flatMap(Fiber.join)
    )

  /** Open an upload session: its absolute location and the registry's minimum chunk. */
  const openUpload = (repository: Repository) =>
    Effect.gen(function*() {
      const { request, response } = yield* startUpload(repository, "")
      if (response.status !== 202) return yield* failure(response, `upload to ${repository.repository}`)
      yield* drain(response)
      const location = yield* locationOf(request, response)
      return { location, minimum: Number(response.headers["oci-chunk-min-length"] ?? 0) }
    })

  /** The PUT that completes an upload session with the blob's digest (and its last bytes, if any). */
  const finishUpload = (at: URL, blob: BlobRef, body: Option.Option<HttpBody.HttpBody>) =>
    Effect.gen(function*() {
      const url = new URL(at)
      url.searchParams.set("digest", blob.digest)
      const put = Option.match(body, {
        onNone: () => HttpClientRequest.put(url).pipe(HttpClientRequest.setHeader("content-length", "0")),
        onSome: (bytes) => HttpClientRequest.put(url).pipe(HttpClientRequest.setBody(bytes))
      })
      const answer = yield* send(put)
      if (answer.status !== 201 && answer.status !== 204) return yield* failure(answer, `blob ${blob.digest}`)
      yield* drain(answer)
    })

  const putBlob = Effect.fn("Distribution.putBlob")(function*(
    repository: Repository,
    blob: BlobRef,
    body: HttpBody.HttpBody
  ) {
    const { location } = yield* openUpload(repository)
    yield* finishUpload(location, blob, Option.some(body)).pipe(Effect.onError(() => cancel(location)))
  })

  const uploadBlob = <E, R>(
    repository: Repository,
    blob: BlobRef,
    content: Stream.Stream<Uint8Array, E, R>,
    options: { readonly chunkSize?: number | undefined } = {}
  ): Effect.Effect<void, E | RequestError | Errors.UnexpectedResponse, R> =>
    Effect.gen(function*() {
      const opened = yield* openUpload(repository)
      let location = opened.location
      const monolithic = Effect.gen(function*() {
        const context = yield* Effect.context<R>()
        // A failing content stream only aborts the request: its own error is what the caller gets.
        let broken = Option.none<E>()
        const body = HttpBody.stream(
          Stream.provideContext(content, context).pipe(
            Stream.tapError((error) => Effect.sync(() => void (broken = Option.some(error))))
          ),
          "application/octet-stream",
          blob.size
        )
        yield* finishUpload(location, blob, Option.some(body)).pipe(
          Effect.catchAll((error) => Effect.fail<E | typeof error>(Option.getOrElse(broken, () => error)))
        )
      })
      const upload = options.chunkSize === undefined
        ? monolithic
        : Effect.gen(function*() {
          const minimum = Number.isSafeInteger(opened.minimum) ? opened.minimum : 0
          // A chunk is held in memory until it is sent: the registry's minimum may not exceed a bound.
          const bound = Math.max(options.chunkSize ?? 0, maxChunkMinimum)
          if (minimum > bound) {
            yield* Effect.fail(
              new Errors.UnexpectedResponse({
                method: "POST",
                url: Errors.redactUrl(repoUrl(repository, "blobs/uploads/")),
                status: 202,
                reason: `OCI-Chunk-Min-Length ${minimum} is over the ${bound} bytes a chunk may hold in ` +
                  "memory: upload in one request (no chunkSize), or ask for chunks of at least that minimum"
              })
            )
          }
          // Chunk sizes are in bytes (`Stream.rechunk` would count the stream's elements).
          const size = Math.max(options.chunkSize ?? 0, minimum, 1)
          let offset = 0
          yield* content.pipe(
            bytesOf(size),
            Stream.runForEach((bytes) =>
              Effect.gen(function*() {
                const patch = HttpClientRequest.patch(location).pipe(
                  HttpClientRequest.setHeader("content-range", `${offset}-${offset + bytes.length - 1}`),
                  HttpClientRequest.bodyUint8Array(bytes, "application/octet-stream")
                )
                const answer = yield* send(patch)
                // Some registries answer the last PATCH with 201; both carry the next location.
                if (answer.status !== 202 && answer.status !== 201) {
                  return yield* failure(answer, `upload chunk at ${offset}`)
                }
                yield* drain(answer)
                location = yield* locationOf(patch, answer)
                offset += bytes.length
              })
            )
          )
          yield* finishUpload(location, blob, Option.none())
        })
      yield* upload.pipe(Effect.onError(() => cancel(location)))
    }).pipe(Effect.withSpan("Distribution.uploadBlob"))

  const mountBlob = Effect.fn("Distribution.mountBlob")(function*(
    repository: Repository,
    digest: Identifiers.Digest,
    from: string
  ) {
    const query = `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`
    const { request, response } = yield* startUpload(repository, query)
    if (response.status === 201) return yield* Effect.as(drain(response), true)
    if (response.status === 202) {
      // The registry opened an upload instead: close it, the caller uploads.
      yield* drain(response)
      yield* cancel(yield* locationOf(request, response))
      return false
    }
    return yield* failure(response, `mount of ${digest}`)
  })

  const deleteBlob = Effect.fn("Distribution.deleteBlob")(
    function*(repository: Repository, digest: Identifiers.Digest) {
      const request = HttpClientRequest.del(repoUrl(repository, `blobs/${digest}`))
      const response = yield* send(request)
      if (response.status !== 202 && response.status !== 200 && response.status !== 204) {
        return yield* failure(response, `blob ${digest}`)
      }
      yield* drain(response)
    }
  )

  /** Follow `Link: <…>; rel="next"` pages, which must stay on the same origin. */
  const paginate = <A>(
    firstUrl: string,
    what: string,
    decode: (bytes: Uint8Array) => Effect.Effect<ReadonlyArray<A>, Errors.InvalidDocument>
  ): Stream.Stream<A, RequestError | Errors.InvalidDocument | Errors.UnexpectedResponse> =>
    Stream.suspend(() => {
      // A registry whose links lead back to a page already read would be followed forever.
      const read = new Set<string>()
      return Stream.paginateChunkEffect(firstUrl, (url) =>
        Effect.gen(function*() {
          const request = HttpClientRequest.get(url)
          read.add(new URL(url).href)
          const response = yield* send(request)
          if (response.status !== 200) return yield* failure(response, what)
          const items = Chunk.fromIterable(yield* decode(yield* readBody(request, response, maxManifestSize)))
          const link = /<([^>]+)>\s*;\s*rel="?next"?/.exec(response.headers["link"] ?? "")
          if (link === null) return [items, Option.none<string>()] as const
          const current = new URL(request.url)
          const following = new URL(link[1]!, current)
          // An insecure registry (spoken to over http) may write its own pages as absolute http:// links.
          if (following.protocol === "http:" && following.host === current.host && insecure(current.host)) {
            following.protocol = current.protocol
          }
          if (following.origin !== current.origin) {
            return yield* new Errors.UnexpectedResponse({
              ...at(request),
              status: 200,
              reason: `the next page link leaves the registry: ${Errors.redactUrl(following.href)}`
            })
          }
          if (read.has(following.href)) {
            return yield* new Errors.UnexpectedResponse({
              ...at(request),
              status: 200,
              reason: `the next page link leads back to a page already read: ${Errors.redactUrl(following.href)}`
            })
          }
          return [items, Option.some(following.href)] as const
        }))
    })

  const tags = (repository: Repository, pageOptions: { readonly pageSize?: number | undefined } = {}) =>
    paginate(
      repoUrl(repository, `tags/list${pageOptions.pageSize === undefined ? "" : `?n=${pageOptions.pageSize}`}`),
      `repository ${repository.repository}`,
      (bytes) => Effect.map(Manifest.decodeTagList(bytes), (list) => list.tags)
    ).pipe(Stream.withSpan("Distribution.tags"))

  const catalog = (registry: string, pageOptions: { readonly pageSize?: number | undefined } = {}) =>
    paginate(
      `${origin(registry)}/v2/_catalog${pageOptions.pageSize === undefined ? "" : `?n=${pageOptions.pageSize}`}`,
      `catalog of ${registry}`,
      (bytes) => Effect.map(Manifest.decodeCatalog(bytes), (list) => list.repositories)
    ).pipe(Stream.withSpan("Distribution.catalog"))

  const referrers = Effect.fn("Distribution.referrers")(function*(
    repository: Repository,
    digest: Identifiers.Digest,
    filter: { readonly artifactType?: string | undefined } = {}
  ) {
    const query = filter.artifactType === undefined ? "" : `?artifactType=${encodeURIComponent(filter.artifactType)}`
    const request = HttpClientRequest.get(repoUrl(repository, `referrers/${digest}${query}`), {
      headers: { accept: MediaType.OciIndex }
    })
    // Filtered here too: a registry that ignores `artifactType` (no `OCI-Filters-Applied`) sends them all.
    const filtered = (index: Manifest.OciIndex): Manifest.OciIndex =>
      filter.artifactType === undefined
        ? index
        : { ...index, manifests: index.manifests.filter((m) => m.artifactType === filter.artifactType) }
    const response = yield* send(request)
    if (response.status === 200) {
      return filtered(yield* Manifest.decodeReferrers(yield* readBody(request, response, maxManifestSize)))
    }
    if (response.status !== 404) return yield* failure(response, `referrers of ${digest}`)
    yield* drain(response)
    // No referrers API: the fallback tag `<alg>-<hex>` holds an index of the referrers.
    const tag = `${Identifiers.digestAlgorithm(digest)}-${Identifiers.digestHex(digest)}`
    const reference = new Reference.Reference({
      registry: repository.registry,
      repository: Identifiers.RepositoryName.make(repository.repository),
      tag: Identifiers.Tag.make(tag)
    })
    const fallback = yield* Effect.either(getManifest(reference, [MediaType.OciIndex]))
    if (Either.isLeft(fallback)) {
      if (fallback.left._tag === "NotFound") return emptyIndex
      return yield* Effect.fail(fallback.left)
    }
    return filtered(yield* Manifest.decodeReferrers(fallback.right.bytes))
  })

  return {
    ping,
    getManifest,
    headManifest,
    putManifest,
    deleteManifest,
    headBlob,
    getBlob,
    uploadBlob,
    putBlob,
    mountBlob,
    deleteBlob,
    tags,
    catalog,
    referrers
  } satisfies Service
})

/** The client as a layer. */
export const layer = (options: Options = {}): Layer.Layer<Distribution, never, HttpClient.HttpClient> =>
  Layer.effect(Distribution, make(options))
