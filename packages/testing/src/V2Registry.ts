/**
 * An in-process OCI Distribution (Docker Registry HTTP API v2) registry for tests, demos
 * and benchmarks.
 *
 * It follows the OCI distribution-spec (1.1) rather than any one client: ping, blobs with
 * ranges, uploads (monolithic, chunked with `Content-Range` checks and an optional minimum
 * chunk length, streamed, cross-repository mounts, status, cancel), manifests (by tag or
 * digest, the exact bytes, reference checks, tag deletion), paginated tags and catalog with
 * `Link`, and the referrers API with its `artifactType` filter. It listens on `127.0.0.1`
 * on a free port, keeps everything in memory (blobs are content-addressed, repositories
 * link to them), hashes upload bytes as they arrive, records every request, and has knobs
 * to inject faults.
 *
 * Auth model (see {@link Options}): open by default; with `basicAuth` every `/v2/` call
 * needs those credentials; with `tokenAuth` the server is also its own token server
 * (`GET`/`POST /token`) and checks the opaque tokens it issued per repository and action.
 * Token expiry follows Effect's `Clock` of the fiber that started the server: under
 * `@effect/vitest`'s `TestClock`, `TestClock.adjust` expires tokens.
 *
 * Decisions where the spec leaves room, documented here once:
 *
 * - Errors answer `{"errors":[{"code","message","detail"}]}` with the spec's codes, plus
 *   distribution's `TAG_INVALID` (a reference neither a tag nor a digest) and
 *   `PAGINATION_NUMBER_INVALID` (`n` not a non-negative integer). An unknown path answers
 *   404 `UNSUPPORTED`; a known path with another method 405 `UNSUPPORTED`.
 * - A manifest push needs a `Content-Type` among the OCI manifest and index and the Docker
 *   schema 2 manifest and list (schema 1 is refused); a `mediaType` field must say the same.
 *   Missing config or layers (those without `urls`) answer 400 `MANIFEST_BLOB_UNKNOWN`;
 *   missing children of an index 400 `MANIFEST_UNKNOWN`; over {@link maxManifestSize} 413
 *   `MANIFEST_INVALID`. A push by digest is checked with that digest's algorithm, and the
 *   manifest is stored under it; a push by tag is stored under its SHA-256.
 * - `DELETE` of a manifest by digest removes it and its tags; by tag, the tag only.
 * - Upload `PUT` with a wrong digest answers 400 `DIGEST_INVALID` and closes the session.
 *   SHA-256 is computed while bytes arrive; a SHA-512 digest is computed over the stored
 *   chunks when the upload completes.
 * - With `minChunkLength`, a `PATCH` (or a `PUT` with a final chunk) that follows a chunk
 *   shorter than the minimum answers 416: only the last chunk may be short, and the server
 *   learns which was last only when another arrives.
 * - A mount without `from`, or whose source the caller may not pull from, or that names an
 *   unknown blob, opens an ordinary upload (202).
 * - The referrers of an unknown manifest or repository are an empty index (200).
 * - An empty upload's `Range` is `0-0`, as distribution answers.
 *
 * Built on `@effect/platform`'s `HttpRouter`; only the blob faults (stall after headers,
 * drop the connection after N bytes) reach down to Node's response object.
 *
 * @since 0.1.0
 */
import * as Errors from "@dockside/protocol/Errors"
import * as Identifiers from "@dockside/protocol/Identifiers"
import * as Manifest from "@dockside/protocol/Manifest"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { createHash } from "node:crypto"
import * as Http from "node:http"
import * as Checks from "./internal/checks.js"
import * as Auth from "./internal/v2Auth.js"
import * as Routes from "./internal/v2Routes.js"
import * as State from "./internal/v2State.js"

/** The largest manifest body a push may send (4 MiB); larger ones answer 413. */
export const maxManifestSize = 4 * 1024 * 1024

/** The `service` of the token challenge and token requests. */
export const tokenService: string = Auth.service

/** A user name and password. */
export interface User {
  readonly username: string
  readonly password: string | Redacted.Redacted<string>
}

