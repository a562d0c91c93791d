/**
 * The HTTP side of {@link V2Registry}: an `HttpRouter` with the OCI distribution-spec's
 * endpoints (and the token endpoint in token mode), wrapped in the request log, the
 * injected failures and the `Docker-Distribution-API-Version` header.
 *
 * Built on `@effect/platform`'s `HttpRouter` served by `@effect/platform-node`. Only the
 * blob faults reach down to Node's response through `NodeHttpServerRequest`: flushing the
 * headers of a stalled download and dropping the TCP connection in the middle of a body.
 *
 * Request bodies are never buffered beyond what is stored: upload bytes are hashed as they
 * arrive and kept as the chunks they came in (they become the blob), a manifest body is
 * read up to the size cap and the rest drained unread.
 *
 * @internal
 */
import * as Challenge from "@dockside/protocol/Challenge"
import * as Identifiers from "@dockside/protocol/Identifiers"
import * as MediaType from "@dockside/protocol/MediaType"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { createHash, createHmac, type Hash } from "node:crypto"
import * as NodeServer from "./nodeServer.js"
import { slice } from "./v1State.js"
import * as Auth from "./v2Auth.js"
import * as State from "./v2State.js"

/** How one server behaves (fixed when it starts). */
export interface Config {
  readonly auth: Auth.Mode
  readonly referrersApi: boolean
  readonly minChunkLength: number | undefined
  readonly maxManifestSize: number
  readonly requestLogLimit: number
}

type Response = HttpServerResponse.HttpServerResponse
type Request = HttpServerRequest.HttpServerRequest

const json = (status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): Response =>
  HttpServerResponse.text(JSON.stringify(body), { status, contentType: "application/json", headers })

const bodiless = (status: number): boolean => status === 204 || status === 205 || status === 304

/** A response without a body; `Content-Length: 0` where a body could be, unless `headers` say otherwise (HEAD). */
const empty = (status: number, headers: Readonly<Record<string, string>> = {}): Response =>
  HttpServerResponse.empty({ status, headers: bodiless(status) ? headers : { "content-length": "0", ...headers } })

/** The distribution error body, `{"errors":[{"code","message","detail"}]}`. */
const failure = (error: State.ApiError): Response =>
  json(
    error.status,
    {
      errors: [{
        code: error.code,
        message: error.message,
        ...(error.detail === undefined ? {} : { detail: error.detail })
      }]
    },
    error.headers
  )

const pathOf = (url: string): string => {
  const query = url.indexOf("?")
  return query === -1 ? url : url.slice(0, query)
}

const searchParams = (request: Request): URLSearchParams => new URL(request.url, "http://localhost").searchParams

const header = (request: Request, name: string): string | undefined => request.headers[name]

/** The body streamed onto `hash`, kept as its chunks; none when the body broke off. */
const receive = (request: Request, hash: Hash): Effect.Effect<Option.Option<State.Chunk>> => {
  const chunks: Array<Uint8Array> = []
  return request.stream.pipe(
    Stream.runFold(0, (size, chunk) => {
      hash.update(chunk)
      chunks.push(chunk)
      return size + chunk.length
    }),
    Effect.map((size): State.Chunk => ({ hash, chunks, size })),
    Effect.option
  )
}

/** The body up to `limit` bytes (the rest is drained unread); `over` when it was longer. */
const receiveCapped = (
  request: Request,
  limit: number
): Effect.Effect<Option.Option<{ readonly bytes: Uint8Array; readonly over: boolean }>> => {
  const chunks: Array<Uint8Array> = []
  return request.stream.pipe(
    Stream.runFold(0, (size, chunk) => {
      if (size + chunk.length <= limit) chunks.push(chunk)
      return size + chunk.length
    }),
    Effect.map((size) => ({ bytes: new Uint8Array(Buffer.concat(chunks)), over: size > limit })),
    Effect.option
  )
}

/** An upload's `Content-Range: start-end` (inclusive; a `bytes ` or `bytes=` prefix is tolerated). */
const parseContentRange = (
  value: string | undefined
): { readonly start: number; readonly end: number } | "malformed" | undefined => {
  if (value === undefined) return undefined
  const match = /^(?:bytes[ =])?(\d+)-(\d+)$/.exec(value.trim())
  if (match === null) return "malformed"
  const start = Number(match[1])
  const end = Number(match[2])
  return end < start ? "malformed" : { start, end }
}

