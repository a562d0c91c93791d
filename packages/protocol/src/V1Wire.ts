/**
 * v1 wire documents with their exact JSON (spec `v1-protocol.md` §5, §7.1): image lists
 * (`ImgData`), search results, ping results, tag maps and values, ancestry, and the
 * client credentials record (`AuthConfig`).
 *
 * Objects decode the way Go's `encoding/json` fills a struct: a key matches a field by
 * exact name, otherwise case-insensitively; unknown keys and `null` values are ignored;
 * when several keys match one field, the last wins. Encoding follows Go's `json.Marshal`:
 * fields in declaration order, `omitempty` fields left out when empty, and `<`, `>`, `&`,
 * U+2028 and U+2029 escaped as `\u00XX`.
 *
 * Bodies are read under the rules of dockside's JSON helper: strict UTF-8, no byte order
 * mark, no `__proto__` key anywhere, and errors that never quote the body.
 *
 * Lists and maps whose entries name images or tags (image lists, tag maps) decode those
 * names as plain strings, so that one bad entry does not hide the others; check them with
 * `Identifiers.parseImageId` / `Identifiers.parseTag` (or `Identifiers.partition`) before
 * putting them into a URL or a path. Encoding checks them and refuses bad ones.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { identity } from "effect/Function"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"
import * as Errors from "./Errors.js"
import * as Identifiers from "./Identifiers.js"
import * as Json from "./internal/json.js"

// ---------------------------------------------------------------------------------------
// Go encoding/json conventions
// ---------------------------------------------------------------------------------------

/** Go folds `ſ` (U+017F) to `s` and `K` (U+212A, which `toLowerCase` handles) to `k`. */
const fold = (key: string): string => key.replace(/\u017f/g, "s").toLowerCase()

/** Go's field lookup for one key: the exact name, else the first case-folded match. */
const fieldFor = (names: ReadonlyArray<string>, key: string): string | undefined =>
  names.includes(key) ? key : names.find((name) => fold(name) === fold(key))

const JsonObject = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/** A struct schema whose decoding matches keys the way Go's `encoding/json` does. */
const goStruct = <Fields extends Schema.Struct.Fields>(
  struct: Schema.Struct<Fields>
): Schema.Schema<Schema.Struct<Fields>["Type"], typeof JsonObject.Encoded, Schema.Struct<Fields>["Context"]> => {
  const encoded = Schema.encodedSchema(struct)
  const names = AST.getPropertySignatures(encoded.ast).flatMap((ps) => typeof ps.name === "string" ? [ps.name] : [])
  return Schema.transform(JsonObject, encoded, {
    strict: false,
    decode: (input) => {
      const out: Record<string, unknown> = Object.create(null)
      for (const [key, value] of Object.entries(input)) {
        const name = fieldFor(names, key)
        if (name !== undefined && value !== null) out[name] = value
      }
      return out
    },
    encode: identity
  }).pipe(Schema.compose(struct))
}

const nonEmpty = (value: Option.Option<string>): Option.Option<string> => Option.filter(value, (s) => s !== "")

/** A Go `omitempty` string field: an empty value is absent in the type and left out when encoded. */
const omitEmpty = <A>(schema: Schema.Schema<A, string>): Schema.PropertySignature<"?:", A, never, "?:", string> =>
  Schema.optionalToOptional(Schema.String, schema, { decode: nonEmpty, encode: nonEmpty })

/** A Go field without `omitempty`: a missing key decodes to the zero value, and it is always encoded. */
const zero = <A, I>(
  schema: Schema.Schema<A, I>,
  value: A
): Schema.PropertySignature<":", A, never, "?:", I | undefined, true> =>
  Schema.optionalWith(schema, { default: () => value })

/**
 * A value decoded as `loose` says, but encoded only when `strict` accepts it: lenient
 * on the way in (one bad entry must not hide the rest), strict on the way out.
 */
const checkedOnEncode = <A extends I, I, B>(
  loose: Schema.Schema<A, I>,
  strict: Schema.Schema<B, A>
): Schema.Schema<A, I> =>
  Schema.transformOrFail(loose, Schema.typeSchema(loose), {
    strict: true,
    decode: ParseResult.succeed,
    encode: (value) => ParseResult.map(ParseResult.decodeUnknown(strict)(value), () => value)
  })

