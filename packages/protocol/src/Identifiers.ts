/**
 * Branded identifiers: image ids, content digests, tags and repository names.
 *
 * Each is a `Schema` whose decoding checks the rule and says what is wrong, plus a
 * `parse…` helper that fails with {@link Errors.InvalidArgument}.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Errors from "./Errors.js"
import * as Json from "./internal/json.js"

/** A v1 image id: exactly 64 lower-case hexadecimal characters. */
export const ImageId = Schema.String.pipe(
  Schema.filter((s) => /^[a-f0-9]{64}$/.test(s) || "an image id is 64 lower-case hexadecimal characters"),
  Schema.brand("ImageId"),
  Schema.annotations({ identifier: "ImageId" })
)
/** @see {@link ImageId} */
export type ImageId = typeof ImageId.Type

/** Is this string an image id? */
export const isImageId: (value: string) => value is ImageId = Schema.is(ImageId)

/** Hex lengths of the digest algorithms dockside verifies. */
export const digestAlgorithms = { sha256: 64, sha512: 128 } as const
/** A digest algorithm dockside can verify. */
export type DigestAlgorithm = keyof typeof digestAlgorithms

const checkDigest = (s: string): string | undefined => {
  const colon = s.indexOf(":")
  if (colon <= 0) return "a digest is <algorithm>:<hex>, e.g. sha256:<64 hex>"
  const algorithm = s.slice(0, colon)
  const hex = s.slice(colon + 1)
  if (!Object.hasOwn(digestAlgorithms, algorithm)) {
    return `unsupported digest algorithm "${algorithm}" (expected sha256 or sha512)`
  }
  const length = digestAlgorithms[algorithm as DigestAlgorithm]
  if (!/^[a-f0-9]*$/.test(hex)) return "the digest's hex part must be lower-case hexadecimal"
  if (hex.length !== length) return `a ${algorithm} digest has ${length} hex characters, not ${hex.length}`
  return undefined
}

/** A content digest, `sha256:<64 hex>` or `sha512:<128 hex>`. */
export const Digest = Schema.String.pipe(
  Schema.filter((s) => checkDigest(s) ?? true),
  Schema.brand("Digest"),
  Schema.annotations({ identifier: "Digest" })
)
/** @see {@link Digest} */
export type Digest = typeof Digest.Type

/** Is this string a digest? */
export const isDigest: (value: string) => value is Digest = Schema.is(Digest)

/** The algorithm part of a digest. */
export const digestAlgorithm = (digest: Digest): DigestAlgorithm =>
  digest.slice(0, digest.indexOf(":")) as DigestAlgorithm

/** The hex part of a digest. */
export const digestHex = (digest: Digest): string => digest.slice(digest.indexOf(":") + 1)

/** A tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`. */
export const Tag = Schema.String.pipe(
  Schema.filter((s) => {
    if (s.length === 0) return "a tag cannot be empty"
    if (s.length > 128) return `a tag has at most 128 characters, not ${s.length}`
    return /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(s) ||
      "a tag starts with a letter, digit or _ and holds only letters, digits, _, . and -"
  }),
  Schema.brand("Tag"),
  Schema.annotations({ identifier: "Tag" })
)
/** @see {@link Tag} */
export type Tag = typeof Tag.Type

/** One `/`-separated component of a repository path. */
export const pathComponent = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/

/**
 * Longest repository name Docker accepts, counted on the name as written, registry host
 * included (`host:5000/a/b`). Only a whole reference can be measured: `Reference.parse`
 * checks it; {@link RepositoryName} alone does not.
 */
export const maxNameLength = 255

/**
 * The reason a repository path (without registry host) breaks Docker's rules, if it
 * does. Its length is not checked here (see {@link maxNameLength}).
 */
export const checkRepositoryPath = (s: string): string | undefined => {
  if (s.length === 0) return "a repository name cannot be empty"
  if (s !== s.toLowerCase()) return "repository name must be lowercase"
  for (const component of s.split("/")) {
    if (component === "") {
      return "a repository name cannot have an empty path component (no leading, trailing or double /)"
    }
    if (!pathComponent.test(component)) {
      return `path component "${component}" may hold only a-z, 0-9 and single separators (., _, __ or dashes) between them`
    }
  }
  return undefined
}

/**
 * A repository path such as `library/ubuntu` (lower case, `/`-separated components).
 * Its length is bounded by the whole reference's rule (see {@link maxNameLength}).
 */
export const RepositoryName = Schema.String.pipe(
  Schema.filter((s) => checkRepositoryPath(s) ?? true),
  Schema.brand("RepositoryName"),
  Schema.annotations({ identifier: "RepositoryName" })
)
/** @see {@link RepositoryName} */
export type RepositoryName = typeof RepositoryName.Type

const parser = <A>(name: string, schema: Schema.Schema<A, string>) => {
  const decode = Schema.decodeEither(schema)
  return (value: string): Effect.Effect<A, Errors.InvalidArgument> =>
    Either.match(decode(value), {
      onLeft: (error) => Effect.fail(new Errors.InvalidArgument({ name, value, reason: Json.formatParseError(error) })),
      onRight: Effect.succeed
    })
}

/** Check an image id. */
export const parseImageId: (value: string) => Effect.Effect<ImageId, Errors.InvalidArgument> = parser(
  "image id",
  ImageId
)
/** Check a digest. */
export const parseDigest: (value: string) => Effect.Effect<Digest, Errors.InvalidArgument> = parser("digest", Digest)
/** Check a tag. */
export const parseTag: (value: string) => Effect.Effect<Tag, Errors.InvalidArgument> = parser("tag", Tag)
/** Check a repository name. */
export const parseRepositoryName: (value: string) => Effect.Effect<RepositoryName, Errors.InvalidArgument> = parser(
  "repository name",
  RepositoryName
)

/** The values of a list that satisfy an identifier schema, and those that do not, each in order. */
export interface Partition<A> {
  readonly valid: ReadonlyArray<A>
  readonly invalid: ReadonlyArray<string>
}

/**
 * Sort strings from the network into those that satisfy `schema` (e.g. {@link Tag}) and
 * those that do not, keeping the order: one bad entry does not hide the others, and only
 * the valid ones may be put into URLs or paths.
 */
export const partition = <A>(schema: Schema.Schema<A, string>, values: ReadonlyArray<string>): Partition<A> => {
  const is = Schema.is(schema)
  const valid: Array<A> = []
  const invalid: Array<string> = []
  for (const value of values) {
    if (is(value)) valid.push(value)
    else invalid.push(value)
  }
  return { valid, invalid }
}
