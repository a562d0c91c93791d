/**
 * A real registry for integration tests: the `docker-registry` binary (CNCF distribution 2.8,
 * Debian package `docker-registry`) run as a child process on `127.0.0.1` on a free port, with
 * its storage in a temporary folder, plain or with htpasswd basic auth or with token auth.
 *
 * For token auth an in-process token server (plain `node:http` on `127.0.0.1`) implements
 * Docker's token protocol and its OAuth2 form, signing RS256 JWTs with a key and self-signed
 * certificate made by `openssl`; the registry trusts that certificate (`rootcertbundle`) and
 * finds it in each token's `x5c` header. See {@link TokenRequest} for what it grants.
 *
 * Everything is undone when the scope closes: the registry gets `SIGTERM`, then `SIGKILL` if it
 * has not exited within 2 s, the token server stops, and the temporary folder is removed. The
 * registry runs with a parent-death signal (`setpriv --pdeathsig SIGKILL`), so it dies with the
 * process that started it even when that scope never closes. Nothing here waits on
 * Effect's clock (only real timers), so it also serves `TestClock`-driven tests.
 *
 * Missing tools (`docker-registry`, `setpriv`, `htpasswd` for basic auth, `openssl` for token
 * auth) are installed with `apt-get` when running as root, else {@link StartError} names the
 * command to run; {@link ensureTools} does that up front.
 *
 * @since 0.1.0
 */
import * as Errors from "@dockside/protocol/Errors"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as ChildProcess from "node:child_process"
import { randomBytes } from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Http from "node:http"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Checks from "./internal/checks.js"
import * as NodeServer from "./internal/nodeServer.js"
import * as TokenServer from "./internal/tokenServer.js"

/** A user of the basic or token auth. */
export interface User {
  readonly username: string
  readonly password: string
}

/** How to start a {@link RealRegistry}. */
export interface Options {
  /**
   * `"none"` (default): open. `"basic"`: htpasswd (bcrypt) with realm {@link realm}.
   * `"token"`: bearer tokens from the in-process token server, service {@link service}.
   */
  readonly auth?: "none" | "basic" | "token" | undefined
  /** The users of basic or token auth. Default `[defaultUser]`. Names may not hold `:`. */
  readonly users?: ReadonlyArray<User> | undefined
  /** Allow `DELETE` of manifests and blobs (`storage.delete.enabled`). Default `true`. */
  readonly deleteEnabled?: boolean | undefined
}

/** One grant of a token, as in the JWT's `access` claim. */
export interface Access {
  /** `repository`, `registry`, … */
  readonly type: string
  /** The scope type's `(class)` suffix, e.g. `plugin` of `repository(plugin):…`. */
  readonly class?: string
  readonly name: string
  readonly actions: ReadonlyArray<string>
}

/**
 * One request to the token server. A known user gets every action asked for; no credentials
 * gets `pull` (only) on each repository asked for; wrong credentials get 401.
 */
export interface TokenRequest {
  readonly method: string
  /** The form's `grant_type` of a `POST`; `undefined` for a `GET`. */
  readonly grantType: string | undefined
  readonly service: string | undefined
  /** The scopes asked for, in order (`scope` values split on spaces). */
  readonly scopes: ReadonlyArray<string>
  readonly account: string | undefined
  /** What the request presented: Basic credentials (GET), a password or a refresh token (POST). */
  readonly credentials: "none" | "basic" | "password" | "refresh_token"
  /** The user the credentials named (the refresh token's owner), right or wrong. */
  readonly username: string | undefined
  readonly status: number
  /** What the issued token grants; empty when refused. */
  readonly granted: ReadonlyArray<Access>
}

