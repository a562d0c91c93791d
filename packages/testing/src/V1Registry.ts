/**
 * An in-process Docker Registry v1 index + registry for tests, demos and benchmarks.
 *
 * It follows spec `v1-protocol.md` §10 (the Go mock's routes and seed data) with the
 * Python reference server's rules of §11 (id checks, JSON before layer, parents, completed
 * images, payload checksums, tag rules, tokens, ranges, ping headers, users), listens on
 * `127.0.0.1` on a free port, keeps everything in memory, records every request, and has
 * knobs to inject faults. One server plays both roles: its `/v1/` base is the index
 * address and the registry endpoint it announces in `X-Docker-Endpoints`.
 *
 * Auth model:
 *
 * - not standalone (default): index calls (`…/images`, `PUT`/`DELETE …/{repo}/`, search)
 *   that send `X-Docker-Token: true` get a token in `X-Docker-Token`; registry calls
 *   (`/v1/images/…`, `…/tags…`) need `Authorization: Token …` with a token this server
 *   issued, for the same repository and a method its access allows (`read` GET, `write`
 *   PUT/POST, `delete` DELETE), else 401 `WWW-Authenticate: Token`. With `basicAuth`, index
 *   calls also need valid Basic credentials (or a valid token), else 401.
 * - standalone: no tokens issued or required; with `basicAuth`, every call but the ping
 *   needs valid Basic credentials. The ping answers `X-Docker-Registry-Standalone: True`.
 *
 * Built on `@effect/platform`'s `HttpRouter` (no raw `node:http` handler was needed): only
 * the connection drop of {@link Service.cutLayerAfter} and the raw header lines of the
 * request log reach down to Node's objects, through `NodeHttpServerRequest`.
 *
 * @since 0.1.0
 */
import * as Errors from "@dockside/protocol/Errors"
import * as Identifiers from "@dockside/protocol/Identifiers"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { createServer } from "node:http"
import * as Routes from "./internal/v1Routes.js"
import * as Seed from "./internal/v1Seed.js"
import * as State from "./internal/v1State.js"

/** How to start a {@link V1Registry}. */
export interface Options {
  /**
   * Protect the server with these credentials (they also work for `GET /v1/users/`).
   * Without them the server is open: any Basic credentials pass, except a wrong password
   * for a user registered through `POST /v1/users/`.
   */
  readonly basicAuth?: {
    readonly username: string
    readonly password: string | Redacted.Redacted<string>
  } | undefined
  /** A standalone registry: no token dance, and the ping says standalone. Default `false`. */
  readonly standalone?: boolean | undefined
  /** Load the §10.3 seed data (`foo42/bar`, `77dbf7…`, `42d718…`, `fakeimage`). Default `true`. */
  readonly seed?: boolean | undefined
  /** Answer `Range: bytes=…` on layer GETs and send `Accept-Ranges: bytes`. Default `true`. */
  readonly rangeSupport?: boolean | undefined
  /**
   * The `X-Docker-Endpoints` value, from the `host:port` the request was sent to. Default:
   * that host alone. The Go mock's value is `(host) => \`${host} \t,  test.example.com \``.
   */
  readonly endpointsHeader?: ((host: string) => string) | undefined
  /** How many requests {@link Service.requests} keeps (the oldest go first). Default 10 000. */
  readonly requestLogLimit?: number | undefined
}

/** One request as the server received it. Nothing is redacted: this is for tests. */
export interface LoggedRequest {
  readonly method: string
  /** Path and query, as sent. */
  readonly url: string
  readonly path: string
  /** Lower-case names; repeated headers joined by Node (`a, b`). */
  readonly headers: Readonly<Record<string, string>>
  /** Every header line as sent, in order (repeated headers stay separate lines). */
  readonly headerLines: ReadonlyArray<readonly [name: string, value: string]>
}

/** A stored image. */
export interface StoredImage {
  readonly id: Identifiers.ImageId
  readonly parent: Identifiers.ImageId | undefined
  /** The image JSON, byte for byte as stored. */
  readonly json: Uint8Array
  /** The image first, then its parents. */
  readonly ancestry: ReadonlyArray<Identifiers.ImageId>
  /** Layer size in bytes, once a layer is stored. */
  readonly layerSize: number | undefined
  /** `sha256:` over json + `\n` + layer, computed while the layer streamed in. */
  readonly checksumPayload: string | undefined
  /** The `X-Docker-Checksum` (TarSum) the checksum PUT carried. */
  readonly checksum: string | undefined
  /** JSON stored but the checksum PUT not done yet. */
  readonly uploading: boolean
}

/** A token the server issued. */
export interface IssuedToken {
  /** The `X-Docker-Token` value, `signature=…,repository="ns/repo",access=…`. */
  readonly value: string
  readonly repository: string
  readonly access: "read" | "write" | "delete"
}

