import * as FaultServer from "@dockside/testing/FaultServer"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Cookies from "@effect/platform/Cookies"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"

/** One request with the undici `HttpClient`; the whole body is read as text. */
const send = (url: string, request: (url: string) => HttpClientRequest.HttpClientRequest = HttpClientRequest.get) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const response = yield* client.execute(request(url))
    return { status: response.status, headers: response.headers, text: yield* response.text }
  })

/** Read a body until it ends or the connection drops: the bytes that arrived, and whether it failed. */
const readUntilDropped = (url: string) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const received = yield* Ref.make("")
    const response = yield* client.get(url)
    const outcome = yield* response.stream.pipe(
      Stream.decodeText(),
      Stream.runForEach((text) => Ref.update(received, (all) => all + text)),
      Effect.either
    )
    return { response, received: yield* Ref.get(received), failed: Either.isLeft(outcome) }
  })

const body = "0123456789"

/** Let Node's event loop turn once, without any clock. */
const nextMacrotask = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

layer(NodeHttpClient.layerUndici)("FaultServer", (it) => {
  describe("server", () => {
    it.scoped("listens on 127.0.0.1 with a free port; several instances get different ports", () =>
      Effect.gen(function*() {
        const one = yield* FaultServer.make()
        const two = yield* FaultServer.make()
        expect(one.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
        expect(one.host).toBe(one.url.slice("http://".length))
        expect(two.url).not.toBe(one.url)
        yield* one.respond("/who", [{ status: 200, body: "one" }])
        yield* two.respond("/who", [{ status: 200, body: "two" }])
        expect((yield* send(`${one.url}/who`)).text).toBe("one")
        expect((yield* send(`${two.url}/who`)).text).toBe("two")
      }))

    it.scoped("answers an unscripted path with an empty 404", () =>
      Effect.gen(function*() {
        const server = yield* FaultServer.make()
        const reply = yield* send(`${server.url}/nothing`)
        expect(reply.status).toBe(404)
        expect(reply.text).toBe("")
      }))

    it.effect("stops when its scope closes, dropping a stalled response in flight", () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const server = yield* FaultServer.make().pipe(Scope.extend(scope))
        yield* server.respond("/stall", [{ status: 200, body, stallAfterHeaders: true }])
        const client = yield* HttpClient.HttpClient
        const response = yield* client.get(`${server.url}/stall`)
        yield* Scope.close(scope, Exit.void)
        expect(Either.isLeft(yield* Effect.either(response.text))).toBe(true)
        expect(Either.isLeft(yield* Effect.either(send(`${server.url}/stall`)))).toBe(true)
      }))

    it.effect("is available as a layer", () =>
      Effect.gen(function*() {
        const server = yield* FaultServer.FaultServer
        yield* server.respond("/", [{ status: 204 }])
        expect((yield* send(`${server.url}/`)).status).toBe(204)
      }).pipe(Effect.provide(FaultServer.layer())))

    it.scoped("refuses bad scripts", () =>
      Effect.gen(function*() {
        const server = yield* FaultServer.make()
        const refused = (path: string, response: FaultServer.ScriptedResponse) =>
          Effect.flip(server.respond(path, [response])).pipe(Effect.map((error) => error.name))
        expect(yield* refused("blob", { status: 200 })).toBe("path")
        expect(yield* refused("/", { status: 42 })).toBe("status")
        expect(yield* refused("/", { status: 200, cutAfter: -1 })).toBe("cutAfter")
        expect(yield* refused("/", { status: 200, slowBody: { chunk: 0, everyMillis: 1 } })).toBe("slowBody.chunk")
        expect(yield* refused("/", { status: 200, headers: { "bad name": "x" } })).toBe("header")
        expect(yield* refused("/", { status: 200, headers: { ok: "line\nbreak" } })).toBe("header")
      }))
  })

  describe("scripts", () => {
    it.scoped("plays a queue, then repeats its last response forever", () =>
      Effect.gen(function*() {
        const server = yield* FaultServer.make()
        yield* server.respond("/flaky", [{ status: 503 }, { status: 503 }, { status: 200, body: "ok" }])
        const replies = yield* Effect.forEach([1, 2, 3, 4, 5], () => send(`${server.url}/flaky`))
        expect(replies.map((reply) => reply.status)).toEqual([503, 503, 200, 200, 200])
        expect(replies[4]!.text).toBe("ok")

        yield* server.respond("/flaky", [{ status: 500 }])
        const again = yield* Effect.forEach([1, 2, 3], () => send(`${server.url}/flaky?attempt`))
        expect(again.map((reply) => reply.status)).toEqual([500, 500, 500])
      }))

    it.scoped("sends the scripted headers, several Set-Cookie lines too", () =>
      Effect.gen(function*() {
        const server = yield* FaultServer.make()
        yield* server.respond("/h", [{
          status: 200,
          body,
          headers: { "X-Thing": "yes", "Set-Cookie": ["a=1", "b=2"] }
        }])
        const response = yield* Effect.promise(() => fetch(`${server.url}/h`))
        expect(response.headers.get("x-thing")).toBe("yes")
        expect(response.headers.get("content-length")).toBe("10")
        expect(response.headers.getSetCookie()).toEqual(["a=1", "b=2"])
        expect(yield* Effect.promise(() => response.text())).toBe(body)
      }))

    it.effect("stalls under TestClock: only the client's clock decides when it gives up", () =>
      Effect.gen(function*() {
        const server = yield* FaultServer.make()
        yield* server.respond("/stall", [{ status: 200, body, stallAfterHeaders: true }])
        const client = yield* HttpClient.HttpClient
        const response = yield* client.get(`${server.url}/stall`)
        const reading = yield* response.text.pipe(Effect.timeout("30 seconds"), Effect.either, Effect.fork)
        yield* TestClock.adjust("30 seconds")
        const outcome = yield* Fiber.join(reading)
        expect(Either.isLeft(outcome) && outcome.left._tag).toBe("TimeoutException")
      }).pipe(Effect.scoped))

    it.scoped("cuts the connection after N body bytes", () =>
      Effect.gen(function*() {
        const server = yield* FaultServer.make()
        yield* server.respond("/cut", [{ status: 200, body, cutAfter: 4 }])
        const cut = yield* readUntilDropped(`${server.url}/cut`)
        expect(cut.response.status).toBe(200)
        expect(cut.response.headers["content-length"]).toBe("10")
        expect(cut.received).toBe("0123")
        expect(cut.failed).toBe(true)

        yield* server.respond("/cut", [{ status: 200, body, cutAfter: 0 }])
        const none = yield* readUntilDropped(`${server.url}/cut`)
        expect(none.response.status).toBe(200)
        expect(none.received).toBe("")
        expect(none.failed).toBe(true)
      }))

    it.scoped("honours ranges, and a cut download can resume", () =>
      Effect.gen(function*() {
        const server = yield* FaultServer.make()
        yield* server.respond("/blob", [{ status: 200, body, cutAfter: 6 }, { status: 200, body, honourRange: true }])
        const range = (value: string) => (url: string) => HttpClientRequest.get(url, { headers: { range: value } })
        const first = yield* readUntilDropped(`${server.url}/blob`)
        expect(first).toMatchObject({ received: "012345", failed: true })

        const rest = yield* send(`${server.url}/blob`, range("bytes=6-"))
        expect(rest).toMatchObject({ status: 206, text: "6789" })
        expect(rest.headers["content-range"]).toBe("bytes 6-9/10")
        expect(rest.headers["content-length"]).toBe("4")

        const whole = yield* send(`${server.url}/blob`)
        expect(whole).toMatchObject({ status: 200, text: body })
        expect(whole.headers["accept-ranges"]).toBe("bytes")

        const middle = yield* send(`${server.url}/blob`, range("bytes=2-3"))
        expect(middle).toMatchObject({ status: 206, text: "23" })
        expect(middle.headers["content-range"]).toBe("bytes 2-3/10")

        const past = yield* send(`${server.url}/blob`, range("bytes=10-"))
        expect(past).toMatchObject({ status: 416, text: "" })
        expect(past.headers["content-range"]).toBe("bytes */10")
      }))

    it.scoped("redirects, across origins too", () =>
      Effect.gen(function*() {
        const first = yield* FaultServer.make()
        const second = yield* FaultServer.make()
        yield* first.redirect("/found", "/elsewhere")
        const found = yield* send(`${first.url}/found`)
        expect(found.status).toBe(302)
        expect(found.headers["location"]).toBe("/elsewhere")

        yield* first.redirect("/blob", `${second.url}/blob`, 307)
        yield* second.respond("/blob", [{ status: 200, body }])
        const moved = yield* send(`${first.url}/blob`)
        expect(moved.status).toBe(307)
        expect(moved.headers["location"]).toBe(`${second.url}/blob`)

        const client = (yield* HttpClient.HttpClient).pipe(HttpClient.followRedirects(5))
        const followed = yield* client.get(`${first.url}/blob`)
        expect(yield* followed.text).toBe(body)
        expect((yield* second.requests).map((request) => request.path)).toEqual(["/blob"])
      }))
  })

  describe("accounting", () => {
    it.scoped("logs every request, and forgets them on demand", () =>
      Effect.gen(function*() {
        const server = yield* FaultServer.make()
        yield* server.respond("/upload", [{ status: 201 }])
        yield* send(
          `${server.url}/upload?digest=x`,
          (url) =>
            HttpClientRequest.post(url, { headers: { "X-Custom": "Yes" } }).pipe(HttpClientRequest.bodyText("hello"))
        )
        yield* send(`${server.url}/unknown`)
        const [upload, unknown] = yield* server.requests
        expect(upload).toMatchObject({
          method: "POST",
          url: "/upload?digest=x",
          path: "/upload",
          bodyLength: 5,
          cookies: {}
        })
        expect(upload!.headers["x-custom"]).toBe("Yes")
        expect(upload!.headers["host"]).toBe(server.host)
        expect(unknown).toMatchObject({ method: "GET", path: "/unknown", bodyLength: 0 })

        yield* server.clearRequests
        expect(yield* server.requests).toEqual([])
      }))

    it.scoped("shows the cookies the client sends back", () =>
      Effect.gen(function*() {
        const server = yield* FaultServer.make()
        yield* server.respond("/", [{ status: 200, headers: { "set-cookie": ["session=abc; Path=/", "theme=dark"] } }])
        const jar = yield* Ref.make(Cookies.empty)
        const client = (yield* HttpClient.HttpClient).pipe(HttpClient.withCookiesRef(jar))
        yield* client.get(`${server.url}/`)
        yield* client.get(`${server.url}/`)
        const [first, second] = yield* server.requests
        expect(first!.cookies).toEqual({})
        expect(second!.cookies).toEqual({ session: "abc", theme: "dark" })
      }))

    it.scoped("counts TCP connections: keep-alive reuses one, Connection: close does not", () =>
      Effect.gen(function*() {
        const server = yield* FaultServer.make()
        yield* server.respond("/", [{ status: 200, body }])
        // undici's pool opens a second connection when a request is sent in the very tick the previous one
        // ended (the first connection is not marked free yet): a client does work between requests anyway
        yield* Effect.forEach([1, 2, 3, 4, 5], () => Effect.zipLeft(send(`${server.url}/`), nextMacrotask))
        expect(yield* server.connections).toBe(1)

        const other = yield* FaultServer.make()
        yield* other.respond("/", [{ status: 200, body, headers: { connection: "close" } }])
        yield* Effect.forEach([1, 2, 3], () => send(`${other.url}/`))
        expect(yield* other.connections).toBe(3)
      }))
  })
})

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("FaultServer in real time", (it) => {
  it.scoped("stalls after the headers until the client gives up (real time)", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.respond("/stall", [{ status: 200, body, stallAfterHeaders: true }])
      const started = Date.now()
      const client = yield* HttpClient.HttpClient
      const response = yield* client.get(`${server.url}/stall`)
      expect(response.status).toBe(200)
      expect(response.headers["content-length"]).toBe("10")
      const outcome = yield* response.text.pipe(Effect.timeout("200 millis"), Effect.either)
      expect(Either.isLeft(outcome) && outcome.left._tag).toBe("TimeoutException")
      expect(Date.now() - started).toBeLessThan(1000)
    }))

  it.scoped("trickles a slow body that still arrives complete (real time)", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.respond("/slow", [{ status: 200, body, slowBody: { chunk: 3, everyMillis: 30 } }])
      const started = Date.now()
      const reply = yield* send(`${server.url}/slow`)
      expect(reply.text).toBe(body)
      // chunks at 0, 30, 60 and 90 ms
      expect(Date.now() - started).toBeGreaterThanOrEqual(85)
    }))
})
