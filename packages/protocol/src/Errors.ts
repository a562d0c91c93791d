/**
 * Every failure a dockside user can meet, as `Schema.TaggedError` classes.
 *
 * Each class carries the data a caller needs to react (status, method, url, a bounded
 * excerpt of the body) and a readable `message`. None of them should hold a secret: every
 * place that builds one stores its URLs through {@link redactUrl}, and every `message`
 * redacts URLs again (before shortening them) and shows untrusted text only through
 * {@link excerpt}, cut to {@link maxExcerpt} characters with its control characters escaped.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/** Longest body excerpt an error keeps, in characters (before control characters are escaped). */
export const maxExcerpt = 1024

/**
 * Characters that could drive a terminal or fake a log line: C0 controls (tab and
 * newline included), DEL, C1 controls, the Unicode line and paragraph separators and the
 * bidirectional overrides and isolates.
 */

const unsafeCharacter = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

const namedEscapes: Readonly<Record<string, string>> = { "\t": "\\t", "\n": "\\n", "\r": "\\r" }

const escapeCharacter = (c: string): string => {
  const code = c.charCodeAt(0)
  return namedEscapes[c] ??
    (code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`)
}

/**
 * Make untrusted text (a response body, a header, a name from the network) safe to show:
 * cut it to {@link maxExcerpt} characters, marking the cut, and write every control
 * character as a visible escape (`\n`, `\x1b`, `\u202e`…) so that it cannot move the
 * cursor, change colours or start a fake line.
 */
export const excerpt = (text: string): string => {
  const cut = text.length <= maxExcerpt ? text : text.slice(0, maxExcerpt)
  const shown = cut.replace(unsafeCharacter, escapeCharacter)
  return text.length <= maxExcerpt ? shown : `${shown}… (${text.length - maxExcerpt} more characters)`
}

const schemePrefix = /^[a-z][a-z0-9+.-]*:[/\\]+/i

const parseUrl = (url: string): URL | undefined => {
  try {
    return new URL(url)
  } catch {
    return undefined
  }
}

/** Index of the first of `stops` in `text` from `from`, or the length of `text`. */
const firstOf = (text: string, stops: string, from: number): number => {
  for (let i = from; i < text.length; i++) {
    if (stops.includes(text.charAt(i))) return i
  }
  return text.length
}

/**
 * Query parameters whose values are credentials: the signatures and keys of pre-signed
 * storage URLs that registries redirect blobs to (S3, CloudFront, GCS, Azure SAS, Docker
 * Hub's Cloudflare `verify`, Akamai `hdnts`/`hmac`), tokens, and the registry's own signed
 * upload state.
 */
const secretParameter = /sig|token|credential|secret|passw|key|policy|auth|state|session|jwt|verify|hmac|hdnt|hdne/i

const decoded = (text: string): string => {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

/** `url` with the values of its secret query parameters replaced by `REDACTED`. */
const redactQuery = (url: string): string => {
  const start = url.indexOf("?")
  if (start < 0) return url
  const hash = url.indexOf("#", start)
  const end = hash < 0 ? url.length : hash
  const query = url.slice(start + 1, end).split("&").map((pair) => {
    const eq = pair.indexOf("=")
    return eq >= 0 && secretParameter.test(decoded(pair.slice(0, eq))) ? `${pair.slice(0, eq)}=REDACTED` : pair
  })
  return `${url.slice(0, start + 1)}${query.join("&")}${url.slice(end)}`
}

/**
 * A URL as it may be shown or stored: without its user-info (`user:password@`), also in a
 * scheme-less address such as `user:pw@host:5000/x`, and without the values of query
 * parameters that carry credentials ({@link secretParameter}: a pre-signed blob URL in a
 * log would let its reader fetch the blob). Everything up to the last `@` before the path
 * goes (a password may itself hold `@`); a string the URL parser rejects loses everything
 * up to its last `@` before any `?` or `#`. A URL that the parser would still read
 * credentials from is printed by the parser without them. Other text is returned unchanged.
 */
export const redactUrl = (url: string): string => {
  const prefix = schemePrefix.exec(url)?.[0] ?? ""
  const end = firstOf(url, parseUrl(url) === undefined ? "?#" : "/?#\\", prefix.length)
  const at = url.lastIndexOf("@", end - 1)
  const stripped = redactQuery(at < prefix.length ? url : prefix + url.slice(at + 1))
  const parsed = parseUrl(stripped)
  if (parsed === undefined || (parsed.username === "" && parsed.password === "")) return stripped
  parsed.username = ""
  parsed.password = ""
  return parsed.href
}

/** A URL as error messages show it: without user-info, then cut and escaped by {@link excerpt}. */
const shownUrl = (url: string): string => excerpt(redactUrl(url))

// ---------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------

/** An image reference (`host/name:tag@digest`) that Docker's grammar rejects. */
export class InvalidReference extends Schema.TaggedError<InvalidReference>()("InvalidReference", {
  input: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid reference "${excerpt(this.input)}": ${excerpt(this.reason)}`
  }
}

/** A value (image id, digest, tag, limit, label…) that fails its rule. */
export class InvalidArgument extends Schema.TaggedError<InvalidArgument>()("InvalidArgument", {
  name: Schema.String,
  value: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid ${excerpt(this.name)} "${excerpt(this.value)}": ${excerpt(this.reason)}`
  }
}

/** A registry or index address that cannot be turned into an endpoint. */
export class InvalidEndpoint extends Schema.TaggedError<InvalidEndpoint>()("InvalidEndpoint", {
  input: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid endpoint "${shownUrl(this.input)}": ${excerpt(this.reason)}`
  }
}

/** A `WWW-Authenticate` header that cannot be parsed. */
export class InvalidChallenge extends Schema.TaggedError<InvalidChallenge>()("InvalidChallenge", {
  header: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid WWW-Authenticate header "${excerpt(this.header)}": ${excerpt(this.reason)}`
  }
}

/** Bytes that do not decode as the expected wire document (JSON, manifest, tag map…). */
export class InvalidDocument extends Schema.TaggedError<InvalidDocument>()("InvalidDocument", {
  what: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid ${excerpt(this.what)}: ${excerpt(this.reason)}`
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
    return `invalid TarSum label "${excerpt(this.label)}": ${excerpt(this.reason)}`
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
    return `corrupt tar archive at byte ${this.offset}: ${excerpt(this.reason)}`
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
    return `${excerpt(this.detail)} (${excerpt(this.method)} ${shownUrl(this.url)} → HTTP ${this.status})${body}`
  }
}

/** The registry does not know the repository, image, manifest, blob or tag asked for. */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", {
  ...request,
  what: Schema.String
}) {
  override get message(): string {
    return `${excerpt(this.what)} not found`
  }
}

/** The registry says the image (or layer) is already stored (`Image already exists`). */
export class AlreadyExists extends Schema.TaggedError<AlreadyExists>()("AlreadyExists", {
  ...request,
  what: Schema.String
}) {
  override get message(): string {
    return `${excerpt(this.what)} already exists`
  }
}

/** An answer that breaks the protocol (missing header, wrong shape, unexpected status). */
export class UnexpectedResponse extends Schema.TaggedError<UnexpectedResponse>()("UnexpectedResponse", {
  ...request,
  status: Schema.Number,
  reason: Schema.String
}) {
  override get message(): string {
    return `unexpected response to ${excerpt(this.method)} ${shownUrl(this.url)} (HTTP ${this.status}): ${
      excerpt(this.reason)
    }`
  }
}

/** The index answered without the `X-Docker-Endpoints` header the session needs. */
export class MissingEndpoints extends Schema.TaggedError<MissingEndpoints>()("MissingEndpoints", {
  ...request
}) {
  override get message(): string {
    return `index response has no X-Docker-Endpoints header (${excerpt(this.method)} ${shownUrl(this.url)})`
  }
}

/** A redirect chain longer than the policy allows, or a loop. */
export class TooManyRedirects extends Schema.TaggedError<TooManyRedirects>()("TooManyRedirects", {
  ...request,
  hops: Schema.Number
}) {
  override get message(): string {
    return `stopped after ${this.hops} redirects (${excerpt(this.method)} ${shownUrl(this.url)})`
  }
}

/** A redirect that would downgrade https to http, or go where the policy forbids. */
export class RedirectRefused extends Schema.TaggedError<RedirectRefused>()("RedirectRefused", {
  ...request,
  location: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `refused redirect from ${shownUrl(this.url)} to ${shownUrl(this.location)}: ${excerpt(this.reason)}`
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
    const reason = excerpt(this.reason)
    const last = this.lastStatus === 0 ? reason : `HTTP ${this.lastStatus} ${reason}`.trim()
    return `gave up after ${this.attempts} attempts (${excerpt(this.method)} ${shownUrl(this.url)}): ${last}`
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
    return `rate limited by ${shownUrl(this.url)}: ${excerpt(this.detail)}${when}`
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
    return `Docker will not send auth headers over HTTP. (${excerpt(this.method)} ${
      shownUrl(this.url)
    }; mark the registry insecure to allow it)`
  }
}

// ---------------------------------------------------------------------------------------
// Credentials
// ---------------------------------------------------------------------------------------

/**
 * The Docker CLI config (`config.json`) could not be read or written, or a credential
 * helper (`docker-credential-<name>`) could not store credentials. `source` is the file
 * path or the helper command; `reason` never holds the file's content or a secret.
 */
export class CredentialsError extends Schema.TaggedError<CredentialsError>()("CredentialsError", {
  operation: Schema.Literal("read", "write", "store"),
  source: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    const what = this.operation === "store"
      ? `credential helper ${excerpt(this.source)} could not store credentials`
      : `cannot ${this.operation} Docker config ${excerpt(this.source)}`
    return `${what}: ${excerpt(this.reason)}`
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
    return `digest mismatch for ${excerpt(this.what)}: expected ${excerpt(this.expected)}, got ${excerpt(this.actual)}`
  }
}

/** Content whose length differs from the one announced. */
export class SizeMismatch extends Schema.TaggedError<SizeMismatch>()("SizeMismatch", {
  what: Schema.String,
  expected: Schema.Number,
  actual: Schema.Number
}) {
  override get message(): string {
    return `size mismatch for ${excerpt(this.what)}: expected ${this.expected} bytes, got ${this.actual}`
  }
}

/** A layer whose TarSum differs from the checksum the registry or index holds. */
export class TarSumMismatch extends Schema.TaggedError<TarSumMismatch>()("TarSumMismatch", {
  what: Schema.String,
  expected: Schema.String,
  actual: Schema.String
}) {
  override get message(): string {
    return `TarSum mismatch for ${excerpt(this.what)}: expected ${excerpt(this.expected)}, got ${excerpt(this.actual)}`
  }
}

/** A body larger than the cap for its kind (manifest, token, error body). */
export class BodyTooLarge extends Schema.TaggedError<BodyTooLarge>()("BodyTooLarge", {
  ...request,
  limit: Schema.Number
}) {
  override get message(): string {
    return `response body of ${excerpt(this.method)} ${shownUrl(this.url)} exceeds ${this.limit} bytes`
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
    return `network timed out while trying to connect to ${shownUrl(this.url)} (${this.phase}). ` +
      "You may want to check your internet connection or if you are behind a proxy."
  }
}

/** The connection could not be made or broke off. */
export class ConnectionFailed extends Schema.TaggedError<ConnectionFailed>()("ConnectionFailed", {
  ...request,
  reason: Schema.String
}) {
  override get message(): string {
    return `connection to ${shownUrl(this.url)} failed: ${excerpt(this.reason)}`
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
