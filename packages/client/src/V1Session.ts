/**
 * The Docker Registry v1 session (spec §4): one method per operation of Docker 17.03's
 * `registry.Session`, each an `Effect` with precise typed errors.
 *
 * Registry arguments are base strings ending in `/v1/` (as `X-Docker-Endpoints` lists
 * them); URLs are built by concatenation, as upstream does.
 *
 * @since 0.1.0
 */
import * as Errors from "@dockside/protocol/Errors"
import * as Identifiers from "@dockside/protocol/Identifiers"
import * as TarSum from "@dockside/protocol/TarSum"
import * as V1Endpoint from "@dockside/protocol/V1Endpoint"
import * as V1Wire from "@dockside/protocol/V1Wire"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as crypto from "node:crypto"
import * as Bodies from "./Bodies.js"
import * as HttpErrors from "./HttpErrors.js"
import * as InsecureRegistries from "./InsecureRegistries.js"
import * as Progress from "./Progress.js"
import * as V1Transport from "./V1Transport.js"

// ---------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------

/** Largest JSON document (repository data, tags, ancestry, search results, image JSON) read. */
export const maxDocumentSize = 8 * 1024 * 1024

/** How much of an error body is kept for messages. */
const errorBodyLimit = 4096

type Request = HttpClientRequest.HttpClientRequest
type Response = HttpClientResponse.HttpClientResponse

const at = (request: Request) => ({ method: request.method, url: Errors.redactUrl(request.url) })

const readBody = (request: Request, response: Response, limit = maxDocumentSize) =>
  Bodies.read(request, response, limit)

/** The start of a body, for error messages; reading stops after {@link errorBodyLimit} bytes. */
const bodyExcerpt = (response: Response): Effect.Effect<string> =>
  Effect.gen(function*() {
    const parts: Array<Uint8Array> = []
    let size = 0
    yield* response.stream.pipe(
      Stream.runForEachWhile((bytes) =>
        Effect.sync(() => {
          parts.push(bytes)
          size += bytes.length
          return size < errorBodyLimit
        })
      ),
      Effect.ignore
    )
    return Errors.excerpt(Buffer.concat(parts).subarray(0, errorBodyLimit).toString("utf8"))
  })

const discard = Bodies.discard

const statusError = (request: Request, response: Response, detail: string) =>
  Effect.flatMap(
    bodyExcerpt(response),
    (body) => Effect.fail(new Errors.HttpStatusError({ ...at(request), status: response.status, detail, body }))
  )

const unauthorized = (request: Request, response: Response) =>
  Effect.zipRight(discard(response), Effect.fail(new Errors.LoginRequired({ ...at(request), detail: "" })))

/**
 * Docker's "Image already exists" probe (spec §4.9): the body must decode as a JSON
 * object of string values only, with `error` exactly `Image already exists`.
 */
export const isAlreadyExists = (body: string): boolean => {
  try {
    const value: unknown = JSON.parse(body)
    if (typeof value !== "object" || value === null || Array.isArray(value)) return false
    const entries = Object.entries(value)
    return entries.every(([, v]) => typeof v === "string") &&
      (value as Record<string, unknown>)["error"] === "Image already exists"
  } catch {
    return false
  }
}

// ---------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------

/** How a session connects (spec §3.1). */
export interface Options extends Omit<V1Transport.Options, "alwaysBasic"> {
  /** The index address, in any form of spec §1.1 (`host:port`, `http://host:port`, `https://…/v1/`). */
  readonly index: string
  /** Layer resume after a dropped connection: attempts in all, and the pause before each retry. */
  readonly layerResume?: { readonly attempts?: number; readonly delay?: Duration.DurationInput } | undefined
}

/** What a layer upload computed. */
export interface PushedLayer {
  /** `tarsum+sha256:…` of the layer with the image JSON as extra. */
  readonly checksum: string
  /** `sha256:` + hex of sha256(json ‖ `\n` ‖ the bytes uploaded). */
  readonly checksumPayload: string
}

