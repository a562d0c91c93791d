/**
 * Authentication for {@link V2Registry}: Basic credentials, or Docker's token protocol
 * served by the registry itself, `GET /token?service=…&scope=…` and its OAuth2 form
 * `POST /token` (`grant_type=password|refresh_token`). Tokens are opaque random strings
 * remembered with their grants and expiry; expiry follows Effect's `Clock` of the fiber
 * that started the server (the `TestClock` in `@effect/vitest` tests).
 *
 * What a request needs, as distribution asks: `GET`/`HEAD` need `pull` on the repository,
 * `POST`/`PUT`/`PATCH` need `pull` and `push`, `DELETE` needs `delete`, the catalog needs
 * `registry:catalog:*`, and `GET /v2/` any live token. The challenge's `scope` is exactly
 * what was needed (plus `pull` on a mount's source repository, asked but not required).
 *
 * Grants: without `users`, anyone gets every action asked for; with `users`, a known user
 * (right password, or a refresh token issued to them) gets every action asked for, a caller
 * without credentials gets `pull` on the repositories asked for and nothing else, and wrong
 * credentials get 401.
 *
 * @internal
 */
import * as Challenge from "@dockside/protocol/Challenge"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { randomBytes } from "node:crypto"
import type { TokenRequest } from "../V2Registry.js"
import type * as State from "./v2State.js"

/** The `service` of the token challenge. */
export const service = "dockside-v2"

/** A user name and password. */
export interface User {
  readonly username: string
  readonly password: string
}

/** How the server authenticates (fixed when it starts). */
export type Mode =
  | { readonly _tag: "Open" }
  | { readonly _tag: "Basic"; readonly user: User }
  | {
    readonly _tag: "Token"
    /** User name → password; undefined: everyone gets everything asked for. */
    readonly users: ReadonlyMap<string, string> | undefined
    /** Token lifetime, in seconds. */
    readonly expiresIn: number
    /** `http://127.0.0.1:PORT/token`. */
    readonly realm: string
  }

/** A refused request: the `WWW-Authenticate` value and the scopes it names. */
export interface Denial {
  readonly challenge: string
  readonly message: string
  readonly scopes: ReadonlyArray<Challenge.Scope>
}

/** Credentials in an `Authorization: Basic …` header, if it is one. */
const basicCredentials = (authorization: string | undefined): User | undefined => {
  const match = /^basic\s+(\S+)\s*$/i.exec(authorization ?? "")
  if (match === null) return undefined
  const decoded = Buffer.from(match[1], "base64").toString("utf8")
  const colon = decoded.indexOf(":")
  return colon === -1 ? undefined : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
}

const quoted = (value: string): string => `"${value.replace(/["\\]/g, "\\$&")}"`

const bearerChallenge = (
  realm: string,
  scopes: ReadonlyArray<Challenge.Scope>,
  error: string | undefined
): string =>
  [
    `Bearer realm=${quoted(realm)}`,
    `service=${quoted(service)}`,
    ...(scopes.length === 0 ? [] : [`scope=${quoted(scopes.map(Challenge.formatScope).join(" "))}`]),
    ...(error === undefined ? [] : [`error=${quoted(error)}`])
  ].join(",")

const allows = (grants: ReadonlyArray<Challenge.Scope>, needed: Challenge.Scope): boolean =>
  grants.some((grant) =>
    grant.type === needed.type && grant.name === needed.name &&
    needed.actions.every((action) => grant.actions.includes(action) || grant.actions.includes("*"))
  )

/** The live token a `Bearer` header carries: `missing` without one, `invalid` when unknown or expired. */
const liveToken = (
  state: State.State,
  authorization: string | undefined,
  now: number
): State.Token | "missing" | "invalid" => {
  const match = /^bearer\s+(\S+)\s*$/i.exec(authorization ?? "")
  if (match === null) return "missing"
  const token = state.tokens.get(match[1])
  if (token === undefined) return "invalid"
  if (now >= token.expiresAt) {
    state.tokens.delete(match[1])
    return "invalid"
  }
  return token
}

/**
 * Check a request that needs `needed` (all of them; none: any valid credentials). `asked`
 * scopes are added to a Bearer challenge without being required.
 */
export const check = (
  state: State.State,
  mode: Mode,
  authorization: string | undefined,
  needed: ReadonlyArray<Challenge.Scope>,
  now: number,
  asked: ReadonlyArray<Challenge.Scope> = []
): Denial | undefined => {
  switch (mode._tag) {
    case "Open":
      return undefined
    case "Basic": {
      const credentials = basicCredentials(authorization)
      return credentials?.username === mode.user.username && credentials.password === mode.user.password
        ? undefined
        : { challenge: `Basic realm="dockside"`, message: "authentication required", scopes: needed }
    }
    case "Token": {
      const token = liveToken(state, authorization, now)
      const scopes = [...needed, ...asked]
      if (token === "missing") {
        return { challenge: bearerChallenge(mode.realm, scopes, undefined), message: "authentication required", scopes }
      }
      if (token === "invalid") {
        return {
          challenge: bearerChallenge(mode.realm, scopes, "invalid_token"),
          message: "the token is unknown or expired",
          scopes
        }
      }
      return needed.every((scope) => allows(token.grants, scope))
        ? undefined
        : {
          challenge: bearerChallenge(mode.realm, scopes, "insufficient_scope"),
          message: "the token does not grant the access this request needs",
          scopes
        }
    }
  }
}

