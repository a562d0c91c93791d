/**
 * The retry policy: exponential backoff with jitter, a bounded number of attempts,
 * `Retry-After` honoured, and an exhausted retry that is a typed failure, never a
 * success. Only requests whose body can be sent again are repeated.
 *
 * @since 0.1.0
 */
import * as Errors from "@dockside/protocol/Errors"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as HttpErrors from "./HttpErrors.js"
import * as Progress from "./Progress.js"
import * as RegistryPolicy from "./RegistryPolicy.js"

/** May this request's body be sent again? Only empty and in-memory bodies can be replayed. */
export const isReplayable = (request: HttpClientRequest.HttpClientRequest): boolean =>
  request.body._tag === "Empty" || request.body._tag === "Uint8Array"

/** Methods that may be repeated without changing the result (RFC 9110 §9.2.2). */
const idempotent = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS"])

/** May the retry policy repeat this request: an idempotent method with a replayable body. */
export const isRetryable = (request: HttpClientRequest.HttpClientRequest): boolean =>
  idempotent.has(request.method) && isReplayable(request)

/** An IMF-fixdate, the one date form `Retry-After` should carry: `Sun, 06 Nov 1994 08:49:37 GMT`. */
const httpDate = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/

/**
 * The wait a response asks for, from `Retry-After` (seconds or an HTTP date),
 * `RateLimit-Reset` (seconds) or `X-RateLimit-Reset` (epoch seconds); undefined when none.
 */
export const requestedWait = (
  headers: Readonly<Record<string, string>>,
  now: number
): Duration.Duration | undefined => {
  const retryAfter = headers["retry-after"]?.trim()
  if (retryAfter !== undefined && retryAfter !== "") {
    if (/^\d+$/.test(retryAfter)) return Duration.seconds(Number(retryAfter))
    if (httpDate.test(retryAfter)) return Duration.millis(Math.max(0, Date.parse(retryAfter) - now))
  }
  const reset = headers["ratelimit-reset"]?.trim()
  if (reset !== undefined && /^\d+$/.test(reset)) return Duration.seconds(Number(reset))
  const epoch = headers["x-ratelimit-reset"]?.trim()
  if (epoch !== undefined && /^\d+$/.test(epoch)) return Duration.millis(Math.max(0, Number(epoch) * 1000 - now))
  return undefined
}

/** The backoff before attempt `attempt + 1`: base × 2^(attempt−1), capped, jittered by ±20 %. */
const backoff = (policy: RegistryPolicy.RetryPolicy, attempt: number): Effect.Effect<Duration.Duration> =>
  Effect.map(Random.nextRange(0.8, 1.2), (jitter) => {
    const base = Duration.toMillis(policy.baseDelay) * 2 ** (attempt - 1)
    return Duration.millis(Math.round(Math.min(base, Duration.toMillis(policy.maxDelay)) * jitter))
  })

/** Read at most 64 KiB of a body (for the message); the rest releases the connection or is cut. */
const bodyText = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<string> =>
  Stream.runFoldWhile(
    response.stream,
    "",
    (text) => text.length < 65536,
    (text, bytes) => text + Buffer.from(bytes).toString("utf8")
  ).pipe(Effect.orElseSucceed(() => ""))

/**
 * Retry transient failures of idempotent requests with replayable bodies: network errors
 * and the policy's statuses (408, 429, 500, 502, 503, 504 by default). The settings come from `options`, else from the
 * {@link RegistryPolicy.RegistryPolicy} in the context at request time.
 */
