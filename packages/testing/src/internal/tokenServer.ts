/**
 * The token server behind {@link RealRegistry}'s `auth: "token"`: Docker's token protocol
 * (`GET /token?service=…&scope=…`, Basic credentials optional) and its OAuth2 form
 * (`POST /token`, `grant_type=password|refresh_token`), answering RS256 JWTs that carry the
 * signing certificate in `x5c`, as distribution's `auth.token` verifies them.
 *
 * Grants: a known user (right password, or a refresh token issued to them) gets every action
 * asked for; anyone else without credentials gets `pull` on the repositories asked for and
 * nothing else; wrong credentials get 401. Every request is logged; the fault knobs fail the
 * next `GET`/`POST /token` requests and delay every answer.
 *
 * @internal
 */
import { createPrivateKey, type KeyObject, randomBytes, sign, X509Certificate } from "node:crypto"
import type * as Http from "node:http"
import type { Access, TokenRequest, User } from "../RealRegistry.js"

/** How long an issued token lives, in seconds. */
export const expiresIn = 300

/** The token server's mutable state: users, refresh tokens, log and fault knobs. */
export interface State {
  readonly service: string
  readonly issuer: string
  readonly users: ReadonlyMap<string, string>
  readonly key: KeyObject
  /** The signing certificate, base64 DER, for the JWT header's `x5c`. */
  readonly certificate: string
  /** Refresh token → user name. */
  readonly refreshTokens: Map<string, string>
  readonly log: Array<TokenRequest>
  failCount: number
  failStatus: number
  delayMillis: number
}

/** A fresh state for a server that signs with `keyPem` and announces `certificatePem`. */
export const makeState = (options: {
  readonly service: string
  readonly issuer: string
  readonly users: ReadonlyArray<User>
  readonly keyPem: string
  readonly certificatePem: string
}): State => ({
  service: options.service,
  issuer: options.issuer,
  users: new Map(options.users.map((user) => [user.username, user.password])),
  key: createPrivateKey(options.keyPem),
  certificate: new X509Certificate(options.certificatePem).raw.toString("base64"),
  refreshTokens: new Map(),
  log: [],
  failCount: 0,
  failStatus: 503,
  delayMillis: 0
})

const base64url = (data: string | Buffer): string => Buffer.from(data).toString("base64url")

/** An RS256 JWT for `subject` (empty when anonymous) with these grants. */
const signToken = (state: State, subject: string, access: ReadonlyArray<Access>): string => {
  const now = Math.floor(Date.now() / 1000)
  const header = base64url(JSON.stringify({ typ: "JWT", alg: "RS256", x5c: [state.certificate] }))
  const claims = base64url(JSON.stringify({
    iss: state.issuer,
    sub: subject,
    aud: state.service,
    exp: now + expiresIn,
    nbf: now,
    iat: now,
    jti: randomBytes(16).toString("hex"),
    access
  }))
  const signature = sign("sha256", Buffer.from(`${header}.${claims}`), state.key)
  return `${header}.${claims}.${base64url(signature)}`
}

/**
 * `type:name:actions` or `type(class):name:actions` (the name may hold colons, e.g. a registry
 * host with a port); `undefined` when malformed.
 */
const parseScope = (scope: string): Access | undefined => {
  const first = scope.indexOf(":")
  const last = scope.lastIndexOf(":")
  if (first <= 0 || last <= first + 1) return undefined
  const typed = /^([^(]+)(?:\(([^)]*)\))?$/.exec(scope.slice(0, first))
  if (typed === null) return undefined
  const actions = scope.slice(last + 1).split(",").filter((action) => action !== "")
  const name = scope.slice(first + 1, last)
  return typed[2] === undefined
    ? { type: typed[1], name, actions }
    : { type: typed[1], class: typed[2], name, actions }
}

/** A grant back in scope form. */
const scopeOf = (access: Access): string =>
  `${access.type}${access.class === undefined ? "" : `(${access.class})`}:${access.name}:${access.actions.join(",")}`

/** What `username` (undefined: anonymous) gets for the scopes asked. */
const grant = (username: string | undefined, scopes: ReadonlyArray<string>): ReadonlyArray<Access> =>
  scopes.flatMap((scope) => {
    const access = parseScope(scope)
    if (access === undefined) return []
    if (username !== undefined) return [access]
    return access.type === "repository" && access.actions.includes("pull") ? [{ ...access, actions: ["pull"] }] : []
  })

/** Every `scope` value, each split on spaces (the OAuth2 form joins scopes with spaces). */
const scopesOf = (params: URLSearchParams): ReadonlyArray<string> =>
  params.getAll("scope").flatMap((value) => value.split(" ")).filter((scope) => scope !== "")

const basicCredentials = (header: string | undefined): User | undefined => {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? "")
  if (match === null) return undefined
  const decoded = Buffer.from(match[1], "base64").toString("utf8")
  const colon = decoded.indexOf(":")
  return colon < 0 ? undefined : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
}

const optional = (params: URLSearchParams, name: string): string | undefined => params.get(name) ?? undefined

interface Answer {
  readonly status: number
  readonly body: unknown
  readonly username: string | undefined
  readonly granted: ReadonlyArray<Access>
}

const refuse = (status: number, body: unknown, username: string | undefined): Answer => ({
  status,
  body,
  username,
  granted: []
})

const unknownService = (state: State, service: string | undefined): boolean =>
  service !== undefined && service !== state.service