/** Whether the caller may pull from `repository` (a cross-repository mount's source). */
export const mayPull = (
  state: State.State,
  mode: Mode,
  authorization: string | undefined,
  repository: string,
  now: number
): boolean => check(state, mode, authorization, [Challenge.repositoryScope(repository, ["pull"])], now) === undefined

// ---------------------------------------------------------------------------------------
// The token endpoint
// ---------------------------------------------------------------------------------------

/** The token mode of {@link Mode}. */
export type TokenMode = Extract<Mode, { readonly _tag: "Token" }>

/** What the token endpoint answers, and the log entry for it. */
export interface TokenAnswer {
  readonly status: number
  readonly body: unknown
  readonly entry: TokenRequest
}

/** Every `scope` value, each split on blanks (the OAuth2 form joins scopes with spaces). */
const scopesOf = (params: URLSearchParams): ReadonlyArray<string> =>
  params.getAll("scope").flatMap((value) => value.split(/\s+/)).filter((scope) => scope !== "")

/** What `username` (undefined: no credentials) gets for the scopes asked; unparsable scopes get nothing. */
const grant = (mode: TokenMode, username: string | undefined, scopes: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const requested: Array<Challenge.Scope> = []
    for (const scope of scopes) {
      const parsed = yield* Effect.either(Challenge.parseScope(scope))
      if (Either.isRight(parsed)) requested.push(parsed.right)
    }
    const trusted = mode.users === undefined || username !== undefined
    const granted = trusted ? requested : requested
      .filter((scope) => scope.type === "repository" && scope.actions.includes("pull"))
      .map((scope) => Challenge.repositoryScope(scope.name, ["pull"]))
    return Challenge.mergeScopes(granted)
  })

const issue = (state: State.State, mode: TokenMode, grants: ReadonlyArray<Challenge.Scope>, now: number) => {
  const token = randomBytes(32).toString("base64url")
  state.tokens.set(token, { grants, expiresAt: now + mode.expiresIn * 1000 })
  return { token, access_token: token, expires_in: mode.expiresIn, issued_at: new Date(now).toISOString() }
}

const issueRefreshToken = (state: State.State, username: string): string => {
  const token = randomBytes(32).toString("base64url")
  state.refreshTokens.set(token, username)
  return token
}

const knownUser = (mode: TokenMode, username: string, password: string | null): boolean =>
  mode.users === undefined || (password !== null && mode.users.get(username) === password)

/**
 * Answer `GET /token` (Docker's token protocol: optional Basic credentials, `offline_token=true`
 * adds a refresh token for a known user) or `POST /token` (OAuth2 form: `grant_type=password`
 * with `username`/`password`, or `grant_type=refresh_token`; both answer a refresh token).
 */
export const answer = (
  state: State.State,
  mode: TokenMode,
  method: "GET" | "POST",
  params: URLSearchParams,
  authorization: string | undefined,
  now: number
): Effect.Effect<TokenAnswer> =>
  Effect.gen(function*() {
    const grantType = method === "POST" ? params.get("grant_type") ?? undefined : undefined
    const scopes = scopesOf(params)
    const requestedService = params.get("service") ?? undefined
    const reply = (
      status: number,
      body: unknown,
      username: string | undefined,
      granted: ReadonlyArray<Challenge.Scope> = []
    ): TokenAnswer => ({
      status,
      body,
      entry: {
        method,
        grantType,
        service: requestedService,
        scopes,
        account: params.get("account") ?? undefined,
        username,
        status,
        granted: granted.map(Challenge.formatScope)
      }
    })
    const oauthError = (status: number, error: string, description: string, username?: string) =>
      reply(status, { error, error_description: description }, username)
    const distributionError = (status: number, code: string, message: string, username?: string) =>
      reply(status, { errors: [{ code, message }] }, username)

    if (requestedService !== undefined && requestedService !== service) {
      return method === "GET"
        ? distributionError(400, "DENIED", `unknown service "${requestedService}"`)
        : oauthError(400, "invalid_request", `unknown service "${requestedService}"`)
    }
    if (method === "GET") {
      const credentials = basicCredentials(authorization)
      if (credentials !== undefined && !knownUser(mode, credentials.username, credentials.password)) {
        return distributionError(401, "UNAUTHORIZED", "invalid username or password", credentials.username)
      }
      const username = credentials?.username
      const granted = yield* grant(mode, username, scopes)
      const refresh = username !== undefined && params.get("offline_token") === "true"
        ? { refresh_token: issueRefreshToken(state, username) }
        : {}
      return reply(200, { ...issue(state, mode, granted, now), ...refresh }, username, granted)
    }
    let username: string
    let refreshToken: string
    if (grantType === "password") {
      username = params.get("username") ?? ""
      if (username === "" || !knownUser(mode, username, params.get("password"))) {
        return oauthError(401, "invalid_grant", "invalid username or password", username)
      }
      refreshToken = issueRefreshToken(state, username)
    } else if (grantType === "refresh_token") {
      refreshToken = params.get("refresh_token") ?? ""
      const owner = state.refreshTokens.get(refreshToken)
      if (owner === undefined) return oauthError(401, "invalid_grant", "unknown refresh token")
      username = owner
    } else {
      return oauthError(400, "unsupported_grant_type", "grant_type must be password or refresh_token")
    }
    const granted = yield* grant(mode, username, scopes)
    const body = {
      ...issue(state, mode, granted, now),
      refresh_token: refreshToken,
      scope: granted.map(Challenge.formatScope).join(" ")
    }
    return reply(200, body, username, granted)
  })
