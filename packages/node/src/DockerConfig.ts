/**
 * Registry credentials from the Docker CLI config, the way `docker` finds them.
 *
 * The file is `<folder>/config.json`, where the folder is an explicit option, else
 * `$DOCKER_CONFIG`, else `~/.docker`. A missing file means no credentials. For a
 * registry, a credential helper (`credHelpers[host]`, else `credsStore`) is asked first by
 * running `docker-credential-<name> get`; when there is none, or it fails, the `auths`
 * entry is used. A helper that is missing, fails, hangs or prints garbage is reported as
 * a warning next to the answer (and the lookup goes on anonymously or with `auths`), never
 * as a failure: the library does not print, the caller shows the warnings.
 *
 * `auths` keys may be written in any form (`https://index.docker.io/v1/`,
 * `registry.example.com`, `https://registry.example.com:5000`, `http://host/v2/`): they
 * are compared as `host[:port]`, and `docker.io`, `index.docker.io` and
 * `registry-1.docker.io` are one registry (the Hub).
 *
 * Secrets are `Redacted` from the moment they are decoded; warnings and errors hold
 * paths, registry names and helper names, never a password or token.
 *
 * @since 0.1.0
 */
import * as V1Transport from "@dockside/client/V1Transport"
import * as Errors from "@dockside/protocol/Errors"
import * as Command from "@effect/platform/Command"
import * as CommandExecutor from "@effect/platform/CommandExecutor"
import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Crypto from "node:crypto"
import * as Os from "node:os"
import * as Path from "node:path"

// ---------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------

/** A username and password, sent as HTTP Basic (or to a v2 token server). */
export interface Basic {
  readonly _tag: "Basic"
  readonly username: string
  readonly password: Redacted.Redacted<string>
}

/** An OAuth2 refresh token (`identitytoken`, or a helper's `<token>` user) for the v2 token flow. */
export interface IdentityToken {
  readonly _tag: "IdentityToken"
  readonly username?: string
  readonly token: Redacted.Redacted<string>
}

/** A ready bearer token (`registrytoken`), sent as it is. */
export interface BearerToken {
  readonly _tag: "BearerToken"
  readonly token: Redacted.Redacted<string>
}

/** Credentials for one registry. */
export type RegistryAuth = Basic | IdentityToken | BearerToken

/** The answer to a lookup: the credentials, if any, and what went wrong on the way. */
export interface Lookup {
  readonly auth: Option.Option<RegistryAuth>
  /** Human-readable, secret-free notes (a missing or failing helper, a broken entry). */
  readonly warnings: ReadonlyArray<string>
}

/** Where `store` put the credentials. */
export type Stored =
  | { readonly _tag: "ConfigFile"; readonly path: string }
  | { readonly _tag: "Helper"; readonly helper: string }

/** How to find the config and run credential helpers. */
export interface LoadOptions {
  /** The config folder; overrides `$DOCKER_CONFIG` and `~/.docker`. */
  readonly folder?: string | undefined
  /** Variables for helper processes, merged over this process's environment (e.g. a `PATH`). */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** How long a helper may take before it counts as failed (default 10 seconds). */
  readonly helperTimeout?: Duration.DurationInput | undefined
}

/** A loaded Docker CLI config. */
export interface DockerConfigService {
  /** The `config.json` path (the file may not exist). */
  readonly path: string
  /** Credentials for a registry address (`host[:port]`, optionally with a scheme and path). */
  readonly lookup: (registry: string) => Effect.Effect<Lookup>
  /**
   * Save credentials for a registry: with the host's helper when the config names one
   * (leaving an empty `auths` marker, as `docker login` does), else as a base64 `auth` in
   * `config.json`, keeping every other key of the file. The file is re-read first.
   */
  readonly store: (
    registry: string,
    credentials: V1Transport.Credentials
  ) => Effect.Effect<Stored, Errors.CredentialsError>
}

/** The Docker CLI config as a service. */
export class DockerConfig extends Context.Tag("@dockside/node/DockerConfig")<DockerConfig, DockerConfigService>() {}

// ---------------------------------------------------------------------------------------
// Registry addresses
// ---------------------------------------------------------------------------------------

/** The key `docker login` uses for the Hub, and the server URL its helpers are asked for. */
export const hubServerAddress = "https://index.docker.io/v1/"

const hubHosts: ReadonlySet<string> = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"])

/**
 * The `host[:port]` of a registry address, lower-cased, without scheme or path; every
 * Hub host becomes `docker.io`.
 */