/** Flush the headers, then send nothing more: the response stays open until the client or the server closes it. */
const stall = (request: Request): Stream.Stream<Uint8Array> =>
  Stream.concat(
    Stream.execute(Effect.sync(() => NodeHttpServerRequest.toServerResponse(request).flushHeaders())),
    Stream.never
  )

/** Flush what was sent so far, then destroy the socket: the client sees a dropped connection. */
const dropConnection = (request: Request): Effect.Effect<never> =>
  Effect.async<never>(() => {
    const response = NodeHttpServerRequest.toServerResponse(request)
    response.flushHeaders()
    NodeServer.dropConnection(response)
  })

/** What a method needs on a repository: `pull`; `pull,push`; `delete`. */
const actionsFor = (method: string): ReadonlyArray<string> =>
  method === "GET" || method === "HEAD" ? ["pull"] : method === "DELETE" ? ["delete"] : ["pull", "push"]

/** The repository routes: the part after `/v2/`, matched from the end (a name may contain `/`). */
type Route =
  | { readonly kind: "uploads"; readonly name: string }
  | { readonly kind: "upload"; readonly name: string; readonly id: string }
  | { readonly kind: "blob"; readonly name: string; readonly digest: string }
  | { readonly kind: "manifest"; readonly name: string; readonly reference: string }
  | { readonly kind: "tags"; readonly name: string }
  | { readonly kind: "referrers"; readonly name: string; readonly digest: string }

const parseRoute = (rest: string): Route | undefined => {
  const uploads = /^(.+)\/blobs\/uploads\/?$/.exec(rest)
  if (uploads !== null) return { kind: "uploads", name: uploads[1] }
  const upload = /^(.+)\/blobs\/uploads\/([^/]+)$/.exec(rest)
  if (upload !== null) return { kind: "upload", name: upload[1], id: upload[2] }
  const blob = /^(.+)\/blobs\/([^/]+)$/.exec(rest)
  if (blob !== null) return { kind: "blob", name: blob[1], digest: blob[2] }
  const manifest = /^(.+)\/manifests\/([^/]+)$/.exec(rest)
  if (manifest !== null) return { kind: "manifest", name: manifest[1], reference: manifest[2] }
  const tags = /^(.+)\/tags\/list$/.exec(rest)
  if (tags !== null) return { kind: "tags", name: tags[1] }
  const referrers = /^(.+)\/referrers\/([^/]+)$/.exec(rest)
  if (referrers !== null) return { kind: "referrers", name: referrers[1], digest: referrers[2] }
  return undefined
}

const methodsOf: Readonly<Record<Route["kind"], ReadonlyArray<string>>> = {
  uploads: ["POST"],
  upload: ["GET", "PATCH", "PUT", "DELETE"],
  blob: ["GET", "HEAD", "DELETE"],
  manifest: ["GET", "HEAD", "PUT", "DELETE"],
  tags: ["GET"],
  referrers: ["GET"]
}

/** `n` and `last` of a paginated list; `n` must be a non-negative integer. */
const pagination = (
  params: URLSearchParams
): Either.Either<{ readonly n: number | undefined; readonly last: string | undefined }, State.ApiError> => {
  const n = params.get("n")
  if (n !== null && !/^\d+$/.test(n)) {
    return Either.left(State.apiError(400, "PAGINATION_NUMBER_INVALID", "invalid number of results requested", { n }))
  }
  return Either.right({ n: n === null ? undefined : Number(n), last: params.get("last") ?? undefined })
}

/** A page as JSON, with `Link: <path?n=N&last=T>; rel="next"` when more remain. */
const pageResponse = (
  path: string,
  n: number | undefined,
  page: { readonly items: ReadonlyArray<string>; readonly more: boolean },
  body: (items: ReadonlyArray<string>) => unknown
): Response => {
  const last = page.items[page.items.length - 1]
  const next = page.more && n !== undefined && last !== undefined
    ? { link: `<${path}?${new URLSearchParams({ n: String(n), last }).toString()}>; rel="next"` }
    : {}
  return json(200, body(page.items), next)
}

/** The injected failure's error code. */
const codeOf = (status: number): State.ErrorCode =>
  status === 429
    ? "TOOMANYREQUESTS"
    : status === 503
    ? "UNAVAILABLE"
    : status === 401
    ? "UNAUTHORIZED"
    : status === 403
    ? "DENIED"
    : "UNKNOWN"

