import * as HttpErrors from "@dockside/client/HttpErrors"
import * as Progress from "@dockside/client/Progress"
import * as Redirects from "@dockside/client/Redirects"
import * as RegistryPolicy from "@dockside/client/RegistryPolicy"
import * as Retry from "@dockside/client/Retry"
import * as Timeouts from "@dockside/client/Timeouts"
import * as FaultServer from "@dockside/testing/FaultServer"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import { Readable } from "node:stream"
import * as Recorded from "./support/Recorded.js"

/** Wait in real time (the test clock stands still) until the server has seen `n` requests. */
const seen = (server: FaultServer.Service, n: number) =>
  TestServices.provideLive(Effect.gen(function*() {
    for (let i = 0; i < 500; i++) {
      if ((yield* server.requests).length >= n) return
      yield* Effect.sleep("5 millis")
    }
    throw new Error(`the server never saw ${n} requests`)
  }))

const liveSleep = (millis: number) => TestServices.provideLive(Effect.sleep(Duration.millis(millis)))

/** Move the test clock in steps, waiting in real time for I/O in between, until the fiber is done. */
const advanceUntilDone = <A, E>(fiber: Fiber.RuntimeFiber<A, E>, step: Duration.DurationInput) =>
  Effect.gen(function*() {
    for (let i = 0; i < 500 && fiber.unsafePoll() === null; i++) {
      if ((yield* TestClock.sleeps()).length > 0) yield* TestClock.adjust(step)
      else yield* liveSleep(5)
    }
    return yield* Fiber.join(fiber)
  })

/** Wait in real time until some fiber sleeps on the test clock (so that adjusting it wakes it). */
const sleeping = Effect.gen(function*() {
  for (let i = 0; i < 500; i++) {
    if ((yield* TestClock.sleeps()).length > 0) return
    yield* liveSleep(5)
  }
  throw new Error("nothing ever slept on the test clock")
})

/** The error a failed request carried, as the operations see it. */
const typed = <A, R>(effect: Effect.Effect<A, import("@effect/platform/HttpClientError").HttpClientError, R>) =>
  Effect.flip(effect).pipe(Effect.map((error) => HttpErrors.fromHttpClientError(error.request, error)))

const client = (...policies: ReadonlyArray<(client: HttpClient.HttpClient) => HttpClient.HttpClient>) =>
  Effect.map(HttpClient.HttpClient, (base) => policies.reduce((c, policy) => policy(c), base))