export const registryHost = (address: string): string => {
  const withoutScheme = address.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, "")
  const host = withoutScheme.split("/", 1)[0]!.toLowerCase()
  return hubHosts.has(host) ? "docker.io" : host
}

/** The address a helper is asked about and a new `auths` key is written as. */
const serverAddress = (host: string): string => host === "docker.io" ? hubServerAddress : host

// ---------------------------------------------------------------------------------------
// The file
// ---------------------------------------------------------------------------------------

const Secret = Schema.Redacted(Schema.String)

const AuthEntry = Schema.Struct({
  auth: Schema.optional(Secret),
  username: Schema.optional(Schema.String),
  password: Schema.optional(Secret),
  identitytoken: Schema.optional(Secret),
  registrytoken: Schema.optional(Secret)
})
type AuthEntry = typeof AuthEntry.Type

const ConfigFile = Schema.Struct({
  auths: Schema.optional(Schema.Record({ key: Schema.String, value: AuthEntry })),
  credsStore: Schema.optional(Schema.String),
  credHelpers: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String }))
})
type ConfigFile = typeof ConfigFile.Type

/** The file as written (every key, for rewriting) and as understood. */
interface Contents {
  readonly raw: Record<string, unknown>
  readonly file: ConfigFile
}

const empty: Contents = { raw: {}, file: {} }

const decodeConfigFile = Schema.decodeUnknownEither(ConfigFile)

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** Decode the text of `config.json`; reasons name where it is wrong, never what is there. */
const parseContents = (text: string): Either.Either<Contents, string> => {
  if (text.trim() === "") return Either.right(empty)
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return Either.left("not valid JSON")
  }
  if (!isPlainObject(raw)) return Either.left("not a JSON object")
  return decodeConfigFile(raw).pipe(
    Either.map((file) => ({ raw, file })),
    Either.mapLeft((error) => {
      const path = ParseResult.ArrayFormatter.formatErrorSync(error)[0]?.path ?? []
      return `unexpected value at ${path.map((key) => JSON.stringify(String(key))).join(".")}`
    })
  )
}

/** Read and decode `config.json`; a missing file is an empty config. */
const readContents = (
  fs: FileSystem.FileSystem,
  path: string
): Effect.Effect<Contents, Errors.CredentialsError> =>
  fs.readFileString(path).pipe(
    Effect.map(Option.some<string>),
    Effect.catchIf(
      (error) => error._tag === "SystemError" && error.reason === "NotFound",
      () => Effect.succeed(Option.none<string>())
    ),
    Effect.mapError((error) => new Errors.CredentialsError({ operation: "read", source: path, reason: error.message })),
    Effect.flatMap(Option.match({
      onNone: () => Effect.succeed(empty),
      onSome: (text) =>
        Either.match(parseContents(text), {
          onLeft: (reason) => Effect.fail(new Errors.CredentialsError({ operation: "read", source: path, reason })),
          onRight: Effect.succeed
        })
    }))
  )

/**
 * Write `config.json` atomically: a temporary file (mode 0600) beside the real one, then
 * a rename; a symlinked config is replaced at its target, as Docker does.
 */
const writeContents = (
  fs: FileSystem.FileSystem,
  path: string,
  raw: Record<string, unknown>
): Effect.Effect<void, Errors.CredentialsError> =>
  Effect.gen(function*() {
    const target = yield* fs.realPath(path).pipe(Effect.orElseSucceed(() => path))
    const folder = Path.dirname(target)
    yield* fs.makeDirectory(folder, { recursive: true, mode: 0o700 })
    const temp = Path.join(folder, `.${Path.basename(target)}.${Crypto.randomUUID()}.tmp`)
    yield* Effect.gen(function*() {
      yield* fs.writeFileString(temp, `${JSON.stringify(raw, null, "\t")}\n`, { flag: "wx", mode: 0o600 })
      yield* fs.chmod(temp, 0o600)
      yield* fs.rename(temp, target)
    }).pipe(Effect.tapError(() => Effect.ignore(fs.remove(temp))))
  }).pipe(
    Effect.mapError((error) => new Errors.CredentialsError({ operation: "write", source: path, reason: error.message }))
  )

/** The `auths` keys that name this host, the canonical spelling first, then in file order. */
const authsKeys = (file: ConfigFile, host: string): ReadonlyArray<string> => {
  const keys = Object.keys(file.auths ?? {}).filter((key) => registryHost(key) === host)
  const canonical = serverAddress(host)
  return [...keys.filter((key) => key === canonical), ...keys.filter((key) => key !== canonical)]
}

