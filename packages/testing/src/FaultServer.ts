/**
 * A small scriptable HTTP server for testing client policies (retries, redirects, timeouts,
 * connection reuse, resume) against real sockets.
 *
 * Each path gets a queue of scripted responses: a request takes the next one, and the last one
 * repeats forever, so `[503, 503, 200]` is two failures then success for good and `[503]` fails
 * forever. A response can stall after its headers, drop the connection after N body bytes, trickle
 * its body, or answer ranges. Paths with no script answer an empty 404. Every request is logged
 * and every accepted TCP connection counted.
 *
 * Built on plain `node:http` for raw control of sockets. Nothing the server does depends on
 * Effect's clock, so it serves `TestClock`-driven client tests; only `slowBody` waits, on real
 * timers. Start as many as a test needs: each listens on `127.0.0.1` on a free port.
 *
 * @since 0.1.0
 */
import * as Errors from "@dockside/protocol/Errors"
import type * as Arr from "effect/Array"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import * as Checks from "./internal/checks.js"
import * as NodeServer from "./internal/nodeServer.js"

/** One scripted response. The options combine: a range is cut, and a cut body can trickle. */
export interface ScriptedResponse {
  /** The status, 200 to 599. */
  readonly status: number
  /**
   * Response headers; an array sends one header line per item (several `Set-Cookie`). They are
   * set last, so they win over the computed ones (`Content-Length`, `Accept-Ranges`, `Content-Range`).
   */
  readonly headers?: Readonly<Record<string, string | ReadonlyArray<string>>> | undefined
  /** The body, empty by default. `Content-Length` is its full length, even when cut or stalled. */
  readonly body?: string | Uint8Array | undefined
  /** Send the headers, then never send the body and never end the response. */
  readonly stallAfterHeaders?: boolean | undefined
  /** Send the headers and only this many body bytes, then drop the connection. */
  readonly cutAfter?: number | undefined
  /** Send the body `chunk` bytes at a time, the first at once, then one every `everyMillis` real ms. */
  readonly slowBody?: { readonly chunk: number; readonly everyMillis: number } | undefined
  /**
   * Send `Accept-Ranges: bytes` and answer `Range: bytes=N-` (or `N-M`) with 206 and a
   * `Content-Range` of the body; a range starting past the end gets 416 and no body.
   */
  readonly honourRange?: boolean | undefined
}

/** One request as the server received it. */
export interface LoggedRequest {
  readonly method: string
  /** Path and query, as sent. */
  readonly url: string
  readonly path: string
  /** Lower-case names; repeated headers joined by Node (`a, b`). */
  readonly headers: Readonly<Record<string, string>>
  /** The cookies the client sent, from its `Cookie` header. */
  readonly cookies: Readonly<Record<string, string>>
  /** How many body bytes the request carried. */
  readonly bodyLength: number
}

/** A running {@link FaultServer}. */
export interface Service {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string
  /** `127.0.0.1:PORT`. */
  readonly host: string
  /** Script `path` (e.g. `/blob`, no query): replaces its queue; the last response repeats forever. */
  readonly respond: (
    path: string,
    responses: Arr.NonEmptyReadonlyArray<ScriptedResponse>
  ) => Effect.Effect<void, Errors.InvalidArgument>
  /** Script `path` to answer `status` (default 302) with `Location: location`, forever. */
  readonly redirect: (path: string, location: string, status?: number) => Effect.Effect<void, Errors.InvalidArgument>
  /** Every request received so far, oldest first, logged once its body has arrived. */
  readonly requests: Effect.Effect<ReadonlyArray<LoggedRequest>>
  /** Forget the logged requests. */
  readonly clearRequests: Effect.Effect<void>
  /** How many TCP connections the server has accepted so far. */
  readonly connections: Effect.Effect<number>
}

/** The server could not start listening. */
export class StartError extends Schema.TaggedError<StartError>()("FaultServerStartError", {
  reason: Schema.String
}) {
  override get message(): string {
    return `the fault test server could not start: ${this.reason}`
  }
}

/** The {@link Service} of a running fault server. */
export class FaultServer extends Context.Tag("@dockside/testing/FaultServer")<FaultServer, Service>() {}

const headersProblem = (headers: NonNullable<ScriptedResponse["headers"]>): Errors.InvalidArgument | undefined => {
  for (const [name, value] of Object.entries(headers)) {
    try {
      Http.validateHeaderName(name)
      for (const item of typeof value === "string" ? [value] : value) Http.validateHeaderValue(name, item)
    } catch (error) {
      return Checks.invalid("header", name, error instanceof Error ? error.message : String(error))
    }
  }
  return undefined
}

const responseProblem = (response: ScriptedResponse): Errors.InvalidArgument | undefined => {
  const { cutAfter, slowBody, status } = response
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    return Checks.invalid("status", status, "a status is an integer from 200 to 599")
  }
  if (cutAfter !== undefined && !Checks.isCount(cutAfter)) {
    return Checks.invalid("cutAfter", cutAfter, "a byte count is a non-negative integer")
  }
  if (slowBody !== undefined && (!Checks.isCount(slowBody.chunk) || slowBody.chunk === 0)) {
    return Checks.invalid("slowBody.chunk", slowBody.chunk, "a chunk size is a positive integer")
  }
  if (slowBody !== undefined && !(Number.isFinite(slowBody.everyMillis) && slowBody.everyMillis >= 0)) {
    return Checks.invalid(
      "slowBody.everyMillis",
      slowBody.everyMillis,
      "a delay is a non-negative number of milliseconds"
    )
  }
  return headersProblem(response.headers ?? {})
}

