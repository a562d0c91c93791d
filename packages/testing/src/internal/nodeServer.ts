/**
 * Small pieces the test servers share: listening on a free loopback port, closing with
 * every connection, and reading a `Range` header.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Http from "node:http"

/** Listen on `127.0.0.1`, port 0; the port, or `failure(reason)`. */
export const listen = <E>(node: Http.Server, failure: (reason: string) => E): Effect.Effect<number, E> =>
  Effect.async<number, E>((resume) => {
    const failed = (error: Error): void => resume(Effect.fail(failure(error.message)))
    node.once("error", failed)
    node.listen(0, "127.0.0.1", () => {
      node.off("error", failed)
      const address = node.address()
      resume(
        typeof address === "object" && address !== null
          ? Effect.succeed(address.port)
          : Effect.fail(failure("the server did not get a TCP address"))
      )
    })
  })

/** Close a server; stalled or idle keep-alive connections must not hold the close open. */
export const close = (node: Http.Server): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    node.close(() => resume(Effect.void))
    node.closeAllConnections()
  })

/** `Range: bytes=a-` or `bytes=a-b` against a size: the inclusive range, "unsatisfiable", or undefined (ignored). */
export const parseRange = (
  header: string | undefined,
  size: number
): { readonly start: number; readonly end: number } | "unsatisfiable" | undefined => {
  const match = /^bytes=(\d+)-(\d*)$/.exec(header?.trim() ?? "")
  if (match === null) return undefined
  const start = Number(match[1])
  const last = match[2] === "" ? size - 1 : Number(match[2])
  if (start >= size || last < start) return "unsatisfiable"
  return { start, end: Math.min(last, size - 1) }
}

/**
 * Send what was written so far, then destroy the socket: the client sees a dropped
 * connection in the middle of the response.
 */
export const dropConnection = (response: Http.ServerResponse): void => {
  const socket = response.socket
  if (socket === null) response.destroy()
  else socket.write(new Uint8Array(0), () => socket.destroy())
}