const nonEmpty = (secret: Redacted.Redacted<string> | undefined): Option.Option<Redacted.Redacted<string>> =>
  secret === undefined || Redacted.value(secret) === "" ? Option.none() : Option.some(secret)

/** The credentials of one `auths` entry (Docker's precedence), or why the entry is unusable. */
const entryAuth = (entry: AuthEntry): Either.Either<Option.Option<RegistryAuth>, string> => {
  const bearer = nonEmpty(entry.registrytoken)
  if (Option.isSome(bearer)) return Either.right(Option.some({ _tag: "BearerToken", token: bearer.value }))
  let username = entry.username ?? ""
  let password = entry.password
  const auth = nonEmpty(entry.auth)
  if (Option.isSome(auth)) {
    const decoded = Encoding.decodeBase64String(Redacted.value(auth.value).trim())
    const colon = Either.isRight(decoded) ? decoded.right.indexOf(":") : -1
    if (Either.isLeft(decoded) || colon < 0) return Either.left(`"auth" is not the base64 of "user:password"`)
    username = decoded.right.slice(0, colon)
    password = Redacted.make(decoded.right.slice(colon + 1))
  }
  const identity = nonEmpty(entry.identitytoken)
  if (Option.isSome(identity)) {
    return Either.right(Option.some(
      username === "" ?
        { _tag: "IdentityToken", token: identity.value } :
        { _tag: "IdentityToken", username, token: identity.value }
    ))
  }
  return username === "" ?
    Either.right(Option.none()) :
    Either.right(Option.some({ _tag: "Basic", username, password: password ?? Redacted.make("") }))
}

/** The first usable `auths` entry for the host, with a warning for each broken one before it. */
const authsLookup = (path: string, file: ConfigFile, host: string): Lookup => {
  const warnings: Array<string> = []
  for (const key of authsKeys(file, host)) {
    const found = entryAuth(file.auths![key]!)
    if (Either.isLeft(found)) {
      warnings.push(`ignoring the auths entry ${JSON.stringify(key)} of ${path}: ${found.left}`)
    } else if (Option.isSome(found.right)) {
      return { auth: found.right, warnings }
    }
  }
  return { auth: Option.none(), warnings }
}

// ---------------------------------------------------------------------------------------
// Credential helpers
// ---------------------------------------------------------------------------------------

/** A helper named for a host: `credHelpers` (any key spelling) wins over `credsStore`. */
interface HelperChoice {
  readonly name: string
  readonly from: "credHelpers" | "credsStore"
}

const helperFor = (file: ConfigFile, host: string): Option.Option<HelperChoice> => {
  const specific = Object.entries(file.credHelpers ?? {}).find(([key, name]) =>
    registryHost(key) === host && name !== ""
  )
  if (specific !== undefined) return Option.some({ name: specific[1], from: "credHelpers" })
  return file.credsStore === undefined || file.credsStore === "" ?
    Option.none() :
    Option.some({ name: file.credsStore, from: "credsStore" })
}

/** What docker-credential-helpers prints (on stdout) when it has nothing for the server. */
const credentialsNotFound = "credentials not found in native keychain"

/** The username with which a helper marks its secret as an identity token. */
const tokenUsername = "<token>"

const HelperAnswer = Schema.parseJson(Schema.Struct({
  ServerURL: Schema.optional(Schema.String),
  Username: Schema.String,
  Secret
}))

const decodeHelperAnswer = Schema.decodeUnknownEither(HelperAnswer)

/** How helper processes are run. */
interface HelperRunner {
  readonly executor: CommandExecutor.CommandExecutor
  readonly env: Readonly<Record<string, string>>
  readonly timeout: Duration.Duration
}

interface HelperOutput {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
}

const helperCommand = (name: string): string => `docker-credential-${name}`

const text = (stream: Stream.Stream<Uint8Array, PlatformError.PlatformError>) =>
  stream.pipe(Stream.decodeText(), Stream.mkString)

const spawnFailure = (error: PlatformError.PlatformError): string =>
  error._tag === "SystemError" && error.reason === "NotFound" ?
    "not found on the PATH" :
    error._tag === "SystemError" && error.reason === "PermissionDenied" ?
    "not executable" :
    error.message

/**
 * Run `docker-credential-<name> <action>` with `input` on stdin; fails with a reason. On a
 * timeout or an interruption its process group is killed with SIGKILL: closing the scope
 * only sends SIGTERM and waits, which a helper that ignores SIGTERM (or waits on a prompt)
 * would make endless.
 */