/** An image's JSON as the registry stores it. */
export interface RemoteImageJson {
  /** The exact bytes (what ids and checksums are computed over). */
  readonly json: Uint8Array
  /** `X-Docker-Size`, or -1 when the registry did not send it. */
  readonly size: number
  /** `X-Docker-Checksum-Payload` (`sha256:` over json + `\n` + the stored layer), when sent. */
  readonly checksumPayload?: string | undefined
}

/** Failures of a request. */
export type TransportError = HttpErrors.TransportError

/** The operations of a v1 session. */
export interface Service {
  /** The index endpoint (`…/v1/`). */
  readonly index: string
  /** The transport's token cache (for inspection, or to preset a token). */
  readonly tokens: Ref.Ref<ReadonlyArray<string>>
  readonly getRepositoryData: (
    name: string
  ) => Effect.Effect<
    V1Wire.RepositoryData,
    | TransportError
    | Errors.LoginRequired
    | Errors.NotFound
    | Errors.HttpStatusError
    | Errors.BodyTooLarge
    | Errors.InvalidDocument
  >
  readonly getRemoteTag: (
    registries: ReadonlyArray<string>,
    name: string,
    tag: string
  ) => Effect.Effect<
    Identifiers.ImageId,
    TransportError | Errors.NotFound | Errors.UnexpectedResponse | Errors.BodyTooLarge | Errors.InvalidDocument
  >
  readonly getRemoteTags: (
    registries: ReadonlyArray<string>,
    name: string
  ) => Effect.Effect<
    V1Wire.TagMap,
    TransportError | Errors.NotFound | Errors.UnexpectedResponse | Errors.BodyTooLarge | Errors.InvalidDocument
  >
  readonly getRemoteHistory: (
    imageId: string,
    registry: string
  ) => Effect.Effect<
    ReadonlyArray<Identifiers.ImageId>,
    TransportError | Errors.LoginRequired | Errors.HttpStatusError | Errors.BodyTooLarge | Errors.InvalidDocument
  >
  readonly lookupRemoteImage: (
    imageId: string,
    registry: string
  ) => Effect.Effect<void, TransportError | Errors.HttpStatusError>
  readonly getRemoteImageJson: (
    imageId: string,
    registry: string
  ) => Effect.Effect<
    RemoteImageJson,
    TransportError | Errors.HttpStatusError | Errors.BodyTooLarge | Errors.UnexpectedResponse
  >
  readonly getRemoteImageLayer: (
    imageId: string,
    registry: string,
    size: number
  ) => Stream.Stream<
    Uint8Array,
    TransportError | Errors.HttpStatusError | Errors.UnexpectedResponse | Errors.SizeMismatch
  >
  readonly pushImageJsonIndex: (
    name: string,
    images: ReadonlyArray<V1Wire.ImgData>,
    validate: boolean,
    registries?: ReadonlyArray<string>
  ) => Effect.Effect<
    V1Wire.RepositoryData,
    | TransportError
    | Errors.LoginRequired
    | Errors.HttpStatusError
    | Errors.MissingEndpoints
    | Errors.UnexpectedResponse
    | Errors.InvalidDocument
  >
  readonly pushImageJson: (
    image: V1Wire.ImgData,
    json: Uint8Array,
    registry: string
  ) => Effect.Effect<void, TransportError | Errors.AlreadyExists | Errors.InsecureAuthRefused | Errors.HttpStatusError>
  readonly pushImageLayer: <E, R>(
    imageId: string,
    layer: Stream.Stream<Uint8Array, E, R>,
    registry: string,
    json: Uint8Array
  ) => Effect.Effect<PushedLayer, E | TransportError | Errors.HttpStatusError | Errors.CorruptArchive, R>
  readonly pushImageChecksum: (
    image: V1Wire.ImgData & { readonly checksumPayload: string },
    registry: string
  ) => Effect.Effect<void, TransportError | Errors.AlreadyExists | Errors.HttpStatusError>
  readonly pushRegistryTag: (
    name: string,
    imageId: string,
    tag: string,
    registry: string
  ) => Effect.Effect<void, TransportError | Errors.HttpStatusError>
  readonly authorizeDelete: (
    name: string
  ) => Effect.Effect<
    ReadonlyArray<string>,
    TransportError | Errors.NotFound | Errors.LoginRequired | Errors.HttpStatusError
  >
  readonly deleteRepositoryTag: (
    name: string,
    tag: string,
    registry: string
  ) => Effect.Effect<void, TransportError | Errors.NotFound | Errors.LoginRequired | Errors.HttpStatusError>
  readonly deleteRepository: (
    name: string,
    registry: string
  ) => Effect.Effect<void, TransportError | Errors.NotFound | Errors.LoginRequired | Errors.HttpStatusError>
  readonly searchRepositories: (
    term: string,
    limit?: number
  ) => Effect.Effect<
    V1Wire.SearchResults,
    TransportError | Errors.InvalidArgument | Errors.HttpStatusError | Errors.BodyTooLarge | Errors.InvalidDocument
  >
}

