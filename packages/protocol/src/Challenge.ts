/**
 * `WWW-Authenticate` challenges (RFC 7235) as registries send them, and the token
 * `scope` strings of the Docker token protocol (`repository:library/ubuntu:pull,push`).
 *
 * One header value may hold several challenges (`Bearer realm="…",service="…", Basic
 * realm="x"`) and a response may carry several header values. Parameter values are
 * tokens or quoted strings (with `\` escapes and commas inside); a `token68` credential
 * (`Negotiate abc==`) is accepted too.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Errors from "./Errors.js"

/**
 * One challenge. `scheme` is `Basic`, `Bearer` or `Token` (v1) whatever the case it was
 * sent in; other schemes keep their spelling. `params` has lower-cased names. The usual
 * parameters are also given as fields; `scope` is split on blanks (one entry per scope).
 */
export interface Challenge {
  readonly scheme: string
  readonly params: ReadonlyMap<string, string>
  readonly token68?: string
  readonly realm?: string
  readonly service?: string
  readonly scope: ReadonlyArray<string>
  readonly error?: string
  readonly errorDescription?: string
}

const canonicalSchemes: Readonly<Record<string, string>> = { basic: "Basic", bearer: "Bearer", token: "Token" }

/** RFC 7230 `token`. */
const tokenPattern = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y
/** RFC 7235 `token68`. */
const token68Pattern = /[A-Za-z0-9._~+/-]+=*/y
/** An unquoted parameter value: a token, widened to any visible ASCII but `"`, `,` and `\`. */
const bareValuePattern = /[\x21\x23-\x2b\x2d-\x5b\x5d-\x7e]+/y

const make = (scheme: string, params: ReadonlyMap<string, string>, token68: string | undefined): Challenge => {
  const realm = params.get("realm")
  const service = params.get("service")
  const error = params.get("error")
  const errorDescription = params.get("error_description")
  return {
    scheme: canonicalSchemes[scheme.toLowerCase()] ?? scheme,
    params,
    ...(token68 === undefined ? {} : { token68 }),
    ...(realm === undefined ? {} : { realm }),
    ...(service === undefined ? {} : { service }),
    scope: (params.get("scope") ?? "").split(/\s+/).filter((scope) => scope !== ""),
    ...(error === undefined ? {} : { error }),
    ...(errorDescription === undefined ? {} : { errorDescription })
  }
}

/** Parse one header value into its challenges. */
const parseValue = (header: string): Either.Either<Array<Challenge>, Errors.InvalidChallenge> => {
  const fail = (reason: string): Either.Either<never, Errors.InvalidChallenge> =>
    Either.left(new Errors.InvalidChallenge({ header, reason }))
  let i = 0
  const take = (pattern: RegExp): string | undefined => {
    pattern.lastIndex = i
    const found = pattern.exec(header)
    if (found === null) return undefined
    i = pattern.lastIndex
    return found[0]
  }
  const skipBlanks = (): void => {
    while (header.charAt(i) === " " || header.charAt(i) === "\t") i++
  }
  /** Commas and blanks between list elements (empty elements are allowed). */
  const skipSeparators = (): void => {
    while (header.charAt(i) === "," || header.charAt(i) === " " || header.charAt(i) === "\t") i++
  }
  const atEnd = (): boolean => i >= header.length

  const challenges: Array<Challenge> = []
  skipSeparators()
  if (atEnd()) return fail("no challenge")
  while (!atEnd()) {
    const scheme = take(tokenPattern)
    if (scheme === undefined) return fail(`expected an auth scheme at character ${i + 1}`)
    const afterScheme = i
    skipBlanks()
    if (header.charAt(i) === "=" && i === afterScheme) {
      return fail(`missing auth scheme before parameter "${scheme}"`)
    }
    const params = new Map<string, string>()
    let token68: string | undefined
    if (!atEnd() && header.charAt(i) !== ",") {
      if (i === afterScheme) return fail(`expected a blank after auth scheme "${scheme}"`)
      const start = i
      const credentials = take(token68Pattern)
      skipBlanks()
      if (credentials !== undefined && (atEnd() || header.charAt(i) === ",")) {
        token68 = credentials
      } else {
        i = start
        let first = true
        for (;;) {
          const nameStart = i
          const name = take(tokenPattern)
          if (name === undefined) {
            return fail(
              header.charAt(i) === "="
                ? `"=" without a parameter name at character ${i + 1}`
                : `expected a parameter name at character ${i + 1}`
            )
          }
          skipBlanks()
          if (header.charAt(i) !== "=") {
            if (first) return fail(`expected "=" after parameter "${name}"`)
            i = nameStart // a new challenge starts here
            break
          }
          i++
          skipBlanks()
          let value: string
          if (header.charAt(i) === "\"") {
            i++
            value = ""
            for (;;) {
              if (atEnd()) return fail(`unterminated quoted string in parameter "${name}"`)
              const c = header.charAt(i)
              if (c === "\"") break
              if (c === "\\") {
                if (i + 1 >= header.length) return fail(`unterminated quoted string in parameter "${name}"`)
                value += header.charAt(i + 1)
                i += 2
              } else {
                value += c
                i++
              }
            }
            i++
          } else {
            const bare = take(bareValuePattern)
            if (bare === undefined) return fail(`parameter "${name}" has no value`)
            value = bare
          }
          const key = name.toLowerCase()
          if (params.has(key)) return fail(`parameter "${key}" appears twice in one challenge`)
          params.set(key, value)
          first = false
          skipBlanks()
          if (atEnd()) break
          if (header.charAt(i) !== ",") return fail(`expected "," after parameter "${name}" at character ${i + 1}`)
          skipSeparators()
          if (atEnd()) break
        }
      }
    }
    challenges.push(make(scheme, params, token68))
    skipSeparators()
  }
  return Either.right(challenges)
}