const runHelper = (
  runner: HelperRunner,
  name: string,
  action: "get" | "store",
  input: string
): Effect.Effect<HelperOutput, string> =>
  Effect.scoped(Effect.gen(function*() {
    const command = Command.make(helperCommand(name), action).pipe(Command.feed(input), Command.env(runner.env))
    const process = yield* Effect.mapError(runner.executor.start(command), spawnFailure)
    return yield* Effect.all([text(process.stdout), text(process.stderr), process.exitCode], {
      concurrency: "unbounded"
    }).pipe(
      Effect.map(([stdout, stderr, exitCode]) => ({ exitCode, stdout, stderr })),
      Effect.mapError(spawnFailure),
      Effect.timeoutFail({
        duration: runner.timeout,
        onTimeout: () => `no answer within ${Duration.format(runner.timeout)}`
      }),
      // Also when the lookup is interrupted (a caller's timeout, Ctrl-C).
      Effect.onError(() => Effect.ignore(process.kill("SIGKILL")))
    )
  }))

/** A `"Secret": "…"` (or `Password`, `Token`) field of some JSON text, however it is spaced. */
const secretField = /("(?:secret|password|[a-z]*token)"\s*:\s*)"(?:[^"\\]|\\.)*"?/gi

/**
 * Why a helper failed: its exit code and the first line of its stderr, bounded, with the
 * `secrets` and anything shaped like a secret field blanked out. Its stdout is never shown:
 * a helper that printed its answer before failing would have the secret there.
 */
const failureText = (output: HelperOutput, secrets: ReadonlyArray<string>): string => {
  let said = output.stderr.trim().split("\n", 1)[0]!
  for (const secret of secrets) {
    if (secret !== "") said = said.split(secret).join("<redacted>")
  }
  // Blanked before the cut, so that a secret cut in two is not shown in part.
  said = said.replace(secretField, "$1\"<redacted>\"").slice(0, 200)
  return `exited with code ${output.exitCode}${said === "" ? "" : `: ${Errors.excerpt(said)}`}`
}

/** The secret of a helper answer printed on stdout, if it printed one. */
const printedSecrets = (stdout: string): ReadonlyArray<string> => {
  const answer = decodeHelperAnswer(stdout)
  return Either.isRight(answer) ? [Redacted.value(answer.right.Secret)] : []
}

/** Ask a helper; `None` when it has nothing for the server, a reason when it failed. */
const helperGet = (
  runner: HelperRunner,
  name: string,
  host: string
): Effect.Effect<Option.Option<RegistryAuth>, string> =>
  Effect.gen(function*() {
    const output = yield* runHelper(runner, name, "get", serverAddress(host))
    if (output.exitCode !== 0) {
      if (output.stdout.trim() === credentialsNotFound) return Option.none()
      return yield* Effect.fail(failureText(output, printedSecrets(output.stdout)))
    }
    const answer = decodeHelperAnswer(output.stdout)
    if (Either.isLeft(answer)) return yield* Effect.fail("printed something that is not a credentials JSON object")
    const { Secret: secret, Username: username } = answer.right
    if (username === tokenUsername) {
      return Option.map(nonEmpty(secret), (token): RegistryAuth => ({ _tag: "IdentityToken", token }))
    }
    return username === "" ? Option.none() : Option.some<RegistryAuth>({ _tag: "Basic", username, password: secret })
  })

// ---------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------

const environmentError = (reason: string): Errors.CredentialsError =>
  new Errors.CredentialsError({ operation: "read", source: "environment", reason })

/** `<folder>/config.json`: the option, else `$DOCKER_CONFIG`, else `$HOME/.docker` (or the OS home). */
const configPath = (folder: string | undefined): Effect.Effect<string, Errors.CredentialsError> =>
  folder !== undefined ?
    Effect.succeed(Path.join(folder, "config.json")) :
    Effect.gen(function*() {
      const dockerConfig = yield* Config.option(Config.string("DOCKER_CONFIG"))
      const home = yield* Config.option(Config.string("HOME"))
      const chosen = Option.filter(dockerConfig, (dir) => dir !== "").pipe(
        Option.orElse(() => Option.map(Option.filter(home, (dir) => dir !== ""), (dir) => Path.join(dir, ".docker"))),
        Option.getOrElse(() => Path.join(Os.homedir(), ".docker"))
      )
      return Path.join(chosen, "config.json")
    }).pipe(Effect.mapError((error) => environmentError(error.message)))

