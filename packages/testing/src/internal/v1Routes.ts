/**
 * The HTTP side of {@link V1Registry}: an `HttpRouter` with the routes of spec
 * `v1-protocol.md` §10 and §11, wrapped in the request log, the fault knobs and the
 * common response headers.
 *
 * Built on `@effect/platform`'s `HttpRouter` served by `@effect/platform-node`. Two things
 * the platform types do not carry go through `NodeHttpServerRequest` to Node itself:
 * dropping the TCP connection in the middle of a layer body (`toServerResponse(…).socket`)
 * and the raw request header lines for the log (`toIncomingMessage(…).rawHeaders`).
 *
 * @internal
 */
import * as Identifiers from "@dockside/protocol/Identifiers"
import * as V1Wire from "@dockside/protocol/V1Wire"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as NodeServer from "./nodeServer.js"
import * as State from "./v1State.js"

/** How one server behaves (fixed when it starts). */
export interface Config {
  readonly standalone: boolean
  /** Whether `basicAuth` was given: index calls (and, standalone, every call) need credentials. */
  readonly protected: boolean
  readonly rangeSupport: boolean
  readonly endpointsHeader: (host: string) => string
  /** `127.0.0.1:PORT`, used when a request has no `Host`. */
  readonly host: string
  readonly requestLogLimit: number
}

/** The `X-Docker-Registry-Version` every response carries (the last Python registry release). */
const registryVersion = "0.9.1"

type Response = HttpServerResponse.HttpServerResponse
type Request = HttpServerRequest.HttpServerRequest

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Response =>
  HttpServerResponse.text(JSON.stringify(body), { status, contentType: "application/json", headers })

/** The Python registry's error body, `{"error": message}` (an all-string object, §4.9). */
const apiError = (status: number, message: string, headers: Record<string, string> = {}): Response =>
  json(status, { error: message }, headers)

const bodiless = (status: number): boolean => status === 204 || status === 205 || status === 304

const realm = `Basic realm="auth required"`

/** Headers of the cacheable image GETs (json, layer, ancestry). */
const cacheHeaders = { "cache-control": "public, max-age=31536000", "last-modified": "Thu, 01 Jan 1970 00:00:00 GMT" }

const pathOf = (url: string): string => {
  const query = url.indexOf("?")
  return query === -1 ? url : url.slice(0, query)
}

const readBody = (request: Request): Effect.Effect<Option.Option<Uint8Array>> =>
  request.arrayBuffer.pipe(Effect.map((buffer) => new Uint8Array(buffer)), Effect.option)

/** The body parsed as JSON; none when it cannot be read or is not JSON. */
const readJson = (request: Request): Effect.Effect<Option.Option<unknown>> =>
  Effect.map(
    readBody(request),
    Option.flatMap((bytes) =>
      Either.getRight(Either.try((): unknown => JSON.parse(Buffer.from(bytes).toString("utf8"))))
    )
  )

/** Flush what was sent so far, then destroy the socket: the client sees a dropped connection. */
const dropConnection = (request: Request): Effect.Effect<never> =>
  Effect.async<never>(() => {
    const response = NodeHttpServerRequest.toServerResponse(request)
    response.flushHeaders()
    NodeServer.dropConnection(response)
  })

const olderThanDocker010 = (userAgent: string | undefined): boolean => {
  const match = /docker\/(\d+)\.(\d+)/.exec(userAgent ?? "")
  return match !== null && Number(match[1]) === 0 && Number(match[2]) < 10
}

type RepositoryPath =
  | { readonly kind: "tag"; readonly name: string; readonly tag: string }
  | { readonly kind: "tags" | "images" | "auth" | "repository"; readonly name: string }

