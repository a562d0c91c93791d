/**
 * Options and arguments shared by the `dockside v1 …` commands, checked while the command
 * line is parsed (a bad one is a usage error, exit 2), and the session they open.
 *
 * @since 0.1.0
 */
import * as V1Session from "@dockside/client/V1Session"
import type * as DockerConfig from "@dockside/node/DockerConfig"
import type * as Errors from "@dockside/protocol/Errors"
import * as Identifiers from "@dockside/protocol/Identifiers"
import * as V1Endpoint from "@dockside/protocol/V1Endpoint"
import * as Args from "@effect/cli/Args"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as NodeStream from "@effect/platform-node/NodeStream"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as GlobalOptions from "./GlobalOptions.js"

/** Check an address the way a session will read it (spec §1.1); the address itself is kept. */
const address = (value: string): Effect.Effect<string, Errors.InvalidEndpoint> =>
  Effect.as(V1Endpoint.fromAddress(value), value)

/** `--index URL`: the index address, `host:port`, `http://host:port` or `https://host/v1/`. */
export const index: Options.Options<string> = Options.text("index").pipe(
  Options.withPseudoName("URL"),
  Options.withDescription("the index address: host:port (https), http://host:port or https://host/v1/"),
  Options.mapEffect((value) => Effect.mapError(address(value), (error) => GlobalOptions.invalid(error.message)))
)

/** The `URL` argument of `ping`, checked as {@link index} is. */
export const url: Args.Args<string> = Args.text({ name: "URL" }).pipe(
  Args.withDescription("the address: host:port (https), http://host:port or https://host/v1/"),
  Args.mapEffect((value) => Effect.mapError(address(value), (error) => HelpDoc.p(error.message)))
)

/** `--username U --password-stdin`: the user whose password is read from standard input, if any. */
const username: Options.Options<Option.Option<string>> = Options.all({
  username: Options.text("username").pipe(
    Options.withPseudoName("USER"),
    Options.withDescription("the user to authenticate as (with --password-stdin)"),
    Options.optional
  ),
  passwordStdin: Options.boolean("password-stdin").pipe(
    Options.withDescription("read the password from standard input (with --username)")
  )
}).pipe(
  Options.mapEffect(({ passwordStdin, username }) => {
    if (passwordStdin && Option.isNone(username)) {
      return Effect.fail(GlobalOptions.invalid("--password-stdin needs --username"))
    }
    if (!passwordStdin && Option.isSome(username)) {
      return Effect.fail(
        GlobalOptions.invalid("--username needs --password-stdin (the password is read from standard input)")
      )
    }
    return Effect.succeed(username)
  })
)

/** Where and as whom a command connects. */
export const connection = { index, username } as const

/** What {@link connection} parses to. */
export interface Connection {
  readonly index: string
  readonly username: Option.Option<string>
}

/** `--json`: machine output. */
export const json: Options.Options<boolean> = Options.boolean("json").pipe(
  Options.withDescription("print JSON instead of a table")
)

/** `--limit N` of `search`: 1 to 100, default 25. */
export const limit: Options.Options<number> = Options.integer("limit").pipe(
  Options.withPseudoName("N"),
  Options.withDescription("the largest number of results (1 to 100)"),
  Options.withDefault(V1Endpoint.defaultSearchLimit),
  Options.mapEffect((value) =>
    Effect.mapError(V1Endpoint.validateSearchLimit(value), (error) => GlobalOptions.invalid(error.message))
  )
)

/** A repository name and, when one was written, a tag. */
export interface NameAndTag {
  readonly name: Identifiers.RepositoryName
  readonly tag: Option.Option<Identifiers.Tag>
}

/**
 * Split `NAME[:TAG]`: the tag is what follows the last `:` after the last `/`. The name
 * must follow Docker's repository path rules and the tag the tag rules.
 */
export const parseNameAndTag = (value: string): Effect.Effect<NameAndTag, Errors.InvalidArgument> => {
  const colon = value.lastIndexOf(":")
  const hasTag = colon > value.lastIndexOf("/")
  return Effect.all({
    name: Identifiers.parseRepositoryName(hasTag ? value.slice(0, colon) : value),
    tag: hasTag ? Effect.asSome(Identifiers.parseTag(value.slice(colon + 1))) : Effect.succeedNone
  })
}

/** The `NAME[:TAG]` argument. */
export const nameAndTag: Args.Args<NameAndTag> = Args.text({ name: "NAME[:TAG]" }).pipe(
  Args.withDescription("a repository name such as me/app, with an optional :tag"),
  Args.mapEffect((value) => Effect.mapError(parseNameAndTag(value), (error) => HelpDoc.p(error.message)))
)

/** The `NAME` argument (no tag). */
export const name: Args.Args<Identifiers.RepositoryName> = Args.text({ name: "NAME" }).pipe(
  Args.withDescription("a repository name such as me/app"),
  Args.mapEffect((value) =>
    Effect.mapError(Identifiers.parseRepositoryName(value), (error) => HelpDoc.p(error.message))
  )
)

/**
 * All of standard input as text, less one trailing newline (`\n` or `\r\n`), as
 * `docker login --password-stdin` reads it.
 */
export const readPassword: Effect.Effect<Redacted.Redacted<string>> = Effect.map(
  Stream.runFold(NodeStream.stdin, Buffer.alloc(0), (read, bytes) => Buffer.concat([read, bytes])),
  (bytes) => Redacted.make(bytes.toString("utf8").replace(/\r?\n$/, ""))
)

/** What opening a session can fail with. */
export type SessionError = Errors.InvalidEndpoint | V1Session.TransportError | Errors.BodyTooLarge

/**
 * Open a v1 session on the connection's index: with `--username`, the password is read from
 * standard input; without, credentials stored in the Docker config for the index are used.
 */
export const session = (
  connection: Connection
): Effect.Effect<V1Session.Service, SessionError, HttpClient.HttpClient | DockerConfig.DockerConfig> =>
  Effect.gen(function*() {
    const credentials = yield* Option.match(connection.username, {
      onNone: () => Effect.map(GlobalOptions.storedCredentials(connection.index), Option.getOrUndefined),
      onSome: (username) => Effect.map(readPassword, (password) => ({ username, password }))
    })
    return yield* V1Session.make({ index: connection.index, credentials })
  })