/**
 * Parse `WWW-Authenticate`: one header value or all of them, each holding one or more
 * challenges, in order. A value that is empty, starts with a parameter instead of a
 * scheme, has an unterminated quoted string, a `=` without a name, a parameter without
 * a value, a parameter twice in one challenge, or junk between parameters fails with
 * {@link Errors.InvalidChallenge}.
 */
export const parse = (
  header: string | ReadonlyArray<string>
): Effect.Effect<ReadonlyArray<Challenge>, Errors.InvalidChallenge> => {
  const values = typeof header === "string" ? [header] : header
  if (values.length === 0) return Effect.fail(new Errors.InvalidChallenge({ header: "", reason: "no challenge" }))
  return Effect.map(Effect.forEach(values, parseValue), (parsed) => parsed.flat())
}

// ---------------------------------------------------------------------------------------
// Scopes
// ---------------------------------------------------------------------------------------

/** A token scope: resource type (`repository`, `repository(plugin)`, `registry`), name, actions. */
export interface Scope {
  readonly type: string
  readonly name: string
  readonly actions: ReadonlyArray<string>
}

const scopeType = /^[a-z0-9]+(?:\([a-z0-9]+\))?$/
const scopeAction = /^(?:\*|[A-Za-z0-9_-]+)$/

const scopeEither = (input: string): Either.Either<Scope, Errors.InvalidArgument> => {
  const fail = (reason: string): Either.Either<never, Errors.InvalidArgument> =>
    Either.left(new Errors.InvalidArgument({ name: "scope", value: input, reason }))
  const first = input.indexOf(":")
  const last = input.lastIndexOf(":")
  if (first === -1 || first === last) return fail("a scope is type:name:actions, e.g. repository:library/ubuntu:pull")
  const type = input.slice(0, first)
  const name = input.slice(first + 1, last)
  const actions = input.slice(last + 1).split(",")
  if (!scopeType.test(type)) {
    return fail(`resource type "${type}" is not lower-case letters and digits, optionally (class)`)
  }
  if (name === "" || /\s/.test(name)) return fail("the resource name cannot be empty or hold blanks")
  const bad = actions.find((action) => !scopeAction.test(action))
  if (bad !== undefined) return fail(bad === "" ? "an action cannot be empty" : `action "${bad}" is not a word or *`)
  return Either.right({ type, name, actions })
}

/**
 * Parse a scope `type:name:action[,action…]`. The type is everything before the first
 * `:`, the actions everything after the last, the name what is between (so a name with
 * a `host:port` prefix still parses).
 */
export const parseScope = (input: string): Effect.Effect<Scope, Errors.InvalidArgument> => scopeEither(input)

/** Print a scope as `type:name:action,action`. */
export const formatScope = (scope: Scope): string => `${scope.type}:${scope.name}:${scope.actions.join(",")}`

/** The scope `repository:<name>:<actions>`, e.g. `repositoryScope("library/ubuntu", ["pull"])`. */
export const repositoryScope = (name: string, actions: ReadonlyArray<string>): Scope => ({
  type: "repository",
  name,
  actions
})

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/**
 * Merge scopes: one scope per (type, name) holding the union of their actions. The
 * result is in a stable order: by type, then name, actions sorted; all by code unit.
 */
export const mergeScopes = (scopes: Iterable<Scope>): ReadonlyArray<Scope> => {
  const merged = new Map<string, { readonly type: string; readonly name: string; readonly actions: Set<string> }>()
  for (const scope of scopes) {
    const key = `${scope.type}:${scope.name}`
    const entry = merged.get(key) ?? { type: scope.type, name: scope.name, actions: new Set<string>() }
    for (const action of scope.actions) entry.actions.add(action)
    merged.set(key, entry)
  }
  return [...merged.values()]
    .map(({ actions, name, type }) => ({ type, name, actions: [...actions].sort(compare) }))
    .sort((a, b) => compare(a.type, b.type) || compare(a.name, b.name))
}

/**
 * The scopes to ask a token server for after `challenge`: the challenge's own scopes
 * merged with the `requested` ones (see {@link mergeScopes}), formatted. A challenge
 * scope that does not parse is passed on verbatim, after the merged ones.
 */
export const tokenScopes = (challenge: Challenge, requested: ReadonlyArray<Scope>): ReadonlyArray<string> => {
  const parsed: Array<Scope> = [...requested]
  const verbatim: Array<string> = []
  for (const raw of challenge.scope) {
    const scope = scopeEither(raw)
    if (Either.isRight(scope)) parsed.push(scope.right)
    else if (!verbatim.includes(raw)) verbatim.push(raw)
  }
  return [...mergeScopes(parsed).map(formatScope), ...verbatim]
}
