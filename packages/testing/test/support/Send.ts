/** Raw requests for the test-server tests: a plain `HttpClient` (no policies), the whole body read. */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"

export type Method = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE"

/** A response, its body read whole. */
export interface Reply {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly bytes: Uint8Array
  readonly text: string
}

export interface Options {
  readonly headers?: Record<string, string>
  readonly body?: string | Uint8Array | Stream.Stream<Uint8Array>
  /** Default: `application/json` for a string, `application/octet-stream` otherwise. */
  readonly contentType?: string
}

/** One request with the context's `HttpClient` (no redirects followed); the whole body is read. */
export const send = (
  method: Method,
  url: string,
  options: Options = {}
): Effect.Effect<Reply, HttpClientError.HttpClientError, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const base = HttpClientRequest.make(method)(url).pipe(HttpClientRequest.setHeaders(options.headers ?? {}))
    const { body, contentType } = options
    const request = body === undefined
      ? base
      : typeof body === "string"
      ? HttpClientRequest.bodyText(base, body, contentType ?? "application/json")
      : body instanceof Uint8Array
      ? HttpClientRequest.bodyUint8Array(base, body, contentType ?? "application/octet-stream")
      : HttpClientRequest.bodyStream(base, body, { contentType: contentType ?? "application/octet-stream" })
    const response = yield* client.execute(request)
    const bytes = new Uint8Array(yield* response.arrayBuffer)
    return { status: response.status, headers: response.headers, bytes, text: Buffer.from(bytes).toString("utf8") }
  })