/** A running {@link V1Registry}. */
export interface Service {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string
  /** `127.0.0.1:PORT`. */
  readonly host: string
  /** `http://127.0.0.1:PORT/v1/`: the index address, and the registry endpoint it announces. */
  readonly indexAddress: string
  readonly standalone: boolean
  /** Every request received so far, oldest first (bounded by `requestLogLimit`). */
  readonly requests: Effect.Effect<ReadonlyArray<LoggedRequest>>
  /** Forget the logged requests. */
  readonly clearRequests: Effect.Effect<void>
  /** Every stored image. */
  readonly images: Effect.Effect<ReadonlyArray<StoredImage>>
  /** One stored image. */
  readonly image: (id: string) => Effect.Effect<Option.Option<StoredImage>>
  /** A stored layer's bytes. */
  readonly layerBytes: (id: string) => Effect.Effect<Option.Option<Uint8Array>>
  /** The repository names (normalised, e.g. `library/ubuntu`). */
  readonly repositories: Effect.Effect<ReadonlyArray<string>>
  /** A repository's tags (the name is normalised as in URLs: `ubuntu` is `library/ubuntu`). */
  readonly tags: (repository: string) => Effect.Effect<Option.Option<Readonly<Record<string, Identifiers.ImageId>>>>
  /** The tokens issued so far. */
  readonly tokens: Effect.Effect<ReadonlyArray<IssuedToken>>
  /**
   * Store a complete image directly (as a push would, checksum done): the id and parent come
   * from the JSON, which must pass the same rules as `PUT /v1/images/{id}/json`.
   */
  readonly addImage: (
    json: string | Uint8Array,
    layer: Uint8Array
  ) => Effect.Effect<Identifiers.ImageId, Errors.InvalidArgument>
  /** Point a tag at a stored image, creating the repository if needed. */
  readonly setTag: (repository: string, tag: string, id: string) => Effect.Effect<void, Errors.InvalidArgument>
  /** Answer the next `count` requests (any route) with `status` and `{"error":"Injected failure"}`. */
  readonly failNext: (count: number, status: number) => Effect.Effect<void, Errors.InvalidArgument>
  /**
   * Make the next `times` (default 1) layer downloads (`GET …/layer` answered 200 or 206)
   * send only `bytes` body bytes, then destroy the socket: the client sees the connection
   * drop mid-body. Headers, with the full `Content-Length`, are always sent first.
   */
  readonly cutLayerAfter: (bytes: number, times?: number) => Effect.Effect<void, Errors.InvalidArgument>
}

/** The server could not start listening. */
export class StartError extends Schema.TaggedError<StartError>()("V1RegistryStartError", {
  reason: Schema.String
}) {
  override get message(): string {
    return `the v1 test registry could not start: ${this.reason}`
  }
}

/** The {@link Service} of a running v1 test registry. */
export class V1Registry extends Context.Tag("@dockside/testing/V1Registry")<V1Registry, Service>() {}

/** What the default seed holds, for assertions. */
export const seed: {
  readonly baseImage: Identifiers.ImageId
  readonly childImage: Identifiers.ImageId
  readonly repository: string
  readonly tags: Readonly<Record<string, Identifiers.ImageId>>
  readonly layerSizes: Readonly<Record<string, number>>
} = {
  baseImage: Seed.images[0]!.id,
  childImage: Seed.images[1]!.id,
  repository: Seed.repository,
  tags: Seed.tags,
  layerSizes: Object.fromEntries(Seed.images.map((image) => [image.id, image.layer.length]))
}

const invalid = (name: string, value: unknown, reason: string): Errors.InvalidArgument =>
  new Errors.InvalidArgument({ name, value: String(value), reason })

const toStored = (record: State.ImageRecord): StoredImage => ({
  id: record.id,
  parent: record.parent,
  json: record.json,
  ancestry: record.ancestry,
  layerSize: record.layerSize,
  checksumPayload: record.checksumPayload,
  checksum: record.checksum,
  uploading: record.uploading
})

const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 0