/** Escape what Go's `json.Marshal` escapes beyond `JSON.stringify`. */
const goEscape = (json: string): string =>
  json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)

/** How {@link decodeJson} and {@link encodeJson} report failures. */
export type JsonOptions = Json.DecodeOptions

/**
 * Decode a JSON body (bytes or text) with a schema, reporting every issue; `what` names
 * the document in errors. With `redact`, schema errors name only paths and expected
 * types, never values (for documents that hold secrets).
 */
export const decodeJson = <A, I>(
  schema: Schema.Schema<A, I>,
  what: string,
  options?: JsonOptions
): (input: string | Uint8Array) => Effect.Effect<A, Errors.InvalidDocument> => {
  const decode = Json.decodeWith(schema, what, options)
  return (input: string | Uint8Array): Effect.Effect<A, Errors.InvalidDocument> =>
    Either.flatMap(Json.parseDocument(what, input), decode)
}

/**
 * Encode a value to JSON text the way Go's `json.Marshal` prints it; `what` names the
 * document in errors, and `redact` keeps values out of them as for {@link decodeJson}.
 */
export const encodeJson = <A, I>(
  schema: Schema.Schema<A, I>,
  what: string,
  options?: JsonOptions
): (value: A) => Effect.Effect<string, Errors.InvalidDocument> => {
  const encode = Schema.encodeEither(schema, { errors: "all" })
  const format = options?.redact === true ? Json.formatParseErrorRedacted : Json.formatParseError
  return (value: A): Effect.Effect<string, Errors.InvalidDocument> =>
    Either.match(encode(value), {
      onLeft: (error) => Either.left(new Errors.InvalidDocument({ what, reason: format(error) })),
      onRight: (encoded) => Either.right(goEscape(JSON.stringify(encoded)))
    })
}

// ---------------------------------------------------------------------------------------
// ImgData and RepositoryData
// ---------------------------------------------------------------------------------------

/**
 * An image entry of an index image list: `{"id", "checksum", "Tag"}` with a capital `T`;
 * `checksum` and `Tag` are left out when empty (and an empty one decodes as absent).
 * The local-only `ChecksumPayload` of Go's struct is not part of the wire form.
 *
 * `id` and `tag` decode as any string (the index's list may hold entries dockside cannot
 * use, and they must not hide the others): check them with `Identifiers.parseImageId`
 * and `Identifiers.parseTag` before use. Encoding refuses an id that is not an
 * `Identifiers.ImageId` or a tag that is not an `Identifiers.Tag`.
 */
export const ImgData = goStruct(Schema.Struct({
  id: checkedOnEncode(Schema.String, Identifiers.ImageId),
  checksum: omitEmpty(Schema.String),
  tag: omitEmpty(checkedOnEncode(Schema.String, Identifiers.Tag)).pipe(Schema.fromKey("Tag"))
})).annotations({ identifier: "ImgData" })
/** @see {@link ImgData} */
export type ImgData = typeof ImgData.Type

/** The image list of `GET`/`PUT /v1/repositories/<name>/images`. */
export const ImgDataList = Schema.Array(ImgData)

/** Decode an index image list. */
export const decodeImgDataList: (input: string | Uint8Array) => Effect.Effect<
  ReadonlyArray<ImgData>,
  Errors.InvalidDocument
> = decodeJson(ImgDataList, "image list")

/** Encode an index image list. */
export const encodeImgDataList: (value: ReadonlyArray<ImgData>) => Effect.Effect<string, Errors.InvalidDocument> =
  encodeJson(ImgDataList, "image list")

/**
 * What `GetRepositoryData` returns (client side only, never on the wire): the images by
 * id (unchecked, see {@link ImgData}), the registry endpoints (`scheme://host/v1/`) and
 * the `X-Docker-Token` values.
 */
export interface RepositoryData {
  readonly imgList: ReadonlyMap<string, ImgData>
  readonly endpoints: ReadonlyArray<string>
  readonly tokens: ReadonlyArray<string>
}

