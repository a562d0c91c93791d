/**
 * The redirect policy: our own loop instead of the platform's `followRedirects` (which
 * forwards `Authorization` to any host). Bounded hops, relative `Location` resolved,
 * 303 → GET; 301, 302, 307 and 308 keep the method and the body, and are not followed when
 * the body cannot be replayed (a PUT or DELETE that became a GET, as browsers turn a POST,
 * would report the GET's success as its own); no https → http downgrade, credentials and
 * cookies only for the origin that earned them, and every redirect body drained so its
 * connection returns to the pool.
 *
 * @since 0.1.0
 */
import * as Errors from "@dockside/protocol/Errors"
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as HttpErrors from "./HttpErrors.js"
import * as Progress from "./Progress.js"
import * as RegistryPolicy from "./RegistryPolicy.js"
import * as Retry from "./Retry.js"

/** How redirects are followed. */
export interface RedirectOptions {
  /** Hops before `TooManyRedirects`; default from the context's `RegistryPolicy` (10). */
  readonly maxHops?: number | undefined
  /**
   * May the first request's credentials (`Authorization`, `Cookie`) go to `to`? Default:
   * only to the first request's own origin. (The v1 session also allows hops between
   * trusted Docker hosts.)
   */
  readonly keepCredentials?: ((first: URL, to: URL) => boolean) | undefined
}

const redirectStatuses = new Set([301, 302, 303, 307, 308])
const credentialHeaders = ["authorization", "cookie", "proxy-authorization"]

/**
 * Read a redirect's body so its connection returns to the pool; past 64 KiB the body is
 * cut instead (the connection is then closed).
 */
const drain = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<void> =>
  Stream.runFoldWhile(response.stream, 0, (read) => read < 65536, (read, bytes) => read + bytes.length).pipe(
    Effect.ignore
  )

/** What a hop's `Referer` shows of the previous URL: no user-info, no query (Go drops user-info too). */
const referer = (from: URL): string => `${from.origin}${from.pathname}`

/** Follow redirects. A hop carries the first request's headers and a `Referer`. */
export const withRedirects =
  (options: RedirectOptions = {}) => (self: HttpClient.HttpClient): HttpClient.HttpClient => {
    const keep = options.keepCredentials ?? ((first: URL, to: URL) => first.origin === to.origin)
    const loop = (
      maxHops: number,
      first: HttpClientRequest.HttpClientRequest,
      request: HttpClientRequest.HttpClientRequest,
      hops: number
    ): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError> =>
      Effect.flatMap(self.execute(request), (response) => {
        const location = response.headers["location"]
        if (!redirectStatuses.has(response.status) || location === undefined) return Effect.succeed(response)
        const from = new URL(request.url)
        let to: URL
        try {
          to = new URL(location, from)
        } catch {
          return Effect.succeed(response)
        }
        const at = { method: first.method, url: Errors.redactUrl(first.url) }
        if (from.protocol === "https:" && to.protocol !== "https:") {
          return Effect.zipRight(
            drain(response),
            Effect.fail(HttpErrors.requestError(
              request,
              new Errors.RedirectRefused({
                ...at,
                location: Errors.redactUrl(to.href),
                reason: "a redirect from https to http is refused"
              })
            ))
          )
        }
        if (hops >= maxHops) {
          return Effect.zipRight(
            drain(response),
            Effect.fail(HttpErrors.requestError(request, new Errors.TooManyRedirects({ ...at, hops })))
          )
        }
        const toGet = response.status === 303 && request.method !== "HEAD"
        // The other redirects resend the body: only possible when it can be replayed.
        if (!toGet && !Retry.isReplayable(request)) return Effect.succeed(response)
        let headers = keep(new URL(first.url), to) ? first.headers : Headers.remove(first.headers, credentialHeaders)
        if (toGet) headers = Headers.remove(headers, ["content-type", "content-length"])
        const next = toGet
          ? HttpClientRequest.get(to, { headers })
          : HttpClientRequest.make(request.method)(to, { headers, body: request.body })
        return drain(response).pipe(
          Effect.zipRight(Progress.publish(Progress.Event.Redirected({
            method: request.method,
            from: Errors.redactUrl(from.href),
            to: Errors.redactUrl(to.href),
            status: response.status
          }))),
          Effect.zipRight(
            Effect.suspend(() =>
              loop(maxHops, first, HttpClientRequest.setHeader(next, "referer", referer(from)), hops + 1)
            )
          )
        )
      })
    return HttpClient.makeWith<never, never, HttpClientError.HttpClientError, never>(
      (requestEffect) =>
        Effect.flatMap(requestEffect, (request) =>
          Effect.flatMap(
            options.maxHops === undefined
              ? Effect.map(RegistryPolicy.RegistryPolicy, (policy) => policy.redirects.maxHops)
              : Effect.succeed(options.maxHops),
            (maxHops) => loop(maxHops, request, request, 0)
          )),
      Effect.succeed
    )
  }
