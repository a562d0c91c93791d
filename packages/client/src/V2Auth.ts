/**
 * Registry v2 auth as a policy over an `HttpClient`: Basic, and Bearer tokens from the
 * challenge's token server (realm / service / scope, several challenges), cached per
 * registry and scope set and renewed before they expire, one token request per key at a
 * time, `token` or `access_token` read, the refresh-token POST for identity tokens (with a
 * GET fallback on 404), anonymous tokens, and a new token on a 401 with
 * `insufficient_scope`. Credentials go only to the registry's own origin and to its token
 * realm, which must be https unless the registry itself is insecure.
 *
 * @since 0.1.0
 */
import * as Challenge from "@dockside/protocol/Challenge"
import * as Errors from "@dockside/protocol/Errors"
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as HttpErrors from "./HttpErrors.js"
import * as Retry from "./Retry.js"
import * as SingleFlight from "./SingleFlight.js"

/** Credentials for a registry. */
export type Credentials =
  | { readonly _tag: "Basic"; readonly username: string; readonly password: Redacted.Redacted<string> }
  | {
    readonly _tag: "IdentityToken"
    readonly username?: string | undefined
    readonly token: Redacted.Redacted<string>
  }
  | { readonly _tag: "BearerToken"; readonly token: Redacted.Redacted<string> }

/** Where credentials come from: a lookup by registry host (`host[:port]`). */
export type CredentialsLookup = (registry: string) => Effect.Effect<Option.Option<Credentials>>

/** How the policy authenticates. */
export interface Options {
  /** Credentials per registry host; none means anonymous. */
  readonly credentials?: CredentialsLookup | undefined
  /** Is this registry host insecure (plain http allowed, token realm may be http)? */
  readonly insecure?: ((host: string) => boolean) | undefined
  /** `client_id` sent to token servers (default `dockside`). */
  readonly clientId?: string | undefined
}

/** The most a token response may hold. */
export const maxTokenBody = 1024 * 1024

/** What a request needs: the scopes of its path and method (`/v2/<name>/…`, `/v2/_catalog`). */
export const scopesFor = (request: HttpClientRequest.HttpClientRequest): ReadonlyArray<Challenge.Scope> => {
  const url = new URL(request.url)
  if (url.pathname === "/v2/_catalog") return [{ type: "registry", name: "catalog", actions: ["*"] }]
  const match = /^\/v2\/(.+?)\/(?:manifests|blobs|tags|referrers)\//.exec(url.pathname)
  if (match === null) return []
  const name = match[1]!
  const actions = request.method === "GET" || request.method === "HEAD"
    ? ["pull"]
    : request.method === "DELETE"
    ? ["delete"]
    : ["pull", "push"]
  const from = url.searchParams.get("from")
  return from !== null && url.searchParams.has("mount")
    ? [Challenge.repositoryScope(name, actions), Challenge.repositoryScope(from, ["pull"])]
    : [Challenge.repositoryScope(name, actions)]
}

interface CachedToken {
  readonly token: Redacted.Redacted<string>
  /** When to fetch a new one (before the server's expiry). */
  readonly renewAt: number
}

const basicHeader = (username: string, password: Redacted.Redacted<string>): string =>
  `Basic ${Buffer.from(`${username}:${Redacted.value(password)}`).toString("base64")}`

const readLimited = (response: HttpClientResponse.HttpClientResponse, limit: number) =>
  Effect.gen(function*() {
    const parts: Array<Uint8Array> = []
    let size = 0
    yield* Stream.runForEachWhile(response.stream, (bytes) =>
      Effect.sync(() => {
        size += bytes.length
        if (size <= limit) parts.push(bytes)
        return size <= limit
      }))
    return { bytes: Buffer.concat(parts), tooLarge: size > limit }
  })

