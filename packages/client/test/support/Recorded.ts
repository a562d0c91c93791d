/** A fake transport for tests that records what it was asked. */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"

/** A client that logs every request as `METHOD URL` in `sent` and answers it with `answer`. */
export const client = (
  answer: (request: HttpClientRequest.HttpClientRequest) => Effect.Effect<Response, HttpClientError.HttpClientError>
): Effect.Effect<{ readonly sent: Ref.Ref<ReadonlyArray<string>>; readonly client: HttpClient.HttpClient }> =>
  Effect.map(Ref.make<ReadonlyArray<string>>([]), (sent) => ({
    sent,
    client: HttpClient.make((request) =>
      Effect.zipRight(
        Ref.update(sent, (all) => [...all, `${request.method} ${request.url}`]),
        Effect.map(answer(request), (response) => HttpClientResponse.fromWeb(request, response))
      )
    )
  }))
