/**
 * The options every `dockside` command takes (`--retries`, `--timeout`,
 * `--insecure-registry`, `--ca-file`, `--config`, `--verbose`) and the runtime they build:
 * `DocksideNode.layer` with those settings, and a progress printer on standard error (the
 * default one, or the one a command chooses with {@link provideWith}).
 *
 * @since 0.1.0
 */
import * as Progress from "@dockside/client/Progress"
import * as DockerConfig from "@dockside/node/DockerConfig"
import * as DocksideNode from "@dockside/node/DocksideNode"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Output from "./Output.js"
import * as ProgressDisplay from "./ProgressDisplay.js"

const units: Readonly<Record<string, (n: number) => Duration.Duration>> = {
  ms: Duration.millis,
  s: Duration.seconds,
  m: Duration.minutes,
  h: Duration.hours
}

/** Parse `30s`, `500ms`, `2m`, `1h` or Effect's `30 seconds`. */
export const parseDuration = (text: string): Option.Option<Duration.Duration> => {
  const short = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim())
  if (short !== null) return Option.some(units[short[2]!]!(Number(short[1])))
  return Duration.decodeUnknown(text.trim())
}

/** The usage error of an option whose value is not allowed (exit code 2). */
export const invalid = (message: string): ValidationError.ValidationError =>
  ValidationError.invalidValue(HelpDoc.p(message))

/** The global options. */
export const options = {
  retries: Options.integer("retries").pipe(
    Options.withPseudoName("N"),
    Options.withDescription("attempts per request, the first included (default 5)"),
    Options.mapEffect((n) => n >= 1 ? Effect.succeed(n) : Effect.fail(invalid("--retries must be at least 1"))),
    Options.optional
  ),
  timeout: Options.text("timeout").pipe(
    Options.withPseudoName("DURATION"),
    Options.withDescription(
      "longest wait for a response, or for the next bytes of one (e.g. 30s, 2m; default 30s / 60s)"
    ),
    Options.mapEffect((text) =>
      Option.match(Option.filter(parseDuration(text), (duration) => Duration.toMillis(duration) >= 1), {
        onNone: () =>
          Effect.fail(invalid(`--timeout: "${text}" is not a duration of 1 ms or more (e.g. 30s, 500ms, 2m)`)),
        onSome: Effect.succeed
      })
    ),
    Options.optional
  ),
  insecureRegistries: Options.text("insecure-registry").pipe(
    Options.withPseudoName("HOST"),
    Options.withDescription(
      "a host[:port] whose TLS is not verified and that may get credentials over http (repeatable)"
    ),
    Options.repeated,
    Options.withDefault<ReadonlyArray<string>>([])
  ),
  caFiles: Options.file("ca-file", { exists: "yes" }).pipe(
    Options.withPseudoName("FILE"),
    Options.withDescription("a PEM file of extra certificate authorities (repeatable)"),
    Options.repeated,
    Options.withDefault<ReadonlyArray<string>>([])
  ),
  config: Options.directory("config", { exists: "yes" }).pipe(
    Options.withPseudoName("DIR"),
    Options.withDescription("the Docker config folder (default $DOCKER_CONFIG or ~/.docker)"),
    Options.optional
  ),
  verbose: Options.boolean("verbose").pipe(
    Options.withAlias("v"),
    Options.withDescription("show retries, redirects and resumed downloads")
  )
} as const

/** What {@link options} parse to. */
export interface Global {
  readonly retries: Option.Option<number>
  readonly timeout: Option.Option<Duration.Duration>
  readonly insecureRegistries: ReadonlyArray<string>
  readonly caFiles: ReadonlyArray<string>
  readonly config: Option.Option<string>
  readonly verbose: boolean
}

/** One line per finished image, and with `--verbose` what the policies did. */
const render = (verbose: boolean) => (event: Progress.Event): Effect.Effect<void> => {
  if (event._tag === "Done") {
    const words = { pushed: "Pushed", pulled: "Pull complete", skipped: "Already exists", mounted: "Mounted" }
    return Console.error(`${Output.shortId(event.id)}: ${words[event.action]}`)
  }
  const line = verbose ? ProgressDisplay.policyLine(event) : undefined
  return line === undefined ? Effect.void : Console.error(line)
}

/** The runtime of a command without a progress printer: `DocksideNode.layer` from the global options. */
export const runtime = (global: Global) =>
  DocksideNode.layer({
    policy: {
      retry: { attempts: Option.getOrUndefined(global.retries) },
      timeouts: { headers: Option.getOrUndefined(global.timeout), bodyIdle: Option.getOrUndefined(global.timeout) }
    },
    insecureRegistries: global.insecureRegistries,
    caFiles: global.caFiles,
    dockerConfig: Option.getOrUndefined(global.config)
  })

/** The runtime of a command: {@link runtime}, and a printer of one line per finished image. */
export const layer = (global: Global) =>
  Layer.merge(runtime(global), Layer.succeed(Progress.Progress, { publish: render(global.verbose) }))

/**
 * Credentials for a registry from the Docker config, when the user gave none; the
 * warnings (a failing credential helper, …) go to standard error.
 */
export const storedCredentials = (registry: string) =>
  Effect.gen(function*() {
    const config = yield* DockerConfig.DockerConfig
    const found = yield* config.lookup(registry)
    for (const warning of found.warnings) yield* Console.error(`warning: ${warning}`)
    return Option.flatMap(found.auth, (auth) =>
      auth._tag === "Basic" ? Option.some({ username: auth.username, password: auth.password }) : Option.none())
  })

/** Give a command whose options include {@link options} (as `global`) its runtime. */
export const provide = <Name extends string, R, E, A extends { readonly global: Global }>(
  command: Command.Command<Name, R, E, A>
): Command.Command<
  Name,
  Exclude<R, Layer.Layer.Success<ReturnType<typeof layer>>>,
  E | Layer.Layer.Error<ReturnType<typeof layer>>,
  A
> => Command.provide(command, (config: A) => layer(config.global))

/**
 * Give a command whose options include {@link options} (as `global`) its {@link runtime},
 * with the `Progress` layer the command's options choose (e.g. a `ProgressDisplay`).
 */
export const provideWith =
  <P>(progress: (config: P) => Layer.Layer<Progress.Progress>) =>
  <Name extends string, R, E, A extends P & { readonly global: Global }>(
    command: Command.Command<Name, R, E, A>
  ): Command.Command<
    Name,
    Exclude<R, Layer.Layer.Success<ReturnType<typeof runtime>> | Progress.Progress>,
    E | Layer.Layer.Error<ReturnType<typeof runtime>>,
    A
  > => Command.provide(command, (config: A) => Layer.merge(runtime(config.global), progress(config)))
