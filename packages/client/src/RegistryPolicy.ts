/**
 * One configuration for every policy (retries, redirects, timeouts), with defaults close
 * to the patient end of the peers (`guides/peers.md` §D), read from the context at request
 * time so that a single call can run with other settings:
 *
 * ```ts
 * effect.pipe(Effect.provideService(RegistryPolicy.RegistryPolicy, RegistryPolicy.make({ retry: { attempts: 2 } })))
 * ```
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"

/** Retries of transient failures. */
export interface RetryPolicy {
  /** Attempts in all, the first included (default 5). */
  readonly attempts: number
  /** First backoff delay, doubled after each attempt (default 200 ms), jittered by ±20 %. */
  readonly baseDelay: Duration.Duration
  /** Largest backoff delay (default 10 s). */
  readonly maxDelay: Duration.Duration
  /** Longest `Retry-After` waited for; a 429 that asks for more fails fast with `RateLimited` (default 60 s). */
  readonly maxRetryAfter: Duration.Duration
  /** Statuses that are retried (default 408, 429, 500, 502, 503, 504). */
  readonly statuses: ReadonlyArray<number>
}

/** Timeouts per request. */
export interface TimeoutPolicy {
  /** Connect plus wait for the response headers (default 30 s). */
  readonly headers: Duration.Duration
  /** Longest wait for the next body bytes (default 60 s): never cuts a moving download. */
  readonly bodyIdle: Duration.Duration
}

/** Redirects. */
export interface RedirectPolicy {
  /** Hops before `TooManyRedirects` (default 10). */
  readonly maxHops: number
}

/** Every policy's settings. */
export interface Settings {
  readonly retry: RetryPolicy
  readonly timeouts: TimeoutPolicy
  readonly redirects: RedirectPolicy
}

/** The defaults. */
export const defaults: Settings = {
  retry: {
    attempts: 5,
    baseDelay: Duration.millis(200),
    maxDelay: Duration.seconds(10),
    maxRetryAfter: Duration.seconds(60),
    statuses: [408, 429, 500, 502, 503, 504]
  },
  timeouts: { headers: Duration.seconds(30), bodyIdle: Duration.seconds(60) },
  redirects: { maxHops: 10 }
}

/** The settings in effect: the defaults unless a program provides others. */
export class RegistryPolicy extends Context.Reference<RegistryPolicy>()("@dockside/client/RegistryPolicy", {
  defaultValue: () => defaults
}) {}

/** Some of the fields of `A`; an undefined field keeps its value. */
export type Partially<A> = { readonly [K in keyof A]?: A[K] | undefined }

/** Overrides of some settings. */
export interface Overrides {
  readonly retry?: Partially<RetryPolicy> | undefined
  readonly timeouts?: Partially<TimeoutPolicy> | undefined
  readonly redirects?: Partially<RedirectPolicy> | undefined
}

const defined = <A extends object>(value: Partially<A> | undefined): Partial<A> =>
  Object.fromEntries(Object.entries(value ?? {}).filter(([, v]) => v !== undefined)) as Partial<A>

/** The defaults (or `base`) with some settings replaced. */
export const make = (overrides: Overrides = {}, base: Settings = defaults): Settings => ({
  retry: { ...base.retry, ...defined(overrides.retry) },
  timeouts: { ...base.timeouts, ...defined(overrides.timeouts) },
  redirects: { ...base.redirects, ...defined(overrides.redirects) }
})

/** A duration variable of at least 1 ms (a zero timeout would fail every request). */
const positiveDuration = (name: string): Config.Config<Duration.Duration> =>
  Config.duration(name).pipe(Config.validate({
    message: "must be 1 ms or longer",
    validation: (duration) => Duration.toMillis(duration) >= 1
  }))

/**
 * Settings from the environment: `DOCKSIDE_RETRIES` (attempts), `DOCKSIDE_TIMEOUT`
 * (headers timeout, e.g. `30 seconds`), `DOCKSIDE_BODY_IDLE_TIMEOUT`, `DOCKSIDE_MAX_REDIRECTS`.
 * Invalid values fail with a `ConfigError` that names the variable.
 */
export const fromEnv: Config.Config<Settings> = Config.all({
  attempts: Config.option(
    Config.integer("DOCKSIDE_RETRIES").pipe(Config.validate({
      message: "must be at least 1",
      validation: (n) => n >= 1
    }))
  ),
  headers: Config.option(positiveDuration("DOCKSIDE_TIMEOUT")),
  bodyIdle: Config.option(positiveDuration("DOCKSIDE_BODY_IDLE_TIMEOUT")),
  maxHops: Config.option(
    Config.integer("DOCKSIDE_MAX_REDIRECTS").pipe(Config.validate({
      message: "must be at least 0",
      validation: (n) => n >= 0
    }))
  )
}).pipe(Config.map((env) =>
  make({
    retry: { attempts: env.attempts._tag === "Some" ? env.attempts.value : undefined },
    timeouts: {
      headers: env.headers._tag === "Some" ? env.headers.value : undefined,
      bodyIdle: env.bodyIdle._tag === "Some" ? env.bodyIdle.value : undefined
    },
    redirects: { maxHops: env.maxHops._tag === "Some" ? env.maxHops.value : undefined }
  })
))

/** A transport policy: timeouts per attempt inside, retries outside. Redirects and auth are added per protocol. */
export type Transport = (client: HttpClient.HttpClient) => HttpClient.HttpClient
