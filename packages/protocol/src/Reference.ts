/**
 * Image references (`host[:port]/path[:tag][@digest]`), parsed and printed the way Docker
 * does (the `distribution/reference` grammar plus Docker's normalisation).
 *
 * - The first `/`-separated component names the registry host iff it contains `.` or `:`
 *   or is `localhost`; otherwise the registry is Docker Hub.
 * - `docker.io`, `index.docker.io` and `registry-1.docker.io` are one registry, kept as
 *   `docker.io`; a Docker Hub name without `/` is an official image under `library/`.
 * - A tag and a digest may both be given and both are kept; giving neither stays visible
 *   (see {@link withDefaultTag}).
 * - The name as written (host included, before normalisation, without tag and digest)
 *   has at most 255 characters; a Docker Hub name that is 64 hexadecimal characters, with
 *   or without `library/`, is refused (it looks like an image id), as Docker 17.03 does.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Errors from "./Errors.js"
import * as Identifiers from "./Identifiers.js"
import * as Json from "./internal/json.js"

/** The name references use for Docker Hub. */
export const defaultRegistry = "docker.io"

/** Host names that all mean Docker Hub; {@link normalizeRegistry} maps them to {@link defaultRegistry}. */
export const hubHosts: ReadonlyArray<string> = [defaultRegistry, "index.docker.io", "registry-1.docker.io"]

/** The host that serves the v2 registry API for Docker Hub. */
export const hubApiHost = "registry-1.docker.io"

/** The namespace of official images on Docker Hub. */
export const officialNamespace = "library"

/** The tag Docker assumes when a reference names neither a tag nor a digest. */
export const defaultTag: Identifiers.Tag = Identifiers.Tag.make("latest")

const domainComponent = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/
const ipv6Literal = /^\[[a-fA-F0-9:]+\]$/

/**
 * The reason a registry host (`name[:port]`, `[ipv6][:port]`) breaks the reference grammar,
 * if it does.
 */
export const checkRegistryHost = (host: string): string | undefined => {
  const portAt = host.startsWith("[") ? host.indexOf(":", host.indexOf("]")) : host.indexOf(":")
  const hostname = portAt === -1 ? host : host.slice(0, portAt)
  const validName = ipv6Literal.test(hostname) ||
    (hostname !== "" && hostname.split(".").every((part) => domainComponent.test(part)))
  if (!validName) {
    return `invalid registry host "${host}": a host is dot-separated parts of letters, digits and inner dashes, or a bracketed IPv6 address`
  }
  if (portAt !== -1 && !/^[0-9]+$/.test(host.slice(portAt + 1))) {
    return `invalid registry host "${host}": the port must be a decimal number`
  }
  if (portAt !== -1 && !(Number(host.slice(portAt + 1)) >= 1 && Number(host.slice(portAt + 1)) <= 65535)) {
    return `invalid registry host "${host}": the port must be from 1 to 65535`
  }
  try {
    new URL(`https://${host}/`)
  } catch {
    // Such as a malformed punycode label (`xn--a.com`).
    return `invalid registry host "${host}": it is not a host name a URL can hold`
  }
  return undefined
}

/** Whether the first component of a name denotes a registry host (has `.` or `:`, or is `localhost`). */
export const isRegistryHost = (component: string): boolean =>
  component.includes(".") || component.includes(":") || component === "localhost"

/**
 * Split a name (`host[:port]/path`, or a path) at its first `/` when the part before it
 * is a registry host ({@link isRegistryHost}); otherwise the host is
 * {@link defaultRegistry} and the path is the whole name. The host is returned as
 * written, neither checked nor normalised.
 */
export const splitHost = (name: string): { readonly host: string; readonly path: string } => {
  const slash = name.indexOf("/")
  return slash !== -1 && isRegistryHost(name.slice(0, slash))
    ? { host: name.slice(0, slash), path: name.slice(slash + 1) }
    : { host: defaultRegistry, path: name }
}

/** Map the Docker Hub aliases to {@link defaultRegistry}; any other host is returned as is. */
export const normalizeRegistry = (host: string): string => hubHosts.includes(host) ? defaultRegistry : host

/** The host that serves the v2 API for a registry: {@link hubApiHost} for Docker Hub. */
export const apiHost = (registry: string): string =>
  normalizeRegistry(registry) === defaultRegistry ? hubApiHost : registry

/**
 * A parsed image reference: the registry (normalised host), the repository path on that
 * registry (the "remote name", with `library/` for official images) and the optional
 * tag and digest.
 */
export class Reference extends Schema.Class<Reference>("Reference")({
  registry: Schema.String.pipe(Schema.filter((host) => checkRegistryHost(host) ?? true)),
  repository: Identifiers.RepositoryName,
  tag: Schema.optional(Identifiers.Tag),
  digest: Schema.optional(Identifiers.Digest)
}) {}

const optionalPart = <A>(
  schema: Schema.Schema<A, string>,
  what: string,
  value: string | undefined
): Either.Either<A | undefined, string> =>
  value === undefined
    ? Either.right(undefined)
    : Either.mapLeft(
      Schema.decodeEither(schema)(value),
      (error) => `invalid ${what} "${value}": ${Json.formatParseError(error)}`
    )

