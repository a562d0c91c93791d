/**
 * The timeout policy: a limit on the wait for response headers, and a body idle timeout
 * (a stalled body fails with `NetworkTimeout`; `Stream.timeout` would silently truncate
 * it). Neither cuts a slow but moving download; an overall deadline is per operation,
 * with {@link deadline}.
 *
 * @since 0.1.0
 */
import * as Errors from "@dockside/protocol/Errors"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as HttpErrors from "./HttpErrors.js"
import * as RegistryPolicy from "./RegistryPolicy.js"

/** Pieces (socket reads: up to 64 KiB each) a body may read ahead of its consumer. */
const readAhead = 16

const at = (request: HttpClientRequest.HttpClientRequest) => ({
  method: request.method,
  url: Errors.redactUrl(request.url)
})

/** The end of a read-ahead queue: how the source ended. */
class Ended<E> {
  constructor(readonly exit: Exit.Exit<void, E>) {}
}

/**
 * `stream`, failing with `onIdle()` when it has been waited for longer than `idle` (time
 * the consumer takes does not count). A producer fiber pulls `stream` into a small bounded
 * queue and one watchdog fiber checks the time of the last chunk: no fiber or timer per
 * chunk (`Stream.timeoutFail` forks a race per pull, which cost more than the transfer
 * itself on a fast link). A consumer that falls behind takes everything queued as one chunk.
 */
const idleTimeout = <A, E, R, E2>(
  stream: Stream.Stream<A, E, R>,
  idle: Duration.DurationInput,
  onIdle: () => E2
): Stream.Stream<A, E | E2, R> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const clock = yield* Effect.clock
    const idleMs = Duration.toMillis(idle)
    const queue = yield* Effect.acquireRelease(Queue.bounded<A | Ended<E | E2>>(readAhead), Queue.shutdown)
    // Since when the producer waits for the source; undefined while it waits for the queue.
    let waitingSince: number | undefined = clock.unsafeCurrentTimeMillis()
    const producer = yield* stream.pipe(
      Stream.runForEachChunk((chunk) => {
        waitingSince = undefined
        return Effect.map(Queue.offerAll(queue, chunk), () => {
          waitingSince = clock.unsafeCurrentTimeMillis()
        })
      }),
      Effect.exit,
      Effect.flatMap((exit) => {
        waitingSince = undefined
        return Queue.offer(queue, new Ended(exit))
      }),
      Effect.forkScoped
    )
    yield* Effect.gen(function*() {
      while (true) {
        const waited = waitingSince === undefined ? 0 : clock.unsafeCurrentTimeMillis() - waitingSince
        if (waited >= idleMs) break
        yield* Effect.sleep(Duration.millis(idleMs - waited))
      }
      yield* Fiber.interrupt(producer)
      yield* Queue.offer(queue, new Ended<E | E2>(Exit.fail(onIdle())))
    }).pipe(Effect.forkScoped)
    let ended: Exit.Exit<void, E | E2> | undefined
    const take = Effect.suspend((): Effect.Effect<Chunk.Chunk<A>, Option.Option<E | E2>> => {
      if (ended !== undefined) return Exit.isSuccess(ended) ? Effect.fail(Option.none()) : failed(ended.cause)
      return Effect.flatMap(Queue.takeBetween(queue, 1, readAhead), (items) => {
        const last = Chunk.unsafeLast(items)
        if (!(last instanceof Ended)) return Effect.succeed(items as Chunk.Chunk<A>)
        ended = last.exit
        const data = Chunk.dropRight(items, 1) as Chunk.Chunk<A>
        return Chunk.isNonEmpty(data) ? Effect.succeed(data) : take
      })
    })
    return Stream.repeatEffectChunkOption(take)
  }))

const failed = <E>(cause: Cause.Cause<E>): Effect.Effect<never, Option.Option<E>> =>
  Effect.failCause(Cause.map(cause, Option.some))