/** Build {@link RepositoryData}; a later entry with the same id replaces an earlier one, as in Go. */
export const repositoryData = (
  images: ReadonlyArray<ImgData>,
  endpoints: ReadonlyArray<string>,
  tokens: ReadonlyArray<string>
): RepositoryData => ({ imgList: new Map(images.map((image) => [image.id, image])), endpoints, tokens })

// ---------------------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------------------

/** One search hit; fields in Go's order, missing ones decode as zero values. */
export const SearchResult = goStruct(Schema.Struct({
  starCount: zero(Schema.Int, 0).pipe(Schema.fromKey("star_count")),
  isOfficial: zero(Schema.Boolean, false).pipe(Schema.fromKey("is_official")),
  name: zero(Schema.String, ""),
  isAutomated: zero(Schema.Boolean, false).pipe(Schema.fromKey("is_automated")),
  description: zero(Schema.String, "")
})).annotations({ identifier: "SearchResult" })
/** @see {@link SearchResult} */
export type SearchResult = typeof SearchResult.Type

/** A search answer `{"query", "num_results", "results"}`; the Hub's paging fields are ignored. */
export const SearchResults = goStruct(Schema.Struct({
  query: zero(Schema.String, ""),
  numResults: zero(Schema.Int, 0).pipe(Schema.fromKey("num_results")),
  results: zero(Schema.Array(SearchResult), [])
})).annotations({ identifier: "SearchResults" })
/** @see {@link SearchResults} */
export type SearchResults = typeof SearchResults.Type

/** Decode a search answer. */
export const decodeSearchResults: (input: string | Uint8Array) => Effect.Effect<
  SearchResults,
  Errors.InvalidDocument
> = decodeJson(SearchResults, "search results")

/** Encode a search answer. */
export const encodeSearchResults: (value: SearchResults) => Effect.Effect<string, Errors.InvalidDocument> = encodeJson(
  SearchResults,
  "search results"
)

// ---------------------------------------------------------------------------------------
// Ping
// ---------------------------------------------------------------------------------------

/** A v1 `_ping` answer `{"version", "standalone"}`; missing fields decode as zero values. */
export const PingResult = goStruct(Schema.Struct({
  version: zero(Schema.String, ""),
  standalone: zero(Schema.Boolean, false)
})).annotations({ identifier: "PingResult" })
/** @see {@link PingResult} */
export type PingResult = typeof PingResult.Type

/** Encode a ping answer. */
export const encodePingResult: (value: PingResult) => Effect.Effect<string, Errors.InvalidDocument> = encodeJson(
  PingResult,
  "ping result"
)

/** The parts of a `/v1/_ping` response that {@link pingResult} reads. */
export interface PingResponse {
  readonly body: string | Uint8Array
  /** The first `X-Docker-Registry-Version` header value, if any. */
  readonly versionHeader?: string | undefined
  /** The first `X-Docker-Registry-Standalone` header value, if any. */
  readonly standaloneHeader?: string | undefined
}

const pingFields: ReadonlyArray<string> = ["version", "standalone"]

/**
 * Interpret a `/v1/_ping` response as Docker does (any status): start from
 * `{version: "", standalone: true}`, apply what decodes from the body (a body that is not
 * JSON, or a field of the wrong type, changes nothing), then a non-empty version header
 * wins, and a standalone header of `true` (any case) or `1` means standalone while any
 * other non-empty value means not standalone.
 */
export const pingResult = (response: PingResponse): PingResult => {
  let version = ""
  let standalone = true
  const body = Either.getOrUndefined(Json.parse(response.body))
  if (typeof body === "object" && body !== null && !Array.isArray(body)) {
    for (const [key, value] of Object.entries(body)) {
      const field = fieldFor(pingFields, key)
      if (field === "version" && typeof value === "string") version = value
      if (field === "standalone" && typeof value === "boolean") standalone = value
    }
  }
  if (response.versionHeader !== undefined && response.versionHeader !== "") version = response.versionHeader
  const header = response.standaloneHeader ?? ""
  if (header.toLowerCase() === "true" || header === "1") standalone = true
  else if (header !== "") standalone = false
  return { version, standalone }
}

// ---------------------------------------------------------------------------------------
// Tags and ancestry
// ---------------------------------------------------------------------------------------