/** How to start a {@link V2Registry}. */
export interface Options {
  /** Every `/v2/` call needs these credentials, else 401 `WWW-Authenticate: Basic realm="dockside"`. */
  readonly basicAuth?: User | undefined
  /**
   * Docker token auth, served by the registry itself at `<url>/token`: every `/v2/` call needs
   * `Authorization: Bearer <token>`, else 401 with `Bearer realm="<url>/token",service="dockside-v2"`
   * and the scope the request needs. Without `users`, anyone gets every action asked for; with
   * `users`, a known user gets every action asked for (`pull`, `push`, `delete`, the catalog's
   * `*`), a caller without credentials only `pull`, and wrong credentials 401. Tokens live
   * `expiresIn` seconds (default 300). Cannot be combined with `basicAuth`.
   */
  readonly tokenAuth?: {
    readonly users?: ReadonlyArray<User> | undefined
    readonly expiresIn?: number | undefined
  } | undefined
  /** Serve `GET /v2/<name>/referrers/<digest>`. Default `true`; `false` answers 404 (clients use the tag fallback). */
  readonly referrersApi?: boolean | undefined
  /** Announce `OCI-Chunk-Min-Length` on upload starts and refuse a chunk after a shorter one with 416. */
  readonly minChunkLength?: number | undefined
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
}

/** One request to the token endpoint, and what it got. */
export interface TokenRequest {
  readonly method: "GET" | "POST"
  /** `POST`'s `grant_type`. */
  readonly grantType: string | undefined
  readonly service: string | undefined
  /** The scopes asked for, as sent (each `scope` value split on blanks). */
  readonly scopes: ReadonlyArray<string>
  readonly account: string | undefined
  /** The user the request authenticated as (or claimed, when refused). */
  readonly username: string | undefined
  readonly status: number
  /** The scopes granted, merged, as `type:name:actions`. */
  readonly granted: ReadonlyArray<string>
}

/** A stored blob. */
export interface StoredBlob {
  readonly digest: Identifiers.Digest
  readonly size: number
  /** The repositories that link to it, sorted. */
  readonly repositories: ReadonlyArray<string>
}

/** A stored manifest. */
export interface StoredManifest {
  readonly digest: Identifiers.Digest
  readonly mediaType: string
  /** The bytes, exactly as pushed. */
  readonly bytes: Uint8Array
  readonly subject: Identifiers.Digest | undefined
  readonly artifactType: string | undefined
  /** The tags pointing at it, sorted. */
  readonly tags: ReadonlyArray<string>
}

/** A running {@link V2Registry}. */
export interface Service {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string
  /** `127.0.0.1:PORT`. */
  readonly host: string
  /** Every request received so far, oldest first (bounded by `requestLogLimit`). */
  readonly requests: Effect.Effect<ReadonlyArray<LoggedRequest>>
  /** Forget the logged requests, token requests included. */
  readonly clearRequests: Effect.Effect<void>
  /** Every token endpoint request so far, oldest first (bounded by `requestLogLimit`). */
  readonly tokenRequests: Effect.Effect<ReadonlyArray<TokenRequest>>
  /** The repository names, sorted. */
  readonly repositories: Effect.Effect<ReadonlyArray<string>>
  /** Every stored blob. */
  readonly blobs: Effect.Effect<ReadonlyArray<StoredBlob>>
  /** A stored blob's bytes. */
  readonly blobBytes: (digest: string) => Effect.Effect<Option.Option<Uint8Array>>
  /** A repository's manifests (none for an unknown repository). */
  readonly manifests: (repository: string) => Effect.Effect<ReadonlyArray<StoredManifest>>
  /** A repository's tags, none for an unknown repository. */
  readonly tags: (repository: string) => Effect.Effect<Option.Option<Readonly<Record<string, Identifiers.Digest>>>>
  /** Store a blob and link `repository` to it, as a push would; its SHA-256 digest. */
  readonly addBlob: (repository: string, bytes: Uint8Array) => Effect.Effect<Identifiers.Digest, Errors.InvalidArgument>
  /**
   * Store a manifest as `PUT /v2/<repository>/manifests/<tag or digest>` would, with the same
   * checks; `mediaType` defaults to the one the document declares or has the shape of.
   */
  readonly addManifest: (
    repository: string,
    manifest: string | Uint8Array,
    options?: { readonly tag?: string | undefined; readonly mediaType?: string | undefined }
  ) => Effect.Effect<Identifiers.Digest, Errors.InvalidArgument>
  /**
   * Answer the next `count` requests (any route, token endpoint included) with `status`, these
   * extra `headers` (e.g. `Retry-After`) and an error body (`TOOMANYREQUESTS` for 429,
   * `UNAVAILABLE` for 503, `UNKNOWN` otherwise, message `injected failure`).
   */
  readonly failNext: (
    count: number,
    status: number,
    headers?: Readonly<Record<string, string>>
  ) => Effect.Effect<void, Errors.InvalidArgument>
  /**
   * Make the next `times` (default 1) blob downloads (`GET` answered 200 or 206) send only
   * `bytes` body bytes, then destroy the socket. Headers, with the full `Content-Length`,
   * are always sent first.
   */
  readonly cutBlobAfter: (bytes: number, times?: number) => Effect.Effect<void, Errors.InvalidArgument>
  /** Make the next `times` (default 1) blob downloads send their headers, then nothing until the connection closes. */
  readonly stallBlob: (times?: number) => Effect.Effect<void, Errors.InvalidArgument>
  /**
   * Answer blob `GET`s (of blobs this registry holds) with 307 to the same path on another
   * origin (e.g. a `FaultServer`), with a signed, expiring query (`X-Dockside-Expires`,
   * `X-Dockside-Signature`); `undefined` stops redirecting. While redirecting, blob `GET`s
   * are neither cut nor stalled here (the target origin plays those faults).
   */
  readonly redirectBlobsTo: (url: string | undefined) => Effect.Effect<void, Errors.InvalidArgument>
}

