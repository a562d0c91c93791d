import * as HttpErrors from "@dockside/client/HttpErrors"
import * as InsecureRegistries from "@dockside/client/InsecureRegistries"
import * as RegistryPolicy from "@dockside/client/RegistryPolicy"
import * as DocksideNode from "@dockside/node/DocksideNode"
import * as FaultServer from "@dockside/testing/FaultServer"
import * as HttpClient from "@effect/platform/HttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer as createHttpServer, type IncomingMessage } from "node:http"
import { createServer } from "node:https"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Duplex } from "node:stream"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "dockside-node-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** An https server on 127.0.0.1 with a self-signed certificate made for the test. */
const httpsServer = Effect.gen(function*() {
  const dir = yield* tempDir
  execFileSync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1",
    "-keyout",
    join(dir, "key.pem"),
    "-out",
    join(dir, "cert.pem")
  ], { stdio: "ignore" })
  const server = createServer(
    { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) },
    (_, res) => {
      res.end("secure hello")
    }
  )
  const port = yield* Effect.acquireRelease(
    Effect.async<number>((resume) =>
      void server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as { port: number }).port)))
    ),
    () => Effect.sync(() => server.close())
  )
  return { url: `https://127.0.0.1:${port}`, ca: join(dir, "cert.pem"), dir }
})