/**
 * The tags of a repository, `{"<tag>": "<image id>"}`. Keys and values decode as any
 * string, so that one bad entry does not hide the others: check each with
 * `Identifiers.parseTag` and `Identifiers.parseImageId` before use. Encoding refuses a
 * key that is not an `Identifiers.Tag` or a value that is not an `Identifiers.ImageId`.
 */
export const TagMap = checkedOnEncode(
  Schema.Record({ key: Schema.String, value: Schema.String }),
  Schema.Record({ key: Identifiers.Tag, value: Identifiers.ImageId }).annotations({
    parseOptions: { onExcessProperty: "error" }
  })
).annotations({ identifier: "TagMap" })
/** @see {@link TagMap} */
export type TagMap = typeof TagMap.Type

/** Decode a tag map. */
export const decodeTagMap: (input: string | Uint8Array) => Effect.Effect<TagMap, Errors.InvalidDocument> = decodeJson(
  TagMap,
  "tag map"
)

/** Encode a tag map. */
export const encodeTagMap: (value: TagMap) => Effect.Effect<string, Errors.InvalidDocument> = encodeJson(
  TagMap,
  "tag map"
)

const decodeQuotedTag = decodeJson(Identifiers.ImageId, "tag value")

const lenientUtf8 = new TextDecoder()

/**
 * Decode a tag value: a JSON string holding an image id. A bare id (no quotes, surrounding
 * white space allowed) is accepted too (fidelity rule: some registries answer that way).
 */
export const decodeTagValue = (
  input: string | Uint8Array
): Effect.Effect<Identifiers.ImageId, Errors.InvalidDocument> => {
  const bare = (typeof input === "string" ? input : lenientUtf8.decode(input)).trim()
  return Schema.is(Identifiers.ImageId)(bare) ? Effect.succeed(bare) : decodeQuotedTag(input)
}

/** Encode a tag value (the body of `PUT .../tags/<tag>`): the id as a JSON string. */
export const encodeTagValue = (id: Identifiers.ImageId): string => JSON.stringify(id)

/** An image's ancestry: the ids of the image and its parents, the image first. */
export const Ancestry = Schema.Array(Identifiers.ImageId)

/** Decode an ancestry list. */
export const decodeAncestry: (
  input: string | Uint8Array
) => Effect.Effect<ReadonlyArray<Identifiers.ImageId>, Errors.InvalidDocument> = decodeJson(Ancestry, "ancestry")

/** Encode an ancestry list. */
export const encodeAncestry: (
  value: ReadonlyArray<Identifiers.ImageId>
) => Effect.Effect<string, Errors.InvalidDocument> = encodeJson(Ancestry, "ancestry")

// ---------------------------------------------------------------------------------------
// AuthConfig
// ---------------------------------------------------------------------------------------

const Secret = Schema.Redacted(Schema.String)

/**
 * Client credentials (Docker 17.03's `AuthConfig`): every field `omitempty`; the secrets
 * (`password`, `auth`, `identitytoken`, `registrytoken`) are `Redacted` in the type and
 * plain strings in JSON.
 */
export const AuthConfig = goStruct(Schema.Struct({
  username: omitEmpty(Schema.String),
  password: omitEmpty(Secret),
  auth: omitEmpty(Secret),
  email: omitEmpty(Schema.String),
  serverAddress: omitEmpty(Schema.String).pipe(Schema.fromKey("serveraddress")),
  identityToken: omitEmpty(Secret).pipe(Schema.fromKey("identitytoken")),
  registryToken: omitEmpty(Secret).pipe(Schema.fromKey("registrytoken"))
})).annotations({ identifier: "AuthConfig" })
/** @see {@link AuthConfig} */
export type AuthConfig = typeof AuthConfig.Type

/** Decode credentials; a failure names the fields and the types they need, never their values. */
export const decodeAuthConfig: (input: string | Uint8Array) => Effect.Effect<AuthConfig, Errors.InvalidDocument> =
  decodeJson(AuthConfig, "auth config", { redact: true })

/** Encode credentials (the secrets in clear: handle the result as a secret). */
export const encodeAuthConfig: (value: AuthConfig) => Effect.Effect<string, Errors.InvalidDocument> = encodeJson(
  AuthConfig,
  "auth config",
  { redact: true }
)
