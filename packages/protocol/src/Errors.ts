/**
 * Every failure a dockside user can meet, as `Schema.TaggedError` classes.
 *
 * Each class carries the data a caller needs to react (status, method, url, a bounded
 * excerpt of the body) and a readable `message`. None of them ever holds a secret:
 * URLs are stored without their user-info part and bodies are cut to {@link maxExcerpt}.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/** Longest body excerpt an error keeps, in characters. */
export const maxExcerpt = 1024

/**
 * Cut a response body (or any untrusted text) to {@link maxExcerpt} characters,
 * marking the cut.
 */
export const excerpt = (text: string): string =>
  text.length <= maxExcerpt ? text : `${text.slice(0, maxExcerpt)}… (${text.length - maxExcerpt} more characters)`

/** Remove `user:password@` from a URL string, so it can be shown. */
export const redactUrl = (url: string): string => url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, "$1")

// ---------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------

/** An image reference (`host/name:tag@digest`) that Docker's grammar rejects. */
export class InvalidReference extends Schema.TaggedError<InvalidReference>()("InvalidReference", {
  input: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid reference "${excerpt(this.input)}": ${this.reason}`
  }
}

/** A value (image id, digest, tag, limit, label…) that fails its rule. */
export class InvalidArgument extends Schema.TaggedError<InvalidArgument>()("InvalidArgument", {
  name: Schema.String,
  value: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid ${this.name} "${excerpt(this.value)}": ${this.reason}`
  }
}

/** A registry or index address that cannot be turned into an endpoint. */
export class InvalidEndpoint extends Schema.TaggedError<InvalidEndpoint>()("InvalidEndpoint", {
  input: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid endpoint "${redactUrl(excerpt(this.input))}": ${this.reason}`
  }
}

/** A `WWW-Authenticate` header that cannot be parsed. */
export class InvalidChallenge extends Schema.TaggedError<InvalidChallenge>()("InvalidChallenge", {
  header: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid WWW-Authenticate header "${excerpt(this.header)}": ${this.reason}`
  }
}

/** Bytes that do not decode as the expected wire document (JSON, manifest, tag map…). */
export class InvalidDocument extends Schema.TaggedError<InvalidDocument>()("InvalidDocument", {
  what: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid ${this.what}: ${excerpt(this.reason)}`
  }
}

// ---------------------------------------------------------------------------------------
// TarSum and archives
// ---------------------------------------------------------------------------------------

/** A TarSum label (`tarsum.v1+sha256`) or checksum string that is not well formed. */
export class InvalidTarSumLabel extends Schema.TaggedError<InvalidTarSumLabel>()("InvalidTarSumLabel", {
  label: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid TarSum label "${excerpt(this.label)}": ${this.reason}`
  }
}

/** A hash algorithm that the platform does not offer. */
export class UnsupportedHash extends Schema.TaggedError<UnsupportedHash>()("UnsupportedHash", {
  algorithm: Schema.String
}) {
  override get message(): string {
    return `unsupported hash algorithm "${excerpt(this.algorithm)}"`
  }
}

/** A tar archive that is corrupt or ends too early; `offset` is where reading stopped. */
export class CorruptArchive extends Schema.TaggedError<CorruptArchive>()("CorruptArchive", {
  reason: Schema.String,
  offset: Schema.Number
}) {
  override get message(): string {
    return `corrupt tar archive at byte ${this.offset}: ${this.reason}`
  }
}

// ---------------------------------------------------------------------------------------
// HTTP and registry answers
// ---------------------------------------------------------------------------------------

const request = {
  method: Schema.String,
  url: Schema.String
}

/**
 * A registry answered with a status the operation does not accept. `detail` is the
 * operation's own message (Docker's texts, e.g. `Unexpected status code 500`), `body` a
 * bounded excerpt of what the server said.
 */
export class HttpStatusError extends Schema.TaggedError<HttpStatusError>()("HttpStatusError", {
  ...request,
  status: Schema.Number,
  detail: Schema.String,
  body: Schema.String
}) {
  override get message(): string {
    const body = this.body.trim() === "" ? "" : `: ${excerpt(this.body.trim())}`
    return `${this.detail} (${this.method} ${redactUrl(this.url)} → HTTP ${this.status})${body}`
  }
}

/** The registry does not know the repository, image, manifest, blob or tag asked for. */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", {
  ...request,
  what: Schema.String
}) {
  override get message(): string {
    return `${this.what} not found`
  }
}

/** The registry says the image (or layer) is already stored (`Image already exists`). */
export class AlreadyExists extends Schema.TaggedError<AlreadyExists>()("AlreadyExists", {
  ...request,
  what: Schema.String
}) {
  override get message(): string {
    return `${this.what} already exists`
  }
}

/** An answer that breaks the protocol (missing header, wrong shape, unexpected status). */
export class UnexpectedResponse extends Schema.TaggedError<UnexpectedResponse>()("UnexpectedResponse", {
  ...request,
  status: Schema.Number,
  reason: Schema.String
}) {
  override get message(): string {
    return `unexpected response to ${this.method} ${redactUrl(this.url)} (HTTP ${this.status}): ${excerpt(this.reason)}`
  }
}

/** The index answered without the `X-Docker-Endpoints` header the session needs. */
export class MissingEndpoints extends Schema.TaggedError<MissingEndpoints>()("MissingEndpoints", {
  ...request
}) {
  override get message(): string {
    return `index response has no X-Docker-Endpoints header (${this.method} ${redactUrl(this.url)})`
  }
}

