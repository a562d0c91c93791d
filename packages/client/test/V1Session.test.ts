import * as V1Session from "@dockside/client/V1Session"
import * as V1Transport from "@dockside/client/V1Transport"
import * as V1Registry from "@dockside/testing/V1Registry"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import { createServer } from "node:http"
import { gunzipSync } from "node:zlib"

const base = V1Registry.seed.baseImage
const child = V1Registry.seed.childImage

/**
 * A session against a fresh registry. The Go mock accepted a preset `fake-token`; this
 * registry wants tokens it issued, so the session first asks the index for foo42/bar as a
 * pull does (standalone registries need no token).
 */
const setup = (options: V1Registry.Options = {}, session: Partial<V1Session.Options> = {}) =>
  Effect.gen(function*() {
    const registry = yield* V1Registry.make(options)
    const v1 = yield* V1Session.make({ index: registry.indexAddress, userAgent: "docker test client", ...session })
    if (options.standalone !== true) yield* v1.getRepositoryData("foo42/bar")
    yield* registry.clearRequests
    return { registry, v1, reg: registry.indexAddress }
  })

const collect = <E>(stream: Stream.Stream<Uint8Array, E>) =>
  Effect.map(Stream.runCollect(stream), (chunks) => Buffer.concat([...chunks]))

/** A minimal legacy image: id = sha256 of something, JSON bytes, an uncompressed layer tar. */
const makeImage = (seed: string, parent?: string) => {
  const id = createHash("sha256").update(seed).digest("hex")
  const json = Buffer.from(JSON.stringify({ id, ...(parent ? { parent } : {}), created: "2017-03-01T00:00:00Z" }))
  const header = Buffer.alloc(512)
  header.write(`${seed}.txt`, 0)
  header.write("0000644\0", 100)
  header.write("0000000\0", 108)
  header.write("0000000\0", 116)
  header.write("00000000005\0", 124)
  header.write("00000000000\0", 136)
  header.write("0", 156)
  header.write("ustar\u000000", 257)
  header.fill(0x20, 148, 156)
  header.write(`${header.reduce((a, c) => a + c, 0).toString(8).padStart(6, "0")}\0 `, 148)
  const data = Buffer.alloc(512)
  data.write("hello")
  return { id, json, layer: Buffer.concat([header, data, Buffer.alloc(1024)]) }
}