/** The v1 session service. */
export class V1Session extends Context.Tag("@dockside/client/V1Session")<V1Session, Service>() {}

/** The remote name used by the tag calls: `library/` added when there is no `/` (spec §1.2). */
const tagsRepository = (name: string): string => name.includes("/") ? name : `library/${name}`

/** Ping a v1 endpoint (spec §7.1): any status counts; the official index is never pinged. */
export const ping = Effect.fn("V1Session.ping")(function*(address: string) {
  const endpoint = yield* V1Endpoint.fromAddress(address)
  if (V1Endpoint.isIndexServer(endpoint)) return { version: "", standalone: false } satisfies V1Wire.PingResult
  const client = yield* HttpClient.HttpClient
  const request = HttpClientRequest.get(V1Endpoint.path(endpoint, "_ping"))
  const response = yield* client.execute(request).pipe(
    Effect.mapError((error) => HttpErrors.fromHttpClientError(request, error))
  )
  const body = yield* readBody(request, response, 64 * 1024)
  return V1Wire.pingResult({
    body,
    versionHeader: response.headers["x-docker-registry-version"],
    standaloneHeader: response.headers["x-docker-registry-standalone"]
  })
})

/** Open a session (spec §3.1): a private https index is pinged, and Basic is always sent if it is standalone. */
export const make = Effect.fn("V1Session.make")(function*(options: Options) {
  const endpoint = yield* V1Endpoint.fromAddress(options.index)
  const index = V1Endpoint.format(endpoint)
  // A private https index is pinged (a failure aborts the session, spec §3.1); a standalone
  // one gets Basic on every request when credentials are given.
  const pinged = !V1Endpoint.isIndexServer(endpoint) && V1Endpoint.scheme(endpoint) === "https"
    ? (yield* ping(options.index)).standalone
    : false
  const alwaysBasic = pinged && options.credentials !== undefined
  const transport = yield* V1Transport.make({ ...options, alwaysBasic })
  const resumeAttempts = options.layerResume?.attempts ?? 5
  const resumeDelay = Duration.decode(options.layerResume?.delay ?? "5 seconds")

  const send = (request: Request) => transport.execute(request)

  const getRepositoryData = Effect.fn("V1Session.getRepositoryData")(function*(name: string) {
    const request = HttpClientRequest.get(`${index}repositories/${name}/images`, {
      headers: { "x-docker-token": "true" }
    })
    const response = yield* send(request)
    if (response.status === 401) return yield* unauthorized(request, response)
    if (response.status === 404) {
      yield* discard(response)
      return yield* new Errors.NotFound({ ...at(request), what: `image ${name}` })
    }
    if (response.status !== 200) {
      return yield* statusError(request, response, `Error: Status ${response.status} trying to pull repository ${name}`)
    }
    const header = response.headers["x-docker-endpoints"]
    const endpoints = header !== undefined && header !== ""
      ? V1Endpoint.buildEndpointsList([header], index)
      : [`${V1Endpoint.scheme(endpoint)}://${new URL(request.url).host}/v1/`]
    const images = yield* V1Wire.decodeImgDataList(yield* readBody(request, response))
    return V1Wire.repositoryData(images, endpoints, [])
  })

  /** The loop of GetRemoteTag(s) (spec §4.2): 404 stops, other failures try the next registry. */
  const firstRegistry = <A>(
    registries: ReadonlyArray<string>,
    path: string,
    decode: (body: Uint8Array) => Effect.Effect<A, Errors.InvalidDocument>
  ) =>
    Effect.gen(function*() {
      let last: { request: Request; status: number } | undefined
      for (const registry of registries) {
        const request = HttpClientRequest.get(`${registry}${path}`)
        const response = yield* send(request)
        if (response.status === 404) {
          yield* discard(response)
          return yield* new Errors.NotFound({ ...at(request), what: "Repository" })
        }
        if (response.status === 200) return yield* decode(yield* readBody(request, response))
        yield* discard(response)
        last = { request, status: response.status }
      }
      return yield* new Errors.UnexpectedResponse({
        method: "GET",
        url: last === undefined ? "" : Errors.redactUrl(last.request.url),
        status: last?.status ?? 0,
        reason: "Could not reach any registry endpoint"
      })
    })

  const getRemoteTag = Effect.fn("V1Session.getRemoteTag")(function*(
    registries: ReadonlyArray<string>,
    name: string,
    tag: string
  ) {
    return yield* firstRegistry(registries, `repositories/${tagsRepository(name)}/tags/${tag}`, V1Wire.decodeTagValue)
  })

  const getRemoteTags = Effect.fn("V1Session.getRemoteTags")(
    function*(registries: ReadonlyArray<string>, name: string) {
      return yield* firstRegistry(registries, `repositories/${tagsRepository(name)}/tags`, V1Wire.decodeTagMap)
    }
  )

  const getRemoteHistory = Effect.fn("V1Session.getRemoteHistory")(function*(imageId: string, registry: string) {
    const request = HttpClientRequest.get(`${registry}images/${imageId}/ancestry`)
    const response = yield* send(request)
    if (response.status === 401) return yield* unauthorized(request, response)
    if (response.status !== 200) {
      return yield* statusError(
        request,
        response,
        `Server error: ${response.status} trying to fetch remote history for ${imageId}`
      )
    }
    return yield* V1Wire.decodeAncestry(yield* readBody(request, response))
  })

  const lookupRemoteImage = Effect.fn("V1Session.lookupRemoteImage")(function*(imageId: string, registry: string) {
    const request = HttpClientRequest.get(`${registry}images/${imageId}/json`)
    const response = yield* send(request)
    if (response.status !== 200) return yield* statusError(request, response, `HTTP code ${response.status}`)
    yield* discard(response)
  })

  const getRemoteImageJson = Effect.fn("V1Session.getRemoteImageJson")(function*(imageId: string, registry: string) {
    const request = HttpClientRequest.get(`${registry}images/${imageId}/json`)
    const response = yield* send(request)
    if (response.status !== 200) return yield* statusError(request, response, `HTTP code ${response.status}`)
    const header = response.headers["x-docker-size"]
    if (header !== undefined && !/^[+-]?\d+$/.test(header)) {
      yield* discard(response)
      return yield* new Errors.UnexpectedResponse({
        ...at(request),
        status: response.status,
        reason: `X-Docker-Size is not a number: "${Errors.excerpt(header)}"`
      })
    }
    const json = yield* readBody(request, response)
    return {
      json,
      size: header === undefined ? -1 : Number(header),
      checksumPayload: response.headers["x-docker-checksum-payload"]
    } satisfies RemoteImageJson
  })

  const getRemoteImageLayer = (imageId: string, registry: string, size: number) => {
    const url = `${registry}images/${imageId}/layer`
    const first = HttpClientRequest.get(url)
    const failed = (response: Response) =>
      statusError(first, response, `Server error: Status ${response.status} while fetching image layer (${imageId})`)
    return Stream.unwrap(Effect.gen(function*() {
      const response = yield* send(first)
      if (response.status !== 200) return yield* failed(response)
      const resumable = response.headers["accept-ranges"] === "bytes" && size > 0
      let delivered = 0
      const complete = Stream.suspend(() =>
        size <= 0 || delivered === size
          ? Stream.empty
          : Stream.fail(new Errors.SizeMismatch({ what: `layer ${imageId}`, expected: size, actual: delivered }))
      )
      if (!resumable) {
        // Not resumable: the body as it comes, but still counted against X-Docker-Size when known.
        return response.stream.pipe(
          Stream.mapError((error) => HttpErrors.fromHttpClientError(first, error)),
          Stream.tap((bytes) => Effect.sync(() => void (delivered += bytes.length))),
          Stream.concat(complete)
        )
      }
      let failures = 0
      // Each piece is the body of one response; a dropped connection ends the piece and
      // the next one asks for the rest with `Range: bytes=<delivered>-` (spec §4.7, with
      // the fidelity fix of DESIGN.md: no off-by-one upper bound).
      const piece = (
        current: Response
      ): Stream.Stream<
        Uint8Array,
        TransportError | Errors.HttpStatusError | Errors.UnexpectedResponse | Errors.SizeMismatch
      > =>
        current.stream.pipe(
          Stream.tap((bytes) => Effect.sync(() => void (delivered += bytes.length))),
          Stream.catchAll((error) => {
            // Every byte arrived before the connection dropped: nothing to resume (§4.7 step 4).
            if (delivered === size) return Stream.empty
            failures++
            if (failures >= resumeAttempts) return Stream.fail(HttpErrors.fromHttpClientError(first, error))
            return Stream.unwrap(Effect.gen(function*() {
              yield* Effect.sleep(Duration.times(resumeDelay, failures))
              yield* Progress.publish(
                Progress.Event.Resumed({ url: Errors.redactUrl(url), offset: delivered, attempt: failures })
              )
              const request = HttpClientRequest.setHeader(first, "range", `bytes=${delivered}-`)
              const next = yield* send(request)
              if (next.status !== 206) {
                yield* discard(next)
                return yield* new Errors.UnexpectedResponse({
                  ...at(request),
                  status: next.status,
                  reason: "the server doesn't support byte ranges"
                })
              }
              // The Python registry omits the `bytes ` unit (spec §11.1).
              const range = next.headers["content-range"]?.replace(/^bytes /, "")
              if (range !== undefined && !range.startsWith(`${delivered}-`)) {
                yield* discard(next)
                return yield* new Errors.UnexpectedResponse({
                  ...at(request),
                  status: next.status,
                  reason: `asked for bytes from ${delivered}, got Content-Range "${Errors.excerpt(range)}"`
                })
              }
              return piece(next)
            }))
          })
        )
      return piece(response).pipe(Stream.concat(complete))
    })).pipe(Stream.withSpan("V1Session.getRemoteImageLayer"))
  }

  const pushImageJsonIndex = Effect.fn("V1Session.pushImageJsonIndex")(function*(
    name: string,
    images: ReadonlyArray<V1Wire.ImgData>,
    validate: boolean,
    registries: ReadonlyArray<string> = []
  ) {
    const body = yield* V1Wire.encodeImgDataList(
      validate ? images.filter((image) => image.checksum !== undefined) : images
    )
    const url = `${index}repositories/${name}/${validate ? "images" : ""}`
    const headers: Record<string, string> = { "content-type": "application/json", "x-docker-token": "true" }
    // One X-Docker-Endpoints line per registry would need raw header lines; a comma list
    // is the same header by RFC 7230 and what `buildEndpointsList` splits again.
    if (validate && registries.length > 0) headers["x-docker-endpoints"] = registries.join(", ")
    const request = HttpClientRequest.put(url, { headers }).pipe(HttpClientRequest.bodyText(body, "application/json"))
    // Redirects (spec §4.8's loop) are followed by the redirect policy, with its credential
    // rules; a 3xx it leaves (300, 304, 305, a broken Location) is not an answer to act on.
    const response = yield* send(request)
    if (response.status >= 300 && response.status < 400) {
      yield* discard(response)
      return yield* new Errors.UnexpectedResponse({
        ...at(request),
        status: response.status,
        reason: "a redirect that cannot be followed"
      })
    }
    if (response.status === 401) return yield* unauthorized(request, response)
    if (validate) {
      if (response.status !== 204) {
        return yield* statusError(
          request,
          response,
          `Error: Status ${response.status} trying to push checksums ${name}`
        )
      }
      yield* discard(response)
      return V1Wire.repositoryData([], [], [])
    }
    if (response.status !== 200 && response.status !== 201) {
      return yield* statusError(request, response, `Error: Status ${response.status} trying to push repository ${name}`)
    }
    yield* discard(response)
    const header = response.headers["x-docker-endpoints"]
    if (header === undefined || header.trim() === "") return yield* new Errors.MissingEndpoints(at(request))
    return V1Wire.repositoryData([], V1Endpoint.buildEndpointsList([header], index), yield* Ref.get(transport.tokens))
  })

  /** Non-200 answers of the metadata PUTs: `Image already exists` or a status error. */
  const metadataFailure = (
    request: Request,
    response: Response,
    imageId: string
  ): Effect.Effect<never, Errors.AlreadyExists | Errors.HttpStatusError> =>
    Effect.flatMap(
      bodyExcerpt(response),
      (body): Effect.Effect<never, Errors.AlreadyExists | Errors.HttpStatusError> =>
        isAlreadyExists(body)
          ? Effect.fail(new Errors.AlreadyExists({ ...at(request), what: `image ${imageId}` }))
          : Effect.fail(
            new Errors.HttpStatusError({
              ...at(request),
              status: response.status,
              detail: `HTTP code ${response.status} while uploading metadata`,
              body
            })
          )
    )

  const pushImageJson = Effect.fn("V1Session.pushImageJson")(function*(
    image: V1Wire.ImgData,
    json: Uint8Array,
    registry: string
  ) {
    const request = HttpClientRequest.put(`${registry}images/${image.id}/json`).pipe(
      HttpClientRequest.bodyUint8Array(json, "application/json")
    )
    const response = yield* send(request)
    if (response.status === 200) return yield* discard(response)
    if (response.status === 401 && registry.startsWith("http://")) {
      yield* discard(response)
      return yield* new Errors.InsecureAuthRefused(at(request))
    }
    return yield* metadataFailure(request, response, image.id)
  })

  const pushImageLayer = <E, R>(
    imageId: string,
    layer: Stream.Stream<Uint8Array, E, R>,
    registry: string,
    json: Uint8Array
  ): Effect.Effect<PushedLayer, E | TransportError | Errors.HttpStatusError | Errors.CorruptArchive, R> =>
    Effect.gen(function*() {
      const tarSum = yield* TarSum.make({ gzip: true }).pipe(Effect.orDie) // sha256 is always there
      const payload = crypto.createHash("sha256").update(json).update("\n")
      const context = yield* Effect.context<R>()
      const body = tarSum.passThrough(layer).pipe(
        Stream.tap((bytes) => Effect.sync(() => void payload.update(bytes))),
        Stream.provideContext(context)
      )
      // The body fails with the archive's or the source's own error; keep it to report it.
      let bodyFailure: Option.Option<E | Errors.CorruptArchive> = Option.none()
      const request = HttpClientRequest.put(`${registry}images/${imageId}/layer`).pipe(
        HttpClientRequest.bodyStream(
          body.pipe(Stream.tapError((error) => Effect.sync(() => void (bodyFailure = Option.some(error))))),
          { contentType: "application/octet-stream" }
        )
      )
      const response = yield* send(request).pipe(
        Effect.catchAll((error): Effect.Effect<never, E | Errors.CorruptArchive | TransportError> =>
          Option.match(bodyFailure, {
            onNone: () => Effect.fail(error),
            onSome: (failure) => Effect.fail(failure)
          })
        )
      )
      if (response.status !== 200) {
        return yield* statusError(request, response, `Received HTTP code ${response.status} while uploading layer`)
      }
      yield* discard(response)
      return {
        checksum: tarSum.sum(json),
        checksumPayload: `sha256:${payload.digest("hex")}`
      } satisfies PushedLayer
    }).pipe(Effect.withSpan("V1Session.pushImageLayer"))

  const pushImageChecksum = Effect.fn("V1Session.pushImageChecksum")(function*(
    image: V1Wire.ImgData & { readonly checksumPayload: string },
    registry: string
  ) {
    const request = HttpClientRequest.put(`${registry}images/${image.id}/checksum`, {
      headers: { "x-docker-checksum": image.checksum ?? "", "x-docker-checksum-payload": image.checksumPayload }
    })
    const response = yield* send(request)
    if (response.status === 200) return yield* discard(response)
    return yield* metadataFailure(request, response, image.id)
  })

  const pushRegistryTag = Effect.fn("V1Session.pushRegistryTag")(function*(
    name: string,
    imageId: string,
    tag: string,
    registry: string
  ) {
    const request = HttpClientRequest.put(`${registry}repositories/${name}/tags/${tag}`).pipe(
      HttpClientRequest.bodyText(`"${imageId}"`, "application/json")
    )
    const response = yield* send(request)
    if (response.status === 200 || response.status === 201) return yield* discard(response)
    return yield* statusError(
      request,
      response,
      `Internal server error: ${response.status} trying to push tag ${tag} on ${name}`
    )
  })

  /**
   * The index step before deletes on a registry that issues tokens: `DELETE
   * repositories/{name}/` with `X-Docker-Token: true` answers with a delete token (cached by
   * the transport) and the registry endpoints. A standalone registry needs no such step (and
   * would take this request as the delete itself).
   */
  const authorizeDelete = Effect.fn("V1Session.authorizeDelete")(function*(name: string) {
    const request = HttpClientRequest.del(`${index}repositories/${name}/`, { headers: { "x-docker-token": "true" } })
    const response = yield* send(request)
    if (response.status === 401) return yield* unauthorized(request, response)
    if (response.status === 404) {
      yield* discard(response)
      return yield* new Errors.NotFound({ ...at(request), what: `repository ${name}` })
    }
    if (response.status !== 200 && response.status !== 202 && response.status !== 204) {
      return yield* statusError(
        request,
        response,
        `Error: Status ${response.status} trying to delete repository ${name}`
      )
    }
    yield* discard(response)
    const header = response.headers["x-docker-endpoints"]
    return header !== undefined && header !== ""
      ? V1Endpoint.buildEndpointsList([header], index)
      : [`${V1Endpoint.scheme(endpoint)}://${new URL(request.url).host}/v1/`]
  })

  const deleting = (request: Request, what: string) =>
    Effect.gen(function*() {
      const response = yield* send(request)
      if (response.status === 200 || response.status === 202 || response.status === 204) return yield* discard(response)
      if (response.status === 401) return yield* unauthorized(request, response)
      if (response.status === 404) {
        yield* discard(response)
        return yield* new Errors.NotFound({ ...at(request), what })
      }
      return yield* statusError(request, response, `HTTP code ${response.status} while deleting ${what}`)
    })

  const deleteRepositoryTag = Effect.fn("V1Session.deleteRepositoryTag")(
    function*(name: string, tag: string, registry: string) {
      return yield* deleting(
        HttpClientRequest.del(`${registry}repositories/${tagsRepository(name)}/tags/${tag}`),
        `tag ${tag} of ${name}`
      )
    }
  )

  const deleteRepository = Effect.fn("V1Session.deleteRepository")(function*(name: string, registry: string) {
    return yield* deleting(
      HttpClientRequest.del(`${registry}repositories/${tagsRepository(name)}/`),
      `repository ${name}`
    )
  })

  const searchRepositories = Effect.fn("V1Session.searchRepositories")(function*(
    term: string,
    limit: number = V1Endpoint.defaultSearchLimit
  ) {
    const url = yield* V1Endpoint.searchUrl(endpoint, term, limit)
    const request = HttpClientRequest.get(url, { headers: { "x-docker-token": "true" } })
    const response = yield* send(request)
    if (response.status !== 200) {
      return yield* statusError(request, response, `Unexpected status code ${response.status}`)
    }
    return yield* V1Wire.decodeSearchResults(yield* readBody(request, response))
  })

  return {
    index,
    tokens: transport.tokens,
    getRepositoryData,
    getRemoteTag,
    getRemoteTags,
    getRemoteHistory,
    lookupRemoteImage,
    getRemoteImageJson,
    getRemoteImageLayer,
    pushImageJsonIndex,
    pushImageJson,
    pushImageLayer,
    pushImageChecksum,
    pushRegistryTag,
    authorizeDelete,
    deleteRepositoryTag,
    deleteRepository,
    searchRepositories
  } satisfies Service
})