/** The server's HTTP application over a store. */
export const makeApp = (state: State.State, config: Config): HttpApp.Default => {
  /** Drop the oldest entries of a log beyond `requestLogLimit`. */
  const bound = (entries: Array<unknown>): void => {
    if (entries.length > config.requestLogLimit) entries.splice(0, entries.length - config.requestLogLimit)
  }

  // ------------------------------------------------------------------------------------
  // Authentication
  // ------------------------------------------------------------------------------------

  const denied = (denial: Auth.Denial): Response =>
    failure(
      State.apiError(
        401,
        "UNAUTHORIZED",
        denial.message,
        denial.scopes.flatMap((scope) =>
          scope.actions.map((action) => ({ Type: scope.type, Name: scope.name, Action: action }))
        ),
        { "www-authenticate": denial.challenge }
      )
    )

  /** The refusal of a request that needs `needed` (see {@link Auth.check}), if refused. */
  const authorize = (
    request: Request,
    needed: ReadonlyArray<Challenge.Scope>,
    asked?: ReadonlyArray<Challenge.Scope>
  ) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      const denial = Auth.check(state, config.auth, header(request, "authorization"), needed, now, asked)
      return denial === undefined ? undefined : denied(denial)
    })

  // ------------------------------------------------------------------------------------
  // Blobs
  // ------------------------------------------------------------------------------------

  const blobHeaders = (blob: State.Blob): Record<string, string> => ({
    "docker-content-digest": blob.digest,
    "accept-ranges": "bytes"
  })

  /** `Location` of a blob on this registry for a redirect target: the same path, signed and expiring. */
  const signedLocation = (target: string, path: string, now: number): string => {
    const expires = String(Math.floor(now / 1000) + 300)
    const signature = createHmac("sha256", state.signingKey).update(`${path}\n${expires}`).digest("hex")
    const query = new URLSearchParams({ "X-Dockside-Expires": expires, "X-Dockside-Signature": signature })
    return `${target}${path}?${query.toString()}`
  }

  const getBlob = (request: Request, name: string, digest: string) =>
    Effect.gen(function*() {
      if (!State.isDigest(digest)) {
        return failure(State.invalidDigest(digest))
      }
      const blob = State.linkedBlob(state, name, digest)
      if (blob === undefined) {
        return failure(State.apiError(404, "BLOB_UNKNOWN", "blob unknown to registry", { digest }))
      }
      if (request.method === "HEAD") {
        return empty(200, {
          ...blobHeaders(blob),
          "content-type": "application/octet-stream",
          "content-length": String(blob.size)
        })
      }
      if (state.redirectTo !== undefined) {
        const now = yield* Clock.currentTimeMillis
        return empty(307, { location: signedLocation(state.redirectTo, pathOf(request.url), now) })
      }
      const range = NodeServer.parseRange(header(request, "range"), blob.size)
      if (range === "unsatisfiable") {
        return empty(416, { ...blobHeaders(blob), "content-range": `bytes */${blob.size}` })
      }
      const { end, start } = range ?? { start: 0, end: blob.size - 1 }
      const length = end - start + 1
      const headers = {
        ...blobHeaders(blob),
        "content-length": String(length),
        ...(range === undefined ? {} : { "content-range": `bytes ${start}-${end}/${blob.size}` })
      }
      const options = { status: range === undefined ? 200 : 206, contentType: "application/octet-stream", headers }
      if (state.stallCount > 0) {
        state.stallCount -= 1
        return HttpServerResponse.stream(stall(request), options)
      }
      const cut = state.cutCount > 0 ? state.cutBytes : undefined
      if (cut !== undefined) state.cutCount -= 1
      const bytes = Stream.fromIterable(slice(blob.chunks, start, start + Math.min(cut ?? length, length)))
      return HttpServerResponse.stream(
        cut === undefined ? bytes : Stream.concat(bytes, Stream.fromEffect(dropConnection(request))),
        options
      )
    })

  const deleteBlob = (name: string, digest: string): Response => {
    if (!State.isDigest(digest)) {
      return failure(State.invalidDigest(digest))
    }
    return State.unlinkBlob(state, name, digest)
      ? empty(202, { "docker-content-digest": digest })
      : failure(State.apiError(404, "BLOB_UNKNOWN", "blob unknown to registry", { digest }))
  }

  // ------------------------------------------------------------------------------------
  // Uploads
  // ------------------------------------------------------------------------------------

  const uploadLocation = (upload: State.Upload): string => `/v2/${upload.repository}/blobs/uploads/${upload.id}`

  const uploadHeaders = (upload: State.Upload): Record<string, string> => ({
    location: uploadLocation(upload),
    range: State.uploadRange(upload),
    "docker-upload-uuid": upload.id
  })

  const created = (name: string, blob: State.Blob): Response =>
    empty(201, { location: `/v2/${name}/blobs/${blob.digest}`, "docker-content-digest": blob.digest })

  const uploadUnknown = (id: string): Response =>
    failure(State.apiError(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", { uuid: id }))

  const rangeRefused = (upload: State.Upload, message: string): Response =>
    failure(State.apiError(416, "BLOB_UPLOAD_INVALID", message, { range: State.uploadRange(upload) }, {
      ...uploadHeaders(upload)
    }))

  const digestParam = (request: Request): Either.Either<Identifiers.Digest, State.ApiError> => {
    const digest = searchParams(request).get("digest")
    return State.isDigest(digest)
      ? Either.right(digest)
      : Either.left(State.invalidDigest(digest))
  }

  /**
   * Receive one chunk onto an upload: `Content-Range` (when sent) must start where the upload
   * ends and span the bytes sent; after a chunk shorter than the minimum chunk length, no
   * other chunk may come. Committed only when whole and nothing else changed the upload.
   */
  const receiveChunk = (request: Request, upload: State.Upload) =>
    Effect.gen(function*() {
      const range = parseContentRange(header(request, "content-range"))
      if (range === "malformed") {
        return failure(
          State.apiError(400, "BLOB_UPLOAD_INVALID", "Content-Range must be <start>-<end>", {
            contentRange: header(request, "content-range")
          })
        )
      }
      if (range !== undefined && range.start !== upload.size) {
        return rangeRefused(upload, `the chunk must start at byte ${upload.size}`)
      }
      const sizeBefore = upload.size
      const received = yield* receive(request, upload.hash.copy())
      if (Option.isNone(received)) {
        return failure(State.apiError(400, "BLOB_UPLOAD_INVALID", "the chunk's body broke off"))
      }
      const chunk = received.value
      if (state.uploads.get(upload.id) !== upload) return uploadUnknown(upload.id)
      if (upload.size !== sizeBefore) return rangeRefused(upload, "another chunk was written meanwhile")
      if (range !== undefined && chunk.size !== range.end - range.start + 1) {
        return rangeRefused(upload, `Content-Range announced ${range.end - range.start + 1} bytes, got ${chunk.size}`)
      }
      if (upload.shortChunk && chunk.size > 0) {
        return rangeRefused(
          upload,
          `a chunk shorter than OCI-Chunk-Min-Length (${config.minChunkLength}) was sent, so it had to be the last`
        )
      }
      State.commit(upload, chunk, config.minChunkLength)
      return undefined
    })

  const startUpload = (request: Request, name: string) =>
    Effect.gen(function*() {
      const params = searchParams(request)
      const mount = params.get("mount")
      const from = params.get("from")
      if (mount !== null) {
        if (!State.isDigest(mount)) {
          return failure(State.invalidDigest(mount))
        }
        const now = yield* Clock.currentTimeMillis
        const source = from === null || State.nameProblem(from) !== undefined
          ? undefined
          : State.linkedBlob(state, from, mount)
        if (
          from !== null && source !== undefined &&
          Auth.mayPull(state, config.auth, header(request, "authorization"), from, now)
        ) {
          State.linkBlob(state, name, source)
          return created(name, source)
        }
      } else if (params.has("digest")) {
        const digest = digestParam(request)
        if (Either.isLeft(digest)) return failure(digest.left)
        const upload = State.newUpload(state, name, false)
        const received = yield* receive(request, createHash("sha256"))
        if (Option.isNone(received)) return failure(State.apiError(400, "BLOB_UPLOAD_INVALID", "the body broke off"))
        State.commit(upload, received.value, undefined)
        return Either.match(State.completeUpload(state, upload, digest.right), {
          onLeft: failure,
          onRight: (blob) => created(name, blob)
        })
      }
      const upload = State.newUpload(state, name, true)
      return empty(202, {
        ...uploadHeaders(upload),
        ...(config.minChunkLength === undefined ? {} : { "oci-chunk-min-length": String(config.minChunkLength) })
      })
    })

  const patchUpload = (request: Request, upload: State.Upload) =>
    Effect.map(receiveChunk(request, upload), (refused) => refused ?? empty(202, uploadHeaders(upload)))

  const putUpload = (request: Request, upload: State.Upload) =>
    Effect.gen(function*() {
      const digest = digestParam(request)
      if (Either.isLeft(digest)) return failure(digest.left)
      const refused = yield* receiveChunk(request, upload)
      if (refused !== undefined) return refused
      return Either.match(State.completeUpload(state, upload, digest.right), {
        onLeft: failure,
        onRight: (blob) => created(upload.repository, blob)
      })
    })

  const uploadRoute = (request: Request, name: string, id: string) => {
    const upload = state.uploads.get(id)
    if (upload === undefined || upload.repository !== name) return Effect.succeed(uploadUnknown(id))
    switch (request.method) {
      case "PATCH":
        return patchUpload(request, upload)
      case "PUT":
        return putUpload(request, upload)
      case "DELETE":
        state.uploads.delete(id)
        return Effect.succeed(empty(204))
      default:
        return Effect.succeed(empty(204, uploadHeaders(upload)))
    }
  }

  // ------------------------------------------------------------------------------------
  // Manifests, tags, referrers
  // ------------------------------------------------------------------------------------

  const getManifest = (name: string, reference: State.Reference): Response => {
    const record = State.findManifest(state, name, reference)
    if (record === undefined) {
      return failure(State.apiError(404, "MANIFEST_UNKNOWN", "manifest unknown to registry", reference))
    }
    return HttpServerResponse.uint8Array(record.bytes, {
      contentType: record.mediaType,
      headers: { "docker-content-digest": record.digest, "content-length": String(record.bytes.length) }
    })
  }

  const putManifest = (request: Request, name: string, reference: State.Reference) =>
    Effect.gen(function*() {
      const body = yield* receiveCapped(request, config.maxManifestSize)
      if (Option.isNone(body)) return failure(State.apiError(400, "MANIFEST_INVALID", "the body broke off"))
      if (body.value.over) {
        return failure(
          State.apiError(413, "MANIFEST_INVALID", `a manifest has at most ${config.maxManifestSize} bytes`)
        )
      }
      const checked = yield* Effect.either(
        State.checkManifest(
          state,
          name,
          body.value.bytes,
          header(request, "content-type"),
          reference._tag === "Digest" ? reference.digest : undefined
        )
      )
      if (Either.isLeft(checked)) return failure(checked.left)
      const record = checked.right
      State.storeManifest(state, name, record, reference._tag === "Tag" ? reference.tag : undefined)
      return empty(201, {
        location: `/v2/${name}/manifests/${record.digest}`,
        "docker-content-digest": record.digest,
        ...(record.subject === undefined ? {} : { "oci-subject": record.subject })
      })
    })

  const manifestRoute = (request: Request, name: string, raw: string) => {
    const reference = State.parseReference(raw)
    if (Either.isLeft(reference)) return Effect.succeed(failure(reference.left))
    switch (request.method) {
      case "PUT":
        return putManifest(request, name, reference.right)
      case "DELETE":
        return Effect.succeed(
          State.deleteManifest(state, name, reference.right)
            ? empty(202)
            : failure(State.apiError(404, "MANIFEST_UNKNOWN", "manifest unknown to registry", reference.right))
        )
      default:
        return Effect.succeed(getManifest(name, reference.right))
    }
  }

  const tagsList = (request: Request, name: string): Response => {
    const repository = state.repositories.get(name)
    if (repository === undefined) {
      return failure(State.apiError(404, "NAME_UNKNOWN", "repository name not known to registry", { name }))
    }
    const paging = pagination(searchParams(request))
    if (Either.isLeft(paging)) return failure(paging.left)
    const { last, n } = paging.right
    return pageResponse(`/v2/${name}/tags/list`, n, State.page(repository.tags.keys(), n, last), (tags) => ({
      name,
      tags
    }))
  }

  const referrersList = (request: Request, name: string, digest: string): Response => {
    if (!State.isDigest(digest)) {
      return failure(State.invalidDigest(digest))
    }
    const artifactType = searchParams(request).get("artifactType") ?? undefined
    const index = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: State.referrers(state, name, digest, artifactType)
    }
    return HttpServerResponse.text(JSON.stringify(index), {
      contentType: MediaType.OciIndex,
      headers: artifactType === undefined ? {} : { "oci-filters-applied": "artifactType" }
    })
  }

  // ------------------------------------------------------------------------------------
  // Dispatch
  // ------------------------------------------------------------------------------------

  const notFound = failure(State.apiError(404, "UNSUPPORTED", "no such endpoint"))

  const repositoryRoutes = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const params = yield* HttpRouter.params
    const route = parseRoute(params["*"] ?? "")
    if (route === undefined || (route.kind === "referrers" && !config.referrersApi)) return notFound
    if (!methodsOf[route.kind].includes(request.method)) {
      return failure(State.apiError(405, "UNSUPPORTED", `${request.method} is not supported here`))
    }
    const problem = State.nameProblem(route.name)
    if (problem !== undefined) {
      return failure(State.apiError(400, "NAME_INVALID", "invalid repository name", { name: route.name, problem }))
    }
    // a mount also asks for `pull` on its source, without requiring it (no pull: a plain upload)
    const query = searchParams(request)
    const source = route.kind === "uploads" && query.has("mount") ? query.get("from") : null
    const refused = yield* authorize(
      request,
      [Challenge.repositoryScope(route.name, actionsFor(request.method))],
      source === null ? [] : [Challenge.repositoryScope(source, ["pull"])]
    )
    if (refused !== undefined) return refused
    switch (route.kind) {
      case "uploads":
        return yield* startUpload(request, route.name)
      case "upload":
        return yield* uploadRoute(request, route.name, route.id)
      case "blob":
        return request.method === "DELETE"
          ? deleteBlob(route.name, route.digest)
          : yield* getBlob(request, route.name, route.digest)
      case "manifest":
        return yield* manifestRoute(request, route.name, route.reference)
      case "tags":
        return tagsList(request, route.name)
      case "referrers":
        return referrersList(request, route.name, route.digest)
    }
  })

  const ping = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    return (yield* authorize(request, [])) ?? json(200, {})
  })

  const catalog = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const refused = yield* authorize(request, [{ type: "registry", name: "catalog", actions: ["*"] }])
    if (refused !== undefined) return refused
    const paging = pagination(searchParams(request))
    if (Either.isLeft(paging)) return failure(paging.left)
    const { last, n } = paging.right
    return pageResponse("/v2/_catalog", n, State.page(state.repositories.keys(), n, last), (repositories) => ({
      repositories
    }))
  })

  const token = (mode: Auth.TokenMode) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const method = request.method === "POST" ? "POST" : "GET"
      let params = searchParams(request)
      if (method === "POST") {
        const form = yield* receiveCapped(request, 64 * 1024)
        if (Option.isNone(form) || form.value.over) {
          return json(400, { error: "invalid_request", error_description: "the form could not be read" })
        }
        params = new URLSearchParams(Buffer.from(form.value.bytes).toString("utf8"))
      }
      const now = yield* Clock.currentTimeMillis
      const answer = yield* Auth.answer(state, mode, method, params, header(request, "authorization"), now)
      state.tokenLog.push(answer.entry)
      bound(state.tokenLog)
      return json(answer.status, answer.body)
    })

  const base = HttpRouter.empty.pipe(
    // find-my-way ignores a trailing slash: this also serves `/v2/`; HEAD falls back to GET routes
    HttpRouter.get("/v2", ping),
    HttpRouter.get("/v2/_catalog", catalog),
    HttpRouter.all("/v2/*", repositoryRoutes)
  )
  const auth = config.auth
  const router = auth._tag === "Token"
    ? base.pipe(HttpRouter.get("/token", token(auth)), HttpRouter.post("/token", token(auth)))
    : base

  // ------------------------------------------------------------------------------------
  // Log, injected failures, common headers
  // ------------------------------------------------------------------------------------

  const log = (request: Request): void => {
    state.log.push({
      method: request.method,
      url: request.url,
      path: pathOf(request.url),
      headers: { ...request.headers }
    })
    bound(state.log)
  }

  const injectedFailure = (): Response | undefined => {
    if (state.failCount === 0) return undefined
    state.failCount -= 1
    const { failHeaders, failStatus } = state
    return bodiless(failStatus)
      ? empty(failStatus, failHeaders)
      : failure(State.apiError(failStatus, codeOf(failStatus), "injected failure", undefined, failHeaders))
  }

  return Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    log(request)
    const response = injectedFailure() ?? (yield* Effect.catchAll(router, () => Effect.succeed(notFound)))
    return HttpServerResponse.setHeader(response, "docker-distribution-api-version", "registry/2.0")
  })
}