/** The server could not start listening, or its options contradict each other. */
export class StartError extends Schema.TaggedError<StartError>()("V2RegistryStartError", {
  reason: Schema.String
}) {
  override get message(): string {
    return `the v2 test registry could not start: ${this.reason}`
  }
}

/** The {@link Service} of a running v2 test registry. */
export class V2Registry extends Context.Tag("@dockside/testing/V2Registry")<V2Registry, Service>() {}

const isTag = Schema.is(Identifiers.Tag)

const reveal = (password: string | Redacted.Redacted<string>): string =>
  typeof password === "string" ? password : Redacted.value(password)

const describeError = (error: State.ApiError): string =>
  `${error.code}: ${error.message}${error.detail === undefined ? "" : ` ${JSON.stringify(error.detail)}`}`

/** The authentication mode, or why the options are contradictory. */
const authMode = (options: Options, url: string): Either.Either<Auth.Mode, string> => {
  const { basicAuth, tokenAuth } = options
  if (basicAuth !== undefined && tokenAuth !== undefined) {
    return Either.left("basicAuth and tokenAuth cannot be combined")
  }
  if (basicAuth !== undefined) {
    return Either.right({ _tag: "Basic", user: { username: basicAuth.username, password: reveal(basicAuth.password) } })
  }
  if (tokenAuth === undefined) return Either.right({ _tag: "Open" })
  const expiresIn = tokenAuth.expiresIn ?? 300
  if (!Number.isSafeInteger(expiresIn) || expiresIn <= 0) {
    return Either.left(`tokenAuth.expiresIn must be a positive integer number of seconds, not ${expiresIn}`)
  }
  return Either.right({
    _tag: "Token",
    users: tokenAuth.users === undefined
      ? undefined
      : new Map(tokenAuth.users.map((user) => [user.username, reveal(user.password)])),
    expiresIn,
    realm: `${url}/token`
  })
}