describe("Retry", () => {
  it.scoped("503 ×3 then 200 succeeds after three retries, waiting the backoff", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.respond("/x", [{ status: 503 }, { status: 503 }, { status: 503 }, { status: 200, body: "ok" }])
      const events = yield* Ref.make<ReadonlyArray<Progress.Event>>([])
      const http = yield* client(Retry.withRetry())
      const fiber = yield* http.get(`${server.url}/x`).pipe(
        Effect.flatMap((response) => response.text),
        Effect.provideService(Progress.Progress, {
          publish: (event) => Ref.update(events, (all) => [...all, event])
        }),
        Effect.fork
      )
      // Each step moves the clock just past the longest backoff of that attempt (+20 % jitter).
      for (const [n, step] of [[1, 240], [2, 480], [3, 960]] as const) {
        yield* seen(server, n)
        yield* sleeping
        expect((yield* server.requests).length).toBe(n) // nothing happens until the clock moves
        yield* TestClock.adjust(Duration.millis(step))
      }
      expect(yield* Fiber.join(fiber)).toBe("ok")
      expect((yield* server.requests).length).toBe(4)
      const retries = (yield* Ref.get(events)).filter((e) => e._tag === "Retrying")
      expect(retries.map((e) => e._tag === "Retrying" && e.status)).toEqual([503, 503, 503])
      // 200 ms doubling, ±20 % jitter.
      const delays = retries.map((e) => e._tag === "Retrying" ? Duration.toMillis(e.delay) : 0)
      expect(delays[0]).toBeGreaterThanOrEqual(160)
      expect(delays[0]).toBeLessThanOrEqual(240)
      expect(delays[2]).toBeGreaterThanOrEqual(640)
      expect(delays[2]).toBeLessThanOrEqual(960)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("503 forever is a typed error after the bound, with the last status", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.respond("/x", [{ status: 503, body: "busy" }])
      const http = yield* client(Retry.withRetry())
      const fiber = yield* typed(http.get(`${server.url}/x`)).pipe(Effect.fork)
      const error = yield* advanceUntilDone(fiber, "10 seconds")
      expect(error._tag).toBe("RetriesExhausted")
      expect(error.message).toContain("gave up after 5 attempts")
      expect(error.message).toContain("HTTP 503 busy")
      if (error._tag === "RetriesExhausted") expect(error.lastStatus).toBe(503)
      expect((yield* server.requests).length).toBe(5)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  for (const [label, header] of [["seconds", "7"], ["an HTTP date", new Date(7000).toUTCString()]] as const) {
    it.scoped(`429 with Retry-After as ${label} waits exactly 7 s, then succeeds`, () =>
      Effect.gen(function*() {
        const server = yield* FaultServer.make()
        yield* server.respond("/x", [{ status: 429, headers: { "retry-after": header } }, { status: 200, body: "ok" }])
        const http = yield* client(Retry.withRetry())
        const fiber = yield* http.get(`${server.url}/x`).pipe(Effect.flatMap((r) => r.text), Effect.fork)
        yield* seen(server, 1)
        yield* sleeping
        yield* TestClock.adjust("6999 millis")
        yield* liveSleep(50)
        expect((yield* server.requests).length).toBe(1)
        yield* TestClock.adjust("1 millis")
        expect(yield* Fiber.join(fiber)).toBe("ok")
      }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
  }

  it.scoped("a Retry-After beyond the cap is capped; a quota 429 with a long reset fails fast and says when", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.respond("/capped", [{ status: 503, headers: { "retry-after": "600" } }, { status: 200 }])
      const http = yield* client(Retry.withRetry())
      const capped = yield* http.get(`${server.url}/capped`).pipe(Effect.fork)
      yield* seen(server, 1)
      yield* sleeping
      yield* TestClock.adjust("60 seconds")
      expect((yield* Fiber.join(capped)).status).toBe(200)

      yield* server.respond("/quota", [{
        status: 429,
        headers: { "retry-after": "21600" },
        body: `{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}`
      }])
      const error = yield* typed(http.get(`${server.url}/quota`))
      expect(error._tag).toBe("RateLimited")
      expect(error.message).toContain("pull rate limit")
      expect(error.message).toContain("the quota resets at 1970-01-01T06:01:00.000Z")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("a request whose body cannot be replayed is never repeated; 404 is not retried", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.respond("/upload", [{ status: 503 }])
      yield* server.respond("/missing", [{ status: 404 }])
      const http = yield* client(Retry.withRetry())
      const upload = HttpClientRequest.put(`${server.url}/upload`).pipe(
        HttpClientRequest.bodyStream(Stream.make(new Uint8Array([1, 2, 3])))
      )
      expect((yield* http.execute(upload)).status).toBe(503)
      expect((yield* http.get(`${server.url}/missing`)).status).toBe(404)
      expect((yield* server.requests).map((r) => r.path)).toEqual(["/upload", "/missing"])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("network errors are retried, then reported with status 0", () =>
    Effect.gen(function*() {
      const http = yield* client(Retry.withRetry(RegistryPolicy.make({ retry: { attempts: 3 } }).retry))
      const fiber = yield* typed(http.get("http://127.0.0.1:1/nothing-listens")).pipe(Effect.fork)
      const error = yield* advanceUntilDone(fiber, "10 seconds")
      expect(error._tag).toBe("RetriesExhausted")
      if (error._tag === "RetriesExhausted") {
        expect(error.lastStatus).toBe(0)
        expect(error.attempts).toBe(3)
      }
      expect(error.message).toContain("ECONNREFUSED")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("POST and PATCH are not repeated; a malformed Retry-After falls back to the backoff", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.respond("/post", [{ status: 503 }, { status: 200 }])
      const http = yield* client(Retry.withRetry())
      const post = HttpClientRequest.post(`${server.url}/post`).pipe(HttpClientRequest.bodyText("x"))
      expect((yield* http.execute(post)).status).toBe(503)
      expect((yield* server.requests).length).toBe(1)
      expect(Retry.requestedWait({ "retry-after": "1.5" }, 0)).toBeUndefined()
      expect(Retry.requestedWait({ "retry-after": "-1" }, 0)).toBeUndefined()
      expect(Retry.requestedWait({ "retry-after": "12, 15" }, 0)).toBeUndefined()
      yield* server.respond("/zero", [{ status: 503, headers: { "retry-after": "0" } }, { status: 200 }])
      yield* server.clearRequests
      const fiber = yield* http.get(`${server.url}/zero`).pipe(Effect.fork)
      yield* seen(server, 1)
      yield* sleeping
      yield* liveSleep(20)
      expect((yield* server.requests).length).toBe(1) // Retry-After: 0 still waits the backoff
      yield* TestClock.adjust("1 second")
      expect((yield* Fiber.join(fiber)).status).toBe(200)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it("requestedWait reads Retry-After, RateLimit-Reset and X-RateLimit-Reset", () => {
    const now = 1_000_000
    expect(Retry.requestedWait({ "retry-after": "7" }, now)).toEqual(Duration.seconds(7))
    expect(Retry.requestedWait({ "retry-after": new Date(now + 5000).toUTCString() }, now)).toEqual(
      Duration.millis(5000)
    )
    expect(Retry.requestedWait({ "ratelimit-reset": "30" }, now)).toEqual(Duration.seconds(30))
    expect(Retry.requestedWait({ "x-ratelimit-reset": String(now / 1000 + 12) }, now)).toEqual(Duration.millis(12000))
    expect(Retry.requestedWait({ "retry-after": "soon" }, now)).toBeUndefined()
    expect(Retry.requestedWait({}, now)).toBeUndefined()
  })
})

describe("Redirects", () => {
  it.scoped("a blob redirected to a second origin: that origin never sees Authorization or cookies", () =>
    Effect.gen(function*() {
      const registry = yield* FaultServer.make()
      const storage = yield* FaultServer.make()
      yield* registry.redirect("/v2/a/blobs/x", `${storage.url}/store/x?sig=1`, 307)
      yield* storage.respond("/store/x", [{ status: 200, body: "blob" }])
      const http = yield* client(Redirects.withRedirects())
      const response = yield* http.execute(HttpClientRequest.get(`${registry.url}/v2/a/blobs/x?token=secret`, {
        headers: { authorization: "Bearer secret-token", cookie: "session=1", "x-keep": "yes" }
      }))
      expect(yield* response.text).toBe("blob")
      const [first] = yield* registry.requests
      expect(first!.headers["authorization"]).toBe("Bearer secret-token")
      const [hop] = yield* storage.requests
      expect(hop!.headers["authorization"]).toBeUndefined()
      expect(hop!.headers["cookie"]).toBeUndefined()
      expect(hop!.headers["x-keep"]).toBe("yes")
      expect(hop!.url).toBe("/store/x?sig=1")
      // The Referer names the previous URL without its query (nor any user-info).
      expect(hop!.headers["referer"]).toBe(`${registry.url}/v2/a/blobs/x`)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("credentials come back on a hop to the origin that earned them; relative Location; 302 keeps the method, 303 → GET", () =>
    Effect.gen(function*() {
      const a = yield* FaultServer.make()
      const b = yield* FaultServer.make()
      yield* a.redirect("/start", `${b.url}/bounce`)
      yield* b.redirect("/bounce", `${a.url}/relative`)
      yield* a.redirect("/relative", "final", 303)
      yield* a.respond("/final", [{ status: 200, body: "done" }])
      const http = yield* client(Redirects.withRedirects())
      const response = yield* http.execute(
        HttpClientRequest.post(`${a.url}/start`, { headers: { authorization: "Basic abc" } }).pipe(
          HttpClientRequest.bodyText("payload")
        )
      )
      expect(yield* response.text).toBe("done")
      const requests = yield* a.requests
      expect(requests.map((r) => [r.method, r.path, r.headers["authorization"], r.bodyLength])).toEqual([
        ["POST", "/start", "Basic abc", 7],
        ["POST", "/relative", "Basic abc", 7],
        ["GET", "/final", "Basic abc", 0]
      ])
      expect((yield* b.requests).map((r) => [r.method, r.headers["authorization"], r.bodyLength])).toEqual([
        ["POST", undefined, 7]
      ])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("a loop ends in TooManyRedirects; redirect bodies are drained (one connection)", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.respond("/loop", [{ status: 302, headers: { location: "/loop" }, body: "x".repeat(10_000) }])
      const http = yield* client(Redirects.withRedirects())
      const error = yield* typed(http.get(`${server.url}/loop`))
      expect(error._tag).toBe("TooManyRedirects")
      expect((yield* server.requests).length).toBe(11)
      // Undrained bodies would pin one connection per hop (11); drained ones go back to the pool.
      expect(yield* server.connections).toBeLessThanOrEqual(2)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.effect("a PUT or DELETE redirected with 301 or 302 stays what it is (never a GET whose 200 looks like success)", () =>
    Effect.gen(function*() {
      const { client: fake, sent } = yield* Recorded.client((request) => {
        const moved = request.url.startsWith("https://old.example/")
        return Effect.succeed(
          new Response(null, {
            status: moved ? (request.method === "PUT" ? 301 : 302) : request.method === "GET" ? 200 : 202,
            headers: moved ? { location: request.url.replace("old.example", "new.example") } : {}
          })
        )
      })
      const http = Redirects.withRedirects()(fake)
      const put = HttpClientRequest.put("https://old.example/v2/x/manifests/v1").pipe(HttpClientRequest.bodyText("{}"))
      expect((yield* http.execute(put)).status).toBe(202)
      expect((yield* http.execute(HttpClientRequest.del("https://old.example/v2/x/manifests/v1"))).status).toBe(202)
      // A body that cannot be sent again: the redirect is the answer.
      const streamed = HttpClientRequest.put("https://old.example/v2/x/blobs/uploads/1").pipe(
        HttpClientRequest.bodyStream(Stream.empty)
      )
      expect((yield* http.execute(streamed)).status).toBe(301)
      expect(yield* Ref.get(sent)).toEqual([
        "PUT https://old.example/v2/x/manifests/v1",
        "PUT https://new.example/v2/x/manifests/v1",
        "DELETE https://old.example/v2/x/manifests/v1",
        "DELETE https://new.example/v2/x/manifests/v1",
        "PUT https://old.example/v2/x/blobs/uploads/1"
      ])
    }))

  it.effect("https → http is refused; 307 with a streamed body is not followed", () =>
    Effect.gen(function*() {
      const { client: fake, sent } = yield* Recorded.client((request) =>
        Effect.succeed(
          new Response(null, {
            status: request.url.includes("/up") ? 307 : 302,
            headers: { location: request.url.includes("/up") ? "/elsewhere" : "http://plain.example/blob" }
          })
        )
      )
      const http = Redirects.withRedirects()(fake)
      const error = yield* typed(http.get("https://registry.example/v2/x"))
      expect(error._tag).toBe("RedirectRefused")
      expect(error.message).toContain("from https to http")
      const upload = HttpClientRequest.put("https://registry.example/up").pipe(
        HttpClientRequest.bodyStream(Stream.empty)
      )
      expect((yield* http.execute(upload)).status).toBe(307)
      expect(yield* Ref.get(sent)).toEqual(["GET https://registry.example/v2/x", "PUT https://registry.example/up"])
    }))
})

describe("Timeouts", () => {
  it.scoped("a body that stalls after the headers fails with NetworkTimeout within the idle timeout", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.respond("/stall", [{ status: 200, body: "x".repeat(100), stallAfterHeaders: true }])
      const http = yield* client(Timeouts.withTimeouts())
      const response = yield* http.get(`${server.url}/stall`)
      const fiber = yield* Stream.runDrain(response.stream).pipe(Effect.flip, Effect.fork)
      yield* liveSleep(50)
      yield* TestClock.adjust("59 seconds")
      yield* liveSleep(20)
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("2 seconds")
      const error = yield* Fiber.join(fiber)
      const timeout = HttpErrors.fromHttpClientError(response.request, error)
      expect(timeout._tag).toBe("NetworkTimeout")
      expect(timeout.message).toContain("(body)")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a streamed upload that keeps moving is not cut by the headers timeout", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.respond("/upload", [{ status: 201 }])
      const http = yield* client(Timeouts.withTimeouts(
        RegistryPolicy.make({
          timeouts: { headers: Duration.millis(300), bodyIdle: Duration.millis(300) }
        }).timeouts
      ))
      const slow = Stream.range(1, 10).pipe(
        Stream.mapEffect(() => Effect.as(Effect.sleep("100 millis"), new Uint8Array(300)))
      )
      const response = yield* http.execute(
        HttpClientRequest.put(`${server.url}/upload`).pipe(HttpClientRequest.bodyStream(slow, { contentLength: 3000 }))
      )
      expect(response.status).toBe(201)
      expect((yield* server.requests)[0]!.bodyLength).toBe(3000)
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)))

  it.live("an upload from a Node stream (a raw body) that keeps moving is not cut by the headers timeout", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.respond("/upload", [{ status: 201 }])
      const http = yield* client(Timeouts.withTimeouts(
        RegistryPolicy.make({ timeouts: { headers: Duration.millis(300) } }).timeouts
      ))
      let pushed = 0
      const slow = new Readable({
        read() {
          setTimeout(() => this.push(pushed++ < 10 ? Buffer.alloc(300) : null), 100)
        }
      })
      const response = yield* http.execute(
        HttpClientRequest.put(`${server.url}/upload`).pipe(
          HttpClientRequest.setBody(
            HttpBody.raw(slow, { contentType: "application/octet-stream", contentLength: 3000 })
          )
        )
      )
      expect(response.status).toBe(201)
      expect((yield* server.requests)[0]!.bodyLength).toBe(3000)
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a slow but moving body is not cut, even when it takes longer than the idle timeout in all", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.respond("/slow", [{ status: 200, body: "y".repeat(200), slowBody: { chunk: 20, everyMillis: 60 } }])
      const http = yield* client(
        Timeouts.withTimeouts(RegistryPolicy.make({ timeouts: { bodyIdle: Duration.millis(300) } }).timeouts)
      )
      const text = yield* Effect.flatMap(http.get(`${server.url}/slow`), (response) => response.text)
      expect(text).toBe("y".repeat(200))
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a consumer slower than the idle timeout does not make a fast body time out", () =>
    Effect.gen(function*() {
      const size = 8 * 1024 * 1024 // more than the read-ahead and the socket buffers hold
      const server = yield* FaultServer.make()
      yield* server.respond("/big", [{ status: 200, body: "z".repeat(size) }])
      const http = yield* client(
        Timeouts.withTimeouts(RegistryPolicy.make({ timeouts: { bodyIdle: Duration.millis(100) } }).timeouts)
      )
      const response = yield* http.get(`${server.url}/big`)
      let chunks = 0
      let received = 0
      yield* Stream.runForEachChunk(response.stream, (chunk) =>
        Effect.gen(function*() {
          for (const bytes of chunk) received += bytes.length
          // The first chunks wait on the consumer for longer than the idle timeout.
          if (chunks++ < 3) yield* Effect.sleep("250 millis")
        }))
      expect(received).toBe(size)
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)))

  it.effect("headers that never come fail with NetworkTimeout (headers); a deadline bounds an operation", () =>
    Effect.gen(function*() {
      const never = HttpClient.make(() => Effect.never)
      const http = Timeouts.withTimeouts()(never)
      const fiber = yield* typed(http.get("http://registry.example/v2/")).pipe(Effect.fork)
      yield* TestClock.adjust("30 seconds")
      const error = yield* Fiber.join(fiber)
      expect(error._tag).toBe("NetworkTimeout")
      expect(error.message).toContain("(headers)")
      const bounded = yield* Effect.never.pipe(
        Timeouts.deadline("5 seconds", { method: "GET", url: "http://registry.example/v2/" }),
        Effect.flip,
        Effect.fork
      )
      yield* TestClock.adjust("5 seconds")
      expect((yield* Fiber.join(bounded)).message).toContain("(deadline)")
    }))

  it.effect("per-call settings come from the context's RegistryPolicy", () =>
    Effect.gen(function*() {
      const never = HttpClient.make(() => Effect.never)
      const http = Timeouts.withTimeouts()(never)
      const fiber = yield* typed(http.get("http://registry.example/v2/")).pipe(
        Effect.provideService(
          RegistryPolicy.RegistryPolicy,
          RegistryPolicy.make({ timeouts: { headers: Duration.seconds(2) } })
        ),
        Effect.fork
      )
      yield* TestClock.adjust("2 seconds")
      expect((yield* Fiber.join(fiber))._tag).toBe("NetworkTimeout")
    }))
})