/** Add v2 auth to a client (see the module documentation). */
export const withV2Auth = (options: Options = {}) => (self: HttpClient.HttpClient): HttpClient.HttpClient => {
  const challenges = new Map<string, ReadonlyArray<Challenge.Challenge>>()
  const tokens = new Map<string, CachedToken>()
  const fetching = SingleFlight.make<string, CachedToken, HttpClientError.HttpClientError>()
  const insecure = options.insecure ?? (() => false)

  // Looked up once per host, also by requests that start together (a credential helper is
  // a process per lookup, and may ask its user).
  const known = new Map<string, Option.Option<Credentials>>()
  const lookingUp = SingleFlight.make<string, Option.Option<Credentials>, never>()
  const credentialsFor = (host: string): Effect.Effect<Option.Option<Credentials>> => {
    const lookup = options.credentials
    if (lookup === undefined) return Effect.succeed(Option.none())
    return Effect.suspend(() => {
      const cached = known.get(host)
      if (cached !== undefined) return Effect.succeed(cached)
      return lookingUp(host, Effect.tap(lookup(host), (found) => Effect.sync(() => known.set(host, found))))
    })
  }

  const fail = (request: HttpClientRequest.HttpClientRequest, cause: HttpErrors.TransportError) =>
    Effect.fail(HttpErrors.requestError(request, cause))

  /** Fetch a token from the challenge's realm. */
  const fetchToken = (
    request: HttpClientRequest.HttpClientRequest,
    registry: URL,
    challenge: Challenge.Challenge,
    scopes: ReadonlyArray<string>
  ): Effect.Effect<CachedToken, HttpClientError.HttpClientError> =>
    Effect.gen(function*() {
      const realm = challenge.realm
      if (realm === undefined) {
        return yield* fail(
          request,
          new Errors.ConnectionFailed({
            method: request.method,
            url: Errors.redactUrl(request.url),
            reason: "the registry's Bearer challenge has no realm"
          })
        )
      }
      let realmUrl: URL
      try {
        realmUrl = new URL(realm)
      } catch {
        return yield* fail(
          request,
          new Errors.ConnectionFailed({
            method: request.method,
            url: Errors.redactUrl(request.url),
            reason: `the token realm "${Errors.excerpt(realm)}" is not a URL`
          })
        )
      }
      if (realmUrl.protocol !== "https:" && !insecure(registry.host)) {
        return yield* fail(
          request,
          new Errors.ConnectionFailed({
            method: request.method,
            url: Errors.redactUrl(request.url),
            reason: `refusing to send credentials to the token realm ${
              Errors.redactUrl(realmUrl.href)
            }: it is not https`
          })
        )
      }
      const credentials = yield* credentialsFor(registry.host)
      const service = challenge.service
      const get = () => {
        const url = new URL(realmUrl)
        if (service !== undefined) url.searchParams.set("service", service)
        for (const scope of scopes) url.searchParams.append("scope", scope)
        const headers: Record<string, string> = {}
        if (Option.isSome(credentials) && credentials.value._tag === "Basic") {
          headers["authorization"] = basicHeader(credentials.value.username, credentials.value.password)
        }
        if (Option.isSome(credentials) && credentials.value._tag === "IdentityToken" && credentials.value.username) {
          url.searchParams.set("account", credentials.value.username)
        }
        return HttpClientRequest.get(url, { headers })
      }
      const refresh = (token: Redacted.Redacted<string>) => {
        const form = new URLSearchParams({
          grant_type: "refresh_token",
          refresh_token: Redacted.value(token),
          client_id: options.clientId ?? "dockside"
        })
        if (service !== undefined) form.set("service", service)
        if (scopes.length > 0) form.set("scope", scopes.join(" "))
        return HttpClientRequest.post(realmUrl).pipe(
          HttpClientRequest.bodyText(form.toString(), "application/x-www-form-urlencoded")
        )
      }
      const identity = Option.isSome(credentials) && credentials.value._tag === "IdentityToken"
        ? Option.some(credentials.value.token)
        : Option.none()
      let tokenRequest = Option.match(identity, { onNone: get, onSome: refresh })
      let response = yield* self.execute(tokenRequest)
      if (response.status === 404 && Option.isSome(identity)) {
        // Token servers without OAuth2 POST support: fall back to the GET flow.
        yield* Stream.runDrain(response.stream).pipe(Effect.ignore)
        tokenRequest = get()
        response = yield* self.execute(tokenRequest)
      }
      const { bytes, tooLarge } = yield* readLimited(response, maxTokenBody)
      const at = { method: tokenRequest.method, url: Errors.redactUrl(realmUrl.href) }
      if (tooLarge) {
        return yield* fail(
          request,
          new Errors.ConnectionFailed({ ...at, reason: `the token response exceeds ${maxTokenBody} bytes` })
        )
      }
      if (response.status === 401 || response.status === 403) {
        return yield* fail(
          request,
          new Errors.ConnectionFailed({
            ...at,
            reason: `the token server refused the credentials (HTTP ${response.status})`
          })
        )
      }
      if (response.status !== 200) {
        return yield* fail(
          request,
          new Errors.ConnectionFailed({
            ...at,
            reason: `the token server answered HTTP ${response.status}: ${Errors.excerpt(bytes.toString("utf8"))}`
          })
        )
      }
      const body = Either.try(() => JSON.parse(bytes.toString("utf8")) as Record<string, unknown>)
      const value = Either.isRight(body) && typeof body.right === "object" && body.right !== null ? body.right : {}
      const token = typeof value["token"] === "string" && value["token"] !== ""
        ? value["token"]
        : typeof value["access_token"] === "string"
        ? value["access_token"]
        : undefined
      if (token === undefined || token === "") {
        return yield* fail(request, new Errors.ConnectionFailed({ ...at, reason: "the token response holds no token" }))
      }
      const expiresIn = typeof value["expires_in"] === "number" && value["expires_in"] > 0 ? value["expires_in"] : 60
      const now = yield* Clock.currentTimeMillis
      // Renew at 90 % of the lifetime, and at least 5 s before the end.
      const lifetime = expiresIn * 1000
      return { token: Redacted.make(token), renewAt: now + Math.min(lifetime * 0.9, Math.max(0, lifetime - 5000)) }
    })

  /** A token for the key, fetched once even when several requests want it at the same time. */
  const tokenFor = (
    request: HttpClientRequest.HttpClientRequest,
    registry: URL,
    challenge: Challenge.Challenge,
    scopes: ReadonlyArray<string>,
    refused: Option.Option<string>
  ): Effect.Effect<CachedToken, HttpClientError.HttpClientError> =>
    Effect.gen(function*() {
      const key = `${registry.host} ${[...scopes].sort().join(" ")}`
      const now = yield* Clock.currentTimeMillis
      const cached = tokens.get(key)
      // A token the registry just refused is fetched anew; one that another request has
      // renewed meanwhile is used as it is.
      const usable = cached !== undefined && cached.renewAt > now &&
        !(Option.isSome(refused) && `Bearer ${Redacted.value(cached.token)}` === refused.value)
      if (usable) return cached
      return yield* fetching(
        key,
        Effect.tap(
          fetchToken(request, registry, challenge, scopes),
          (token) => Effect.sync(() => tokens.set(key, token))
        )
      )
    })

  /** The Authorization header for a request under the registry's known challenges, if any. */
  const authorization = (
    request: HttpClientRequest.HttpClientRequest,
    registry: URL,
    refused: Option.Option<string>,
    extraScopes: ReadonlyArray<string>
  ): Effect.Effect<Option.Option<string>, HttpClientError.HttpClientError> =>
    Effect.gen(function*() {
      const known = challenges.get(registry.origin)
      if (known === undefined) return Option.none()
      const credentials = yield* credentialsFor(registry.host)
      if (Option.isSome(credentials) && credentials.value._tag === "BearerToken") {
        return Option.some(`Bearer ${Redacted.value(credentials.value.token)}`)
      }
      const bearer = known.find((c) => c.scheme === "Bearer")
      if (bearer !== undefined) {
        const scopes = [...new Set([...Challenge.tokenScopes(bearer, scopesFor(request)), ...extraScopes])]
        const token = yield* tokenFor(request, registry, bearer, scopes, refused)
        return Option.some(`Bearer ${Redacted.value(token.token)}`)
      }
      if (known.some((c) => c.scheme === "Basic") && Option.isSome(credentials) && credentials.value._tag === "Basic") {
        return Option.some(basicHeader(credentials.value.username, credentials.value.password))
      }
      return Option.none()
    })

  const send = (
    request: HttpClientRequest.HttpClientRequest,
    header: Option.Option<string>
  ) =>
    self.execute(
      Option.match(header, {
        onNone: () => request,
        onSome: (value) => HttpClientRequest.setHeader(request, "authorization", value)
      })
    )

  return HttpClient.makeWith<never, never, HttpClientError.HttpClientError, never>(
    (requestEffect) =>
      Effect.flatMap(requestEffect, (request) =>
        Effect.gen(function*() {
          const registry = new URL(request.url)
          // A request that already carries Authorization (set by the caller) is left alone, and so
          // is any request that is not to a registry API path.
          if (request.headers["authorization"] !== undefined || !registry.pathname.startsWith("/v2/")) {
            return yield* self.execute(request)
          }
          if (registry.protocol !== "https:" && !insecure(registry.host)) return yield* self.execute(request)
          const sent = yield* authorization(request, registry, Option.none(), [])
          const response = yield* send(request, sent)
          if (response.status !== 401) return response
          const header = Headers.get(response.headers, "www-authenticate")
          if (Option.isNone(header)) return response
          const parsed = yield* Effect.either(Challenge.parse(header.value))
          if (Either.isLeft(parsed) || parsed.right.length === 0) return response
          challenges.set(registry.origin, parsed.right)
          // Ask again once, with a fresh token (first challenge, expiry, insufficient scope),
          // and only when the body can be sent again.
          const insufficient = parsed.right.some((c) => c.error === "insufficient_scope")
          if (!Retry.isReplayable(request)) return response
          yield* Stream.runDrain(response.stream).pipe(Effect.ignore)
          const extra = parsed.right.flatMap((c) => c.scope)
          return yield* send(request, yield* authorization(request, registry, sent, insufficient ? extra : []))
        })),
    Effect.succeed
  )
}