/** The status, extra headers and body bytes to send, after `honourRange`. */
const ranged = (
  response: ScriptedResponse,
  range: string | undefined
): { readonly status: number; readonly headers: Record<string, string>; readonly body: Buffer } => {
  const body = Buffer.from(response.body ?? "")
  if (response.honourRange !== true) return { status: response.status, headers: {}, body }
  const parsed = NodeServer.parseRange(range, body.length)
  if (parsed === undefined) return { status: response.status, headers: { "accept-ranges": "bytes" }, body }
  if (parsed === "unsatisfiable") {
    return {
      status: 416,
      headers: { "accept-ranges": "bytes", "content-range": `bytes */${body.length}` },
      body: Buffer.alloc(0)
    }
  }
  const { end, start } = parsed
  return {
    status: 206,
    headers: { "accept-ranges": "bytes", "content-range": `bytes ${start}-${end}/${body.length}` },
    body: body.subarray(start, end + 1)
  }
}

/** Headers out, then the body as scripted. */
const send = (request: Http.IncomingMessage, response: Http.ServerResponse, scripted: ScriptedResponse): void => {
  const { body, headers, status } = ranged(scripted, request.headers.range)
  response.setHeader("content-length", body.length)
  for (const [name, value] of Object.entries({ ...headers, ...scripted.headers })) response.setHeader(name, value)
  response.writeHead(status)
  response.flushHeaders()
  if (scripted.stallAfterHeaders === true) return
  const { cutAfter } = scripted
  const bytes = cutAfter === undefined ? body : body.subarray(0, cutAfter)
  const finish = cutAfter === undefined ? () => response.end() : () => NodeServer.dropConnection(response)
  const { chunk, everyMillis } = scripted.slowBody ?? { chunk: Math.max(bytes.length, 1), everyMillis: 0 }
  let offset = 0
  let timer: NodeJS.Timeout | undefined
  const tick = (): void => {
    response.write(bytes.subarray(offset, offset + chunk))
    offset += chunk
    if (offset >= bytes.length) finish()
    else timer = setTimeout(tick, everyMillis)
  }
  response.once("close", () => clearTimeout(timer))
  tick()
}

const flatHeaders = (headers: Http.IncomingHttpHeaders): Record<string, string> =>
  Object.fromEntries(
    Object.entries(headers).flatMap(([name, value]) =>
      value === undefined ? [] : [[name, typeof value === "string" ? value : value.join(", ")]]
    )
  )

const cookiesOf = (header: string | undefined): Record<string, string> =>
  Object.fromEntries(
    (header ?? "").split(";").flatMap((pair) => {
      const at = pair.indexOf("=")
      return at < 0 ? [] : [[pair.slice(0, at).trim(), pair.slice(at + 1).trim()]]
    })
  )

/** Start a server on `127.0.0.1`, port 0; it stops (all connections closed) when the scope closes. */
export const make: () => Effect.Effect<Service, StartError, Scope.Scope> = Effect.fn("FaultServer.make")(function*() {
  const routes = new Map<string, { readonly responses: ReadonlyArray<ScriptedResponse>; served: number }>()
  const log: Array<LoggedRequest> = []
  let connections = 0

  const node = Http.createServer()
  node.on("connection", () => {
    connections += 1
  })
  node.on("request", (request, response) => {
    let bodyLength = 0
    request.on("data", (chunk: Buffer) => {
      bodyLength += chunk.length
    })
    request.on("end", () => {
      const url = request.url ?? "/"
      const path = url.split("?")[0]
      const headers = flatHeaders(request.headers)
      log.push({ method: request.method ?? "GET", url, path, headers, cookies: cookiesOf(headers.cookie), bodyLength })
      const route = routes.get(path)
      if (route === undefined) {
        response.writeHead(404).end()
      } else {
        send(request, response, route.responses[Math.min(route.served, route.responses.length - 1)])
        route.served += 1
      }
    })
  })

  const port = yield* Effect.acquireRelease(
    NodeServer.listen(node, (reason) => new StartError({ reason })),
    () => NodeServer.close(node)
  )
  const host = `127.0.0.1:${port}`

  const respond = Effect.fn("FaultServer.respond")(
    function*(path: string, responses: Arr.NonEmptyReadonlyArray<ScriptedResponse>) {
      if (!path.startsWith("/")) return yield* Checks.invalid("path", path, "a path starts with /")
      if (responses.length === 0) {
        return yield* Checks.invalid("responses", "[]", "a script needs at least one response")
      }
      for (const response of responses) {
        const problem = responseProblem(response)
        if (problem !== undefined) return yield* problem
      }
      routes.set(path, { responses: responses.slice(), served: 0 })
    }
  )

  return {
    url: `http://${host}`,
    host,
    respond,
    redirect: (path: string, location: string, status: number = 302) =>
      respond(path, [{ status, headers: { location } }]),
    requests: Effect.sync(() => log.slice()),
    clearRequests: Effect.sync(() => {
      log.length = 0
    }),
    connections: Effect.sync(() => connections)
  }
})

/** A layer with a running {@link FaultServer}, stopped when the layer is released. */
export const layer = (): Layer.Layer<FaultServer, StartError> => Layer.scoped(FaultServer, make())