/** `library/<64 hex>`: an official image named like an image id, which Docker refuses. */
const imageIdLike = new RegExp(`^${officialNamespace}/[a-f0-9]{64}$`)

const analyse = (input: string): Either.Either<Reference, string> =>
  Either.gen(function*() {
    if (input === "") return yield* Either.left("repository name must have at least one component")
    const at = input.indexOf("@")
    const named = at === -1 ? input : input.slice(0, at)
    const colon = named.lastIndexOf(":")
    const hasTag = colon > named.lastIndexOf("/")
    const name = hasTag ? named.slice(0, colon) : named
    if (name.length > Identifiers.maxNameLength) {
      return yield* Either.left(
        `repository name must not be more than ${Identifiers.maxNameLength} characters (it has ${name.length})`
      )
    }
    const { host, path } = splitHost(name)
    const hostReason = checkRegistryHost(host)
    if (hostReason !== undefined) return yield* Either.left(hostReason)
    const pathReason = Identifiers.checkRepositoryPath(path)
    if (pathReason !== undefined) return yield* Either.left(pathReason)
    const registry = normalizeRegistry(host)
    const hub = registry === defaultRegistry
    const remote = hub && !path.includes("/") ? `${officialNamespace}/${path}` : path
    if (hub && imageIdLike.test(remote)) {
      return yield* Either.left("repository name cannot be 64 hexadecimal characters (that is the form of an image id)")
    }
    const repository = yield* Either.mapLeft(
      Schema.decodeEither(Identifiers.RepositoryName)(remote),
      Json.formatParseError
    )
    const tag = yield* optionalPart(Identifiers.Tag, "tag", hasTag ? named.slice(colon + 1) : undefined)
    const digest = yield* optionalPart(Identifiers.Digest, "digest", at === -1 ? undefined : input.slice(at + 1))
    return new Reference({
      registry,
      repository,
      ...(tag === undefined ? {} : { tag }),
      ...(digest === undefined ? {} : { digest })
    })
  })

/** Parse an image reference; the error's `reason` says exactly which rule failed. */
export const parse = (input: string): Effect.Effect<Reference, Errors.InvalidReference> =>
  Either.match(analyse(input), {
    onLeft: (reason) => Effect.fail(new Errors.InvalidReference({ input, reason })),
    onRight: Effect.succeed
  })

/** The canonical repository name, `registry/repository` (e.g. `docker.io/library/ubuntu`). */
export const name = (reference: Reference): string => `${reference.registry}/${reference.repository}`

const suffix = (reference: Reference): string =>
  (reference.tag === undefined ? "" : `:${reference.tag}`) +
  (reference.digest === undefined ? "" : `@${reference.digest}`)

/** The canonical full form, e.g. `docker.io/library/ubuntu:latest` or `host:5000/a/b:t@sha256:…`. */
export const format = (reference: Reference): string => name(reference) + suffix(reference)

/** Whether the reference names an official Docker Hub image (`docker.io/library/<name>`). */
export const isOfficial = (reference: Reference): boolean =>
  reference.registry === defaultRegistry &&
  reference.repository.startsWith(`${officialNamespace}/`) &&
  !reference.repository.slice(officialNamespace.length + 1).includes("/")

/**
 * The short name Docker shows and stores images under: `ubuntu` for
 * `docker.io/library/ubuntu`, `public/moonbase` for `docker.io/public/moonbase`,
 * `host:5000/a/b` for other registries.
 */
export const localName = (reference: Reference): string =>
  isOfficial(reference)
    ? reference.repository.slice(officialNamespace.length + 1)
    : reference.registry === defaultRegistry
    ? reference.repository
    : name(reference)

/** The short form Docker prints, e.g. `ubuntu:latest` ({@link localName} plus tag and digest). */
export const familiar = (reference: Reference): string => localName(reference) + suffix(reference)

/** The index (registry) name: `docker.io` or the host as given (`host[:port]`). */
export const indexName = (reference: Reference): string => reference.registry

/** The repository path on the registry, e.g. `library/ubuntu` or `private/moonbase`. */
export const remoteName = (reference: Reference): Identifiers.RepositoryName => reference.repository

/**
 * The repository name the v1 tag calls (`GetRemoteTag`, `GetRemoteTags`) use: the remote
 * name with `library/` in front when it has no `/`, on every registry (so
 * `localhost:5000/foo` is queried as `library/foo` there, but as `foo` elsewhere).
 */
export const v1TagsRemoteName = (reference: Reference): string =>
  reference.repository.includes("/") ? reference.repository : `${officialNamespace}/${reference.repository}`

/** The reference with {@link defaultTag} when it names neither a tag nor a digest; otherwise unchanged. */
export const withDefaultTag = (reference: Reference): Reference =>
  reference.tag !== undefined || reference.digest !== undefined
    ? reference
    : new Reference({ ...reference, tag: defaultTag })
