/**
 * The Node runtime of dockside: one layer with an undici `HttpClient` (keep-alive, a sized
 * pool per origin, proxies from the environment, extra CA files, TLS verification off only
 * for the registries the user names as insecure) wrapped in the transport policies (timeouts
 * per attempt, retries), the Node file system and command executor, the Docker CLI
 * credentials, file request bodies sent as Node streams ({@link NodeFileBodies}), the
 * {@link RegistryPolicy.RegistryPolicy} settings, and the
 * {@link InsecureRegistries.InsecureRegistries} that the clients share with the transport.
 *
 * ```ts
 * program.pipe(Effect.provide(DocksideNode.layer({ policy: { retry: { attempts: 3 } } })))
 * ```
 *
 * @since 0.1.0
 */
import * as Distribution from "@dockside/client/Distribution"
import type * as FileBodies from "@dockside/client/FileBodies"
import * as InsecureRegistries from "@dockside/client/InsecureRegistries"
import * as RegistryPolicy from "@dockside/client/RegistryPolicy"
import * as Retry from "@dockside/client/Retry"
import * as Timeouts from "@dockside/client/Timeouts"
import type * as V2Auth from "@dockside/client/V2Auth"
import * as Errors from "@dockside/protocol/Errors"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Undici from "@effect/platform-node/Undici"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as Path from "@effect/platform/Path"
import type * as Terminal from "@effect/platform/Terminal"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as tls from "node:tls"
import * as DockerConfig from "./DockerConfig.js"
import * as NodeFileBodies from "./NodeFileBodies.js"

/** How to build the runtime. */
export interface Options {
  /** Policy settings over the defaults. */
  readonly policy?: RegistryPolicy.Overrides | undefined
  /** Connections per origin (default 8). */
  readonly connections?: number | undefined
  /**
   * `host[:port]` names whose TLS certificate is not verified (and that may get credentials
   * over plain http).
   */
  readonly insecureRegistries?: ReadonlyArray<string> | undefined
  /** Loopback hosts are insecure too, as in Docker (default true). */
  readonly loopbackInsecure?: boolean | undefined
  /** PEM files of extra certificate authorities, trusted besides the system ones. */
  readonly caFiles?: ReadonlyArray<string> | undefined
  /** The Docker config folder (default `$DOCKER_CONFIG`, else `~/.docker`). */
  readonly dockerConfig?: string | undefined
  /** Proxies (default: `HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY` from the environment). */
  readonly proxy?: {
    readonly httpProxy?: string | undefined
    readonly httpsProxy?: string | undefined
    readonly noProxy?: string | undefined
  } | undefined
}

/** The insecure registries of the options (the environment's merged in). */
const insecureRegistries = (options: Options): InsecureRegistries.Settings => ({
  hosts: options.insecureRegistries ?? [],
  loopback: options.loopbackInsecure !== false
})

/**
 * Sends each request to one of two dispatchers by its origin: `lax` (no TLS verification)
 * for insecure hosts, `strict` for the others.
 */
class ByHost extends Undici.Dispatcher {
  readonly #strict: Undici.Dispatcher
  readonly #lax: Undici.Dispatcher
  readonly #insecure: (url: URL) => boolean
  readonly #ownConnection: (url: URL) => boolean

  constructor(
    strict: Undici.Dispatcher,
    lax: Undici.Dispatcher,
    insecure: (url: URL) => boolean,
    ownConnection: (url: URL) => boolean
  ) {
    super()
    this.#strict = strict
    this.#lax = lax
    this.#insecure = insecure
    this.#ownConnection = ownConnection
  }