/** Start a server on `127.0.0.1`, port 0; it stops (all connections closed) when the scope closes. */
export const make: (options?: Options) => Effect.Effect<Service, StartError, Scope.Scope> = Effect.fn(
  "V1Registry.make"
)(function*(options: Options = {}) {
  const requestLogLimit = options.requestLogLimit ?? 10_000
  const node = createServer()
  const server = yield* NodeHttpServer.make(() => node, { port: 0, host: "127.0.0.1" }).pipe(
    Effect.mapError((error) => new StartError({ reason: String(error.cause) }))
  )
  // runs before the server's own close: idle or stalled keep-alive connections must not hold it open
  yield* Effect.addFinalizer(() => Effect.sync(() => node.closeAllConnections()))
  if (server.address._tag !== "TcpAddress") {
    return yield* new StartError({ reason: "the server did not get a TCP address" })
  }
  const host = `127.0.0.1:${server.address.port}`
  const url = `http://${host}`
  const standalone = options.standalone ?? false

  const state = State.empty()
  if (options.seed ?? true) State.seed(state)
  const basicAuth = options.basicAuth
  if (basicAuth !== undefined) {
    const password = typeof basicAuth.password === "string" ? basicAuth.password : Redacted.value(basicAuth.password)
    state.users.set(basicAuth.username, { password, email: "" })
  }

  yield* server.serve(Routes.makeApp(state, {
    standalone,
    protected: basicAuth !== undefined,
    rangeSupport: options.rangeSupport ?? true,
    endpointsHeader: options.endpointsHeader ?? ((requestHost) => requestHost),
    host,
    requestLogLimit
  }))

  const addImage = Effect.fn("V1Registry.addImage")(function*(json: string | Uint8Array, layer: Uint8Array) {
    const bytes = typeof json === "string" ? Buffer.from(json, "utf8") : json
    const checked = State.checkImageJson(state, bytes, undefined)
    if (Either.isLeft(checked)) return yield* invalid("image JSON", Buffer.from(bytes).toString("utf8"), checked.left)
    const existing = state.images.get(checked.right.id)
    if (existing !== undefined && !existing.uploading) {
      return yield* invalid("image JSON", checked.right.id, "Image already exists")
    }
    const record = State.storeJson(state, checked.right, bytes)
    const checksum = State.payloadHasher(bytes)
    checksum.update(layer)
    State.storeLayer(record, [layer], layer.length, checksum.digest())
    record.uploading = false
    return record.id
  })

  const setTag = Effect.fn("V1Registry.setTag")(function*(repository: string, tag: string, id: string) {
    const name = State.normalizeRepository(repository)
    if (name === undefined) return yield* invalid("repository name", repository, "Could not parse repository")
    if (!Schema.is(Identifiers.Tag)(tag)) return yield* invalid("tag", tag, "Invalid tag name")
    if (!state.images.has(id)) return yield* invalid("image id", id, "Image not found")
    State.repositoryOf(state, name).tags.set(tag, id as Identifiers.ImageId)
  })

  const failNext = Effect.fn("V1Registry.failNext")(function*(count: number, status: number) {
    if (!isCount(count)) return yield* invalid("count", count, "a count is a non-negative integer")
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      return yield* invalid("status", status, "a status is an integer from 200 to 599")
    }
    state.failCount = count
    state.failStatus = status
  })

  const cutLayerAfter = Effect.fn("V1Registry.cutLayerAfter")(function*(bytes: number, times: number = 1) {
    if (!isCount(bytes)) return yield* invalid("bytes", bytes, "a byte count is a non-negative integer")
    if (!isCount(times)) return yield* invalid("times", times, "a count is a non-negative integer")
    state.cutBytes = bytes
    state.cutCount = times
  })

  return {
    url,
    host,
    indexAddress: `${url}/v1/`,
    standalone,
    requests: Effect.sync(() => state.log.slice()),
    clearRequests: Effect.sync(() => {
      state.log.length = 0
    }),
    images: Effect.sync(() => Array.from(state.images.values(), toStored)),
    image: Effect.fn("V1Registry.image")((id: string) =>
      Effect.sync(() => Option.map(Option.fromNullable(state.images.get(id)), toStored))
    ),
    layerBytes: Effect.fn("V1Registry.layerBytes")((id: string) =>
      Effect.sync(() =>
        Option.flatMap(
          Option.fromNullable(state.images.get(id)?.layer),
          (chunks) => Option.some(new Uint8Array(Buffer.concat(chunks)))
        )
      )
    ),
    repositories: Effect.sync(() => Array.from(state.repositories.keys())),
    tags: Effect.fn("V1Registry.tags")((repository: string) =>
      Effect.sync(() => {
        const name = State.normalizeRepository(repository)
        const record = name === undefined ? undefined : state.repositories.get(name)
        return Option.map(Option.fromNullable(record), (found) => Object.fromEntries(found.tags))
      })
    ),
    tokens: Effect.sync(() =>
      Array.from(
        state.tokens.values(),
        (token): IssuedToken => ({ value: token.value, repository: token.repository, access: token.access })
      )
    ),
    addImage,
    setTag,
    failNext,
    cutLayerAfter
  }
})

/** A layer with a running {@link V1Registry}, stopped when the layer is released. */
export const layer = (options: Options = {}): Layer.Layer<V1Registry, StartError> =>
  Layer.scoped(V1Registry, make(options))