/** Start a server on `127.0.0.1`, port 0; it stops (all connections closed) when the scope closes. */
export const make: (options?: Options) => Effect.Effect<Service, StartError, Scope.Scope> = Effect.fn(
  "V2Registry.make"
)(function*(options: Options = {}) {
  const { minChunkLength } = options
  if (minChunkLength !== undefined && (!Checks.isCount(minChunkLength) || minChunkLength === 0)) {
    return yield* new StartError({ reason: `minChunkLength must be a positive integer, not ${minChunkLength}` })
  }
  const node = Http.createServer()
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
  const auth = authMode(options, url)
  if (Either.isLeft(auth)) return yield* new StartError({ reason: auth.left })

  const state = State.empty()
  yield* server.serve(Routes.makeApp(state, {
    auth: auth.right,
    referrersApi: options.referrersApi ?? true,
    minChunkLength,
    maxManifestSize,
    requestLogLimit: options.requestLogLimit ?? 10_000
  }))

  const checkedName = (repository: string): Either.Either<string, Errors.InvalidArgument> => {
    const problem = State.nameProblem(repository)
    return problem === undefined
      ? Either.right(repository)
      : Either.left(Checks.invalid("repository name", repository, problem))
  }

  const addBlob = Effect.fn("V2Registry.addBlob")(function*(repository: string, bytes: Uint8Array) {
    const name = yield* checkedName(repository)
    const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}` as Identifiers.Digest
    State.linkBlob(state, name, { digest, chunks: [Uint8Array.from(bytes)], size: bytes.length })
    return digest
  })

  const addManifest = Effect.fn("V2Registry.addManifest")(function*(
    repository: string,
    manifest: string | Uint8Array,
    manifestOptions: { readonly tag?: string | undefined; readonly mediaType?: string | undefined } = {}
  ) {
    const name = yield* checkedName(repository)
    const bytes = typeof manifest === "string" ? new Uint8Array(Buffer.from(manifest, "utf8")) : manifest
    const { tag } = manifestOptions
    if (tag !== undefined && !isTag(tag)) {
      return yield* Checks.invalid("tag", tag, "a tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
    }
    const declared = yield* Effect.option(Manifest.decode(bytes))
    const mediaType = manifestOptions.mediaType ?? Option.getOrUndefined(Option.map(declared, (m) => m.mediaType))
    const record = yield* State.checkManifest(state, name, bytes, mediaType, undefined).pipe(
      Effect.mapError((error) => Checks.invalid("manifest", Buffer.from(bytes).toString("utf8"), describeError(error)))
    )
    State.storeManifest(state, name, record, tag)
    return record.digest
  })

  const failNext = Effect.fn("V2Registry.failNext")(function*(
    count: number,
    status: number,
    headers: Readonly<Record<string, string>> = {}
  ) {
    if (!Checks.isCount(count)) return yield* Checks.invalid("count", count, "a count is a non-negative integer")
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      return yield* Checks.invalid("status", status, "a status is an integer from 200 to 599")
    }
    for (const [name, value] of Object.entries(headers)) {
      const problem = Either.try(() => {
        Http.validateHeaderName(name)
        Http.validateHeaderValue(name, value)
      })
      if (Either.isLeft(problem)) return yield* Checks.invalid("header", name, String(problem.left))
    }
    state.failCount = count
    state.failStatus = status
    state.failHeaders = { ...headers }
  })

  const cutBlobAfter = Effect.fn("V2Registry.cutBlobAfter")(function*(bytes: number, times: number = 1) {
    if (!Checks.isCount(bytes)) return yield* Checks.invalid("bytes", bytes, "a byte count is a non-negative integer")
    if (!Checks.isCount(times)) return yield* Checks.invalid("times", times, "a count is a non-negative integer")
    state.cutBytes = bytes
    state.cutCount = times
  })

  const stallBlob = Effect.fn("V2Registry.stallBlob")(function*(times: number = 1) {
    if (!Checks.isCount(times)) return yield* Checks.invalid("times", times, "a count is a non-negative integer")
    state.stallCount = times
  })

  const redirectBlobsTo = Effect.fn("V2Registry.redirectBlobsTo")(function*(target: string | undefined) {
    if (target === undefined) {
      state.redirectTo = undefined
      return
    }
    const parsed = Either.try(() => new URL(target))
    if (Either.isLeft(parsed) || (parsed.right.protocol !== "http:" && parsed.right.protocol !== "https:")) {
      return yield* Checks.invalid("redirect target", target, "an absolute http: or https: URL")
    }
    state.redirectTo = target.replace(/\/+$/, "")
  })

  const toStoredManifest = (repository: State.Repository, record: State.ManifestRecord): StoredManifest => ({
    digest: record.digest,
    mediaType: record.mediaType,
    bytes: record.bytes,
    subject: record.subject,
    artifactType: record.artifactType,
    tags: Array.from(repository.tags).filter(([, digest]) => digest === record.digest).map(([tag]) => tag).sort()
  })

  return {
    url,
    host,
    requests: Effect.sync(() => state.log.slice()),
    clearRequests: Effect.sync(() => {
      state.log.length = 0
      state.tokenLog.length = 0
    }),
    tokenRequests: Effect.sync(() => state.tokenLog.slice()),
    repositories: Effect.sync(() => Array.from(state.repositories.keys()).sort()),
    blobs: Effect.sync(() =>
      Array.from(
        state.blobs.values(),
        (blob): StoredBlob => ({
          digest: blob.digest,
          size: blob.size,
          repositories: State.linksOf(state, blob.digest)
        })
      )
    ),
    blobBytes: Effect.fn("V2Registry.blobBytes")((digest: string) =>
      Effect.sync(() =>
        Option.map(
          Option.fromNullable(State.isDigest(digest) ? state.blobs.get(digest) : undefined),
          (blob) => new Uint8Array(Buffer.concat(blob.chunks))
        )
      )
    ),
    manifests: Effect.fn("V2Registry.manifests")((repository: string) =>
      Effect.sync(() => {
        const found = state.repositories.get(repository)
        return found === undefined
          ? []
          : Array.from(found.manifests.values(), (record) => toStoredManifest(found, record))
      })
    ),
    tags: Effect.fn("V2Registry.tags")((repository: string) =>
      Effect.sync(() =>
        Option.map(Option.fromNullable(state.repositories.get(repository)), (found) => Object.fromEntries(found.tags))
      )
    ),
    addBlob,
    addManifest,
    failNext,
    cutBlobAfter,
    stallBlob,
    redirectBlobsTo
  }
})

/** A layer with a running {@link V2Registry}, stopped when the layer is released. */
export const layer = (options: Options = {}): Layer.Layer<V2Registry, StartError> =>
  Layer.scoped(V2Registry, make(options))
