/**
 * The OCI Distribution (Registry v2) commands: `pull`, `push`, `copy`, `tags`, `manifest`,
 * `catalog`, `delete` and `login`. Results go to standard output as text or, with `--json`,
 * as one JSON document (`manifest` prints the manifest's bytes exactly); transfers show
 * their progress on standard error (see `ProgressDisplay`), nothing there with `--quiet`.
 *
 * @since 0.1.0
 */
import * as Distribution from "@dockside/client/Distribution"
import * as OciLayout from "@dockside/client/OciLayout"
import type * as Progress from "@dockside/client/Progress"
import * as V2Flows from "@dockside/client/V2Flows"
import * as DockerConfig from "@dockside/node/DockerConfig"
import * as Errors from "@dockside/protocol/Errors"
import * as Identifiers from "@dockside/protocol/Identifiers"
import * as Reference from "@dockside/protocol/Reference"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Chunk from "effect/Chunk"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as GlobalOptions from "./GlobalOptions.js"
import * as Output from "./Output.js"
import * as ProgressDisplay from "./ProgressDisplay.js"
import * as UsageText from "./UsageText.js"
import * as V1Options from "./V1Options.js"
import * as V2Options from "./V2Options.js"

/** `login` could not verify the credentials (or read them). */
export class LoginFailed extends Schema.TaggedError<LoginFailed>()("LoginFailed", {
  registry: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `login to ${this.registry} failed: ${this.reason}`
  }
}

/** The options every v2 command has besides its own. */
interface Common {
  readonly global: GlobalOptions.Global
  readonly quiet: boolean
}

/**
 * Show the progress of a transfer: live on a terminal, else lines; nothing with `--quiet`.
 * The display ends (its last drawing done) with the transfer, before the result is printed.
 */
const withProgress = (config: Common) => <A, E, R>(transfer: Effect.Effect<A, E, R>) =>
  Effect.provide(
    transfer,
    ProgressDisplay.layer({ mode: ProgressDisplay.mode(config.quiet), verbose: config.global.verbose })
  )

/** Progress outside transfers: only `--verbose` lines about retries and redirects. */
const plainProgress = (config: Common): Layer.Layer<Progress.Progress> =>
  ProgressDisplay.layer({ mode: config.quiet ? "quiet" : "lines", verbose: config.global.verbose })

/** `2 blobs`, `1 blob`. */
const blobs = (count: number): string => `${count} ${count === 1 ? "blob" : "blobs"}`

/** What a transfer moved, for text output. */
const moved = (result: V2Flows.Result): string =>
  `${result.digest} (${blobs(result.transferred)} transferred, ${result.skipped} already there)`

/** Bytes to standard output exactly, once they are written. */
const writeStdout = (bytes: Uint8Array): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    process.stdout.write(bytes, () => resume(Effect.void))
  })

// ---------------------------------------------------------------------------------------
// pull, push, copy
// ---------------------------------------------------------------------------------------

/** `dockside pull [--platform OS/ARCH[/VARIANT]] [--concurrency N] [--json] [--quiet] REF DEST` */
export const pull = Command.make(
  "pull",
  {
    global: GlobalOptions.options,
    platform: V2Options.platform,
    concurrency: V2Options.concurrency,
    json: V2Options.json,
    quiet: V2Options.quiet,
    reference: V2Options.image(
      "REF",
      "the image, e.g. ubuntu:24.04 or host:5000/team/app@sha256:… (default tag latest)"
    ),
    dest: Args.text({ name: "DEST" }).pipe(Args.withDescription("the OCI image layout folder to pull into"))
  },
  Effect.fn("V2Command.pull")(function*(options) {
    const distribution = yield* V2Options.distribution(options.quiet)
    const result = yield* V2Flows.pull(distribution, options.reference, options.dest, {
      platform: Option.getOrUndefined(options.platform),
      concurrency: options.concurrency
    }).pipe(withProgress(options))
    const reference = Reference.format(options.reference)
    yield* Console.log(
      options.json
        ? Output.json({ reference, dest: options.dest, ...result })
        : `Pulled ${reference} into ${options.dest}: ${moved(result)}`
    )
  })
).pipe(
  GlobalOptions.provideWith(plainProgress),
  Command.withDescription("Pull an image (one platform of a multi-platform one) into an OCI image layout folder.")
)

/** The image of the layout to push: `--image`, else the target's tag if the layout names it, else its only image. */
const layoutImage = (dir: string, explicit: Option.Option<string>, tag: string | undefined) =>
  Effect.gen(function*() {
    if (Option.isSome(explicit)) return explicit.value
    const index = yield* OciLayout.readIndex(dir)
    const names = index.manifests.flatMap((m) => {
      const name = m.annotations?.[OciLayout.refNameAnnotation]
      return name === undefined ? [] : [name]
    })
    if (tag !== undefined && names.includes(tag)) return tag
    return index.manifests.length === 1 && names.length === 1 ? names[0] : undefined
  })