/** Split the part after `/v1/repositories/`; the suffix routes win over a repository named like them. */
const parseRepositoryPath = (rest: string): RepositoryPath => {
  const tag = /^(.+)\/tags\/([^/]+)$/.exec(rest)
  if (tag !== null) return { kind: "tag", name: tag[1]!, tag: tag[2]! }
  const suffix = /^(.+)\/(tags|images|auth)\/?$/.exec(rest)
  if (suffix !== null) return { kind: suffix[2] as "tags" | "images" | "auth", name: suffix[1]! }
  return { kind: "repository", name: rest }
}

const isTag = Schema.is(Identifiers.Tag)
const isImageId = Schema.is(Identifiers.ImageId)
const decodeImageList = Schema.decodeUnknownEither(V1Wire.ImgDataList)

/** The server's HTTP application over a store. */
export const makeApp = (state: State.State, config: Config): HttpApp.Default => {
  const open = !config.protected

  // ------------------------------------------------------------------------------------
  // Authentication
  // ------------------------------------------------------------------------------------

  /** Standalone: no tokens at all; Basic on every call when the server is protected. */
  const standaloneAuth = (request: Request): Response | undefined => {
    const status = State.basicStatus(state, open, request.headers.authorization)
    return status === "invalid" || (status === "none" && config.protected)
      ? apiError(401, "Requires authorization", { "www-authenticate": realm })
      : undefined
  }

  /** Registry calls: a token this server issued, for this repository and method (§11.1). */
  const registryAuth = (request: Request, repository: string | undefined): Response | undefined => {
    if (config.standalone) return standaloneAuth(request)
    const token = State.tokenOf(state, request.headers.authorization ?? "")
    return token !== undefined && State.tokenAllows(token, request.method, repository)
      ? undefined
      : apiError(401, "Requires authorization", { "www-authenticate": "Token" })
  }

  /** Index calls: Basic or Token when protected, open otherwise (a Basic header is still checked). */
  const indexAuth = (request: Request, repository: string | undefined): Response | undefined => {
    if (config.standalone) return standaloneAuth(request)
    const authorization = request.headers.authorization
    const denied = apiError(401, "Requires authorization", { "www-authenticate": `${realm},Token` })
    const basic = State.basicStatus(state, open, authorization)
    if (basic !== "none") return basic === "valid" ? undefined : denied
    if (open) return undefined
    const token = State.tokenOf(state, authorization ?? "")
    return token !== undefined && State.tokenAllows(token, request.method, repository) ? undefined : denied
  }

  /** `X-Docker-Endpoints`, plus a fresh token when the call asked for one and the server is not standalone. */
  const indexHeaders = (request: Request, repository: string, access: State.Access): Record<string, string> => {
    const endpoints = { "x-docker-endpoints": config.endpointsHeader(request.headers.host ?? config.host) }
    if (config.standalone || request.headers["x-docker-token"]?.toLowerCase() !== "true") return endpoints
    const token = State.issueToken(state, repository, access)
    return { ...endpoints, "x-docker-token": token.value, "www-authenticate": `Token ${token.value}` }
  }

  // ------------------------------------------------------------------------------------
  // Images
  // ------------------------------------------------------------------------------------

  const validId = (id: string): Response | undefined => isImageId(id) ? undefined : apiError(404, "Invalid image ID")

  /** A complete image for a GET, or the error response. */
  const readableImage = (id: string): State.ImageRecord | Response => {
    const invalid = validId(id)
    if (invalid !== undefined) return invalid
    const record = state.images.get(id)
    if (record === undefined) return apiError(404, "Image not found")
    if (record.uploading) return apiError(400, "Image is being uploaded, retry later")
    return record
  }

  const imageGet = (serve: (request: Request, record: State.ImageRecord) => Response) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const { id } = yield* HttpRouter.params
      const denied = registryAuth(request, undefined)
      if (denied !== undefined) return denied
      const found = readableImage(id ?? "")
      if (HttpServerResponse.isServerResponse(found)) return found
      if (request.headers["if-modified-since"] !== undefined) {
        return HttpServerResponse.empty({ status: 304, headers: cacheHeaders })
      }
      return serve(request, found)
    })

  const imageJson = (_: Request, record: State.ImageRecord): Response =>
    HttpServerResponse.uint8Array(record.json, {
      contentType: "application/json",
      headers: {
        ...cacheHeaders,
        ...(record.layerSize === undefined ? {} : { "x-docker-size": String(record.layerSize) }),
        ...(record.checksumPayload === undefined ? {} : { "x-docker-checksum-payload": record.checksumPayload })
      }
    })

  const imageAncestry = (_: Request, record: State.ImageRecord): Response => json(200, record.ancestry, cacheHeaders)

  const imageLayer = (request: Request, record: State.ImageRecord): Response => {
    if (record.layer === undefined) return apiError(404, "Image not found")
    const size = record.layerSize ?? 0
    const headers: Record<string, string> = {
      ...cacheHeaders,
      ...(config.rangeSupport ? { "accept-ranges": "bytes" } : {})
    }
    const range = config.rangeSupport ? NodeServer.parseRange(request.headers.range, size) : undefined
    if (range === "unsatisfiable") {
      return HttpServerResponse.empty({ status: 416, headers: { ...headers, "content-range": `bytes */${size}` } })
    }
    const { end, start } = range ?? { start: 0, end: size - 1 }
    const length = end - start + 1
    const cut = state.cutCount > 0 && request.method === "GET" ? state.cutBytes : undefined
    if (cut !== undefined) state.cutCount -= 1
    const sent = Math.min(cut ?? length, length)
    const bytes = Stream.fromIterable(State.slice(record.layer, start, start + sent))
    return HttpServerResponse.stream(
      cut === undefined ? bytes : Stream.concat(bytes, Stream.fromEffect(dropConnection(request))),
      {
        status: range === undefined ? 200 : 206,
        contentType: "application/octet-stream",
        contentLength: length,
        headers: range === undefined ? headers : { ...headers, "content-range": `bytes ${start}-${end}/${size}` }
      }
    )
  }

  const putJson = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const { id = "" } = yield* HttpRouter.params
    const refused = registryAuth(request, undefined) ?? validId(id)
    if (refused !== undefined) return refused
    const body = yield* readBody(request)
    if (Option.isNone(body)) return apiError(400, "Could not read the request body")
    const checked = State.checkImageJson(state, body.value, id)
    if (Either.isLeft(checked)) return apiError(400, checked.left)
    const existing = state.images.get(id)
    if (existing !== undefined && !existing.uploading) return apiError(409, "Image already exists")
    State.storeJson(state, checked.right, body.value)
    return json(200, true)
  })

  const putLayer = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const { id = "" } = yield* HttpRouter.params
    const refused = registryAuth(request, undefined) ?? validId(id)
    if (refused !== undefined) return refused
    const record = state.images.get(id)
    if (record === undefined) return apiError(404, "Image not found")
    if (!record.uploading) return apiError(409, "Image already exists")
    if (olderThanDocker010(request.headers["user-agent"])) {
      return apiError(412, "Docker clients older than 0.10 cannot push layers to this registry")
    }
    const checksum = State.payloadHasher(record.json)
    const chunks: Array<Uint8Array> = []
    const received = yield* request.stream.pipe(
      Stream.runFold(0, (size, chunk) => {
        checksum.update(chunk)
        chunks.push(chunk)
        return size + chunk.length
      }),
      Effect.option
    )
    if (Option.isNone(received)) return apiError(400, "Could not read the request body")
    // another request finished or restarted this image while the layer streamed in
    if (state.images.get(id) !== record || !record.uploading) return apiError(409, "Image already exists")
    State.storeLayer(record, chunks, received.value, checksum.digest())
    return json(200, true)
  })

  const putChecksum = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const { id = "" } = yield* HttpRouter.params
    const refused = registryAuth(request, undefined) ?? validId(id)
    if (refused !== undefined) return refused
    const payload = request.headers["x-docker-checksum-payload"]
    if (payload === undefined) return apiError(412, "Missing Image's checksum")
    if (payload === "") return apiError(400, "Missing Image's checksum")
    const record = state.images.get(id)
    if (record === undefined) return apiError(404, "Image not found")
    if (!record.uploading) return apiError(409, "Cannot set this image checksum")
    if (record.checksumPayload !== payload) return apiError(400, "Checksum mismatch")
    record.uploading = false
    record.checksum = request.headers["x-docker-checksum"] || undefined
    return json(200, true)
  })

  // ------------------------------------------------------------------------------------
  // Repositories: registry tags and the index's image lists
  // ------------------------------------------------------------------------------------

  const getTags = (request: Request, name: string): Response => {
    const denied = registryAuth(request, name)
    if (denied !== undefined) return denied
    const repository = state.repositories.get(name)
    return repository === undefined
      ? apiError(404, "Repository not found")
      : json(200, Object.fromEntries(repository.tags))
  }

  const getTag = (request: Request, name: string, tag: string): Response => {
    const denied = registryAuth(request, name)
    if (denied !== undefined) return denied
    const repository = state.repositories.get(name)
    if (repository === undefined) return apiError(404, "Repository not found")
    const id = repository.tags.get(tag)
    return id === undefined ? apiError(404, "Tag not found") : json(200, id)
  }

  const putTag = (request: Request, name: string, tag: string) =>
    Effect.gen(function*() {
      const denied = registryAuth(request, name)
      if (denied !== undefined) return denied
      if (!isTag(tag)) return apiError(400, "Invalid tag name")
      const id = yield* readJson(request)
      if (Option.isNone(id) || typeof id.value !== "string" || id.value === "") return apiError(400, "Invalid data")
      if (!state.images.has(id.value)) return apiError(404, "Image not found")
      State.repositoryOf(state, name).tags.set(tag, id.value as Identifiers.ImageId)
      return json(200, true)
    })

  const deleteTag = (request: Request, name: string, tag: string): Response => {
    const denied = registryAuth(request, name)
    if (denied !== undefined) return denied
    const repository = state.repositories.get(name)
    if (repository === undefined) return apiError(404, "Repository not found")
    return repository.tags.delete(tag) ? json(200, true) : apiError(404, "Tag not found")
  }

  const deleteRepository = (request: Request, name: string): Response => {
    const denied = registryAuth(request, name)
    if (denied !== undefined) return denied
    return state.repositories.delete(name) ? json(200, true) : apiError(404, "Repository not found")
  }

  const getImages = (request: Request, name: string): Response => {
    const denied = indexAuth(request, name)
    if (denied !== undefined) return denied
    const repository = state.repositories.get(name)
    if (repository === undefined) return apiError(404, "images not found")
    const list = Array.from(
      repository.images,
      ([id, checksum]) => checksum === undefined ? { id } : { id, checksum }
    )
    return json(200, list, indexHeaders(request, name, "read"))
  }

  /** `PUT …/{name}/` (push start, 200) and `PUT …/{name}/images` (push end, 204). */
  const putImages = (request: Request, name: string, final: boolean) =>
    Effect.gen(function*() {
      const denied = indexAuth(request, name)
      if (denied !== undefined) return denied
      const data = yield* readJson(request)
      if (Option.isNone(data)) return apiError(400, "Error Decoding JSON")
      const list = decodeImageList(data.value)
      if (Either.isLeft(list) || !list.right.every((entry) => isImageId(entry.id))) {
        return apiError(400, "Invalid data")
      }
      const images = State.repositoryOf(state, name).images
      for (const entry of list.right) {
        const id = entry.id as Identifiers.ImageId
        // as the Python index merges: a new checksum wins, a known one is kept otherwise
        images.set(id, entry.checksum ?? images.get(id))
      }
      const headers = indexHeaders(request, name, "write")
      return final ? HttpServerResponse.empty({ status: 204, headers }) : json(200, "", headers)
    })

  /** `DELETE …/{name}/`: with `X-Docker-Token: true` the index's first step (202 + delete token), else the delete. */
  const deleteNamed = (request: Request, name: string): Response => {
    const asksToken = request.headers["x-docker-token"]?.toLowerCase() === "true"
    if (config.standalone || !asksToken) return deleteRepository(request, name)
    const denied = indexAuth(request, name)
    if (denied !== undefined) return denied
    if (!state.repositories.has(name)) return apiError(404, "Repository not found")
    return json(202, "", indexHeaders(request, name, "delete"))
  }

  const deleteImages = (request: Request, name: string): Response => {
    const denied = indexAuth(request, name)
    return denied ?? HttpServerResponse.empty({ status: 204, headers: indexHeaders(request, name, "delete") })
  }

  const repositories = (
    dispatch: (request: Request, path: RepositoryPath) => Effect.Effect<Response>
  ) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const params = yield* HttpRouter.params
      const path = parseRepositoryPath(params["*"] ?? "")
      const name = State.normalizeRepository(path.name)
      if (name === undefined) return apiError(400, "Could not parse repository")
      return yield* dispatch(request, { ...path, name })
    })

  const notFound = apiError(404, "Not found")

  const repositoriesGet = repositories((request, path) => {
    switch (path.kind) {
      case "tags":
        return Effect.succeed(getTags(request, path.name))
      case "tag":
        return Effect.succeed(getTag(request, path.name, path.tag))
      case "images":
        return Effect.succeed(getImages(request, path.name))
      default:
        return Effect.succeed(notFound)
    }
  })

  const repositoriesPut = repositories((request, path) => {
    switch (path.kind) {
      case "tag":
        return putTag(request, path.name, path.tag)
      case "images":
        return putImages(request, path.name, true)
      case "repository":
        return putImages(request, path.name, false)
      case "auth":
        return Effect.succeed(json(200, "OK"))
      default:
        return Effect.succeed(notFound)
    }
  })

  const repositoriesDelete = repositories((request, path) => {
    switch (path.kind) {
      case "tag":
        return Effect.succeed(deleteTag(request, path.name, path.tag))
      case "tags":
        return Effect.succeed(deleteRepository(request, path.name))
      case "images":
        return Effect.succeed(deleteImages(request, path.name))
      case "repository":
        return Effect.succeed(deleteNamed(request, path.name))
      default:
        return Effect.succeed(notFound)
    }
  })

  // ------------------------------------------------------------------------------------
  // Search, users, ping
  // ------------------------------------------------------------------------------------

  const search = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const denied = indexAuth(request, undefined)
    if (denied !== undefined) return denied
    const params = new URL(request.url, "http://localhost").searchParams
    const query = params.get("q") ?? ""
    const n = params.get("n") ?? "25"
    const limit = /^\d+$/.test(n) ? Number(n) : 0
    if (limit < 1 || limit > 100) return apiError(400, `Invalid n "${n}": it must be 1 to 100`)
    const known = new Set(state.catalogue.map((entry) => entry.name))
    const entries: Array<State.SearchEntry> = [
      ...state.catalogue,
      ...Array.from(state.repositories.keys())
        .filter((name) => !known.has(name))
        .map((name) => ({ name, description: "", starCount: 0, isOfficial: false, isAutomated: false }))
    ]
    const term = query.toLowerCase()
    const hits = entries.filter((entry) =>
      entry.name.toLowerCase().includes(term) || entry.description.toLowerCase().includes(term)
    )
    return json(200, {
      query,
      num_results: hits.length,
      results: hits.slice(0, limit).map((entry) => ({
        star_count: entry.starCount,
        is_official: entry.isOfficial,
        name: entry.name,
        is_automated: entry.isAutomated,
        description: entry.description
      }))
    })
  })

  const login = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    return State.basicStatus(state, open, request.headers.authorization) === "valid"
      ? json(200, "OK")
      : apiError(401, "Wrong login/password", { "www-authenticate": realm })
  })

  const register = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const data = yield* readJson(request)
    if (Option.isNone(data) || typeof data.value !== "object" || data.value === null) {
      return apiError(400, "Error Decoding JSON")
    }
    const { email = "", password, username } = data.value as Record<string, unknown>
    if (typeof username !== "string" || !/^[a-z0-9_]{4,30}$/.test(username)) {
      return apiError(400, "Invalid username: 4 to 30 characters of a-z, 0-9 and _")
    }
    if (typeof password !== "string" || password.length < 5) {
      return apiError(400, "Invalid password: at least 5 characters")
    }
    if (typeof email !== "string") return apiError(400, "Invalid e-mail")
    const taken = state.users.has(username) ||
      (email !== "" && Array.from(state.users.values()).some((user) => user.email === email))
    if (taken) return json(400, "Username or email already exists")
    state.users.set(username, { password, email })
    return json(201, "User Created")
  })

  const ping = Effect.succeed(json(200, {}, { "x-docker-registry-standalone": config.standalone ? "True" : "False" }))

  const router = HttpRouter.empty.pipe(
    HttpRouter.get("/_ping", ping),
    HttpRouter.get("/v1/_ping", ping),
    HttpRouter.get("/v1/images/:id/json", imageGet(imageJson)),
    HttpRouter.get("/v1/images/:id/layer", imageGet(imageLayer)),
    HttpRouter.get("/v1/images/:id/ancestry", imageGet(imageAncestry)),
    HttpRouter.put("/v1/images/:id/json", putJson),
    HttpRouter.put("/v1/images/:id/layer", putLayer),
    HttpRouter.put("/v1/images/:id/checksum", putChecksum),
    HttpRouter.get("/v1/repositories/*", repositoriesGet),
    HttpRouter.put("/v1/repositories/*", repositoriesPut),
    HttpRouter.del("/v1/repositories/*", repositoriesDelete),
    HttpRouter.get("/v1/search", search),
    // find-my-way ignores a trailing slash: these also serve `/v1/users/`
    HttpRouter.get("/v1/users", login),
    HttpRouter.post("/v1/users", register)
  )

  // ------------------------------------------------------------------------------------
  // Log, injected failures, common headers
  // ------------------------------------------------------------------------------------

  const log = (request: Request): void => {
    const raw = NodeHttpServerRequest.toIncomingMessage(request).rawHeaders
    const headerLines: Array<readonly [string, string]> = []
    for (let i = 0; i + 1 < raw.length; i += 2) headerLines.push([raw[i]!, raw[i + 1]!])
    state.log.push({
      method: request.method,
      url: request.url,
      path: pathOf(request.url),
      headers: { ...request.headers },
      headerLines
    })
    if (state.log.length > config.requestLogLimit) state.log.splice(0, state.log.length - config.requestLogLimit)
  }

  const injectedFailure = (): Response | undefined => {
    if (state.failCount === 0) return undefined
    state.failCount -= 1
    return bodiless(state.failStatus)
      ? HttpServerResponse.empty({ status: state.failStatus })
      : apiError(state.failStatus, "Injected failure")
  }

  const withCommonHeaders = (response: Response): Response =>
    HttpServerResponse.setHeaders(response, {
      "x-docker-registry-version": registryVersion,
      ...(response.headers["cache-control"] === undefined
        ? { "cache-control": "no-cache", pragma: "no-cache", expires: "-1" }
        : {})
    })

  return Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    log(request)
    const response = injectedFailure() ?? (yield* Effect.catchAll(router, () => Effect.succeed(notFound)))
    return withCommonHeaders(response)
  })
}