/** A redirect chain longer than the policy allows, or a loop. */
export class TooManyRedirects extends Schema.TaggedError<TooManyRedirects>()("TooManyRedirects", {
  ...request,
  hops: Schema.Number
}) {
  override get message(): string {
    return `stopped after ${this.hops} redirects (${this.method} ${redactUrl(this.url)})`
  }
}

/** A redirect that would downgrade https to http, or go where the policy forbids. */
export class RedirectRefused extends Schema.TaggedError<RedirectRefused>()("RedirectRefused", {
  ...request,
  location: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `refused redirect from ${redactUrl(this.url)} to ${redactUrl(this.location)}: ${this.reason}`
  }
}

/** Every attempt of a retried request failed; the last status (0 for a network error). */
export class RetriesExhausted extends Schema.TaggedError<RetriesExhausted>()("RetriesExhausted", {
  ...request,
  attempts: Schema.Number,
  lastStatus: Schema.Number,
  reason: Schema.String
}) {
  override get message(): string {
    const last = this.lastStatus === 0 ? this.reason : `HTTP ${this.lastStatus} ${this.reason}`.trim()
    return `gave up after ${this.attempts} attempts (${this.method} ${redactUrl(this.url)}): ${last}`
  }
}

/** A registry rate limit (`429 toomanyrequests`) whose reset is too far away to wait for. */
export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  ...request,
  resetsAt: Schema.optional(Schema.DateFromSelf),
  detail: Schema.String
}) {
  override get message(): string {
    const when = this.resetsAt === undefined ? "" : `; the quota resets at ${this.resetsAt.toISOString()}`
    return `rate limited by ${redactUrl(this.url)}: ${excerpt(this.detail)}${when}`
  }
}

// ---------------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------------

/** The registry wants credentials that were not given, or rejected them. */
export class LoginRequired extends Schema.TaggedError<LoginRequired>()("LoginRequired", {
  ...request,
  detail: Schema.String
}) {
  override get message(): string {
    return this.detail === "" ? "unauthorized: authentication required" : `unauthorized: ${excerpt(this.detail)}`
  }
}

/** Credentials would be sent over plain http to a host the user did not mark insecure. */
export class InsecureAuthRefused extends Schema.TaggedError<InsecureAuthRefused>()("InsecureAuthRefused", {
  ...request
}) {
  override get message(): string {
    return `Docker will not send auth headers over HTTP. (${this.method} ${
      redactUrl(this.url)
    }; mark the registry insecure to allow it)`
  }
}

// ---------------------------------------------------------------------------------------
// Integrity
// ---------------------------------------------------------------------------------------

/** Content whose digest differs from the one expected. */
export class DigestMismatch extends Schema.TaggedError<DigestMismatch>()("DigestMismatch", {
  what: Schema.String,
  expected: Schema.String,
  actual: Schema.String
}) {
  override get message(): string {
    return `digest mismatch for ${this.what}: expected ${this.expected}, got ${this.actual}`
  }
}

/** Content whose length differs from the one announced. */
export class SizeMismatch extends Schema.TaggedError<SizeMismatch>()("SizeMismatch", {
  what: Schema.String,
  expected: Schema.Number,
  actual: Schema.Number
}) {
  override get message(): string {
    return `size mismatch for ${this.what}: expected ${this.expected} bytes, got ${this.actual}`
  }
}

/** A layer whose TarSum differs from the checksum the registry or index holds. */
export class TarSumMismatch extends Schema.TaggedError<TarSumMismatch>()("TarSumMismatch", {
  what: Schema.String,
  expected: Schema.String,
  actual: Schema.String
}) {
  override get message(): string {
    return `TarSum mismatch for ${this.what}: expected ${this.expected}, got ${this.actual}`
  }
}

/** A body larger than the cap for its kind (manifest, token, error body). */
export class BodyTooLarge extends Schema.TaggedError<BodyTooLarge>()("BodyTooLarge", {
  ...request,
  limit: Schema.Number
}) {
  override get message(): string {
    return `response body of ${this.method} ${redactUrl(this.url)} exceeds ${this.limit} bytes`
  }
}

/** A path from the network that would land outside the target folder. */
export class UnsafePath extends Schema.TaggedError<UnsafePath>()("UnsafePath", {
  path: Schema.String
}) {
  override get message(): string {
    return `refusing path "${excerpt(this.path)}": it would escape the target folder`
  }
}

// ---------------------------------------------------------------------------------------
// Transport
// ---------------------------------------------------------------------------------------

/** No answer (headers, or the next body bytes) within the timeout. */
export class NetworkTimeout extends Schema.TaggedError<NetworkTimeout>()("NetworkTimeout", {
  ...request,
  phase: Schema.Literal("connect", "headers", "body", "deadline")
}) {
  override get message(): string {
    return `network timed out while trying to connect to ${redactUrl(this.url)} (${this.phase}). ` +
      "You may want to check your internet connection or if you are behind a proxy."
  }
}

/** The connection could not be made or broke off. */
export class ConnectionFailed extends Schema.TaggedError<ConnectionFailed>()("ConnectionFailed", {
  ...request,
  reason: Schema.String
}) {
  override get message(): string {
    return `connection to ${redactUrl(this.url)} failed: ${excerpt(this.reason)}`
  }
}

/** Any failure of a registry operation. */
export type RegistryError =
  | HttpStatusError
  | NotFound
  | AlreadyExists
  | UnexpectedResponse
  | MissingEndpoints
  | TooManyRedirects
  | RedirectRefused
  | RetriesExhausted
  | RateLimited
  | LoginRequired
  | InsecureAuthRefused
  | DigestMismatch
  | SizeMismatch
  | TarSumMismatch
  | BodyTooLarge
  | UnsafePath
  | NetworkTimeout
  | ConnectionFailed
  | InvalidDocument