  override dispatch(options: Undici.Dispatcher.DispatchOptions, handler: Undici.Dispatcher.DispatchHandler): boolean {
    const url = options.origin === undefined ? undefined : new URL(options.origin)
    const insecure = url !== undefined && this.#insecure(url)
    // undici closes the connection after every HEAD, in case a broken server sends a body;
    // registries answer HEAD (blob and manifest checks, one per blob of a push) correctly,
    // and a new connection per check costs more than the check. Not on a connection that
    // other origins share (plain http through a proxy): there a stray body would reach them.
    const kept = options.method === "HEAD" && options.reset === undefined && url !== undefined &&
        this.#ownConnection(url)
      ? { ...options, reset: false }
      : options
    return (insecure ? this.#lax : this.#strict).dispatch(kept, handler)
  }

  override close(): Promise<void>
  override close(callback: () => void): void
  override close(callback?: () => void): Promise<void> | void {
    const done = Promise.all([this.#strict.close(), this.#lax.close()]).then(() => undefined)
    if (callback === undefined) return done
    void done.then(callback, callback)
  }

  override destroy(): Promise<void>
  override destroy(error: Error | null): Promise<void>
  override destroy(callback: () => void): void
  override destroy(error: Error | null, callback: () => void): void
  override destroy(first?: Error | null | (() => void), second?: () => void): Promise<void> | void {
    const error = typeof first === "function" || first === undefined ? null : first
    const callback = typeof first === "function" ? first : second
    const done = Promise.all([this.#strict.destroy(error), this.#lax.destroy(error)]).then(() => undefined)
    if (callback === undefined) return done
    void done.then(callback, callback)
  }
}

/**
 * The undici dispatcher: a keep-alive pool per origin, proxies, CA files and per-host TLS.
 *
 * Two dispatchers are built, one verifying certificates (system roots plus the CA files)
 * and one not, and {@link ByHost} picks one per request. Behind a proxy the origin's TLS is
 * set by `requestTls` (the `connect` options only serve the hosts that go direct), and the
 * proxy's own by `proxyTls`, which always verifies.
 */
const makeDispatcher = (options: Options): Effect.Effect<Undici.Dispatcher, Errors.InvalidArgument, never> =>
  Effect.gen(function*() {
    const ca: Array<string> = []
    for (const file of options.caFiles ?? []) {
      const pem = yield* Effect.try({
        try: () => fs.readFileSync(file, "utf8"),
        catch: (error) =>
          new Errors.InvalidArgument({ name: "CA file", value: file, reason: String((error as Error).message) })
      })
      if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
        return yield* new Errors.InvalidArgument({ name: "CA file", value: file, reason: "no PEM certificate in it" })
      }
      ca.push(pem)
    }
    const strictTls: Undici.buildConnector.BuildOptions = {
      timeout: 30_000,
      // Extra authorities are added to Node's bundled roots, not instead of them.
      ...(ca.length > 0 ? { ca: [...tls.rootCertificates, ...ca] } : {})
    }
    const laxTls: Undici.buildConnector.BuildOptions = { timeout: 30_000, rejectUnauthorized: false }
    const pool = {
      connections: options.connections ?? 8,
      keepAliveTimeout: 30_000,
      // The policies own the timeouts (headers, body idle); undici's own are turned off.
      headersTimeout: 0,
      bodyTimeout: 0
    }
    const proxy = options.proxy
    for (const [name, url] of [["httpProxy", proxy?.httpProxy], ["httpsProxy", proxy?.httpsProxy]] as const) {
      if (url !== undefined && url !== "" && !isProxyUrl(url)) {
        // Not the value: it may hold a password that no parser could separate from it.
        return yield* new Errors.InvalidArgument({
          name: `proxy.${name}`,
          value: "(not shown)",
          reason: "it is not an http:// or https:// URL, such as http://proxy.example:3128"
        })
      }
    }
    const proxied = (proxy?.httpProxy ?? "") !== "" || (proxy?.httpsProxy ?? "") !== ""
    const build = (origin: Undici.buildConnector.BuildOptions): Undici.Dispatcher =>
      proxied
        ? new Undici.EnvHttpProxyAgent({
          ...pool,
          connect: origin,
          requestTls: origin,
          proxyTls: strictTls,
          // Always a value: undici reads the environment, unchecked, for one left out. As
          // undici does, https goes through the http proxy when no https proxy is set.
          httpProxy: proxy?.httpProxy ?? "",
          httpsProxy: proxy?.httpsProxy ?? "",
          noProxy: proxy?.noProxy ?? ""
        })
        : new Undici.Agent({ ...pool, connect: origin })
    const insecure = insecureRegistries(options)
    return new ByHost(
      build(strictTls),
      build(laxTls),
      (url) => InsecureRegistries.isInsecure(insecure, url),
      // https goes through a proxy in a tunnel of its own (CONNECT); plain http does not.
      (url) => !proxied || url.protocol === "https:"
    )
  })

/**
 * The HttpClient of the runtime, without the policies. Its TLS skips verification for the
 * options' insecure registries: a program that uses it without {@link layer} provides the
 * clients with the same `InsecureRegistries`.
 */
export const layerHttpClient = (
  options: Options = {}
): Layer.Layer<HttpClient.HttpClient, Errors.InvalidArgument> =>
  NodeHttpClient.layerUndiciWithoutDispatcher.pipe(
    Layer.provide(Layer.scoped(
      NodeHttpClient.Dispatcher,
      Effect.acquireRelease(makeDispatcher(options), (dispatcher) => Effect.promise(() => dispatcher.destroy()))
    ))
  )

/** The transport policies over the context's client: timeouts per attempt inside, retries outside. */
export const transport: RegistryPolicy.Transport = (client) => client.pipe(Timeouts.withTimeouts(), Retry.withRetry())

/** The settings of {@link Options} once the environment's are merged in. */
const build = (options: Options, env: Options) => {
  const merged: Options = {
    connections: options.connections ?? env.connections,
    insecureRegistries: [...(env.insecureRegistries ?? []), ...(options.insecureRegistries ?? [])],
    caFiles: [...(env.caFiles ?? []), ...(options.caFiles ?? [])],
    loopbackInsecure: options.loopbackInsecure,
    dockerConfig: options.dockerConfig,
    proxy: {
      ...env.proxy,
      ...Object.fromEntries(Object.entries(options.proxy ?? {}).filter(([, v]) => v !== undefined))
    }
  }
  const client = Layer.effect(HttpClient.HttpClient, Effect.map(HttpClient.HttpClient, transport)).pipe(
    Layer.provide(layerHttpClient(merged))
  )
  const credentials = DockerConfig.layer(merged.dockerConfig === undefined ? {} : { folder: merged.dockerConfig }).pipe(
    Layer.provide(NodeContext.layer)
  )
  const settings = RegistryPolicy.make(options.policy ?? {}, RegistryPolicy.make(env.policy ?? {}))
  const policy = Layer.succeed(RegistryPolicy.RegistryPolicy, settings)
  // The clients read the same insecure registries as the transport's TLS.
  const insecure = Layer.succeed(InsecureRegistries.InsecureRegistries, insecureRegistries(merged))
  return Layer.mergeAll(client, credentials, NodeContext.layer, policy, insecure, NodeFileBodies.layer)
}

/**
 * Everything a dockside program needs on Node. The environment ({@link optionsFromEnv}) is
 * read first; explicit options win over it (lists are joined).
 */
export const layer = (options: Options = {}): Layer.Layer<
  | HttpClient.HttpClient
  | DockerConfig.DockerConfig
  | FileBodies.FileBodies
  | FileSystem.FileSystem
  | Path.Path
  | CommandExecutor.CommandExecutor
  | Terminal.Terminal,
  Errors.InvalidArgument | Errors.CredentialsError | ConfigError.ConfigError
> => Layer.unwrapEffect(Effect.map(optionsFromEnv, (env) => build(options, env)))

/** Whether a proxy setting is an http(s) URL (undici takes nothing else). */
const isProxyUrl = (text: string): boolean => {
  try {
    const url = new URL(text)
    return url.protocol === "http:" || url.protocol === "https:"
  } catch {
    return false
  }
}

/**
 * A proxy variable, upper or else lower case, which must be an http(s) URL (its value is never part
 * of the error: it may hold a password).
 */
const proxyVariable = (name: string): Config.Config<Option.Option<string>> => {
  // Empty: no proxy, as the usual way to switch one off.
  const url = (variable: string) =>
    Config.validate(Config.string(variable), {
      message: "must be an http:// or https:// URL, such as http://proxy.example:3128",
      validation: (text) => text === "" || isProxyUrl(text)
    }).pipe(Config.map((text) => Option.liftPredicate(text, (t) => t !== "")))
  return Config.orElseIf(url(name), { if: ConfigError.isMissingDataOnly, orElse: () => url(name.toLowerCase()) })
}

/**
 * The options from the environment: `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` (either case),
 * `DOCKSIDE_INSECURE_REGISTRIES` and `DOCKSIDE_CA_FILES` (comma lists), `DOCKSIDE_CONNECTIONS`,
 * and the policy variables of {@link RegistryPolicy.fromEnv}. Invalid values fail with a
 * `ConfigError` naming the variable.
 */
export const optionsFromEnv: Config.Config<Options> = Config.all({
  policy: RegistryPolicy.fromEnv,
  connections: Config.option(
    Config.integer("DOCKSIDE_CONNECTIONS").pipe(Config.validate({
      message: "must be at least 1",
      validation: (n) => n >= 1
    }))
  ),
  insecure: Config.option(Config.array(Config.string(), "DOCKSIDE_INSECURE_REGISTRIES")),
  caFiles: Config.option(Config.array(Config.string(), "DOCKSIDE_CA_FILES")),
  httpsProxy: Config.option(proxyVariable("HTTPS_PROXY")).pipe(Config.map(Option.flatten)),
  httpProxy: Config.option(proxyVariable("HTTP_PROXY")).pipe(Config.map(Option.flatten)),
  noProxy: Config.option(Config.string("NO_PROXY").pipe(Config.orElse(() => Config.string("no_proxy"))))
}).pipe(Config.map((env): Options => ({
  policy: env.policy,
  connections: Option.getOrUndefined(env.connections),
  insecureRegistries: Option.getOrUndefined(env.insecure),
  caFiles: Option.getOrUndefined(env.caFiles),
  proxy: {
    httpsProxy: Option.getOrUndefined(env.httpsProxy),
    httpProxy: Option.getOrUndefined(env.httpProxy),
    noProxy: Option.getOrUndefined(env.noProxy)
  }
})))

/**
 * The v2 client with credentials from the Docker config (warnings, such as a failing
 * credential helper, are logged and the registry is used anonymously).
 */
export const distribution = (
  options: Distribution.Options = {}
): Effect.Effect<Distribution.Service, never, HttpClient.HttpClient | DockerConfig.DockerConfig> =>
  Effect.gen(function*() {
    const config = yield* DockerConfig.DockerConfig
    const credentials: V2Auth.CredentialsLookup = (registry) =>
      Effect.flatMap(
        config.lookup(registry),
        (found) =>
          Effect.as(
            Effect.forEach(found.warnings, (warning) => Effect.logWarning(warning), { discard: true }),
            found.auth
          )
      )
    return yield* Distribution.make({ credentials, ...options })
  })