export const withRetry =
  (options?: RegistryPolicy.RetryPolicy) => (self: HttpClient.HttpClient): HttpClient.HttpClient => {
    const loop = (
      policy: RegistryPolicy.RetryPolicy,
      request: HttpClientRequest.HttpClientRequest,
      attempt: number
    ): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError> => {
      const at = { method: request.method, url: Errors.redactUrl(request.url) }
      const again = (status: number, reason: string, delay: Duration.Duration) =>
        Progress.publish(Progress.Event.Retrying({ ...at, attempt, status, reason, delay })).pipe(
          Effect.zipRight(Effect.sleep(delay)),
          Effect.zipRight(Effect.suspend(() => loop(policy, request, attempt + 1)))
        )
      return self.execute(request).pipe(
        Effect.matchEffect({
          onFailure: (error) => {
            const typed = HttpErrors.carriedError(error)
            const network = error._tag === "RequestError" && error.reason === "Transport" &&
              (typed === undefined || typed._tag === "ConnectionFailed" || typed._tag === "NetworkTimeout") &&
              !HttpErrors.isCertificateError(error)
            // With a single attempt there is nothing to exhaust: the failure stays what it is.
            if (!network || !isRetryable(request) || policy.attempts <= 1) return Effect.fail(error)
            const reason = HttpErrors.fromHttpClientError(request, error).message
            if (attempt >= policy.attempts) {
              return Effect.fail(HttpErrors.requestError(
                request,
                new Errors.RetriesExhausted({ ...at, attempts: attempt, lastStatus: 0, reason })
              ))
            }
            return Effect.flatMap(backoff(policy, attempt), (delay) => again(0, reason, delay))
          },
          onSuccess: (response) =>
            Effect.gen(function*() {
              if (!policy.statuses.includes(response.status) || !isRetryable(request) || policy.attempts <= 1) {
                return response
              }
              const now = yield* Clock.currentTimeMillis
              const asked = requestedWait(response.headers, now)
              const body = yield* bodyText(response)
              if (response.status === 429 && asked !== undefined && Duration.greaterThan(asked, policy.maxRetryAfter)) {
                return yield* Effect.fail(HttpErrors.requestError(
                  request,
                  new Errors.RateLimited({
                    ...at,
                    resetsAt: new Date(now + Duration.toMillis(asked)),
                    detail: body.trim() === "" ? "HTTP 429 Too Many Requests" : body.trim()
                  })
                ))
              }
              if (attempt >= policy.attempts) {
                return yield* Effect.fail(HttpErrors.requestError(
                  request,
                  new Errors.RetriesExhausted({
                    ...at,
                    attempts: attempt,
                    lastStatus: response.status,
                    reason: body.trim()
                  })
                ))
              }
              // The server's wait when it asks for one (capped), never less than the backoff.
              const delay = Duration.max(
                Duration.min(asked ?? Duration.zero, policy.maxRetryAfter),
                yield* backoff(policy, attempt)
              )
              return yield* again(response.status, body.trim(), delay)
            })
        })
      )
    }
    return HttpClient.makeWith<never, never, HttpClientError.HttpClientError, never>(
      (requestEffect) =>
        Effect.flatMap(requestEffect, (request) =>
          Effect.flatMap(
            options === undefined
              ? Effect.map(RegistryPolicy.RegistryPolicy, (policy) => policy.retry)
              : Effect.succeed(options),
            (policy) => loop(policy, request, 1)
          )),
      Effect.succeed
    )
  }

/**
 * Run a streamed transfer (an upload, a download into a file) as a unit: the retry policy
 * cannot replay a streamed body or resume where the server does not allow it, so a failure
 * that `isTransient` accepts starts the whole transfer again, with the context's retry
 * settings (attempts, exponential backoff with jitter, capped).
 */
export const asUnit = <A, E, R>(
  transfer: Effect.Effect<A, E, R>,
  isTransient: (error: E) => boolean
): Effect.Effect<A, E, R> =>
  Effect.flatMap(RegistryPolicy.RegistryPolicy, ({ retry }) =>
    Effect.retry(transfer, {
      schedule: Schedule.exponential(retry.baseDelay).pipe(
        Schedule.jittered,
        Schedule.either(Schedule.spaced(retry.maxDelay)),
        Schedule.intersect(Schedule.recurs(retry.attempts - 1))
      ),
      while: isTransient
    }))