/** A response whose body fails with `NetworkTimeout` when no bytes arrive for `idle`. */
const withIdleBody = (
  response: HttpClientResponse.HttpClientResponse,
  idle: Duration.DurationInput
): HttpClientResponse.HttpClientResponse => {
  const stream: Stream.Stream<Uint8Array, HttpClientError.ResponseError> = idleTimeout(
    response.stream,
    idle,
    () => HttpErrors.responseError(response, new Errors.NetworkTimeout({ ...at(response.request), phase: "body" }))
  )
  const bytes = Effect.map(Stream.runCollect(stream), (chunks) => Buffer.concat(Chunk.toReadonlyArray(chunks)))
  const text = Effect.map(bytes, (buffer) => buffer.toString("utf8"))
  // Same response, but every way of reading the body goes through the idle timeout.
  return Object.create(response, {
    stream: { get: () => stream },
    arrayBuffer: {
      get: () =>
        Effect.map(bytes, (buffer) => buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.length))
    },
    text: { get: () => text },
    json: {
      get: () =>
        Effect.flatMap(text, (body) =>
          Effect.try({
            try: (): unknown => JSON.parse(body),
            catch: (cause) =>
              HttpErrors.responseError(
                response,
                new Errors.ConnectionFailed({ ...at(response.request), reason: `invalid JSON body: ${String(cause)}` })
              )
          }))
    }
  }) as HttpClientResponse.HttpClientResponse
}

/**
 * A streamed request body that tells when it has been sent, and fails with `NetworkTimeout`
 * when its source gives no bytes for `idle`.
 */
const trackedBody = (
  request: HttpClientRequest.HttpClientRequest,
  idle: Duration.DurationInput,
  sent: Deferred.Deferred<void>
): HttpClientRequest.HttpClientRequest => {
  if (request.body._tag !== "Stream") return request
  const body = request.body
  const stream = idleTimeout(
    body.stream,
    idle,
    () => new Errors.NetworkTimeout({ ...at(request), phase: "body" })
  ).pipe(Stream.ensuring(Deferred.succeed(sent, undefined)))
  return HttpClientRequest.bodyStream(request, stream, {
    contentType: body.contentType,
    ...(body.contentLength === undefined ? {} : { contentLength: body.contentLength })
  })
}

/**
 * Call `done` once a raw body that is a Node-style stream (a file body of `NodeFileBodies`)
 * has been read to its end, or closed; false for any other raw body.
 */
const whenRead = (body: unknown, done: () => void): boolean => {
  const emitter = body as { readonly once?: unknown; readonly read?: unknown } | null
  if (typeof emitter !== "object" || emitter === null) return false
  if (typeof emitter.once !== "function" || typeof emitter.read !== "function") return false
  for (const event of ["end", "close", "error"]) (emitter.once as (event: string, f: () => void) => void)(event, done)
  return true
}

/**
 * Fail with `NetworkTimeout` when the response headers take longer than the policy's
 * `headers` timeout after the request was sent (for a streamed upload, an Effect `Stream`
 * or a Node stream, the clock starts once its body has gone, so a long upload that keeps
 * moving is never cut; an Effect `Stream` source gets the idle timeout instead), and give
 * the response body an idle timeout.
 */
export const withTimeouts =
  (options?: RegistryPolicy.TimeoutPolicy) => (self: HttpClient.HttpClient): HttpClient.HttpClient =>
    HttpClient.makeWith<never, never, HttpClientError.HttpClientError, never>(
      (requestEffect) =>
        Effect.flatMap(requestEffect, (request) =>
          Effect.gen(function*() {
            const policy = options ?? (yield* RegistryPolicy.RegistryPolicy).timeouts
            const sent = yield* Deferred.make<void>()
            const streamed = request.body._tag === "Stream" ||
              (request.body._tag === "Raw" && whenRead(request.body.body, () => Deferred.unsafeDone(sent, Exit.void)))
            if (!streamed) yield* Deferred.succeed(sent, undefined)
            const headersTimer = Deferred.await(sent).pipe(
              Effect.zipRight(Effect.sleep(policy.headers)),
              Effect.zipRight(Effect.fail(
                HttpErrors.requestError(request, new Errors.NetworkTimeout({ ...at(request), phase: "headers" }))
              ))
            )
            const response = yield* Effect.raceFirst(
              self.execute(trackedBody(request, policy.bodyIdle, sent)),
              headersTimer
            )
            return withIdleBody(response, policy.bodyIdle)
          })),
      Effect.succeed
    )

/** An overall deadline for one operation: `NetworkTimeout` (phase `deadline`) when it runs out. */
export const deadline =
  (duration: Duration.DurationInput, what: { readonly method: string; readonly url: string }) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | Errors.NetworkTimeout, R> =>
    Effect.timeoutFail(effect, {
      duration,
      onTimeout: () =>
        new Errors.NetworkTimeout({ method: what.method, url: Errors.redactUrl(what.url), phase: "deadline" })
    })