/** `dockside push [--image NAME] [--concurrency N] [--json] [--quiet] SOURCE REF` */
export const push = Command.make(
  "push",
  {
    global: GlobalOptions.options,
    image: Options.text("image").pipe(
      Options.withPseudoName("NAME"),
      Options.withDescription("the layout's image to push, by its ref name (default: REF's tag, else the only one)"),
      Options.optional
    ),
    concurrency: V2Options.concurrency,
    json: V2Options.json,
    quiet: V2Options.quiet,
    source: Args.directory({ name: "SOURCE", exists: "yes" }).pipe(
      Args.withDescription("the OCI image layout folder to push from")
    ),
    reference: V2Options.image("REF", "where to push, e.g. host:5000/team/app:v1 (default tag latest)")
  },
  Effect.fn("V2Command.push")(function*(options) {
    const distribution = yield* V2Options.distribution(options.quiet)
    const image = yield* layoutImage(options.source, options.image, options.reference.tag)
    const result = yield* V2Flows.push(distribution, options.source, options.reference, {
      concurrency: options.concurrency,
      image
    }).pipe(withProgress(options))
    const reference = Reference.format(options.reference)
    yield* Console.log(
      options.json
        ? Output.json({ reference, source: options.source, ...result })
        : `Pushed ${reference}: ${moved(result)}`
    )
  })
).pipe(
  GlobalOptions.provideWith(plainProgress),
  Command.withDescription("Push an image from an OCI image layout folder.")
)

/** `dockside copy [--concurrency N] [--json] [--quiet] SRC DST` */
export const copy = Command.make(
  "copy",
  {
    global: GlobalOptions.options,
    concurrency: V2Options.concurrency,
    json: V2Options.json,
    quiet: V2Options.quiet,
    source: V2Options.image("SRC", "the image to copy (default tag latest)"),
    target: V2Options.target("DST", "where to copy it (default: the source's tag)")
  },
  Effect.fn("V2Command.copy")(function*(options) {
    const distribution = yield* V2Options.distribution(options.quiet)
    const result = yield* V2Flows.copy(distribution, options.source, options.target, {
      concurrency: options.concurrency
    }).pipe(withProgress(options))
    const source = Reference.format(options.source)
    const target = Reference.format(options.target)
    yield* Console.log(
      options.json ? Output.json({ source, target, ...result }) : `Copied ${source} to ${target}: ${moved(result)}`
    )
  })
).pipe(
  GlobalOptions.provideWith(plainProgress),
  Command.withDescription("Copy an image (every platform) between repositories or registries, without a local copy.")
)

// ---------------------------------------------------------------------------------------
// tags, manifest, catalog
// ---------------------------------------------------------------------------------------

/** A list: one item a line (nothing at all when it is empty), or `document` as JSON. */
const printList = (json: boolean, items: ReadonlyArray<string>, document: object) =>
  Console.log(json ? Output.json(document) : Output.lines(items)).pipe(Effect.when(() => json || items.length > 0))

/** `dockside tags [--json] REF` */
export const tags = Command.make(
  "tags",
  {
    global: GlobalOptions.options,
    json: V2Options.json,
    quiet: V2Options.quiet,
    repository: V2Options.repository("REF", "the repository, e.g. ubuntu or host:5000/team/app")
  },
  Effect.fn("V2Command.tags")(function*(options) {
    const distribution = yield* V2Options.distribution(options.quiet)
    const found = Chunk.toReadonlyArray(yield* Stream.runCollect(distribution.tags(options.repository)))
    yield* printList(options.json, found, { name: Reference.name(options.repository), tags: found })
  })
).pipe(GlobalOptions.provideWith(plainProgress), Command.withDescription("List the tags of a repository."))

/** `dockside manifest [--json] REF` */
export const manifest = Command.make(
  "manifest",
  {
    global: GlobalOptions.options,
    json: V2Options.json,
    quiet: V2Options.quiet,
    reference: V2Options.image("REF", "the image, by tag or digest (default tag latest)")
  },
  Effect.fn("V2Command.manifest")(function*(options) {
    const distribution = yield* V2Options.distribution(options.quiet)
    const found = yield* distribution.getManifest(options.reference)
    if (!options.json) return yield* writeStdout(found.bytes)
    const document = yield* Effect.try({
      try: (): unknown => JSON.parse(Buffer.from(found.bytes).toString("utf8")),
      catch: () =>
        new Errors.InvalidDocument({
          what: `manifest ${Reference.format(options.reference)}`,
          reason: "it is not JSON"
        })
    })
    yield* Console.log(Output.json(document))
  })
).pipe(
  GlobalOptions.provideWith(plainProgress),
  Command.withDescription("Print a manifest's bytes exactly as the registry holds them (--json: the parsed document).")
)

