/**
 * Reading response bodies within bounds.
 *
 * @since 0.1.0
 */
import * as Errors from "@dockside/protocol/Errors"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as HttpErrors from "./HttpErrors.js"

/** Read a whole body, failing with `BodyTooLarge` past `limit` bytes (reading stops there). */
export const read = (
  request: HttpClientRequest.HttpClientRequest,
  response: HttpClientResponse.HttpClientResponse,
  limit: number
): Effect.Effect<Uint8Array, Errors.BodyTooLarge | HttpErrors.TransportError> =>
  Effect.gen(function*() {
    const parts: Array<Uint8Array> = []
    let size = 0
    yield* response.stream.pipe(
      Stream.mapError((error) => HttpErrors.fromHttpClientError(request, error)),
      Stream.runForEachWhile((bytes) =>
        Effect.suspend(() => {
          size += bytes.length
          if (size > limit) {
            return Effect.fail(
              new Errors.BodyTooLarge({ method: request.method, url: Errors.redactUrl(request.url), limit })
            )
          }
          parts.push(bytes)
          return Effect.succeed(true)
        })
      )
    )
    return Buffer.concat(parts)
  })

/** Drop a body that is not needed, so that its connection is released. */
export const discard = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<void> =>
  Stream.runDrain(response.stream).pipe(Effect.ignore)
