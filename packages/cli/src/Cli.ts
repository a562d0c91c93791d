/**
 * The `dockside` command tree and its runner: exit code 2 for usage errors, 1 for
 * failures (with the typed error's message), 0 otherwise.
 *
 * @since 0.1.0
 */
import * as Errors from "@dockside/protocol/Errors"
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as ConfigError from "effect/ConfigError"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as TarSumCommand from "./TarSumCommand.js"
import * as UsageText from "./UsageText.js"
import * as V1Command from "./V1Command.js"
import * as V2Command from "./V2Command.js"

/** The root command. */
export const command = Command.make("dockside").pipe(
  Command.withDescription("A container-registry client for Effect applications."),
  Command.withSubcommands([...V2Command.commands, TarSumCommand.command, V1Command.command])
)

const usage = [...V2Command.usage, UsageText.command(Command.getUsage(TarSumCommand.command)), V1Command.usage]

const cli = Command.run(command, { name: "dockside", version: "0.1.0" })

const setExitCode = (code: number) => Effect.sync(() => void (process.exitCode = code))

/** Run the CLI on `process.argv`-style arguments; sets `process.exitCode`, never fails. */
export const run = (argv: ReadonlyArray<string>): Effect.Effect<void> =>
  cli(argv).pipe(
    Effect.catchAll((error) =>
      ValidationError.isValidationError(error)
        // @effect/cli has printed the problem and the usage already.
        ? ValidationError.isHelpRequested(error)
          ? Effect.void
          : Console.error(UsageText.render("dockside", usage, argv)).pipe(Effect.zipRight(setExitCode(2)))
        : ConfigError.isConfigError(error)
        // A bad DOCKSIDE_* or proxy variable: the user's input, named with its variable.
        ? Console.error(`dockside: invalid environment: ${String(error)}`).pipe(Effect.zipRight(setExitCode(2)))
        : Console.error(`dockside: ${error.message}`).pipe(Effect.zipRight(setExitCode(1)))
    ),
    // A defect is a bug of dockside's: said as such (its URLs redacted), exit 1.
    Effect.catchAllDefect((defect) =>
      Console.error(`dockside: internal error, please report it: ${defectText(defect)}`).pipe(
        Effect.zipRight(setExitCode(1))
      )
    ),
    Effect.provide(NodeContext.layer)
  )

/**
 * The name and message of a defect without what URLs in it may hold: any `//user:password@`,
 * then, URL by URL, what `Errors.redactUrl` hides (secret query values).
 */
const defectText = (defect: unknown): string => {
  const text = defect instanceof Error ? `${defect.name}: ${defect.message}` : String(defect)
  return Errors.excerpt(
    text.replace(/\/\/[^/\s@]*@/g, "//").replace(
      /[a-z][a-z0-9+.-]*:\/\/\S+?(?=\s|$|[a-z][a-z0-9+.-]*:\/\/)/gi,
      (url) => Errors.redactUrl(url)
    )
  )
}
