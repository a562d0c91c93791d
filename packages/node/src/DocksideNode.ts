/**
 * The Node runtime of dockside: one layer with an undici `HttpClient` (keep-alive, a sized
 * pool per origin, proxies from the environment, extra CA files, TLS verification off only
 * for the registries the user names as insecure) wrapped in the transport policies (timeouts
 * per attempt, retries), the Node file system and command executor, the Docker CLI
 * credentials, and the {@link RegistryPolicy.RegistryPolicy} settings.
 *
 * ```ts
 * program.pipe(Effect.provide(DocksideNode.layer({ policy: { retry: { attempts: 3 } } })))
 * ```
 *
 * @since 0.1.0
 */
import * as RegistryPolicy from "@dockside/client/RegistryPolicy"
import * as Retry from "@dockside/client/Retry"
import * as Timeouts from "@dockside/client/Timeouts"
import * as V1Transport from "@dockside/client/V1Transport"
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
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as tls from "node:tls"
import * as DockerConfig from "./DockerConfig.js"

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

/** Is this host insecure: named (as `host` or `host:port`), or loopback when that counts? */
export const isInsecure = (options: Options, hostname: string, port: string): boolean =>
  (options.loopbackInsecure !== false && V1Transport.isLoopback(hostname)) ||
  (options.insecureRegistries ?? []).some((name) => name === hostname || name === `${hostname}:${port}`)

/** The undici dispatcher: a keep-alive pool per origin, proxies, CA files and per-host TLS. */
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
    const strict = Undici.buildConnector({
      timeout: 30_000,
      // Extra authorities are added to Node's bundled roots, not instead of them.
      ...(ca.length > 0 ? { ca: [...tls.rootCertificates, ...ca] } : {})
    })
    const lax = Undici.buildConnector({ timeout: 30_000, rejectUnauthorized: false })
    const connect: Undici.buildConnector.connector = (opts, callback) =>
      (isInsecure(options, opts.hostname, opts.port) ? lax : strict)(opts, callback)
    const pool = {
      connections: options.connections ?? 8,
      keepAliveTimeout: 30_000,
      // The policies own the timeouts (headers, body idle); undici's own are turned off.
      headersTimeout: 0,
      bodyTimeout: 0
    }
    const proxy = options.proxy
    const proxied = proxy !== undefined && (proxy.httpProxy !== undefined || proxy.httpsProxy !== undefined)
    return proxied
      ? new Undici.EnvHttpProxyAgent({
        ...pool,
        connect,
        ...(proxy.httpProxy === undefined ? {} : { httpProxy: proxy.httpProxy }),
        ...(proxy.httpsProxy === undefined ? {} : { httpsProxy: proxy.httpsProxy }),
        ...(proxy.noProxy === undefined ? {} : { noProxy: proxy.noProxy })
      })
      : new Undici.Agent({ ...pool, connect })
  })

/** The HttpClient of the runtime, without the policies. */
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
  return Layer.mergeAll(client, credentials, NodeContext.layer, policy)
}

/**
 * Everything a dockside program needs on Node. The environment ({@link optionsFromEnv}) is
 * read first; explicit options win over it (lists are joined).
 */
export const layer = (options: Options = {}): Layer.Layer<
  | HttpClient.HttpClient
  | DockerConfig.DockerConfig
  | FileSystem.FileSystem
  | Path.Path
  | CommandExecutor.CommandExecutor
  | Terminal.Terminal,
  Errors.InvalidArgument | Errors.CredentialsError | ConfigError.ConfigError
> => Layer.unwrapEffect(Effect.map(optionsFromEnv, (env) => build(options, env)))

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
  httpsProxy: Config.option(Config.string("HTTPS_PROXY").pipe(Config.orElse(() => Config.string("https_proxy")))),
  httpProxy: Config.option(Config.string("HTTP_PROXY").pipe(Config.orElse(() => Config.string("http_proxy")))),
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