/** A new refresh token for `username`, good until the server stops. */
const issueRefreshToken = (state: State, username: string): string => {
  const token = randomBytes(24).toString("base64url")
  state.refreshTokens.set(token, username)
  return token
}

/** `GET /token`: Docker's token protocol; `offline_token=true` adds a refresh token for a user. */
const answerGet = (
  state: State,
  params: URLSearchParams,
  credentials: User | undefined
): Answer => {
  const username = credentials?.username
  if (credentials !== undefined && state.users.get(credentials.username) !== credentials.password) {
    return refuse(401, { errors: [{ code: "UNAUTHORIZED", message: "invalid username or password" }] }, username)
  }
  const service = optional(params, "service")
  if (unknownService(state, service)) {
    return refuse(400, { errors: [{ code: "DENIED", message: `unknown service ${service}` }] }, username)
  }
  const granted = grant(username, scopesOf(params))
  const token = signToken(state, username ?? "", granted)
  const refresh = username !== undefined && params.get("offline_token") === "true"
    ? { refresh_token: issueRefreshToken(state, username) }
    : {}
  return {
    status: 200,
    body: { token, access_token: token, expires_in: expiresIn, issued_at: new Date().toISOString(), ...refresh },
    username,
    granted
  }
}

/** `POST /token`: the OAuth2 password and refresh-token grants. */
const answerPost = (state: State, form: URLSearchParams): Answer => {
  const grantType = form.get("grant_type")
  const service = optional(form, "service")
  if (unknownService(state, service)) {
    return refuse(400, { error: "invalid_request", error_description: `unknown service ${service}` }, undefined)
  }
  let username: string | undefined
  let refreshToken: string
  if (grantType === "password") {
    username = optional(form, "username")
    if (username === undefined || state.users.get(username) !== form.get("password")) {
      return refuse(401, { error: "invalid_grant", error_description: "invalid username or password" }, username)
    }
    refreshToken = issueRefreshToken(state, username)
  } else if (grantType === "refresh_token") {
    refreshToken = form.get("refresh_token") ?? ""
    username = state.refreshTokens.get(refreshToken)
    if (username === undefined) {
      return refuse(401, { error: "invalid_grant", error_description: "unknown refresh token" }, undefined)
    }
  } else {
    return refuse(400, { error: "unsupported_grant_type" }, undefined)
  }
  const granted = grant(username, scopesOf(form))
  return {
    status: 200,
    body: {
      access_token: signToken(state, username, granted),
      refresh_token: refreshToken,
      expires_in: expiresIn,
      issued_at: new Date().toISOString(),
      scope: granted.map(scopeOf).join(" ")
    },
    username,
    granted
  }
}

const credentialsOf = (
  method: string,
  grantType: string | undefined,
  basic: User | undefined
): TokenRequest["credentials"] =>
  method === "GET"
    ? (basic === undefined ? "none" : "basic")
    : grantType === "password" || grantType === "refresh_token"
    ? grantType
    : "none"

const route = (
  state: State,
  method: string,
  pathname: string,
  params: URLSearchParams,
  basic: User | undefined
): Answer => {
  if (pathname !== "/token") {
    return refuse(404, { errors: [{ code: "NOT_FOUND", message: "only /token is served" }] }, undefined)
  }
  if (method !== "GET" && method !== "POST") {
    return refuse(405, { errors: [{ code: "UNSUPPORTED", message: "only GET and POST" }] }, undefined)
  }
  if (state.failCount > 0) {
    state.failCount -= 1
    return refuse(state.failStatus, { errors: [{ code: "UNAVAILABLE", message: "injected failure" }] }, undefined)
  }
  return method === "GET" ? answerGet(state, params, basic) : answerPost(state, params)
}

/** Answer one request (the body read in full) and make its log entry. */
const answer = (
  state: State,
  request: Http.IncomingMessage,
  body: string
): { readonly answer: Answer; readonly entry: TokenRequest } => {
  const url = new URL(request.url ?? "/", "http://token.invalid")
  const method = request.method ?? "GET"
  const params = method === "POST" ? new URLSearchParams(body) : url.searchParams
  const basic = method === "GET" ? basicCredentials(request.headers.authorization) : undefined
  const grantType = method === "POST" ? optional(params, "grant_type") : undefined
  const result = route(state, method, url.pathname, params, basic)
  return {
    answer: result,
    entry: {
      method,
      grantType,
      service: optional(params, "service"),
      scopes: scopesOf(params),
      account: optional(params, "account"),
      credentials: credentialsOf(method, grantType, basic),
      username: result.username,
      status: result.status,
      granted: result.granted
    }
  }
}

/** The `request` listener: reads the body, waits the configured delay, answers, logs. */
export const handler = (state: State) => (request: Http.IncomingMessage, response: Http.ServerResponse): void => {
  const chunks: Array<Buffer> = []
  request.on("data", (chunk: Buffer) => chunks.push(chunk))
  request.on("end", () => {
    const { answer: result, entry } = answer(state, request, Buffer.concat(chunks).toString("utf8"))
    state.log.push(entry)
    const send = (): void => {
      const body = JSON.stringify(result.body)
      response.writeHead(result.status, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body)
      })
      response.end(body)
    }
    if (state.delayMillis === 0) return send()
    const timer = setTimeout(send, state.delayMillis)
    response.once("close", () => clearTimeout(timer))
  })
}
