/**
 * v1 endpoint URL rules (spec `v1-protocol.md` §1, §1.1, §4.13, §4.14): building an
 * endpoint from an address, the `/v1/` paths, the `X-Docker-Endpoints` list, and the
 * search request (term splitting, Go `QueryEscape`, limit check).
 *
 * Every URL here is built by string concatenation, as Docker does: never `new URL(rel, base)`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Errors from "./Errors.js"
import * as Reference from "./Reference.js"

/** The official index address (`IndexServer`). */
export const IndexServer = "https://index.docker.io/v1/"

/** The official index host (`IndexHostname`). */
export const IndexHostname = "index.docker.io"

/** The official index name (`IndexName`), as references spell it. */
export const IndexName: typeof Reference.defaultRegistry = Reference.defaultRegistry

/**
 * A v1 endpoint: `url` is the base URL without the `/v1/` suffix (e.g.
 * `http://0.0.0.0:5000/nonversion`); every v1 path is `url + "/v1/" + path`.
 */
export class V1Endpoint extends Schema.Class<V1Endpoint>("V1Endpoint")({
  url: Schema.String.pipe(Schema.pattern(/^https?:\/\//))
}) {}

const unsupportedVersions: ReadonlyArray<string> = ["v2"]

const trimVersion = (address: string): Either.Either<string, string> => {
  const trimmed = address.endsWith("/") ? address.slice(0, -1) : address
  const chunks = trimmed.split("/")
  const last = chunks[chunks.length - 1] ?? ""
  if (last === "v1") return Either.right(chunks.slice(0, -1).join("/"))
  if (unsupportedVersions.includes(last)) return Either.left(`unsupported V1 version path ${last}`)
  return Either.right(trimmed)
}

/** Check that the address is a URL with a host; the reason never repeats the address (it may hold a password). */
const checkUrl = (url: string): Either.Either<string, string> =>
  Either.flatMap(
    Either.try({ try: () => new URL(url), catch: () => "the address is not a valid URL" }),
    (parsed) => parsed.host === "" ? Either.left("the address has no host") : Either.right(url)
  )

/**
 * Build a v1 endpoint from an address (`IndexServer`, `host[:port]`, or a URL): `https://`
 * is added when no scheme is given, one trailing `/` is trimmed, a last path segment `v1`
 * is dropped and `v2` is refused. A failure stores the address without its user-info
 * ({@link Errors.redactUrl}) and a reason that does not repeat it.
 */
export const fromAddress = (address: string): Effect.Effect<V1Endpoint, Errors.InvalidEndpoint> => {
  const withScheme = address.startsWith("http://") || address.startsWith("https://") ? address : `https://${address}`
  return Either.match(Either.flatMap(trimVersion(withScheme), checkUrl), {
    onLeft: (reason) => Effect.fail(new Errors.InvalidEndpoint({ input: Errors.redactUrl(address), reason })),
    onRight: (url) => Effect.succeed(new V1Endpoint({ url }))
  })
}

/** The endpoint's base string with the `/v1/` suffix (Go's `V1Endpoint.String()`). */
export const format = (endpoint: V1Endpoint): string => `${endpoint.url}/v1/`

/** A v1 URL under the endpoint: `url + "/v1/" + p` (Go's `V1Endpoint.Path`). */
export const path = (endpoint: V1Endpoint, p: string): string => format(endpoint) + p

/** Whether the endpoint is the official index, which is never pinged. */
export const isIndexServer = (endpoint: V1Endpoint): boolean => format(endpoint) === IndexServer

/** The endpoint's scheme. */
export const scheme = (endpoint: V1Endpoint): "http" | "https" => endpoint.url.startsWith("https://") ? "https" : "http"

/** The same endpoint over another scheme (the https → http fallback of endpoint validation). */
export const withScheme = (endpoint: V1Endpoint, to: "http" | "https"): V1Endpoint =>
  new V1Endpoint({ url: `${to}${endpoint.url.slice(scheme(endpoint).length)}` })

/** The address to build an index endpoint from: {@link IndexServer} for Docker Hub, else the name. */
export const indexAddress = (indexName: string): string =>
  Reference.normalizeRegistry(indexName) === IndexName ? IndexServer : indexName

// ---------------------------------------------------------------------------------------
// X-Docker-Endpoints
// ---------------------------------------------------------------------------------------

/** Go's `strings.TrimSpace`: Unicode white space (not U+FEFF, unlike `String.prototype.trim`). */
const goTrimSpace = (s: string): string =>
  s.replace(/^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/, "")
    .replace(/[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/, "")

/** The scheme of a URL string as Go's `url.Parse` reports it (lower-cased; empty when absent). */
const urlScheme = (url: string): string => /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase() ?? ""

/**
 * The registry list from `X-Docker-Endpoints` header values: every comma-separated element
 * of every header line, trimmed, as `<index scheme>://<element>/v1/`. Nothing is filtered:
 * an empty element gives `<scheme>:///v1/`, order and duplicates are kept.
 */
export const buildEndpointsList = (headerValues: ReadonlyArray<string>, indexUrl: string): ReadonlyArray<string> => {
  const prefix = `${urlScheme(indexUrl)}://`
  return headerValues.flatMap((line) => line.split(",").map((element) => `${prefix}${goTrimSpace(element)}/v1/`))
}

// ---------------------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------------------

/** The search limit Docker uses when none is given. */
export const defaultSearchLimit = 25

const hex = (byte: number): string => `%${byte.toString(16).toUpperCase().padStart(2, "0")}`

/**
 * Go's `url.QueryEscape`: the UTF-8 bytes of `term`, with `A–Z a–z 0–9 - _ . ~` kept,
 * space as `+` and every other byte as `%XX` (upper-case hex).
 */
export const queryEscape = (term: string): string =>
  Array.from(new TextEncoder().encode(term), (byte) => {
    const char = String.fromCharCode(byte)
    return /^[A-Za-z0-9\-_.~]$/.test(char) ? char : char === " " ? "+" : hex(byte)
  }).join("")

/** Check a search limit: a whole number from 1 to 100 (`Limit <n> is outside the range of [1, 100]`). */
export const validateSearchLimit = (limit: number): Effect.Effect<number, Errors.InvalidArgument> =>
  Number.isInteger(limit) && limit >= 1 && limit <= 100
    ? Effect.succeed(limit)
    : Effect.fail(
      new Errors.InvalidArgument({
        name: "search limit",
        value: String(limit),
        reason: Number.isInteger(limit)
          ? `Limit ${limit} is outside the range of [1, 100]`
          : `Limit ${limit} is not a whole number`
      })
    )

/** The search URL on an index: `<index>/v1/search?q=<QueryEscape(query)>&n=<limit>`, limit checked first. */
export const searchUrl = (
  endpoint: V1Endpoint,
  query: string,
  limit: number
): Effect.Effect<string, Errors.InvalidArgument> =>
  Effect.map(validateSearchLimit(limit), (n) => path(endpoint, `search?q=${queryEscape(query)}&n=${n}`))

/** Where a search goes and what it asks: the index name, whether it is Docker Hub, and the query. */
export interface SearchTarget {
  readonly index: string
  readonly official: boolean
  readonly query: string
}

const invalidTerm = (term: string, reason: string): Errors.InvalidArgument =>
  new Errors.InvalidArgument({ name: "search term", value: term, reason })

/**
 * Split a search term as Docker's search service does: terms with `://` are refused; a
 * first `/`-part that is a host names the index and the rest is the query, otherwise the
 * index is Docker Hub and the whole term is the query; on Docker Hub a leading `library/`
 * is removed from the query.
 */
export const splitSearchTerm = (term: string): Effect.Effect<SearchTarget, Errors.InvalidArgument> => {
  if (term.includes("://")) {
    return Effect.fail(invalidTerm(term, `Invalid repository name (ex: "registry.domain.tld/myrepos")`))
  }
  const { host, path: query } = Reference.splitHost(term)
  const index = Reference.normalizeRegistry(host)
  const hostReason = Reference.checkRegistryHost(index)
  if (hostReason !== undefined) return Effect.fail(invalidTerm(term, hostReason))
  const official = index === IndexName
  const libraryPrefix = `${Reference.officialNamespace}/`
  return Effect.succeed({
    index,
    official,
    query: official && query.startsWith(libraryPrefix) ? query.slice(libraryPrefix.length) : query
  })
}