/** A session as a layer. */
export const layer = (
  options: Options
): Layer.Layer<V1Session, Errors.InvalidEndpoint | TransportError | Errors.BodyTooLarge, HttpClient.HttpClient> =>
  Layer.effect(V1Session, make(options))

// ---------------------------------------------------------------------------------------
// Login (spec §8)
// ---------------------------------------------------------------------------------------

/** How to log in to a v1 registry. */
export interface LoginOptions {
  /** The registry or index address, in any form of spec §1.1. */
  readonly address: string
  readonly username: string
  readonly password: Redacted.Redacted<string>
  /**
   * `login` (Docker 1.11–17.03, the default): `GET users/` with Basic. `register-first`
   * (Docker ≤ 1.10): `POST users/` to create the account, then the login GET when the
   * user exists already or the registry protects `users/`.
   */
  readonly mode?: "login" | "register-first" | undefined
  /** Only for `register-first`. */
  readonly email?: string | undefined
  readonly userAgent?: string | undefined
}

/** What a successful login says. */
export interface LoginResult {
  /** `Login Succeeded`, or `Account created` after a registration. */
  readonly status: string
}

/** Log in (spec §8): the endpoint's plain client with Basic, no session and no token. */
export const login = Effect.fn("V1Session.login")(function*(options: LoginOptions) {
  const client = yield* HttpClient.HttpClient
  const endpoint = yield* V1Endpoint.fromAddress(options.address)
  const server = V1Endpoint.format(endpoint)
  const url = new URL(server)
  if (!V1Transport.mayCarryCredentials(url, yield* InsecureRegistries.InsecureRegistries)) {
    return yield* new Errors.InsecureAuthRefused({ method: "GET", url: `${server}users/` })
  }
  const headers = options.userAgent === undefined ? {} : { "user-agent": options.userAgent }
  const authorization = `Basic ${
    Buffer.from(`${options.username}:${Redacted.value(options.password)}`).toString("base64")
  }`
  const execute = (request: Request) =>
    client.execute(request).pipe(Effect.mapError((error) => HttpErrors.fromHttpClientError(request, error)))

  const get = Effect.gen(function*() {
    const request = HttpClientRequest.get(`${server}users/`, { headers: { ...headers, authorization } })
    const response = yield* execute(request)
    if (response.status === 200) {
      yield* discard(response)
      return { status: "Login Succeeded" } satisfies LoginResult
    }
    if (response.status === 401) {
      yield* discard(response)
      return yield* new Errors.LoginRequired({ ...at(request), detail: "Wrong login/password, please try again" })
    }
    if (response.status === 403) {
      return yield* statusError(
        request,
        response,
        `Login: Account is not active. Please see the documentation of the registry ${server} for instructions how to activate it.`
      )
    }
    if (response.status === 500) return yield* statusError(request, response, "Internal Server Error")
    return yield* statusError(request, response, `Login: (Code: ${response.status})`)
  })
  if (options.mode !== "register-first") return yield* get

  const body = JSON.stringify({
    username: options.username,
    password: Redacted.value(options.password),
    email: options.email ?? ""
  })
  const request = HttpClientRequest.post(`${server}users/`, { headers }).pipe(
    HttpClientRequest.bodyText(body, "application/json; charset=utf-8")
  )
  const response = yield* execute(request)
  if (response.status === 201) {
    yield* discard(response)
    return { status: "Account created" } satisfies LoginResult
  }
  if (response.status === 401) {
    yield* discard(response)
    return yield* get
  }
  if (response.status === 400) {
    const text = Buffer.from(yield* readBody(request, response, 64 * 1024)).toString("utf8")
    if (text.trim() === `"Username or email already exists"`) return yield* get
    return yield* new Errors.HttpStatusError({ ...at(request), status: 400, detail: "Registration", body: text })
  }
  return yield* statusError(request, response, `Unexpected status code [${response.status}]`)
})