/** A running {@link RealRegistry}. */
export interface Service {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string
  /** `127.0.0.1:PORT`. */
  readonly host: string
  readonly auth: "none" | "basic" | "token"
  /** The users of basic or token auth. */
  readonly users: ReadonlyArray<User>
  /** The token server's `http://127.0.0.1:PORT/token` (the challenge's realm), with token auth. */
  readonly tokenUrl: string | undefined
  /** The registry's storage folder (`storage.filesystem.rootdirectory`), removed at scope close. */
  readonly storage: string
  /** The registry process id. */
  readonly pid: number
  /** The last 16 KiB the registry wrote to stderr (it logs at `warn`, no access log). */
  readonly stderr: Effect.Effect<string>
  /** Every token server request so far, oldest first; empty without token auth. */
  readonly tokenRequests: Effect.Effect<ReadonlyArray<TokenRequest>>
  /** Forget the logged token requests. */
  readonly clearTokenRequests: Effect.Effect<void>
  /**
   * Answer the next `count` `GET`/`POST /token` requests with `status` (default 503) and an
   * error body. Does nothing without token auth.
   */
  readonly failTokenRequests: (count: number, status?: number) => Effect.Effect<void, Errors.InvalidArgument>
  /** Answer every later token request `millis` real ms late (0: at once). Does nothing without token auth. */
  readonly delayTokenRequests: (millis: number) => Effect.Effect<void, Errors.InvalidArgument>
}

/** The registry (or a tool it needs, or the token server) could not start. */
export class StartError extends Schema.TaggedError<StartError>()("RealRegistryStartError", {
  reason: Schema.String
}) {
  override get message(): string {
    return `the real test registry could not start: ${this.reason}`
  }
}

/** The {@link Service} of a running real registry. */
export class RealRegistry extends Context.Tag("@dockside/testing/RealRegistry")<RealRegistry, Service>() {}

/** The basic auth realm. */
export const realm = "dockside-test"

/** The token auth service (`service=` of the challenge, `aud` of the tokens). */
export const service = "dockside-test"

/** The tokens' `iss`. */
export const issuer = "dockside-test-issuer"

/** The user when {@link Options.users} is not given. */
export const defaultUser: User = { username: "dockside", password: "dockside-password" }

/** The one command that installs every tool the integration tests need. */
export const installCommand = "sudo apt-get install docker-registry apache2-utils skopeo"

const startTimeoutMillis = 10_000
const stopGraceMillis = 2_000
const stderrLimit = 16_384
const portAttempts = 5

/** Wait `millis` on a real timer (not Effect's clock). */
const sleep = (millis: number): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), millis)
    return Effect.sync(() => clearTimeout(timer))
  })

/** The tail of some output, for error messages. */
const tail = (text: string, length = 2_000): string => text.length <= length ? text : `…${text.slice(-length)}`

