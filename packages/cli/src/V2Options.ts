/**
 * Options and arguments of the v2 commands (`pull`, `push`, `copy`, `tags`, `manifest`,
 * `catalog`, `delete`, `login`), checked while the command line is parsed (a bad one is a
 * usage error, exit 2), and the `Distribution` client they use: credentials from the
 * Docker config per registry host, `--insecure-registry` hosts spoken to over http.
 *
 * @since 0.1.0
 */
import * as Distribution from "@dockside/client/Distribution"
import type * as V2Auth from "@dockside/client/V2Auth"
import * as V2Flows from "@dockside/client/V2Flows"
import * as DockerConfig from "@dockside/node/DockerConfig"
import * as Platform from "@dockside/protocol/Platform"
import * as Reference from "@dockside/protocol/Reference"
import * as Args from "@effect/cli/Args"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as GlobalOptions from "./GlobalOptions.js"

/** The `User-Agent` of the v2 commands. */
export const userAgent = "dockside/0.1.0"

/** `--json`: machine output on standard output. */
export const json: Options.Options<boolean> = Options.boolean("json").pipe(
  Options.withDescription("print JSON instead of text")
)

/** `--quiet`: nothing on standard error but errors. */
export const quiet: Options.Options<boolean> = Options.boolean("quiet").pipe(
  Options.withAlias("q"),
  Options.withDescription("print nothing on standard error but errors (no progress, no warnings)")
)

/** The largest `--concurrency`. */
export const maxConcurrency = 32

/** `--concurrency N`: blobs moved at the same time, 1 to 32, default 4. */
export const concurrency: Options.Options<number> = Options.integer("concurrency").pipe(
  Options.withPseudoName("N"),
  Options.withDescription(`blobs moved at the same time, 1 to ${maxConcurrency} (default 4)`),
  Options.withDefault(V2Flows.defaultConcurrency),
  Options.mapEffect((n) =>
    n >= 1 && n <= maxConcurrency
      ? Effect.succeed(n)
      : Effect.fail(GlobalOptions.invalid(`--concurrency must be from 1 to ${maxConcurrency} (got ${n})`))
  )
)

/** `--platform os/arch[/variant]`: the platform to take from an index (default: the host's). */
export const platform: Options.Options<Option.Option<Platform.Platform>> = Options.text("platform").pipe(
  Options.withPseudoName("OS/ARCH[/VARIANT]"),
  Options.withDescription("the platform to pull from a multi-platform image, e.g. linux/arm64 (default: this host's)"),
  Options.mapEffect((text) => Effect.mapError(Platform.parse(text), (error) => GlobalOptions.invalid(error.message))),
  Options.optional
)

/** An image reference argument, parsed, then checked or completed by `check`. */
const referenceArg = (
  name: string,
  description: string,
  check: (reference: Reference.Reference) => Effect.Effect<Reference.Reference, string> = Effect.succeed
): Args.Args<Reference.Reference> =>
  Args.text({ name }).pipe(
    Args.withDescription(description),
    Args.mapEffect((text) =>
      Reference.parse(text).pipe(
        Effect.mapError((error) => error.message),
        Effect.flatMap(check),
        Effect.mapError((message) => HelpDoc.p(message))
      )
    )
  )

/** A reference to an image; `latest` when it names neither a tag nor a digest. */
export const image = (name: string, description: string): Args.Args<Reference.Reference> =>
  referenceArg(name, description, (reference) => Effect.succeed(Reference.withDefaultTag(reference)))

/** A reference as written (a copy's target takes the source's tag when it names none). */
export const target = (name: string, description: string): Args.Args<Reference.Reference> =>
  referenceArg(name, description)

/** A repository: a reference without tag and digest. */
export const repository = (name: string, description: string): Args.Args<Reference.Reference> =>
  referenceArg(name, description, (reference) =>
    reference.tag === undefined && reference.digest === undefined
      ? Effect.succeed(reference)
      : Effect.fail(`"${Reference.format(reference)}" names a tag or digest: give the repository only`))

/** A reference that names a tag or a digest (what `delete` removes is never implied). */
export const tagOrDigest = (name: string, description: string): Args.Args<Reference.Reference> =>
  referenceArg(name, description, (reference) =>
    reference.tag !== undefined || reference.digest !== undefined
      ? Effect.succeed(reference)
      : Effect.fail(`"${Reference.format(reference)}" names no tag and no digest: give one (e.g. :latest)`))

/**
 * A registry, `host[:port]` (a scheme and a path are dropped, Docker Hub's hosts are
 * `docker.io`).
 */
export const registry: Args.Args<string> = Args.text({ name: "REGISTRY" }).pipe(
  Args.withDescription("the registry, host[:port] (docker.io for Docker Hub)"),
  Args.mapEffect((text) => {
    const host = DockerConfig.registryHost(text)
    const reason = host === "" ? `invalid registry "${text}": it is empty` : Reference.checkRegistryHost(host)
    return reason === undefined ? Effect.succeed(host) : Effect.fail(HelpDoc.p(reason))
  })
)

/** `--username U --password-stdin` of `login`: both are needed. */
export const login: Options.Options<string> = Options.all({
  username: Options.text("username").pipe(
    Options.withAlias("u"),
    Options.withPseudoName("USER"),
    Options.withDescription("the user to log in as (with --password-stdin)"),
    Options.optional
  ),
  passwordStdin: Options.boolean("password-stdin").pipe(
    Options.withDescription("read the password from standard input (with --username)")
  )
}).pipe(
  Options.mapEffect(({ passwordStdin, username }) => {
    if (Option.isNone(username)) {
      return Effect.fail(
        GlobalOptions.invalid(passwordStdin ? "--password-stdin needs --username" : "login needs --username")
      )
    }
    if (!passwordStdin) {
      return Effect.fail(
        GlobalOptions.invalid("--username needs --password-stdin (the password is read from standard input)")
      )
    }
    return Effect.succeed(username.value)
  })
)

/** Docker config credentials as v2 credentials (the same tags and fields). */
const toCredentials = (auth: DockerConfig.RegistryAuth): V2Auth.Credentials => {
  switch (auth._tag) {
    case "Basic":
      return { _tag: "Basic", username: auth.username, password: auth.password }
    case "IdentityToken":
      return { _tag: "IdentityToken", username: auth.username, token: auth.token }
    case "BearerToken":
      return { _tag: "BearerToken", token: auth.token }
  }
}

/**
 * The v2 client of a command: credentials from the Docker config (the client looks each
 * registry host up once; its warnings on standard error unless `quiet`); the insecure
 * registries are the runtime's (`--insecure-registry`, `DOCKSIDE_INSECURE_REGISTRIES`).
 */
export const distribution = (quiet: boolean) =>
  Effect.gen(function*() {
    const config = yield* DockerConfig.DockerConfig
    const credentials = (host: string) =>
      Effect.gen(function*() {
        const found = yield* config.lookup(host)
        if (!quiet) { for (const warning of found.warnings) yield* Console.error(`warning: ${warning}`) }
        return Option.map(found.auth, toCredentials)
      })
    return yield* Distribution.make({ credentials, userAgent })
  })