/** A CONNECT proxy on 127.0.0.1 that records the targets it tunnels to. */
const connectProxy = Effect.gen(function*() {
  const tunnels: Array<string> = []
  const proxy = createHttpServer()
  proxy.on("connect", (request: IncomingMessage, client: Duplex, head: Buffer) => {
    tunnels.push(request.url ?? "")
    const [host, port] = (request.url ?? "").split(":")
    const upstream = connect(Number(port), host!, () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n")
      upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    upstream.on("error", () => client.destroy())
    client.on("error", () => upstream.destroy())
  })
  const port = yield* Effect.acquireRelease(
    Effect.async<number>((resume) =>
      void proxy.listen(0, "127.0.0.1", () => resume(Effect.succeed((proxy.address() as { port: number }).port)))
    ),
    () => Effect.sync(() => proxy.close())
  )
  return { port, tunnels }
})

const get = (url: string) =>
  Effect.flatMap(HttpClient.HttpClient, (client) => Effect.flatMap(client.get(url), (response) => response.text))

describe("DocksideNode.layer", () => {
  it.live("N sequential small requests use one keep-alive connection, HEAD requests too", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.respond("/small", [{ status: 200, body: "ok" }])
      yield* Effect.gen(function*() {
        const client = yield* HttpClient.HttpClient
        for (let i = 0; i < 20; i++) {
          expect(yield* get(`${server.url}/small`)).toBe("ok")
          yield* Effect.sleep("1 millis")
        }
        // undici would close the connection after each HEAD (DocksideNode turns that off).
        for (let i = 0; i < 20; i++) {
          expect((yield* client.head(`${server.url}/small`)).status).toBe(200)
          yield* Effect.sleep("1 millis")
        }
      }).pipe(Effect.provide(DocksideNode.layer()))
      expect((yield* server.requests).map((r) => r.method)).toEqual([
        ...Array.from({ length: 20 }, () => "GET"),
        ...Array.from({ length: 20 }, () => "HEAD")
      ])
      expect(yield* server.connections).toBe(1)
    }).pipe(Effect.scoped))

  it.live("the transport policies are on: a 503 is retried", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.respond("/flaky", [{ status: 503 }, { status: 200, body: "second time" }])
      const text = yield* get(`${server.url}/flaky`).pipe(
        Effect.provide(DocksideNode.layer({ policy: { retry: { baseDelay: Duration.millis(1) } } }))
      )
      expect(text).toBe("second time")
      expect((yield* server.requests).length).toBe(2)
    }).pipe(Effect.scoped))

  it.live("TLS: a self-signed certificate is refused unless the host is insecure or its CA is given", () =>
    Effect.gen(function*() {
      const server = yield* httpsServer
      // Certificate failures are not retried: the default policy answers at once.
      const strict = DocksideNode.layer({ loopbackInsecure: false })
      const refused = yield* get(server.url).pipe(Effect.provide(strict), Effect.flip)
      if (refused._tag !== "RequestError" && refused._tag !== "ResponseError") throw refused
      const typed = HttpErrors.fromHttpClientError(refused.request, refused)
      expect(typed._tag).toBe("ConnectionFailed")
      expect(typed.message).toMatch(/self[- ]signed|certificate/i)
      expect(yield* get(server.url).pipe(Effect.provide(DocksideNode.layer()))).toBe("secure hello")
      const named = DocksideNode.layer({ loopbackInsecure: false, insecureRegistries: [new URL(server.url).host] })
      expect(yield* get(server.url).pipe(Effect.provide(named))).toBe("secure hello")
      const withCa = DocksideNode.layer({ loopbackInsecure: false, caFiles: [server.ca] })
      expect(yield* get(server.url).pipe(Effect.provide(withCa))).toBe("secure hello")
      writeFileSync(join(server.dir, "bad.pem"), "not a certificate")
      const bad = yield* get(server.url).pipe(
        Effect.provide(DocksideNode.layer({ caFiles: [join(server.dir, "bad.pem")] })),
        Effect.flip
      )
      expect(bad._tag).toBe("InvalidArgument")
    }).pipe(Effect.scoped))

  it.live("proxies: requests tunnel through HTTPS_PROXY/HTTP_PROXY, hosts in NO_PROXY go direct", () =>
    Effect.gen(function*() {
      const target = yield* FaultServer.make()
      yield* target.respond("/x", [{ status: 200, body: "hello" }])
      const { port: proxyPort, tunnels } = yield* connectProxy
      const proxied = DocksideNode.layer({
        proxy: { httpProxy: `http://127.0.0.1:${proxyPort}`, noProxy: "nothing.example" }
      })
      expect(yield* get(`${target.url}/x`).pipe(Effect.provide(proxied))).toBe("hello")
      expect(tunnels).toEqual([target.host])
      const bypass = DocksideNode.layer({ proxy: { httpProxy: `http://127.0.0.1:${proxyPort}`, noProxy: "127.0.0.1" } })
      expect(yield* get(`${target.url}/x`).pipe(Effect.provide(bypass))).toBe("hello")
      expect(tunnels).toEqual([target.host])
    }).pipe(Effect.scoped))

  it.live("proxies: through a CONNECT proxy, CA files and insecure hosts still decide the origin's TLS", () =>
    Effect.gen(function*() {
      const server = yield* httpsServer
      const { port: proxyPort, tunnels } = yield* connectProxy
      const host = new URL(server.url).host
      const through = (options: DocksideNode.Options) =>
        DocksideNode.layer({ ...options, proxy: { httpsProxy: `http://127.0.0.1:${proxyPort}` } })

      const withCa = through({ loopbackInsecure: false, caFiles: [server.ca] })
      expect(yield* get(server.url).pipe(Effect.provide(withCa))).toBe("secure hello")
      expect(tunnels).toEqual([host])

      const certificateError = (layer: ReturnType<typeof through>) =>
        Effect.gen(function*() {
          const refused = yield* get(server.url).pipe(Effect.provide(layer), Effect.flip)
          if (refused._tag !== "RequestError" && refused._tag !== "ResponseError") throw refused
          const typed = HttpErrors.fromHttpClientError(refused.request, refused)
          expect(typed._tag).toBe("ConnectionFailed")
          expect(typed.message).toMatch(/self[- ]signed|certificate/i)
        })
      yield* certificateError(through({ loopbackInsecure: false }))
      expect(tunnels).toEqual([host, host])

      const named = through({ loopbackInsecure: false, insecureRegistries: [host] })
      expect(yield* get(server.url).pipe(Effect.provide(named))).toBe("secure hello")
      expect(yield* get(server.url).pipe(Effect.provide(through({})))).toBe("secure hello")
      expect(tunnels).toEqual([host, host, host, host])

      // A name without the port does not cover the host on another port.
      const unported = through({ loopbackInsecure: false, insecureRegistries: ["127.0.0.1"] })
      yield* certificateError(unported)
    }).pipe(Effect.scoped))

  it.scoped("options from the environment; invalid values are typed errors naming the variable", () =>
    Effect.gen(function*() {
      const env = (map: Record<string, string>) =>
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(map))))
      const options = yield* DocksideNode.optionsFromEnv.pipe(env({
        DOCKSIDE_RETRIES: "3",
        DOCKSIDE_TIMEOUT: "5 seconds",
        DOCKSIDE_INSECURE_REGISTRIES: "a.example:5000,b.example",
        https_proxy: "http://proxy.example:3128",
        NO_PROXY: "localhost"
      }))
      expect(options.policy?.retry?.attempts).toBe(3)
      expect(options.policy?.timeouts?.headers).toEqual(Duration.seconds(5))
      expect(options.insecureRegistries).toEqual(["a.example:5000", "b.example"])
      expect(options.proxy).toEqual({
        httpsProxy: "http://proxy.example:3128",
        httpProxy: undefined,
        noProxy: "localhost"
      })
      const bad = yield* Effect.flip(DocksideNode.optionsFromEnv.pipe(env({ DOCKSIDE_RETRIES: "zero" })))
      expect(String(bad)).toContain("DOCKSIDE_RETRIES")
      const low = yield* Effect.flip(DocksideNode.optionsFromEnv.pipe(env({ DOCKSIDE_RETRIES: "0" })))
      expect(String(low)).toContain("must be at least 1")
      const zero = yield* Effect.flip(DocksideNode.optionsFromEnv.pipe(env({ DOCKSIDE_TIMEOUT: "0 seconds" })))
      expect(String(zero)).toContain("Invalid data at DOCKSIDE_TIMEOUT")
      expect(String(zero)).toContain("must be 1 ms or longer")
      expect(RegistryPolicy.make(options.policy ?? {}).retry.attempts).toBe(3)
      // A proxy that is not a URL is refused by name; its value (it may hold a password) is not shown.
      const proxy = yield* Effect.flip(
        DocksideNode.optionsFromEnv.pipe(env({ https_proxy: "http://bob:hunter2@[bad" }))
      )
      expect(String(proxy)).toContain("https_proxy")
      expect(String(proxy)).toContain("must be an http:// or https:// URL")
      // Set but not a URL in upper case: not passed over for the lower case one.
      const upper = yield* Effect.flip(
        DocksideNode.optionsFromEnv.pipe(env({ HTTPS_PROXY: "http://[bad", https_proxy: "http://proxy.example:3128" }))
      )
      expect(String(upper)).toContain("HTTPS_PROXY")
      expect(String(proxy)).not.toContain("hunter2")
      for (const bad of ["http://bob:hunter2@[bad", "http://bob:hunter2#x@proxy.example:3128", "proxy.example:3128"]) {
        const explicit = yield* Effect.flip(
          Effect.scoped(Layer.build(DocksideNode.layer({ proxy: { httpProxy: bad } }))).pipe(env({}))
        )
        expect([bad, explicit._tag]).toEqual([bad, "InvalidArgument"])
        expect(explicit.message).toContain("it is not an http:// or https:// URL")
        expect(explicit.message).not.toContain("hunter2")
      }
      // Without a scheme: refused; set but empty: no proxy, the usual way to switch one off.
      const schemeless = yield* Effect.flip(
        DocksideNode.optionsFromEnv.pipe(env({ HTTPS_PROXY: "proxy.example:3128" }))
      )
      expect(String(schemeless)).toContain("Invalid data at HTTPS_PROXY")
      const off = yield* DocksideNode.optionsFromEnv.pipe(env({ HTTPS_PROXY: "", http_proxy: "" }))
      expect(off.proxy).toEqual({ httpsProxy: undefined, httpProxy: undefined, noProxy: undefined })
      // undici never reads, unchecked, a proxy variable that the options leave out.
      yield* Effect.acquireRelease(
        Effect.sync(() => void (process.env["https_proxy"] = "http://bob:hunter2@[bad")),
        () => Effect.sync(() => void delete process.env["https_proxy"])
      )
      const built = yield* Effect.either(
        Effect.scoped(Layer.build(DocksideNode.layer({ proxy: { httpProxy: "http://127.0.0.1:9" } }))).pipe(env({}))
      )
      expect(built._tag).toBe("Right")
    }))

  it.effect("the layer's insecure registries (the options' and DOCKSIDE_INSECURE_REGISTRIES) are the clients' too", () =>
    Effect.gen(function*() {
      const read = (options: DocksideNode.Options, vars: Record<string, string>) =>
        Effect.scoped(Layer.build(DocksideNode.layer(options))).pipe(
          Effect.map((context) => Context.get(context, InsecureRegistries.InsecureRegistries)),
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(vars))))
        )
      expect(yield* read({ insecureRegistries: ["b.example:5000"] }, { DOCKSIDE_INSECURE_REGISTRIES: "a.example" }))
        .toEqual({ hosts: ["a.example", "b.example:5000"], loopback: true })
      expect(yield* read({ loopbackInsecure: false }, {})).toEqual({ hosts: [], loopback: false })
    }))

  it.scopedLive("the v2 client falls back to plain http for a loopback registry only while the layer counts loopback insecure", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.respond("/v2/", [{ status: 200, body: "{}" }])
      const ping = (options: DocksideNode.Options) =>
        Effect.flatMap(DocksideNode.distribution(), (distribution) => distribution.ping(server.host)).pipe(
          Effect.provide(DocksideNode.layer({ ...options, policy: { retry: { attempts: 1 } } }))
        )
      expect((yield* ping({})).status).toBe(200)
      const refused = yield* Effect.flip(ping({ loopbackInsecure: false }))
      expect(refused._tag).toBe("ConnectionFailed")
      expect(refused.message).toContain(`https://${server.host}/v2/`)
    }))
})
