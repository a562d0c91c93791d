/**
 * JSON bodies and schema errors, shared by the wire modules (`V1Wire`, `Manifest`) and
 * the identifier parsers (`Identifiers`, `Reference`).
 *
 * One set of rules for every JSON body dockside reads:
 *
 * - bytes must be valid UTF-8 (an invalid sequence is an error, never replaced), and a
 *   leading byte order mark is refused, as Go's `encoding/json` refuses it;
 * - a key `__proto__` is refused anywhere in the document: no registry document needs
 *   one, and decoding it into a plain object would replace that object's prototype;
 * - a syntax error is reported without quoting the input (the body may hold secrets):
 *   only where it is, when the parser says so.
 *
 * @since 0.1.0
 * @internal
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Errors from "../Errors.js"

// ---------------------------------------------------------------------------------------
// Schema errors as text
// ---------------------------------------------------------------------------------------

const pathText = (path: ReadonlyArray<PropertyKey>): string => path.map(String).join(".")

/**
 * A schema failure as one line: every issue as `path: message` (just the message at the
 * top level), joined with `; `. Messages may quote the offending value: use
 * {@link formatParseErrorRedacted} for documents that hold secrets.
 */
export const formatParseError = (error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error)
    .map((issue) => (issue.path.length === 0 ? issue.message : `${pathText(issue.path)}: ${issue.message}`))
    .join("; ")

const many = <A>(value: A | ReadonlyArray<A>): ReadonlyArray<A> => Array.isArray(value) ? value : [value as A]

/** Each leaf issue as `path: what was expected`, never the actual value. */
const redactedIssues = (issue: ParseResult.ParseIssue, path: ReadonlyArray<PropertyKey>): ReadonlyArray<string> => {
  const at = (text: string): ReadonlyArray<string> => [path.length === 0 ? text : `${pathText(path)}: ${text}`]
  switch (issue._tag) {
    case "Pointer":
      return redactedIssues(issue.issue, [...path, ...many(issue.path)])
    case "Composite":
      return many(issue.issues).flatMap((inner) => redactedIssues(inner, path))
    case "Refinement":
      return issue.kind === "From" ? redactedIssues(issue.issue, path) : at(`expected ${String(issue.ast)}`)
    case "Transformation":
      return issue.kind === "Transformation"
        ? at(`expected ${String(issue.ast.to)}`)
        : redactedIssues(issue.issue, path)
    case "Type":
      return at(`expected ${String(issue.ast)}`)
    case "Missing":
      return at("is missing")
    case "Unexpected":
      return at("is unexpected")
    case "Forbidden":
      return at("cannot be decoded here")
  }
}

/** Like {@link formatParseError}, but naming only paths and expected types, never values. */
export const formatParseErrorRedacted = (error: ParseResult.ParseError): string =>
  redactedIssues(error.issue, []).join("; ")

// ---------------------------------------------------------------------------------------
// JSON text
// ---------------------------------------------------------------------------------------

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

class ProtoKey extends Error {}

const refuseProto = (key: string, value: unknown): unknown => {
  if (key === "__proto__") throw new ProtoKey()
  return value
}

const syntaxReason = (error: unknown): string => {
  const message = error instanceof Error ? error.message : ""
  if (message.includes("end of JSON input")) return "the body is not JSON (it ends too early)"
  const position = /at position (\d+)/.exec(message)?.[1]
  return position === undefined
    ? "the body is not JSON"
    : `the body is not JSON (syntax error at character ${position})`
}

/**
 * Parse a JSON body (bytes or text) under the rules above; the failure is the reason,
 * naming no part of the input.
 */
export const parse = (input: string | Uint8Array): Either.Either<unknown, string> => {
  let text: string
  try {
    text = typeof input === "string" ? input : utf8.decode(input)
  } catch {
    return Either.left("the body is not valid UTF-8")
  }
  if (text.startsWith("\ufeff")) return Either.left("the body starts with a byte order mark")
  try {
    return Either.right(JSON.parse(text, refuseProto))
  } catch (error) {
    return Either.left(error instanceof ProtoKey ? "the body has a key \"__proto__\"" : syntaxReason(error))
  }
}

/** {@link parse}, failing with an {@link Errors.InvalidDocument} about `what`. */
export const parseDocument = (
  what: string,
  input: string | Uint8Array
): Either.Either<unknown, Errors.InvalidDocument> =>
  Either.mapLeft(parse(input), (reason) => new Errors.InvalidDocument({ what, reason }))

/** How {@link decodeWith} reports schema failures. */
export interface DecodeOptions {
  /** Name only paths and expected types, never values (for documents holding secrets). */
  readonly redact?: boolean
}

/**
 * Decode a parsed JSON value with a schema, reporting every issue; `what` names the
 * document in the {@link Errors.InvalidDocument}.
 */
export const decodeWith = <A, I>(
  schema: Schema.Schema<A, I>,
  what: string,
  options?: DecodeOptions
): (json: unknown) => Either.Either<A, Errors.InvalidDocument> => {
  const decode = Schema.decodeUnknownEither(schema, { errors: "all" })
  const format = options?.redact === true ? formatParseErrorRedacted : formatParseError
  return (json) => Either.mapLeft(decode(json), (error) => new Errors.InvalidDocument({ what, reason: format(error) }))
}
