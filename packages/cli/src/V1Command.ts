/**
 * `dockside v1 …`: the Docker Registry v1 commands (ping, search, tags, history, push,
 * pull, delete) over a `V1Session`. Results go to standard output, as aligned tables or,
 * with `--json`, as one JSON document; push and pull report each image on standard error.
 *
 * @since 0.1.0
 */
import * as V1Flows from "@dockside/client/V1Flows"
import * as V1Session from "@dockside/client/V1Session"
import * as Errors from "@dockside/protocol/Errors"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as GlobalOptions from "./GlobalOptions.js"
import * as Output from "./Output.js"
import * as UsageText from "./UsageText.js"
import * as V1Options from "./V1Options.js"

/** The tag used when `NAME[:TAG]` has none (history, push). */
const defaultTag = "latest"

/** `name:tag`, as messages show a reference. */
const reference = (name: string, tag: string): string => `${name}:${tag}`

/** `1 image`, `2 images`. */
const images = (count: number): string => `${count} ${count === 1 ? "image" : "images"}`

/**
 * Run `f` on the registry endpoints in order until one succeeds (the last failure is
 * reported); no endpoint at all is `MissingEndpoints`.
 */
const onFirstEndpoint = <A, E, R>(
  session: V1Session.Service,
  endpoints: ReadonlyArray<string>,
  f: (endpoint: string) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | Errors.MissingEndpoints, R> =>
  endpoints.length === 0
    ? Effect.fail(new Errors.MissingEndpoints({ method: "GET", url: session.index }))
    : Effect.firstSuccessOf(endpoints.map(f))

/** The `created` field of an image JSON, when it is there and a string. */
const createdOf = (json: Uint8Array): string | undefined => {
  try {
    const value: unknown = JSON.parse(Buffer.from(json).toString("utf8"))
    if (typeof value !== "object" || value === null) return undefined
    const created = (value as Record<string, unknown>)["created"]
    return typeof created === "string" ? created : undefined
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------------------
// ping
// ---------------------------------------------------------------------------------------

/** `dockside v1 ping [--json] URL` */
const ping = Command.make(
  "ping",
  { global: GlobalOptions.options, json: V1Options.json, url: V1Options.url },
  Effect.fn("V1Command.ping")(function*(options) {
    const result = yield* V1Session.ping(options.url)
    yield* Console.log(
      options.json ? Output.json(result) : Output.fields([
        ["Version", result.version === "" ? "unknown" : result.version],
        ["Standalone", String(result.standalone)]
      ])
    )
  })
).pipe(
  GlobalOptions.provide,
  Command.withDescription("Ping a v1 registry or index: print its version and whether it is standalone.")
)

// ---------------------------------------------------------------------------------------
// search
// ---------------------------------------------------------------------------------------

const ok = (flag: boolean): string => flag ? "[OK]" : ""

/** `dockside v1 search --index URL [--limit N] [--json] TERM` */
const search = Command.make(
  "search",
  {
    global: GlobalOptions.options,
    connection: V1Options.connection,
    limit: V1Options.limit,
    json: V1Options.json,
    term: Args.text({ name: "TERM" }).pipe(Args.withDescription("what to look for"))
  },
  Effect.fn("V1Command.search")(function*(options) {
    const session = yield* V1Options.session(options.connection)
    const found = yield* session.searchRepositories(options.term, options.limit)
    yield* Console.log(
      options.json
        ? Output.json({
          query: found.query,
          numResults: found.numResults,
          results: found.results.map(({ description, isAutomated, isOfficial, name, starCount }) => ({
            name,
            description,
            starCount,
            isOfficial,
            isAutomated
          }))
        })
        : Output.table(
          ["NAME", "DESCRIPTION", "STARS", "OFFICIAL", "AUTOMATED"],
          found.results.map((result) => [
            result.name,
            Output.truncate(result.description, 45),
            String(result.starCount),
            ok(result.isOfficial),
            ok(result.isAutomated)
          ])
        )
    )
  })
).pipe(GlobalOptions.provide, Command.withDescription("Search the index for repositories."))

// ---------------------------------------------------------------------------------------
// tags
// ---------------------------------------------------------------------------------------

/** `dockside v1 tags --index URL [--json] NAME` */
const tags = Command.make(
  "tags",
  { global: GlobalOptions.options, connection: V1Options.connection, json: V1Options.json, name: V1Options.name },
  Effect.fn("V1Command.tags")(function*(options) {
    const session = yield* V1Options.session(options.connection)
    const data = yield* session.getRepositoryData(options.name)
    const tagMap = yield* session.getRemoteTags(data.endpoints, options.name)
    const sorted = Object.entries(tagMap).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
    yield* Console.log(
      options.json
        ? Output.json({ name: options.name, tags: Object.fromEntries(sorted) })
        : Output.table(["TAG", "IMAGE ID"], sorted.map(([tag, id]) => [tag, Output.shortId(id)]))
    )
  })
).pipe(GlobalOptions.provide, Command.withDescription("List the tags of a repository."))

// ---------------------------------------------------------------------------------------
// history
// ---------------------------------------------------------------------------------------

/** `dockside v1 history --index URL [--json] NAME[:TAG]` */
const history = Command.make(
  "history",
  {
    global: GlobalOptions.options,
    connection: V1Options.connection,
    json: V1Options.json,
    image: V1Options.nameAndTag
  },
  Effect.fn("V1Command.history")(function*(options) {
    const { name } = options.image
    const tag = Option.getOrElse(options.image.tag, () => defaultTag)
    const session = yield* V1Options.session(options.connection)
    const data = yield* session.getRepositoryData(name)
    const id = yield* session.getRemoteTag(data.endpoints, name, tag)
    const ancestors = yield* onFirstEndpoint(
      session,
      data.endpoints,
      (endpoint) =>
        Effect.flatMap(session.getRemoteHistory(id, endpoint), (ancestry) =>
          Effect.forEach(
            ancestry,
            (ancestor) =>
              Effect.map(session.getRemoteImageJson(ancestor, endpoint), (remote) => ({
                id: ancestor,
                size: remote.size < 0 ? null : remote.size,
                created: createdOf(remote.json) ?? null
              })),
            { concurrency: 4 }
          ))
    )
    yield* Console.log(
      options.json
        ? Output.json({ name, tag, id, images: ancestors })
        : Output.table(
          ["IMAGE", "CREATED", "SIZE"],
          ancestors.map((image) => [Output.shortId(image.id), image.created ?? "", Output.humanSize(image.size ?? -1)])
        )
    )
  })
).pipe(
  GlobalOptions.provide,
  Command.withDescription("Show the ancestry of a tagged image (default tag latest), newest first.")
)

// ---------------------------------------------------------------------------------------
// push and pull
// ---------------------------------------------------------------------------------------

/** `dockside v1 push --index URL [--json] NAME[:TAG] SOURCE` */
const push = Command.make(
  "push",
  {
    global: GlobalOptions.options,
    connection: V1Options.connection,
    json: V1Options.json,
    image: V1Options.nameAndTag,
    source: Args.text({ name: "SOURCE" }).pipe(
      Args.withDescription("a legacy `docker save` folder, or a .tar archive of one")
    )
  },
  Effect.fn("V1Command.push")(function*(options) {
    const { name } = options.image
    const tag = Option.getOrElse(options.image.tag, () => defaultTag)
    const session = yield* V1Options.session(options.connection)
    const result = yield* V1Flows.pushV1(session, { name, tag, source: options.source })
    const pushed = result.images.filter((image) => image.pushed).length
    yield* Console.log(
      options.json
        ? Output.json({ name, tag, images: result.images, endpoints: result.endpoints })
        : `Pushed ${reference(name, tag)}: ${images(result.images.length)}, ${pushed} uploaded`
    )
  })
).pipe(
  GlobalOptions.provide,
  Command.withDescription("Push an image (default tag latest) from a legacy `docker save` folder or archive.")
)

/** `dockside v1 pull --index URL [--json] NAME[:TAG] DEST` */
const pull = Command.make(
  "pull",
  {
    global: GlobalOptions.options,
    connection: V1Options.connection,
    json: V1Options.json,
    image: V1Options.nameAndTag,
    dest: Args.text({ name: "DEST" }).pipe(
      Args.withDescription("a folder for the legacy `docker save` layout, or a path ending in .tar for an archive")
    )
  },
  Effect.fn("V1Command.pull")(function*(options) {
    const { name } = options.image
    const session = yield* V1Options.session(options.connection)
    const result = yield* V1Flows.pullV1(session, {
      name,
      tag: Option.getOrUndefined(options.image.tag),
      dest: options.dest
    })
    const pulled = Object.keys(result.tags).sort().map((tag) => reference(name, tag)).join(", ")
    yield* Console.log(
      options.json
        ? Output.json({ name, dest: options.dest, tags: result.tags, images: result.images })
        : `Pulled ${pulled} into ${options.dest}: ${images(result.images.length)}`
    )
  })
).pipe(
  GlobalOptions.provide,
  Command.withDescription("Pull a tag, or every tag when none is given, into a legacy `docker save` layout.")
)

// ---------------------------------------------------------------------------------------
// delete
// ---------------------------------------------------------------------------------------

/** `dockside v1 delete --index URL [--json] NAME[:TAG]` */
const remove = Command.make(
  "delete",
  {
    global: GlobalOptions.options,
    connection: V1Options.connection,
    json: V1Options.json,
    image: V1Options.nameAndTag
  },
  Effect.fn("V1Command.delete")(function*(options) {
    const { name, tag } = options.image
    const session = yield* V1Options.session(options.connection)
    // A registry that issues tokens wants the index's delete step first; a standalone one has none.
    const { standalone } = yield* V1Session.ping(options.connection.index)
    const endpoints = standalone
      ? (yield* session.getRepositoryData(name)).endpoints
      : yield* session.authorizeDelete(name)
    for (const endpoint of endpoints) {
      yield* Option.match(tag, {
        onNone: () => session.deleteRepository(name, endpoint),
        onSome: (tag) => session.deleteRepositoryTag(name, tag, endpoint)
      })
    }
    yield* Console.log(Option.match(tag, {
      onNone: () => options.json ? Output.json({ deleted: "repository", name }) : `Deleted repository ${name}`,
      onSome: (tag) => options.json ? Output.json({ deleted: "tag", name, tag }) : `Deleted tag ${reference(name, tag)}`
    }))
  })
).pipe(GlobalOptions.provide, Command.withDescription("Delete a tag, or the whole repository when no tag is given."))

// ---------------------------------------------------------------------------------------
// the group
// ---------------------------------------------------------------------------------------

/** `dockside v1 <ping | search | tags | history | push | pull | delete>` */
export const command = Command.make("v1").pipe(
  Command.withDescription("Docker Registry v1 commands."),
  Command.withSubcommands([ping, search, tags, history, push, pull, remove])
)

/** The usage lines of the group, for the usage printer. */
export const usage: UsageText.Entry = UsageText.group("v1", [
  Command.getUsage(ping),
  Command.getUsage(search),
  Command.getUsage(tags),
  Command.getUsage(history),
  Command.getUsage(push),
  Command.getUsage(pull),
  Command.getUsage(remove)
])
