/**
 * The HTTP behaviour of a Docker v1 session (spec §2–§3), as a policy over an
 * `HttpClient`: the `X-Docker-Token` cache, Basic for token-requesting calls,
 * always-Basic for standalone https registries, no credentials over plain http unless
 * the host is insecure, cookies kept per host, and a bounded redirect loop whose hops to
 * untrusted hosts never carry `Authorization`.
 *
 * @since 0.1.0
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as HttpErrors from "./HttpErrors.js"
import * as InsecureRegistries from "./InsecureRegistries.js"
import * as Redirects from "./Redirects.js"

/** A username and password. */
export interface Credentials {
  readonly username: string
  readonly password: Redacted.Redacted<string>
}

/** How the session's requests are authorised and sent. */
export interface Options {
  readonly credentials?: Credentials | undefined
  /** Standalone https registry: Basic on every request, no token logic (spec §3.1). */
  readonly alwaysBasic?: boolean | undefined
  readonly userAgent?: string | undefined
  /** Extra headers sent with every request (Docker's "meta headers"). */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** Redirect hops before `TooManyRedirects` (default: the context's `RegistryPolicy`, 10). */
  readonly maxRedirects?: number | undefined
}

/** Failures of sending one request, redirects included. */
export type TransportError = HttpErrors.TransportError

/** A v1 session's HTTP client and its token cache. */
export interface V1Transport {
  readonly execute: (
    request: HttpClientRequest.HttpClientRequest
  ) => Effect.Effect<HttpClientResponse.HttpClientResponse, TransportError>
  /** The cached `X-Docker-Token` values (all lines of the latest response that had any). */
  readonly tokens: Ref.Ref<ReadonlyArray<string>>
}

/** Docker's `trustedLocation`: https to docker.com / docker.io or a subdomain. */
export const isTrusted = (url: URL): boolean => {
  const host = url.hostname
  return url.protocol === "https:" &&
    (host === "docker.com" || host === "docker.io" || host.endsWith(".docker.com") || host.endsWith(".docker.io"))
}

/**
 * May credentials go to this URL? Always over https; over http only to insecure hosts,
 * matched on `host[:port]` as the URL writes it (spec §7.3: an entry `example.com` does not
 * cover `example.com:5000`), and to loopback hosts unless the settings say otherwise.
 */
export const mayCarryCredentials = (url: URL, insecure: InsecureRegistries.Settings): boolean =>
  url.protocol === "https:" || InsecureRegistries.isInsecure(insecure, url)

const basic = (credentials: Credentials): string =>
  `Basic ${Buffer.from(`${credentials.username}:${Redacted.value(credentials.password)}`).toString("base64")}`

/** The state of a v1 session's auth: its options, token cache and cookie jar. */
interface AuthState {
  readonly options: Options
  readonly insecure: InsecureRegistries.Settings
  readonly tokens: Ref.Ref<ReadonlyArray<string>>
  /** Cookies per `host[:port]`: never sent to another host. */
  readonly cookies: Map<string, Map<string, string>>
}

/**
 * The v1 session's auth as a policy (spec §3.2): on a redirect hop (a request with a
 * `Referer`) to an untrusted place nothing is added; otherwise always-Basic, or Basic for
 * token-requesting calls when a username is known, or the cached token; cookies of the
 * host; and every `X-Docker-Token` answer replaces the token cache.
 */
const withV1Auth = (state: AuthState) => (self: HttpClient.HttpClient): HttpClient.HttpClient => {
  const { cookies, insecure, options, tokens } = state
  const authorize = (request: HttpClientRequest.HttpClientRequest, url: URL) =>
    Effect.gen(function*() {
      if (request.headers["referer"] !== undefined && !isTrusted(url)) return request
      if (!mayCarryCredentials(url, insecure)) return request
      if (options.alwaysBasic === true) {
        return HttpClientRequest.setHeader(
          request,
          "authorization",
          basic(options.credentials ?? { username: "", password: Redacted.make("") })
        )
      }
      if (request.headers["authorization"] !== undefined) return request
      const credentials = options.credentials
      if (request.headers["x-docker-token"] === "true" && credentials !== undefined && credentials.username !== "") {
        return HttpClientRequest.setHeader(request, "authorization", basic(credentials))
      }
      const cached = yield* Ref.get(tokens)
      return cached.length > 0
        ? HttpClientRequest.setHeader(request, "authorization", `Token ${cached.join(",")}`)
        : request
    })
  const withCookies = (request: HttpClientRequest.HttpClientRequest, url: URL) => {
    const jar = cookies.get(url.host)
    if (jar === undefined || jar.size === 0) return request
    return HttpClientRequest.setHeader(
      request,
      "cookie",
      [...jar].map(([name, value]) => `${name}=${value}`).join("; ")
    )
  }
  const remember = (response: HttpClientResponse.HttpClientResponse, url: URL) =>
    Effect.gen(function*() {
      const set = Object.values(response.cookies.cookies)
      if (set.length > 0) {
        const jar = cookies.get(url.host) ?? new Map<string, string>()
        for (const cookie of set) jar.set(cookie.name, cookie.value)
        cookies.set(url.host, jar)
      }
      const token = response.headers["x-docker-token"]
      if (token !== undefined && token !== "") yield* Ref.set(tokens, [token])
    })
  return HttpClient.makeWith<never, never, HttpClientError.HttpClientError, never>(
    (requestEffect) =>
      Effect.flatMap(requestEffect, (request) => {
        const url = new URL(request.url)
        const hopToUntrusted = request.headers["referer"] !== undefined && !isTrusted(url)
        return authorize(request, url).pipe(
          Effect.flatMap((authorized) => self.execute(withCookies(authorized, url))),
          Effect.tap((response) => hopToUntrusted ? Effect.void : remember(response, url))
        )
      }),
    Effect.succeed
  )
}

/**
 * Build the session transport over the context's `HttpClient` (with whatever retry and
 * timeout policies it carries): v1 auth inside a redirect loop whose hops keep
 * `Authorization` only between trusted Docker hosts (spec §2).
 */
export const make = (options: Options = {}): Effect.Effect<V1Transport, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const base = yield* HttpClient.HttpClient
    // Credentials over plain http only to the runtime's insecure registries.
    const insecure = yield* InsecureRegistries.InsecureRegistries
    const tokens = yield* Ref.make<ReadonlyArray<string>>([])
    const fixed = Headers.fromInput({
      ...options.headers,
      ...(options.userAgent ? { "user-agent": options.userAgent } : {})
    })
    const client = base.pipe(
      withV1Auth({ options, insecure, tokens, cookies: new Map() }),
      Redirects.withRedirects({
        maxHops: options.maxRedirects,
        keepCredentials: (first, to) => isTrusted(first) && isTrusted(to)
      })
    )
    return {
      tokens,
      execute: (request) => {
        const withFixed = HttpClientRequest.setHeaders(request, fixed)
        return client.execute(withFixed).pipe(
          Effect.mapError((error) => HttpErrors.fromHttpClientError(withFixed, error))
        )
      }
    }
  })