/** Build the service over a resolved path. */
const make = (
  fs: FileSystem.FileSystem,
  runner: HelperRunner,
  path: string,
  contents: Contents
): DockerConfigService => {
  const lookup = Effect.fn("DockerConfig.lookup")(function*(registry: string) {
    const host = registryHost(registry)
    const helper = helperFor(contents.file, host)
    if (Option.isNone(helper)) return authsLookup(path, contents.file, host)
    const { name, from } = helper.value
    const asked = yield* Effect.either(helperGet(runner, name, host))
    if (Either.isRight(asked) && Option.isSome(asked.right)) return { auth: asked.right, warnings: [] }
    const fallback = authsLookup(path, contents.file, host)
    if (Either.isRight(asked)) return fallback
    const outcome = Option.isSome(fallback.auth) ? `using the auths entry of ${path}` : "continuing without credentials"
    const warning = `credential helper ${helperCommand(name)} (${from}) failed for ${host}: ${asked.left}; ${outcome}`
    return { auth: fallback.auth, warnings: [warning, ...fallback.warnings] }
  })

  const store = Effect.fn("DockerConfig.store")(
    function*(registry: string, credentials: V1Transport.Credentials) {
      const host = registryHost(registry)
      const current = yield* readContents(fs, path)
      const key = authsKeys(current.file, host)[0] ?? serverAddress(host)
      const auths = isPlainObject(current.raw.auths) ? current.raw.auths : {}
      const helper = helperFor(current.file, host)
      const secret = Redacted.value(credentials.password)
      if (Option.isSome(helper)) {
        const name = helper.value.name
        const input = JSON.stringify({ ServerURL: serverAddress(host), Username: credentials.username, Secret: secret })
        const storeError = (reason: string) =>
          new Errors.CredentialsError({ operation: "store", source: helperCommand(name), reason })
        const output = yield* runHelper(runner, name, "store", input).pipe(Effect.mapError(storeError))
        if (output.exitCode !== 0) return yield* storeError(failureText(output, [secret]))
        yield* writeContents(fs, path, { ...current.raw, auths: { ...auths, [key]: {} } })
        return { _tag: "Helper", helper: helperCommand(name) } satisfies Stored
      }
      const auth = Buffer.from(`${credentials.username}:${secret}`).toString("base64")
      yield* writeContents(fs, path, { ...current.raw, auths: { ...auths, [key]: { auth } } })
      return { _tag: "ConfigFile", path } satisfies Stored
    }
  )

  return { path, lookup, store }
}

/**
 * Read the Docker CLI config. A missing file gives an empty config; unreadable or
 * malformed JSON fails with `CredentialsError` (naming the path, never the content).
 */
export const load: (
  options?: LoadOptions
) => Effect.Effect<
  DockerConfigService,
  Errors.CredentialsError,
  FileSystem.FileSystem | CommandExecutor.CommandExecutor
> = Effect.fn("DockerConfig.load")(function*(options: LoadOptions = {}) {
  const fs = yield* FileSystem.FileSystem
  const executor = yield* CommandExecutor.CommandExecutor
  const path = yield* configPath(options.folder)
  const contents = yield* readContents(fs, path)
  const runner: HelperRunner = {
    executor,
    env: options.env ?? {},
    timeout: Duration.decode(options.helperTimeout ?? "10 seconds")
  }
  return make(fs, runner, path, contents)
})

/** The Docker CLI config as a layer. */
export const layer = (
  options: LoadOptions = {}
): Layer.Layer<DockerConfig, Errors.CredentialsError, FileSystem.FileSystem | CommandExecutor.CommandExecutor> =>
  Layer.effect(DockerConfig, load(options))

/**
 * Save credentials for a registry in the config of `folder` (see
 * {@link DockerConfigService.store}); what `dockside login` does.
 */
export const writeAuth: (
  folder: string,
  registry: string,
  credentials: V1Transport.Credentials,
  options?: Omit<LoadOptions, "folder">
) => Effect.Effect<Stored, Errors.CredentialsError, FileSystem.FileSystem | CommandExecutor.CommandExecutor> = Effect
  .fn("DockerConfig.writeAuth")(
    function*(
      folder: string,
      registry: string,
      credentials: V1Transport.Credentials,
      options: Omit<LoadOptions, "folder"> = {}
    ) {
      const config = yield* load({ ...options, folder })
      return yield* config.store(registry, credentials)
    }
  )
