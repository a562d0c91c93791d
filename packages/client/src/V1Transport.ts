/**
 * The HTTP behaviour of a Docker v1 session (spec §2–§3), as a policy over an
 * `HttpClient`: the `X-Docker-Token` cache, Basic for token-requesting calls,
 * always-Basic for standalone https registries, no credentials over plain http unless
 * the host is insecure, cookies kept per host, and a bounded redirect loop whose hops to
 * untrusted hosts never carry `Authorization`.
 *
 * @since 0.1.0
 */
import * as Errors from "@dockside/protocol/Errors"
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"

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
  /** `host[:port]` names that may get credentials over plain http (loopback always may). */
  readonly insecureHosts?: ReadonlyArray<string> | undefined
  readonly userAgent?: string | undefined
  /** Extra headers sent with every request (Docker's "meta headers"). */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** Redirect hops before `TooManyRedirects` (default 10). */
  readonly maxRedirects?: number | undefined
}

/** Failures of sending one request, redirects included. */
export type TransportError = Errors.ConnectionFailed | Errors.NetworkTimeout | Errors.TooManyRedirects

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

const loopback = (hostname: string): boolean =>
  hostname === "localhost" || hostname === "[::1]" || hostname === "::1" || /^127\.\d+\.\d+\.\d+$/.test(hostname)

/** May credentials go to this URL? Always over https; over http only to insecure hosts. */
export const mayCarryCredentials = (url: URL, insecureHosts: ReadonlyArray<string>): boolean =>
  url.protocol === "https:" || loopback(url.hostname) || insecureHosts.includes(url.host) ||
  insecureHosts.includes(url.hostname)

const isRedirect = (method: string, status: number): boolean =>
  method === "GET" || method === "HEAD"
    ? status === 301 || status === 302 || status === 303 || status === 307 || status === 308
    : status === 302 || status === 303

const basic = (credentials: Credentials): string =>
  `Basic ${Buffer.from(`${credentials.username}:${Redacted.value(credentials.password)}`).toString("base64")}`

/** Turn a platform transport failure into the typed error users see. */
export const transportError = (
  request: HttpClientRequest.HttpClientRequest,
  error: HttpClientError.HttpClientError
): Errors.ConnectionFailed | Errors.NetworkTimeout => {
  const cause = error.cause as { readonly code?: unknown; readonly cause?: { readonly code?: unknown } } | undefined
  const code = String(cause?.code ?? cause?.cause?.code ?? "")
  const url = Errors.redactUrl(request.url)
  if (code === "UND_ERR_CONNECT_TIMEOUT" || code === "ETIMEDOUT") {
    return new Errors.NetworkTimeout({ method: request.method, url, phase: "connect" })
  }
  if (code === "UND_ERR_HEADERS_TIMEOUT") {
    return new Errors.NetworkTimeout({ method: request.method, url, phase: "headers" })
  }
  if (code === "UND_ERR_BODY_TIMEOUT") return new Errors.NetworkTimeout({ method: request.method, url, phase: "body" })
  const reason = cause instanceof Error ? `${code === "" ? "" : `${code}: `}${cause.message}` : error.message
  return new Errors.ConnectionFailed({ method: request.method, url, reason })
}

/** Build the session transport over a platform client. */
export const make = (options: Options = {}): Effect.Effect<V1Transport, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const tokens = yield* Ref.make<ReadonlyArray<string>>([])
    const cookies = new Map<string, Map<string, string>>()
    const insecure = options.insecureHosts ?? []
    const maxRedirects = options.maxRedirects ?? 10
    const fixed = Headers.fromInput({
      ...options.headers,
      ...(options.userAgent ? { "user-agent": options.userAgent } : {})
    })

    const authorize = (request: HttpClientRequest.HttpClientRequest, url: URL, hop: boolean) =>
      Effect.gen(function*() {
        if (hop && !isTrusted(url)) return request
        if (!mayCarryCredentials(url, insecure)) return request
        if (options.alwaysBasic === true) {
          return HttpClientRequest.setHeader(
            request,
            "authorization",
            basic(options.credentials ?? { username: "", password: Redacted.make("") })
          )
        }
        if (request.headers["authorization"] !== undefined) return request
        if (
          request.headers["x-docker-token"] === "true" && options.credentials !== undefined &&
          options.credentials.username !== ""
        ) {
          return HttpClientRequest.setHeader(request, "authorization", basic(options.credentials))
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

    const remember = (response: HttpClientResponse.HttpClientResponse, url: URL, hop: boolean) =>
      Effect.gen(function*() {
        const set = Object.values(response.cookies.cookies)
        if (set.length > 0) {
          const jar = cookies.get(url.host) ?? new Map<string, string>()
          for (const cookie of set) jar.set(cookie.name, cookie.value)
          cookies.set(url.host, jar)
        }
        const token = response.headers["x-docker-token"]
        if (token !== undefined && token !== "" && !(hop && !isTrusted(url))) yield* Ref.set(tokens, [token])
      })

    const send = (
      first: HttpClientRequest.HttpClientRequest,
      request: HttpClientRequest.HttpClientRequest,
      hops: number
    ): Effect.Effect<HttpClientResponse.HttpClientResponse, TransportError> =>
      Effect.gen(function*() {
        const url = new URL(request.url)
        const authorized = yield* authorize(request, url, hops > 0)
        const response = yield* client.execute(withCookies(authorized, url)).pipe(
          Effect.mapError((error) => transportError(request, error))
        )
        yield* remember(response, url, hops > 0)
        const location = Headers.get(response.headers, "location")
        if (!isRedirect(request.method, response.status) || Option.isNone(location)) return response
        // Drain the redirect's body so the connection goes back to the pool.
        yield* Stream.runDrain(response.stream).pipe(Effect.ignore)
        if (hops >= maxRedirects) {
          return yield* new Errors.TooManyRedirects({ method: first.method, url: Errors.redactUrl(first.url), hops })
        }
        const target = new URL(location.value, url)
        // Headers of the first request go to every hop; Authorization only when both ends are trusted.
        const keepAuth = isTrusted(new URL(first.url)) && isTrusted(target)
        const headers = keepAuth ? first.headers : Headers.remove(first.headers, "authorization")
        const next = request.method === "GET" || request.method === "HEAD"
          ? HttpClientRequest.make(request.method)(target, { headers })
          : HttpClientRequest.get(target, { headers: Headers.remove(headers, ["content-type", "content-length"]) })
        return yield* send(first, HttpClientRequest.setHeader(next, "referer", url.href), hops + 1)
      })

    return {
      tokens,
      execute: (request) => {
        const withFixed = HttpClientRequest.setHeaders(request, fixed)
        return send(withFixed, withFixed, 0)
      }
    }
  })