describe("V1Session against V1Registry (registry_test.go, spec §10.4)", () => {
  it.scoped("ping: standalone registry, not standalone, the official index without network", () =>
    Effect.gen(function*() {
      const standalone = yield* V1Registry.make({ standalone: true })
      expect((yield* V1Session.ping(standalone.indexAddress)).standalone).toBe(true)
      const index = yield* V1Registry.make()
      expect((yield* V1Session.ping(index.url)).standalone).toBe(false)
      expect(yield* V1Session.ping("https://index.docker.io/v1/")).toEqual({ version: "", standalone: false })
      expect((yield* Effect.flip(V1Session.ping("http://0.0.0.0:5000/v2/")))._tag).toBe("InvalidEndpoint")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("a private https index is pinged first: when the ping fails, no session (spec §3.1)", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(V1Session.make({ index: "https://127.0.0.1:1" }))
      expect(error._tag).toBe("ConnectionFailed")
      // http indexes are never pinged: the session opens without any request.
      const session = yield* V1Session.make({ index: "http://127.0.0.1:1" })
      expect(session.index).toBe("http://127.0.0.1:1/v1/")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("history, lookup, image JSON with X-Docker-Size, layer, tags", () =>
    Effect.gen(function*() {
      const { registry, v1, reg } = yield* setup()
      expect(yield* v1.getRemoteHistory(child, reg)).toEqual([child, base])
      yield* v1.lookupRemoteImage(child, reg)
      const missing = yield* Effect.flip(v1.lookupRemoteImage("abcdef", reg))
      expect(missing._tag).toBe("HttpStatusError")
      const json = yield* v1.getRemoteImageJson(child, reg)
      expect(json.size).toBe(154)
      expect(json.json.length).toBeGreaterThan(0)
      const stored = Option.getOrThrow(yield* registry.image(child))
      expect(Buffer.compare(json.json, stored.json)).toBe(0)
      expect((yield* Effect.flip(v1.getRemoteImageJson("abcdef", reg)))._tag).toBe("HttpStatusError")
      const layer = yield* collect(v1.getRemoteImageLayer(child, reg, 0))
      expect(Buffer.compare(layer, Option.getOrThrow(yield* registry.layerBytes(child)))).toBe(0)
      expect((yield* Effect.flip(Stream.runDrain(v1.getRemoteImageLayer("abcdef", reg, 0))))._tag).toBe(
        "HttpStatusError"
      )
      expect(yield* v1.getRemoteTag([reg], "foo42/bar", "test")).toBe(child)
      expect(yield* v1.getRemoteTags([reg], "foo42/bar")).toEqual({ latest: child, test: child })
      // Tokens are per repository here, so ask a standalone registry (no tokens) for foo42/baz.
      const open = yield* setup({ standalone: true })
      const notFound = yield* Effect.flip(open.v1.getRemoteTag([open.reg], "foo42/baz", "foo"))
      expect(notFound.message).toBe("Repository not found")
      expect((yield* Effect.flip(open.v1.getRemoteTags([open.reg], "foo42/baz"))).message).toBe("Repository not found")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("repository data: images and the X-Docker-Endpoints list (mock vector)", () =>
    Effect.gen(function*() {
      const { registry, v1 } = yield* setup({ endpointsHeader: (host) => `${host} \t,  test.example.com ` })
      const data = yield* v1.getRepositoryData("foo42/bar")
      expect(data.imgList.size).toBe(2)
      expect(data.endpoints).toEqual([`http://${registry.host}/v1/`, "http://test.example.com/v1/"])
      const error = yield* Effect.flip(v1.getRepositoryData("nobody/nothing"))
      expect(error._tag).toBe("NotFound")
      expect(error.message).toBe("image nobody/nothing not found")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("search: fakequery finds star_count 42; the limit is checked before any I/O", () =>
    Effect.gen(function*() {
      const { registry, v1 } = yield* setup()
      const results = yield* v1.searchRepositories("fakequery", 25)
      expect(results.numResults).toBe(1)
      expect(results.query).toBe("fakequery")
      expect(results.results[0]!.starCount).toBe(42)
      yield* registry.clearRequests
      for (const limit of [0, 101]) {
        const error = yield* Effect.flip(v1.searchRepositories("x", limit))
        expect(error.message).toContain(`Limit ${limit} is outside the range of [1, 100]`)
      }
      expect(yield* registry.requests).toEqual([])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})

describe("V1Session push (spec §4.8–§4.12) and pull back", () => {
  it.scoped("index PUT, json, layer (TarSum + payload checksum), checksum, tag, final index PUT", () =>
    Effect.gen(function*() {
      const { registry, v1 } = yield* setup()
      const root = makeImage("root")
      const top = makeImage("top", root.id)
      const start = yield* v1.pushImageJsonIndex("me/app", [{ id: root.id }, { id: top.id, tag: "v1" }], false)
      expect(start.endpoints).toEqual([`http://${registry.host}/v1/`])
      const token = yield* Ref.get(v1.tokens)
      expect(token).toHaveLength(1)
      const reg = start.endpoints[0]!
      for (const image of [root, top]) {
        yield* v1.pushImageJson({ id: image.id }, image.json, reg)
        const pushed = yield* v1.pushImageLayer(image.id, Stream.make(image.layer), reg, image.json)
        expect(pushed.checksum).toMatch(/^tarsum\+sha256:[0-9a-f]{64}$/)
        yield* v1.pushImageChecksum({
          id: image.id,
          checksum: pushed.checksum,
          checksumPayload: pushed.checksumPayload
        }, reg)
        const stored = Option.getOrThrow(yield* registry.image(image.id))
        expect(stored.checksumPayload).toBe(pushed.checksumPayload)
        expect(stored.checksum).toBe(pushed.checksum)
        // What was uploaded is the gzip of the archive, which here flows through unchanged.
        expect(Buffer.compare(gunzipSync(Option.getOrThrow(yield* registry.layerBytes(image.id))), image.layer)).toBe(0)
      }
      yield* v1.pushRegistryTag("me/app", top.id, "v1", reg)
      yield* v1.pushImageJsonIndex("me/app", [{ id: top.id, tag: "v1", checksum: "tarsum+sha256:x" }], true, [reg])
      const registryCalls = (yield* registry.requests).filter((r) => r.path.startsWith("/v1/images/"))
      expect(registryCalls.every((r) => r.headers["authorization"] === `Token ${token[0]}`)).toBe(true)
      expect(registryCalls.every((r) => r.headers["user-agent"] === "docker test client")).toBe(true)

      // Pull back in a new session, as `docker pull` would: repository data first (read token).
      const puller = yield* V1Session.make({ index: registry.indexAddress })
      const data = yield* puller.getRepositoryData("me/app")
      expect([...data.imgList.keys()].sort()).toEqual([root.id, top.id].sort())
      expect(yield* puller.getRemoteTags([reg], "me/app")).toEqual({ v1: top.id })
      expect(yield* puller.getRemoteHistory(top.id, reg)).toEqual([top.id, root.id])
      const json = yield* puller.getRemoteImageJson(top.id, reg)
      expect(Buffer.compare(json.json, top.json)).toBe(0)

      const again = yield* Effect.flip(v1.pushImageJson({ id: root.id }, root.json, reg))
      expect(again._tag).toBe("AlreadyExists")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("an empty layer uploads the gzip of 1024 zero bytes with the empty TarSum", () =>
    Effect.gen(function*() {
      const { registry, v1, reg } = yield* setup()
      const image = makeImage("empty")
      yield* v1.pushImageJsonIndex("me/empty", [{ id: image.id, tag: "latest" }], false)
      yield* v1.pushImageJson({ id: image.id }, image.json, reg)
      const pushed = yield* v1.pushImageLayer(image.id, Stream.empty, reg, new Uint8Array(0))
      const sent = Option.getOrThrow(yield* registry.layerBytes(image.id))
      expect(Buffer.compare(gunzipSync(sent), Buffer.alloc(1024))).toBe(0)
      expect(pushed.checksum).toBe("tarsum+sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
      expect(pushed.checksumPayload).toBe(`sha256:${createHash("sha256").update("\n").update(sent).digest("hex")}`)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("a wrong payload checksum is refused; a corrupt layer fails with CorruptArchive", () =>
    Effect.gen(function*() {
      const { v1, reg } = yield* setup()
      const image = makeImage("bad")
      yield* v1.pushImageJsonIndex("me/bad", [{ id: image.id, tag: "latest" }], false)
      yield* v1.pushImageJson({ id: image.id }, image.json, reg)
      const pushed = yield* v1.pushImageLayer(image.id, Stream.make(image.layer), reg, image.json)
      const mismatch = yield* Effect.flip(
        v1.pushImageChecksum(
          { id: image.id, checksum: pushed.checksum, checksumPayload: `sha256:${"0".repeat(64)}` },
          reg
        )
      )
      expect(mismatch._tag).toBe("HttpStatusError")
      expect(mismatch.message).toContain("HTTP code 400 while uploading metadata")
      const other = makeImage("other")
      yield* v1.pushImageJson({ id: other.id }, other.json, reg)
      const corrupt = yield* Effect.flip(
        v1.pushImageLayer(other.id, Stream.make(Buffer.alloc(700, 0x41)), reg, other.json)
      )
      expect(corrupt._tag).toBe("CorruptArchive")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})

describe("V1Session errors and session auth (spec §3, §6)", () => {
  it.scoped("status errors keep Docker's messages and the status", () =>
    Effect.gen(function*() {
      const { registry, v1, reg } = yield* setup()
      yield* registry.failNext(1, 500)
      const history = yield* Effect.flip(v1.getRemoteHistory(child, reg))
      expect(history._tag).toBe("HttpStatusError")
      if (history._tag === "HttpStatusError") expect(history.status).toBe(500)
      expect(history.message).toContain(`Server error: 500 trying to fetch remote history for ${child}`)
      yield* registry.failNext(1, 503)
      expect((yield* Effect.flip(v1.getRepositoryData("foo42/bar"))).message).toContain(
        "Error: Status 503 trying to pull repository foo42/bar"
      )
      yield* registry.failNext(1, 500)
      expect((yield* Effect.flip(v1.pushRegistryTag("foo42/bar", child, "x", reg))).message).toContain(
        "Internal server error: 500 trying to push tag x on foo42/bar"
      )
      // Every registry answers 500: the tag loop reports that none could be reached.
      yield* registry.failNext(2, 500)
      const none = yield* Effect.flip(v1.getRemoteTag([reg, reg], "foo42/bar", "test"))
      expect(none.message).toContain("Could not reach any registry endpoint")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("Basic for token-requesting calls when a username is known, then Token on registry calls", () =>
    Effect.gen(function*() {
      const credentials = { username: "alice", password: Redacted.make("s3cret") }
      const { registry, v1, reg } = yield* setup({ basicAuth: { username: "alice", password: "s3cret" } }, {
        credentials
      })
      yield* v1.getRepositoryData("foo42/bar")
      yield* v1.getRemoteHistory(child, reg)
      const [index, history] = yield* registry.requests
      expect(index!.headers["authorization"]).toBe(`Basic ${Buffer.from("alice:s3cret").toString("base64")}`)
      expect(index!.headers["x-docker-token"]).toBe("true")
      const issued = yield* registry.tokens
      expect(history!.headers["authorization"]).toBe(`Token ${issued.at(-1)!.value}`)

      const wrong = yield* V1Session.make({
        index: registry.indexAddress,
        credentials: { username: "alice", password: Redacted.make("nope") }
      })
      const error = yield* Effect.flip(wrong.getRepositoryData("foo42/bar"))
      expect(error._tag).toBe("LoginRequired")
      expect(error.message).toBe("unauthorized: authentication required")
      expect(error.message).not.toContain("nope")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("a redirect hop to another origin carries neither Authorization nor cookies", () =>
    Effect.gen(function*() {
      const { registry, v1 } = yield* setup()
      const seen: Array<Record<string, string | Array<string> | undefined>> = []
      const front = createServer((req, res) => {
        seen.push(req.headers)
        // A different origin for the same registry: localhost instead of 127.0.0.1.
        res.writeHead(302, {
          location: `http://localhost:${registry.host.split(":")[1]}${req.url}`,
          "set-cookie": "s=1"
        })
        res.end("moved")
      })
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => void front.listen(0, "127.0.0.1", () => resume(Effect.void))),
        () => Effect.sync(() => front.close())
      )
      const port = (front.address() as { port: number }).port
      const [token] = yield* Ref.get(v1.tokens)
      // The registry behind the hop never sees the token, so it refuses the call.
      const refused = yield* Effect.flip(v1.getRemoteHistory(child, `http://127.0.0.1:${port}/v1/`))
      expect(refused._tag).toBe("LoginRequired")
      expect(seen[0]!["authorization"]).toBe(`Token ${token}`)
      const hop = (yield* registry.requests).at(-1)!
      expect(hop.path).toBe(`/v1/images/${child}/ancestry`)
      expect(hop.headers["authorization"]).toBeUndefined()
      expect(hop.headers["cookie"]).toBeUndefined()
      expect(hop.headers["referer"]).toBe(`http://127.0.0.1:${port}/v1/images/${child}/ancestry`)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("a redirect loop ends in TooManyRedirects", () =>
    Effect.gen(function*() {
      const v1 = yield* V1Session.make({ index: "http://127.0.0.1:1/v1/" })
      const loop = createServer((req, res) => {
        res.writeHead(302, { location: req.url ?? "/" })
        res.end()
      })
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => void loop.listen(0, "127.0.0.1", () => resume(Effect.void))),
        () => Effect.sync(() => loop.close())
      )
      const port = (loop.address() as { port: number }).port
      const error = yield* Effect.flip(v1.getRemoteHistory(child, `http://127.0.0.1:${port}/v1/`))
      expect(error._tag).toBe("TooManyRedirects")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})

describe("V1Session layer download resume (spec §4.7)", () => {
  it.scoped("a cut layer body resumes with Range and the bytes are identical", () =>
    Effect.gen(function*() {
      const { registry, v1, reg } = yield* setup({ standalone: true }, { layerResume: { delay: 0 } })
      const big = makeImage("big")
      const layer = Buffer.concat([big.layer.subarray(0, 512), Buffer.alloc(300_000, 7)])
      yield* registry.addImage(big.json, layer)
      const { size } = yield* v1.getRemoteImageJson(big.id, reg)
      expect(size).toBe(layer.length)
      yield* registry.cutLayerAfter(100_000, 2)
      const bytes = yield* collect(v1.getRemoteImageLayer(big.id, reg, size))
      expect(Buffer.compare(bytes, layer)).toBe(0)
      const ranges = (yield* registry.requests).filter((r) => r.path.endsWith("/layer")).map((r) => r.headers["range"])
      expect(ranges).toEqual([undefined, "bytes=100000-", "bytes=200000-"])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("without range support (or size -1) a cut body is an error, not a short layer", () =>
    Effect.gen(function*() {
      const { registry, v1, reg } = yield* setup({ rangeSupport: false, standalone: true }, {
        layerResume: { delay: 0 }
      })
      const big = makeImage("big2")
      const layer = Buffer.concat([big.layer.subarray(0, 512), Buffer.alloc(300_000, 7)])
      yield* registry.addImage(big.json, layer)
      yield* registry.cutLayerAfter(100_000)
      const error = yield* Effect.flip(Stream.runDrain(v1.getRemoteImageLayer(big.id, reg, layer.length)))
      expect(error._tag).toBe("ConnectionFailed")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})

describe("V1Session login (spec §8)", () => {
  it.scoped("GET users/ with Basic: success, wrong password; register-first creates then logs in", () =>
    Effect.gen(function*() {
      const registry = yield* V1Registry.make({ basicAuth: { username: "alice", password: "s3cret" } })
      const ok = yield* V1Session.login({ address: registry.url, username: "alice", password: Redacted.make("s3cret") })
      expect(ok.status).toBe("Login Succeeded")
      const wrong = yield* Effect.flip(
        V1Session.login({ address: registry.url, username: "alice", password: Redacted.make("nope") })
      )
      expect(wrong.message).toBe("unauthorized: Wrong login/password, please try again")
      const open = yield* V1Registry.make()
      const created = yield* V1Session.login({
        address: open.url,
        username: "bob_1",
        password: Redacted.make("hunter22"),
        email: "bob@example.com",
        mode: "register-first"
      })
      expect(created.status).toBe("Account created")
      // The account exists now: registration says so and the login GET follows.
      const again = yield* V1Session.login({
        address: open.url,
        username: "bob_1",
        password: Redacted.make("hunter22"),
        email: "bob@example.com",
        mode: "register-first"
      })
      expect(again.status).toBe("Login Succeeded")
      const [post] = (yield* open.requests).filter((r) => r.method === "POST")
      expect(post!.path).toBe("/v1/users/")
      expect(post!.headers["content-type"]).toBe("application/json; charset=utf-8")
      const badName = yield* Effect.flip(
        V1Session.login({
          address: open.url,
          username: "x",
          password: Redacted.make("hunter22"),
          mode: "register-first"
        })
      )
      expect(badName.message).toContain("Registration")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("credentials never go to a plain-http host that is not loopback or insecure", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        V1Session.login({ address: "http://registry.example.com", username: "a", password: Redacted.make("p") })
      )
      expect(error._tag).toBe("InsecureAuthRefused")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})

describe("V1Session more error rows (spec §4, §6)", () => {
  it.scoped("401 on a JSON PUT to an http registry is InsecureAuthRefused; 401 on history is LoginRequired", () =>
    Effect.gen(function*() {
      const registry = yield* V1Registry.make()
      const v1 = yield* V1Session.make({ index: registry.indexAddress })
      const image = makeImage("refused")
      const refused = yield* Effect.flip(v1.pushImageJson({ id: image.id }, image.json, registry.indexAddress))
      expect(refused._tag).toBe("InsecureAuthRefused")
      expect(refused.message).toContain("Docker will not send auth headers over HTTP.")
      const history = yield* Effect.flip(v1.getRemoteHistory(child, registry.indexAddress))
      expect(history._tag).toBe("LoginRequired")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("delete a tag, then the repository; deleting again is NotFound", () =>
    Effect.gen(function*() {
      const { registry, v1, reg } = yield* setup({ standalone: true })
      yield* v1.deleteRepositoryTag("foo42/bar", "test", reg)
      expect(Option.getOrThrow(yield* registry.tags("foo42/bar"))).toEqual({ latest: child })
      expect((yield* Effect.flip(v1.deleteRepositoryTag("foo42/bar", "test", reg)))._tag).toBe("NotFound")
      yield* v1.deleteRepository("foo42/bar", reg)
      expect(Option.isNone(yield* registry.tags("foo42/bar"))).toBe(true)
      expect((yield* Effect.flip(v1.deleteRepository("foo42/bar", reg)))._tag).toBe("NotFound")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("on a registry that issues tokens, deletes need the index's delete step first", () =>
    Effect.gen(function*() {
      const { registry, v1, reg } = yield* setup()
      expect((yield* Effect.flip(v1.deleteRepositoryTag("foo42/bar", "test", reg)))._tag).toBe("LoginRequired")
      const endpoints = yield* v1.authorizeDelete("foo42/bar")
      expect(endpoints).toEqual([`http://${registry.host}/v1/`])
      expect(Option.isSome(yield* registry.tags("foo42/bar"))).toBe(true) // the index step deletes nothing
      yield* v1.deleteRepositoryTag("foo42/bar", "test", reg)
      expect(Option.getOrThrow(yield* registry.tags("foo42/bar"))).toEqual({ latest: child })
      expect((yield* Effect.flip(v1.authorizeDelete("nobody/here")))._tag).toBe("NotFound")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("standalone https behaviour: Basic on every request and no token logic", () =>
    Effect.gen(function*() {
      // The https ping that switches it on needs TLS; the transport mode itself is shown on http.
      const registry = yield* V1Registry.make({
        standalone: true,
        basicAuth: { username: "alice", password: "s3cret" }
      })
      const transport = yield* V1Transport.make({
        alwaysBasic: true,
        credentials: { username: "alice", password: Redacted.make("s3cret") }
      })
      for (const path of ["images/" + child + "/ancestry", "repositories/foo42/bar/tags"]) {
        const response = yield* transport.execute(HttpClientRequest.get(`${registry.indexAddress}${path}`))
        expect(response.status).toBe(200)
        yield* response.text
      }
      const sent = (yield* registry.requests).map((r) => r.headers["authorization"])
      expect(sent).toEqual([
        `Basic ${Buffer.from("alice:s3cret").toString("base64")}`,
        `Basic ${Buffer.from("alice:s3cret").toString("base64")}`
      ])
      expect(yield* Ref.get(transport.tokens)).toEqual([])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  type Route = { status?: number; body?: string; headers?: Record<string, string> }
  const received: Array<string> = []
  const scripted = (answer: (url: string, method: string) => Route) =>
    Effect.acquireRelease(
      Effect.async<{ url: string; close: () => void }>((resume) => {
        const server = createServer((req, res) => {
          const body: Array<Buffer> = []
          req.on("data", (chunk: Buffer) => body.push(chunk))
          req.on("end", () => {
            received.push(`${req.method} ${req.url} ${Buffer.concat(body).toString("utf8")}`)
            const route = answer(req.url ?? "", req.method ?? "")
            res.writeHead(route.status ?? 200, route.headers ?? {})
            res.end(route.body ?? "")
          })
        })
        server.listen(0, "127.0.0.1", () =>
          resume(Effect.succeed({
            url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
            close: () => server.close()
          })))
      }),
      (server) => Effect.sync(() => server.close())
    )

  it.scoped("index PUT: a 307 is followed with the same body, a 300 is refused, missing endpoints and a non-204 final PUT fail", () =>
    Effect.gen(function*() {
      let hops = 0
      const server = yield* scripted((url) => {
        if (url === "/v1/repositories/me/app/") {
          hops++
          return { status: 307, headers: { location: "/v1/repositories/me/app/moved" } }
        }
        if (url === "/v1/repositories/me/app/moved") {
          return { status: 200, headers: { "x-docker-endpoints": "reg.example:5000" } }
        }
        if (url === "/v1/repositories/no/endpoints/") return { status: 200 }
        if (url === "/v1/repositories/multiple/choices/") return { status: 300, headers: { location: "/elsewhere" } }
        return { status: 500, body: "kaput" }
      })
      const v1 = yield* V1Session.make({ index: server.url })
      received.length = 0
      const data = yield* v1.pushImageJsonIndex("me/app", [{ id: "a".repeat(64) }], false)
      expect(hops).toBe(1)
      expect(received).toEqual([
        `PUT /v1/repositories/me/app/ [{"id":"${"a".repeat(64)}"}]`,
        `PUT /v1/repositories/me/app/moved [{"id":"${"a".repeat(64)}"}]`
      ])
      expect((yield* Effect.flip(v1.pushImageJsonIndex("multiple/choices", [], false)))._tag).toBe("UnexpectedResponse")
      expect(data.endpoints).toEqual(["http://reg.example:5000/v1/"])
      expect((yield* Effect.flip(v1.pushImageJsonIndex("no/endpoints", [], false)))._tag).toBe("MissingEndpoints")
      const final = yield* Effect.flip(v1.pushImageJsonIndex("me/app", [], true, ["http://reg/v1/"]))
      expect(final.message).toContain("Error: Status 500 trying to push checksums me/app")
      expect(final.message).toContain("kaput")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("an X-Docker-Size that is not a number fails the JSON call; a missing one is -1", () =>
    Effect.gen(function*() {
      const server = yield* scripted((url) =>
        url.startsWith("/v1/images/a") ? { body: "{}", headers: { "x-docker-size": "12abc" } } : { body: "{}" }
      )
      const v1 = yield* V1Session.make({ index: server.url })
      const error = yield* Effect.flip(v1.getRemoteImageJson("a".repeat(64), `${server.url}/v1/`))
      expect(error._tag).toBe("UnexpectedResponse")
      expect((yield* v1.getRemoteImageJson("b".repeat(64), `${server.url}/v1/`)).size).toBe(-1)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})