interface RunResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Run a command to completion (killed if interrupted); fails only when it cannot be spawned. */
const run = (
  command: string,
  args: ReadonlyArray<string>,
  env?: NodeJS.ProcessEnv
): Effect.Effect<RunResult, StartError> =>
  Effect.async<RunResult, StartError>((resume) => {
    const child = ChildProcess.spawn(command, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: env === undefined ? process.env : { ...process.env, ...env }
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (text: string) => {
      stdout += text
    })
    child.stderr.setEncoding("utf8").on("data", (text: string) => {
      stderr += text
    })
    child.once("error", (error) => resume(Effect.fail(new StartError({ reason: `${command}: ${error.message}` }))))
    child.once("close", (code) => resume(Effect.succeed({ code, stdout, stderr })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** Run a command that must succeed; its stdout. */
const runChecked = (command: string, args: ReadonlyArray<string>): Effect.Effect<string, StartError> =>
  Effect.flatMap(
    run(command, args),
    (result) =>
      result.code === 0
        ? Effect.succeed(result.stdout)
        : Effect.fail(
          new StartError({
            reason: `${command} ${args[0] ?? ""} exited with ${result.code}: ${tail(result.stderr.trim())}`
          })
        )
  )

/** The executable's full path on `PATH`, if any. */
const which = (binary: string): Effect.Effect<string | undefined> =>
  Effect.promise(async () => {
    for (const folder of (process.env.PATH ?? "").split(Path.delimiter)) {
      if (folder === "") continue
      const candidate = Path.join(folder, binary)
      const found = await Fs.access(candidate, Fs.constants.X_OK).then(() => true, () => false)
      if (found) return candidate
    }
    return undefined
  })

/** apt-get runs one at a time in this process, whatever the number of registries starting at once. */
const installLock = Effect.unsafeMakeSemaphore(1)

/** `apt-get` that waits (up to 2 min) for the dpkg lock held by another test worker, never asks. */
const aptGet = (args: ReadonlyArray<string>): Effect.Effect<RunResult, StartError> =>
  run("apt-get", ["-o", "DPkg::Lock::Timeout=120", ...args], { DEBIAN_FRONTEND: "noninteractive" })

const aptInstall = (pkg: string): Effect.Effect<RunResult, StartError> =>
  aptGet(["install", "-y", "--no-install-recommends", pkg])

/**
 * The full path of `binary`, from Debian package `pkg`: found on `PATH`, or installed with
 * `apt-get` (after `apt-get update` if the first try fails) when running as root.
 */
const ensureTool = Effect.fn("RealRegistry.ensureTool")(function*(binary: string, pkg: string, command: string) {
  const found = yield* which(binary)
  if (found !== undefined) return found
  if (process.getuid?.() !== 0) {
    return yield* new StartError({ reason: `${binary} is not on PATH; install it with: ${command}` })
  }
  return yield* installLock.withPermits(1)(Effect.gen(function*() {
    const again = yield* which(binary)
    if (again !== undefined) return again
    let result = yield* aptInstall(pkg)
    if (result.code !== 0) {
      yield* aptGet(["update"])
      result = yield* aptInstall(pkg)
    }
    const installed = yield* which(binary)
    if (result.code === 0 && installed !== undefined) return installed
    return yield* new StartError({
      reason: `${binary} is not on PATH and \`apt-get install ${pkg}\` did not provide it (exit ${result.code}): ${
        tail(result.stderr.trim() || result.stdout.trim())
      }`
    })
  }))
})

/** `docker-registry`'s full path (found or installed). */
const registryTool = ensureTool("docker-registry", "docker-registry", installCommand)

/** `setpriv`'s full path (found or installed). */
const setprivTool = ensureTool("setpriv", "util-linux", "sudo apt-get install util-linux")

/** `htpasswd`'s full path (found or installed), for basic auth. */
const htpasswdTool = ensureTool("htpasswd", "apache2-utils", installCommand)

/** `openssl`'s full path (found or installed), for token auth. */
const opensslTool = ensureTool("openssl", "openssl", "sudo apt-get install openssl")

/**
 * Find every tool a registry may need (`docker-registry`, `setpriv`, `htpasswd`, `openssl`) and,
 * as root, install the missing ones with `apt-get`. {@link make} does this itself for what it
 * needs; a test setup can do it first, under a timeout long enough for `apt-get`.
 */
export const ensureTools: Effect.Effect<void, StartError> = Effect.asVoid(
  Effect.all([registryTool, setprivTool, htpasswdTool, opensslTool])
)

/** A temporary folder, removed with everything in it when the scope closes. */
const tempFolder: Effect.Effect<string, StartError, Scope.Scope> = Effect.acquireRelease(
  Effect.tryPromise({
    try: () => Fs.mkdtemp(Path.join(Os.tmpdir(), "dockside-registry-")),
    catch: (error) => new StartError({ reason: `cannot make a temporary folder: ${String(error)}` })
  }),
  (folder) => Effect.promise(() => Fs.rm(folder, { recursive: true, force: true }))
)

const writeFile = (path: string, text: string): Effect.Effect<void, StartError> =>
  Effect.tryPromise({
    try: () => Fs.writeFile(path, text, { mode: 0o600 }),
    catch: (error) => new StartError({ reason: `cannot write ${path}: ${String(error)}` })
  })

/** The registry's `auth` section, as YAML lines. */
type AuthConfig = ReadonlyArray<string>

/** A YAML scalar: JSON strings are YAML double-quoted strings. */
const yaml = (value: string): string => JSON.stringify(value)

const htpasswdConfig = Effect.fn("RealRegistry.htpasswdConfig")(
  function*(folder: string, users: ReadonlyArray<User>) {
    const htpasswd = yield* htpasswdTool
    const lines = yield* Effect.forEach(users, (user) => runChecked(htpasswd, ["-Bbn", user.username, user.password]))
    const file = Path.join(folder, "htpasswd")
    yield* writeFile(file, lines.map((line) => `${line.trim()}\n`).join(""))
    return ["auth:", "  htpasswd:", `    realm: ${yaml(realm)}`, `    path: ${yaml(file)}`] satisfies AuthConfig
  }
)

/** An RSA key and a self-signed certificate (1 day) for signing tokens. */
const signingKey = Effect.fn("RealRegistry.signingKey")(function*(folder: string) {
  const openssl = yield* opensslTool
  const keyPath = Path.join(folder, "token.key")
  const certificatePath = Path.join(folder, "token.crt")
  yield* runChecked(openssl, [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=dockside-test-token-signer",
    "-addext",
    "keyUsage=critical,digitalSignature,keyCertSign",
    "-keyout",
    keyPath,
    "-out",
    certificatePath
  ])
  const read = (path: string): Effect.Effect<string, StartError> =>
    Effect.tryPromise({
      try: () => Fs.readFile(path, "utf8"),
      catch: (error) => new StartError({ reason: `cannot read ${path}: ${String(error)}` })
    })
  return { certificatePath, keyPem: yield* read(keyPath), certificatePem: yield* read(certificatePath) }
})

/** Start the token server; its state (log, knobs) and the registry's `auth` section. */
const tokenServer = Effect.fn("RealRegistry.tokenServer")(
  function*(folder: string, users: ReadonlyArray<User>) {
    const key = yield* signingKey(folder)
    const state = TokenServer.makeState({ service, issuer, users, ...key })
    const node = Http.createServer(TokenServer.handler(state))
    const port = yield* Effect.acquireRelease(
      NodeServer.listen(node, (reason) => new StartError({ reason: `token server: ${reason}` })),
      () => NodeServer.close(node)
    )
    const tokenUrl = `http://127.0.0.1:${port}/token`
    const config: AuthConfig = [
      "auth:",
      "  token:",
      `    realm: ${yaml(tokenUrl)}`,
      `    service: ${yaml(service)}`,
      `    issuer: ${yaml(issuer)}`,
      `    rootcertbundle: ${yaml(key.certificatePath)}`
    ]
    return { state, tokenUrl, config }
  }
)

/** A port that was free a moment ago (bound to port 0, then closed). */
const freePort: Effect.Effect<number, StartError> = Effect.async<number, StartError>((resume) => {
  const server = Net.createServer()
  server.once("error", (error) => resume(Effect.fail(new StartError({ reason: `no free port: ${error.message}` }))))
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

const registryConfig = (
  port: number,
  storage: string,
  deleteEnabled: boolean,
  auth: AuthConfig
): string =>
  [
    "version: 0.1",
    "log:",
    "  level: warn",
    "  formatter: text",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${yaml(storage)}`,
    "  delete:",
    `    enabled: ${deleteEnabled}`,
    "  maintenance:",
    "    uploadpurging:",
    "      enabled: false",
    "http:",
    `  addr: ${yaml(`127.0.0.1:${port}`)}`,
    `  secret: ${yaml(randomBytes(16).toString("hex"))}`,
    "health:",
    "  storagedriver:",
    "    enabled: false",
    ...auth,
    ""
  ].join("\n")

/** A spawned registry process and what it wrote to stderr. */
interface Child {
  readonly process: ChildProcess.ChildProcess
  stderr: string
  /** Set once the process has exited (or could not be spawned). */
  exit: { readonly code: number | null; readonly signal: string | null; readonly error?: string } | undefined
  readonly exited: Promise<void>
}

/**
 * Spawn `docker-registry serve configPath` through `setpriv --pdeathsig SIGKILL` (which execs it
 * in place, so the pid is the registry's): the kernel kills the registry when this process dies
 * without closing the scope, e.g. a test worker killed by the runner.
 */
const spawnRegistry = (setpriv: string, binary: string, configPath: string): Effect.Effect<Child> =>
  Effect.sync(() => {
    const registry = ChildProcess.spawn(setpriv, ["--pdeathsig", "SIGKILL", "--", binary, "serve", configPath], {
      stdio: ["ignore", "ignore", "pipe"]
    })
    let markExited: () => void = () => undefined
    const child: Child = {
      process: registry,
      stderr: "",
      exit: undefined,
      exited: new Promise<void>((resolve) => {
        markExited = resolve
      })
    }
    registry.stderr!.setEncoding("utf8").on("data", (text: string) => {
      child.stderr = (child.stderr + text).slice(-stderrLimit)
    })
    registry.once("error", (error) => {
      child.exit ??= { code: null, signal: null, error: error.message }
      markExited()
    })
    registry.once("exit", (code, signal) => {
      child.exit ??= { code, signal }
      markExited()
    })
    return child
  })

/**
 * Wait for the process to exit, at most `millis` ms; whether it did. One callback-based wait,
 * not a race of two effects: finalizers are uninterruptible, so a race could not cut the loser short.
 */
const awaitExit = (child: Child, millis: number): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    let settled = false
    const settle = (exited: boolean): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resume(Effect.succeed(exited))
    }
    const timer = setTimeout(() => settle(false), millis)
    void child.exited.then(() => settle(true))
    return Effect.sync(() => {
      settled = true
      clearTimeout(timer)
    })
  })

/** `SIGTERM`, then `SIGKILL` after {@link stopGraceMillis}; returns once the process is gone. */
const stop = (child: Child): Effect.Effect<void> =>
  Effect.gen(function*() {
    if (child.exit !== undefined) return
    child.process.kill("SIGTERM")
    if (yield* awaitExit(child, stopGraceMillis)) return
    child.process.kill("SIGKILL")
    yield* awaitExit(child, stopGraceMillis)
  })

/**
 * Whether `GET url` gets a registry's answer (any status, with `Docker-Distribution-Api-Version`)
 * within 1 s: another server that took the port meanwhile does not count.
 */
const registryAnswers = (url: string): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const request = Http.get(url, { agent: false, timeout: 1_000 }, (response) => {
      response.resume()
      resume(Effect.succeed(response.headers["docker-distribution-api-version"] !== undefined))
    })
    request.once("timeout", () => request.destroy())
    request.once("error", () => resume(Effect.succeed(false)))
    return Effect.sync(() => request.destroy())
  })

const describeExit = (child: Child): string => {
  const exit = child.exit!
  const how = exit.error ?? (exit.signal === null ? `exit code ${exit.code}` : `signal ${exit.signal}`)
  return `docker-registry stopped (${how}); stderr: ${tail(child.stderr.trim()) || "(empty)"}`
}

/** The port was taken between {@link freePort} and the registry binding it: try another. */
const portTaken = (child: Child): boolean => /address already in use/i.test(child.stderr)

/** Poll `GET /v2/` until it answers, the process exits, or {@link startTimeoutMillis} pass. */
const awaitReady = (child: Child, url: string): Effect.Effect<void, StartError> =>
  Effect.gen(function*() {
    const deadline = Date.now() + startTimeoutMillis
    while (true) {
      if (child.exit !== undefined) return yield* new StartError({ reason: describeExit(child) })
      if (yield* registryAnswers(`${url}/v2/`)) return
      if (Date.now() > deadline) {
        return yield* new StartError({
          reason: `docker-registry did not answer GET ${url}/v2/ within ${startTimeoutMillis / 1000} s; stderr: ${
            tail(child.stderr.trim()) || "(empty)"
          }`
        })
      }
      yield* sleep(50)
    }
  })

/** Full paths of the binaries that run the registry. */
interface Tools {
  readonly registry: string
  readonly setpriv: string
}

/** Start the registry on a free port (another one if it was taken meanwhile) and wait until it answers. */
const startRegistry = Effect.fn("RealRegistry.startRegistry")(
  function*(tools: Tools, folder: string, config: (port: number) => string) {
    const configPath = Path.join(folder, "config.yml")
    for (let attempt = 1;; attempt++) {
      const port = yield* freePort
      yield* writeFile(configPath, config(port))
      const child = yield* Effect.acquireRelease(spawnRegistry(tools.setpriv, tools.registry, configPath), stop)
      const url = `http://127.0.0.1:${port}`
      const ready = yield* awaitReady(child, url).pipe(
        Effect.onError(() => stop(child)),
        Effect.as(true),
        Effect.catchIf(() => portTaken(child) && attempt < portAttempts, () => Effect.succeed(false))
      )
      if (ready) return { child, port }
    }
  }
)

const checkUsers = (users: ReadonlyArray<User>): Effect.Effect<void, StartError> => {
  const bad = users.find((user) => user.username === "" || user.username.includes(":"))
  return bad === undefined
    ? Effect.void
    : Effect.fail(new StartError({ reason: `invalid user name "${bad.username}": empty or holds ":"` }))
}

/**
 * Start a registry on `127.0.0.1` on a free port and wait (at most 10 s) until `GET /v2/`
 * answers. When the scope closes the process is stopped, the token server closed and the
 * storage removed.
 */
export const make: (options?: Options) => Effect.Effect<Service, StartError, Scope.Scope> = Effect.fn(
  "RealRegistry.make"
)(function*(options: Options = {}) {
  const auth = options.auth ?? "none"
  const users = options.users ?? [defaultUser]
  yield* checkUsers(users)
  const tools: Tools = { registry: yield* registryTool, setpriv: yield* setprivTool }
  const folder = yield* tempFolder
  const storage = Path.join(folder, "storage")
  const token = auth === "token" ? yield* tokenServer(folder, users) : undefined
  const authConfig = auth === "basic" ? yield* htpasswdConfig(folder, users) : token?.config ?? []
  const { child, port } = yield* startRegistry(
    tools,
    folder,
    (port) => registryConfig(port, storage, options.deleteEnabled ?? true, authConfig)
  )
  const host = `127.0.0.1:${port}`
  const state = token?.state

  const failTokenRequests = Effect.fn("RealRegistry.failTokenRequests")(function*(count: number, status: number = 503) {
    if (!Checks.isCount(count)) {
      return yield* Checks.invalid("count", count, "a count is a non-negative integer")
    }
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      return yield* Checks.invalid("status", status, "a status is an integer from 200 to 599")
    }
    if (state === undefined) return
    state.failCount = count
    state.failStatus = status
  })

  const delayTokenRequests = Effect.fn("RealRegistry.delayTokenRequests")(function*(millis: number) {
    if (!Number.isFinite(millis) || millis < 0) {
      return yield* Checks.invalid("millis", millis, "a delay is a non-negative number of milliseconds")
    }
    if (state !== undefined) state.delayMillis = millis
  })

  return {
    url: `http://${host}`,
    host,
    auth,
    users,
    tokenUrl: token?.tokenUrl,
    storage,
    pid: child.process.pid!,
    stderr: Effect.sync(() => child.stderr),
    tokenRequests: Effect.sync(() => state?.log.slice() ?? []),
    clearTokenRequests: Effect.sync(() => {
      if (state !== undefined) state.log.length = 0
    }),
    failTokenRequests,
    delayTokenRequests
  }
})

/** A layer with a running {@link RealRegistry}, stopped when the layer is released. */
export const layer = (options: Options = {}): Layer.Layer<RealRegistry, StartError> =>
  Layer.scoped(RealRegistry, make(options))
