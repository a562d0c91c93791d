/**
 * How policy failures travel through `@effect/platform`'s `HttpClient` and come out as
 * dockside's typed errors.
 *
 * Policies are plain `HttpClient -> HttpClient` functions, so their failures must be
 * `HttpClientError`s: a policy wraps its typed error (`RetriesExhausted`,
 * `TooManyRedirects`, `NetworkTimeout`, …) as the `cause` of a `RequestError` or
 * `ResponseError`, and {@link fromHttpClientError} takes it out again at the operation.
 *
 * @since 0.1.0
 */
import * as Errors from "@dockside/protocol/Errors"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"

/** The failures of sending a request through dockside's policies. */
export type TransportError =
  | Errors.ConnectionFailed
  | Errors.NetworkTimeout
  | Errors.TooManyRedirects
  | Errors.RedirectRefused
  | Errors.RetriesExhausted
  | Errors.RateLimited

const carried = new Set<string>([
  "ConnectionFailed",
  "NetworkTimeout",
  "TooManyRedirects",
  "RedirectRefused",
  "RetriesExhausted",
  "RateLimited"
])

const isCarried = (cause: unknown): cause is TransportError =>
  typeof cause === "object" && cause !== null && "_tag" in cause && carried.has(String(cause._tag)) &&
  cause instanceof Error

/** Wrap a policy's typed failure so it can travel as an `HttpClientError` of a request. */
export const requestError = (
  request: HttpClientRequest.HttpClientRequest,
  cause: TransportError
): HttpClientError.RequestError => new HttpClientError.RequestError({ request, reason: "Transport", cause })

/** Wrap a policy's typed failure met while reading a response body. */
export const responseError = (
  response: HttpClientResponse.HttpClientResponse,
  cause: TransportError
): HttpClientError.ResponseError =>
  new HttpClientError.ResponseError({ request: response.request, response, reason: "Decode", cause })

/** The typed failure a policy carried, if any. */
export const carriedError = (error: HttpClientError.HttpClientError): TransportError | undefined =>
  isCarried(error.cause) ? error.cause : undefined

/** The error code under a platform failure (`ECONNREFUSED`, `UND_ERR_…`, a TLS code), or "". */
export const causeCode = (error: HttpClientError.HttpClientError): string => {
  const cause = error.cause as { readonly code?: unknown; readonly cause?: { readonly code?: unknown } } | undefined
  return String(cause?.code ?? cause?.cause?.code ?? "")
}

/** A TLS failure (a certificate that does not verify, no TLS at all) is not passing: retrying cannot help. */
export const isCertificateError = (error: HttpClientError.HttpClientError): boolean =>
  /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS|ERR_SSL/.test(causeCode(error))

/** Turn a platform failure into the typed error users see. */
export const fromHttpClientError = (
  request: HttpClientRequest.HttpClientRequest,
  error: HttpClientError.HttpClientError
): TransportError => {
  const typed = carriedError(error)
  if (typed !== undefined) return typed
  const cause = error.cause
  const code = causeCode(error)
  const at = { method: request.method, url: Errors.redactUrl(request.url) }
  if (code === "UND_ERR_CONNECT_TIMEOUT" || code === "ETIMEDOUT") {
    return new Errors.NetworkTimeout({ ...at, phase: "connect" })
  }
  if (code === "UND_ERR_HEADERS_TIMEOUT") return new Errors.NetworkTimeout({ ...at, phase: "headers" })
  if (code === "UND_ERR_BODY_TIMEOUT") return new Errors.NetworkTimeout({ ...at, phase: "body" })
  const reason = cause instanceof Error ? `${code === "" ? "" : `${code}: `}${cause.message}` : error.message
  return new Errors.ConnectionFailed({ ...at, reason })
}