/** `dockside catalog [--json] REGISTRY` */
export const catalog = Command.make(
  "catalog",
  { global: GlobalOptions.options, json: V2Options.json, quiet: V2Options.quiet, registry: V2Options.registry },
  Effect.fn("V2Command.catalog")(function*(options) {
    const distribution = yield* V2Options.distribution(options.quiet)
    const found = Chunk.toReadonlyArray(yield* Stream.runCollect(distribution.catalog(options.registry)))
    yield* printList(options.json, found, { registry: options.registry, repositories: found })
  })
).pipe(GlobalOptions.provideWith(plainProgress), Command.withDescription("List the repositories of a registry."))

// ---------------------------------------------------------------------------------------
// delete
// ---------------------------------------------------------------------------------------

/** `dockside delete [--json] REF` */
export const remove = Command.make(
  "delete",
  {
    global: GlobalOptions.options,
    json: V2Options.json,
    quiet: V2Options.quiet,
    reference: V2Options.tagOrDigest("REF", "the manifest, by digest (…@sha256:…) or by tag (its digest is deleted)")
  },
  Effect.fn("V2Command.delete")(function*(options) {
    const reference = options.reference
    const distribution = yield* V2Options.distribution(options.quiet)
    const digest: Identifiers.Digest = reference.digest !== undefined
      ? reference.digest
      : yield* Effect.gen(function*() {
        const stat = yield* distribution.headManifest(reference)
        if (Option.isNone(stat)) {
          return yield* new Errors.NotFound({
            method: "HEAD",
            url: Reference.format(reference),
            what: `manifest ${Reference.format(reference)}`
          })
        }
        // A registry that does not say the digest: compute it from the manifest.
        return Identifiers.isDigest(stat.value.digest)
          ? stat.value.digest
          : (yield* distribution.getManifest(reference)).digest
      })
    yield* distribution.deleteManifest(reference, digest)
    const name = Reference.name(reference)
    yield* Console.log(options.json ? Output.json({ deleted: "manifest", name, digest }) : `Deleted ${name}@${digest}`)
  })
).pipe(
  GlobalOptions.provideWith(plainProgress),
  Command.withDescription("Delete a manifest, named by digest or by a tag (every tag of that manifest goes with it).")
)

// ---------------------------------------------------------------------------------------
// login
// ---------------------------------------------------------------------------------------

/** `dockside login --username USER --password-stdin [--json] REGISTRY` */
export const login = Command.make(
  "login",
  {
    global: GlobalOptions.options,
    username: V2Options.login,
    json: V2Options.json,
    quiet: V2Options.quiet,
    registry: V2Options.registry
  },
  Effect.fn("V2Command.login")(function*(options) {
    const { registry, username } = options
    const password = yield* V1Options.readPassword
    if (Redacted.value(password) === "") {
      return yield* new LoginFailed({ registry, reason: "the password read from standard input is empty" })
    }
    // Verify first: GET /v2/ with the credentials, through the auth policy (Basic, or a token).
    // They are for this registry only: not for another origin that it redirects to.
    const own = new URL(`https://${Reference.apiHost(registry)}`).host
    const distribution = yield* Distribution.make({
      credentials: (host) =>
        Effect.succeed(host === own ? Option.some({ _tag: "Basic" as const, username, password }) : Option.none()),
      userAgent: V2Options.userAgent
    })
    const answer = yield* distribution.ping(registry).pipe(
      Effect.mapError((error) => new LoginFailed({ registry, reason: error.message }))
    )
    if (answer.status !== 200) {
      return yield* new LoginFailed({ registry, reason: "the registry refused the credentials (HTTP 401)" })
    }
    const config = yield* DockerConfig.DockerConfig
    const stored = yield* config.store(registry, { username, password })
    const where = stored._tag === "Helper" ? stored.helper : stored.path
    yield* Console.log(options.json ? Output.json({ registry, username, stored: where }) : "Login Succeeded")
  })
).pipe(
  GlobalOptions.provideWith(plainProgress),
  Command.withDescription(
    "Check credentials with the registry, then save them in the Docker config (or its credential helper)."
  )
)

// ---------------------------------------------------------------------------------------
// the commands
// ---------------------------------------------------------------------------------------

/** The v2 commands, top-level. */
export const commands = [pull, push, copy, tags, manifest, catalog, remove, login] as const

/** Their usage lines, for the usage printer. */
export const usage: ReadonlyArray<UsageText.Entry> = [
  Command.getUsage(pull),
  Command.getUsage(push),
  Command.getUsage(copy),
  Command.getUsage(tags),
  Command.getUsage(manifest),
  Command.getUsage(catalog),
  Command.getUsage(remove),
  Command.getUsage(login)
].map(UsageText.command)
