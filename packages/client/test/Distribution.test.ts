/**
 * Fault and protocol-edge tests of the v2 client (Distribution, V2Auth, V2Flows) against the
 * in-process V2Registry and scripted FaultServers: resumed and redirected downloads, integrity
 * checks, uploads (chunked, 201 PATCH, cancelled sessions), mounts, pagination, referrers, token
 * auth (scopes, single flight, renewal, insufficient scope, identity tokens, realm checks) and
 * Retry-After.
 */
import * as Distribution from "@dockside/client/Distribution"
import * as HttpErrors from "@dockside/client/HttpErrors"
import * as InsecureRegistries from "@dockside/client/InsecureRegistries"
import * as Progress from "@dockside/client/Progress"
import * as RegistryPolicy from "@dockside/client/RegistryPolicy"
import * as Retry from "@dockside/client/Retry"
import * as Timeouts from "@dockside/client/Timeouts"
import * as V2Auth from "@dockside/client/V2Auth"
import * as V2Flows from "@dockside/client/V2Flows"
import * as Identifiers from "@dockside/protocol/Identifiers"
import * as MediaType from "@dockside/protocol/MediaType"
import * as Reference from "@dockside/protocol/Reference"
import * as FaultServer from "@dockside/testing/FaultServer"
import * as OciImages from "@dockside/testing/OciImages"
import * as V2Registry from "@dockside/testing/V2Registry"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import { randomBytes } from "node:crypto"
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync
} from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Recorded from "./support/Recorded.js"

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

const Live = Layer.merge(NodeHttpClient.layerUndici, NodeContext.layer)

const digestOf = (bytes: Uint8Array): Identifiers.Digest => Distribution.digestOf(bytes)

const blobOf = (bytes: Uint8Array): Distribution.BlobRef => ({ digest: digestOf(bytes), size: bytes.length })

const ref = (host: string, name: string) => Effect.orDie(Reference.parse(`${host}/${name}`))

const repo = (host: string, repository: string): Distribution.Repository => ({ registry: host, repository })

const user = { username: "alice", password: "alice-secret" }

/** Basic credentials for every host (so that a leak would show). */
const basicEverywhere: V2Auth.CredentialsLookup = () =>
  Effect.succeed(
    Option.some({ _tag: "Basic" as const, username: user.username, password: Redacted.make(user.password) })
  )

/** Short backoffs for resumes and unit restarts. */
const fastPolicy = RegistryPolicy.make({ retry: { baseDelay: Duration.millis(1), maxDelay: Duration.millis(5) } })

const collectBytes = <E, R>(stream: Stream.Stream<Uint8Array, E, R>) =>
  Effect.map(Stream.runCollect(stream), (chunks) => Buffer.concat(Chunk.toReadonlyArray(chunks)))

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "dockside-dist-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** Store an image's blobs and manifest (tagged) in a V2Registry repository. */
const seed = (registry: V2Registry.Service, repository: string, image: OciImages.TestImage, tag: string) =>
  Effect.gen(function*() {
    for (const blob of [image.config, ...image.layers]) yield* registry.addBlob(repository, blob.bytes)
    return yield* registry.addManifest(repository, image.manifest.bytes, { tag })
  }).pipe(Effect.orDie)

/** Script a FaultServer to serve an image's manifest (by tag) and config. */
const serveImage = (server: FaultServer.Service, name: string, image: OciImages.TestImage, tag: string) =>
  Effect.all([
    server.respond(`/v2/${name}/manifests/${tag}`, [{
      status: 200,
      headers: { "content-type": image.manifest.mediaType },
      body: image.manifest.bytes
    }]),
    server.respond(`/v2/${name}/blobs/${image.config.digest}`, [{ status: 200, body: image.config.bytes }])
  ]).pipe(Effect.orDie)

const bearer = (realm: string, scope: string, extra = "") =>
  `Bearer realm="${realm}",service="fault"${scope === "" ? "" : `,scope="${scope}"`}${extra}`

const scopesOf = (url: string) => new URL(url, "http://x").searchParams.getAll("scope")

const liveSleep = (millis: number) => TestServices.provideLive(Effect.sleep(Duration.millis(millis)))

/** Wait in real time (the test clock stands still) until the log holds `n` requests. */
const seen = (log: Effect.Effect<ReadonlyArray<unknown>>, n: number) =>
  TestServices.provideLive(Effect.gen(function*() {
    for (let i = 0; i < 500; i++) {
      if ((yield* log).length >= n) return
      yield* Effect.sleep("5 millis")
    }
    throw new Error(`the server never saw ${n} requests`)
  }))

/** Wait in real time until some fiber sleeps on the test clock until `millis` from now. */
const sleepingFor = (millis: number) =>
  Effect.gen(function*() {
    const wake = (yield* TestClock.currentTimeMillis) + millis
    for (let i = 0; i < 500; i++) {
      if (Chunk.some(yield* TestClock.sleeps(), (at) => at === wake)) return
      yield* liveSleep(5)
    }
    throw new Error(`nothing ever slept ${millis} ms on the test clock`)
  })

const recorder = Effect.map(Ref.make<ReadonlyArray<Progress.Event>>([]), (events) => ({
  events,
  progress: { publish: (event: Progress.Event) => Ref.update(events, (all) => [...all, event]) }
}))

// ---------------------------------------------------------------------------------------
// Blob downloads
// ---------------------------------------------------------------------------------------

describe("blob downloads", () => {
  it.scopedLive("a dropped download resumes with Range from the byte it reached; bytes identical, digest verified", () =>
    Effect.gen(function*() {
      const registry = yield* V2Registry.make()
      const bytes = randomBytes(100_000)
      const digest = yield* registry.addBlob("team/app", bytes)
      const distribution = yield* Distribution.make()
      yield* registry.cutBlobAfter(30_000, 2)
      const { events, progress } = yield* recorder
      const got = yield* collectBytes(distribution.getBlob(repo(registry.host, "team/app"), blobOf(bytes))).pipe(
        Effect.provideService(Progress.Progress, progress),
        Effect.provideService(RegistryPolicy.RegistryPolicy, fastPolicy)
      )
      expect(Buffer.compare(got, bytes)).toBe(0)
      const gets = (yield* registry.requests).filter((r) => r.path === `/v2/team/app/blobs/${digest}`)
      expect(gets.map((r) => [r.method, r.headers["range"]])).toEqual([
        ["GET", undefined],
        ["GET", "bytes=30000-"],
        ["GET", "bytes=60000-"]
      ])
      const resumed = (yield* Ref.get(events)).flatMap((e) => e._tag === "Resumed" ? [[e.offset, e.attempt]] : [])
      expect(resumed).toEqual([[30_000, 1], [60_000, 2]])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scopedLive("a resume answered 200 instead of 206 is UnexpectedResponse; the pull flow restarts the blob", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const image = OciImages.image("resume-200", [20_000])
      const layer = image.layers[0]!
      const layerPath = `/v2/team/app/blobs/${layer.digest}`
      const script = [{ status: 200, body: layer.bytes, cutAfter: 1000 }, { status: 200, body: layer.bytes }] as const
      yield* serveImage(server, "team/app", image, "v1")
      yield* server.respond(layerPath, script)
      const distribution = yield* Distribution.make()
      const target = yield* ref(server.host, "team/app:v1")

      const error = yield* Effect.flip(
        Stream.runDrain(
          distribution.getBlob(target, { digest: Identifiers.Digest.make(layer.digest), size: layer.size })
        )
      ).pipe(Effect.provideService(RegistryPolicy.RegistryPolicy, fastPolicy))
      expect(error._tag).toBe("UnexpectedResponse")
      if (error._tag === "UnexpectedResponse") {
        expect(error.status).toBe(200)
        expect(error.reason).toContain("asked to resume at byte 1000, got 200")
      }
      expect((yield* server.requests).filter((r) => r.path === layerPath).map((r) => r.headers["range"])).toEqual([
        undefined,
        "bytes=1000-"
      ])

      // The flow restarts the whole blob (cut, refused resume, then a clean download).
      yield* server.respond(layerPath, script)
      yield* server.clearRequests
      const dir = yield* tempDir
      const pulled = yield* V2Flows.pull(distribution, target, dir).pipe(
        Effect.provideService(RegistryPolicy.RegistryPolicy, fastPolicy)
      )
      expect(pulled).toMatchObject({ digest: image.manifest.digest, transferred: 2, skipped: 0 })
      expect((yield* server.requests).filter((r) => r.path === layerPath).map((r) => r.headers["range"])).toEqual([
        undefined,
        "bytes=1000-",
        undefined
      ])
      expect(Buffer.compare(readFileSync(join(dir, "blobs", "sha256", layer.digest.slice(7))), layer.bytes)).toBe(0)
      expect(readdirSync(join(dir, "blobs", "sha256")).filter((name) => name.endsWith(".partial"))).toEqual([])
    }).pipe(Effect.provide(Live)))

  it.scopedLive("an image that lists a layer several times: pull, push and copy move its blob once; pull clears stale partial files", () =>
    Effect.gen(function*() {
      const registry = yield* V2Registry.make()
      const image = OciImages.image("repeated", [3 * 1024 * 1024])
      const layer = image.layers[0]!
      const layerDescriptor = { mediaType: layer.mediaType, digest: layer.digest, size: layer.size }
      const manifest = Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: image.config.mediaType, digest: image.config.digest, size: image.config.size },
        layers: [layerDescriptor, layerDescriptor, layerDescriptor, layerDescriptor]
      }))
      yield* registry.addBlob("team/app", image.config.bytes)
      yield* registry.addBlob("team/app", layer.bytes)
      yield* registry.addManifest("team/app", manifest, { tag: "v1" })
      const distribution = yield* Distribution.make()
      const dir = yield* tempDir
      const moves = (method: string, what: string) =>
        Effect.map(registry.requests, (log) => log.filter((r) => r.method === method && r.path.includes(what)).length)

      // What a pull killed two days ago left behind.
      const leftover = join(dir, "blobs", "sha256", `${layer.digest.slice(7)}.4c1e2d3f4a5b.partial`)
      mkdirSync(join(dir, "blobs", "sha256"), { recursive: true })
      writeFileSync(leftover, "half")
      utimesSync(leftover, new Date(Date.now() - 2 * 86400_000), new Date(Date.now() - 2 * 86400_000))
      const pulled = yield* V2Flows.pull(distribution, yield* ref(registry.host, "team/app:v1"), dir)
      expect(pulled).toMatchObject({ transferred: 2, skipped: 0 })
      expect(existsSync(leftover)).toBe(false)
      expect(yield* moves("GET", `/blobs/${layer.digest}`)).toBe(1)
      expect(readFileSync(join(dir, "blobs", "sha256", layer.digest.slice(7))).equals(layer.bytes)).toBe(true)
      expect(readdirSync(join(dir, "blobs", "sha256")).filter((name) => name.endsWith(".partial"))).toEqual([])

      const pushed = yield* V2Flows.push(distribution, dir, yield* ref(registry.host, "team/pushed:v1"))
      expect(pushed).toMatchObject({ transferred: 2, skipped: 0 })
      expect(yield* moves("PUT", "/team/pushed/blobs/uploads/")).toBe(2)

      const copied = yield* V2Flows.copy(
        distribution,
        yield* ref(registry.host, "team/app:v1"),
        yield* ref(registry.host, "team/copied:v1")
      )
      expect(copied).toMatchObject({ transferred: 0, skipped: 2 })
      expect(yield* moves("POST", "/team/copied/blobs/uploads/")).toBe(2)
      const copiedManifest = yield* distribution.getManifest(yield* ref(registry.host, "team/copied:v1"))
      expect(Buffer.from(copiedManifest.bytes).equals(manifest)).toBe(true)
    }).pipe(Effect.provide(Live)))

  for (const auth of ["basic", "token"] as const) {
    it.scopedLive(`a blob redirected to another origin (${auth} auth): that origin never sees Authorization`, () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make(
          auth === "basic" ? { basicAuth: user } : { tokenAuth: { users: [user] } }
        )
        const storage = yield* FaultServer.make()
        const bytes = randomBytes(50_000)
        const digest = yield* registry.addBlob("team/app", bytes)
        const path = `/v2/team/app/blobs/${digest}`
        // The storage drops the first download; the resume goes through the registry again.
        yield* storage.respond(path, [
          { status: 200, body: bytes, cutAfter: 5000 },
          { status: 200, body: bytes, honourRange: true }
        ])
        yield* registry.redirectBlobsTo(storage.url)
        const distribution = yield* Distribution.make({ credentials: basicEverywhere })
        const got = yield* collectBytes(distribution.getBlob(repo(registry.host, "team/app"), blobOf(bytes))).pipe(
          Effect.provideService(RegistryPolicy.RegistryPolicy, fastPolicy)
        )
        expect(Buffer.compare(got, bytes)).toBe(0)

        const hops = yield* storage.requests
        expect(hops.map((r) => r.headers["range"])).toEqual([undefined, "bytes=5000-"])
        for (const hop of hops) {
          expect(hop.headers["authorization"]).toBeUndefined()
          expect(hop.url).toContain("X-Dockside-Signature=")
        }
        // The registry saw the credentials it earned (after its challenge).
        const asked = (yield* registry.requests).filter((r) => r.path === path)
        expect(asked.at(-1)!.headers["authorization"]).toMatch(auth === "basic" ? /^Basic / : /^Bearer /)
        expect(asked.at(-1)!.headers["range"]).toBe("bytes=5000-")
      }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
  }

  it.scopedLive("wrong bytes are DigestMismatch; too many bytes SizeMismatch while streaming; too few at the end", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const distribution = yield* Distribution.make()
      const target = repo(server.host, "x")
      const expected = randomBytes(4000)
      const served = randomBytes(4000)
      yield* server.respond(`/v2/x/blobs/${digestOf(expected)}`, [{ status: 200, body: served }])
      const mismatch = yield* Effect.flip(Stream.runDrain(distribution.getBlob(target, blobOf(expected))))
      expect(mismatch).toMatchObject({ _tag: "DigestMismatch", expected: digestOf(expected), actual: digestOf(served) })

      // 10 000 bytes for a blob of 1000: the first 2000 arrive at once, the rest a minute later.
      const long = randomBytes(10_000)
      yield* server.respond(`/v2/x/blobs/${digestOf(long)}`, [{
        status: 200,
        body: long,
        slowBody: { chunk: 2000, everyMillis: 60_000 }
      }])
      let emitted = 0
      const tooLong = yield* Effect.flip(Stream.runForEach(
        distribution.getBlob(target, { digest: digestOf(long), size: 1000 }),
        (bytes) => Effect.sync(() => void (emitted += bytes.length))
      ))
      expect(tooLong._tag).toBe("SizeMismatch")
      if (tooLong._tag === "SizeMismatch") {
        expect(tooLong.expected).toBe(1000)
        expect(tooLong.actual).toBeGreaterThan(1000)
        expect(tooLong.actual).toBeLessThanOrEqual(2000)
      }
      expect(emitted).toBeLessThanOrEqual(1000)

      const short = randomBytes(500)
      yield* server.respond(`/v2/x/blobs/${digestOf(short)}`, [{ status: 200, body: short }])
      const tooShort = yield* Effect.flip(
        Stream.runDrain(distribution.getBlob(target, { digest: digestOf(short), size: 1000 }))
      )
      expect(tooShort).toMatchObject({ _tag: "SizeMismatch", expected: 1000, actual: 500 })
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})

// ---------------------------------------------------------------------------------------
// Manifests
// ---------------------------------------------------------------------------------------

describe("manifests", () => {
  it.scopedLive("bytes that differ from the digest asked for, or from Docker-Content-Digest; over 4 MiB", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const distribution = yield* Distribution.make()
      const one = OciImages.image("manifest-one", [100]).manifest
      const other = OciImages.image("manifest-other", [100]).manifest
      const oci = { "content-type": MediaType.OciManifest }

      yield* server.respond(`/v2/x/manifests/${one.digest}`, [{ status: 200, headers: oci, body: other.bytes }])
      const byDigest = yield* Effect.flip(distribution.getManifest(yield* ref(server.host, `x@${one.digest}`)))
      expect(byDigest).toMatchObject({ _tag: "DigestMismatch", expected: one.digest, actual: other.digest })

      yield* server.respond("/v2/x/manifests/v1", [{
        status: 200,
        headers: { ...oci, "docker-content-digest": other.digest },
        body: one.bytes
      }])
      const byHeader = yield* Effect.flip(distribution.getManifest(yield* ref(server.host, "x:v1")))
      expect(byHeader).toMatchObject({ _tag: "DigestMismatch", expected: other.digest, actual: one.digest })

      // A matching header is fine, and the digest is computed from the bytes.
      yield* server.respond("/v2/x/manifests/v2", [{
        status: 200,
        headers: { ...oci, "docker-content-digest": one.digest },
        body: one.bytes
      }])
      const fine = yield* distribution.getManifest(yield* ref(server.host, "x:v2"))
      expect(fine.digest).toBe(one.digest)
      expect(fine.mediaType).toBe(MediaType.OciManifest)

      const limit = Distribution.maxManifestSize
      yield* server.respond("/v2/x/manifests/at-limit", [{ status: 200, headers: oci, body: "a".repeat(limit) }])
      expect((yield* distribution.getManifest(yield* ref(server.host, "x:at-limit"))).bytes.length).toBe(limit)
      yield* server.respond("/v2/x/manifests/big", [{ status: 200, headers: oci, body: "a".repeat(limit + 1) }])
      const big = yield* Effect.flip(distribution.getManifest(yield* ref(server.host, "x:big")))
      expect(big).toMatchObject({ _tag: "BodyTooLarge", limit, method: "GET" })
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})

// ---------------------------------------------------------------------------------------
// Uploads and mounts
// ---------------------------------------------------------------------------------------

describe("uploads", () => {
  it.scopedLive("chunked uploads send chunks of the requested size, and at least OCI-Chunk-Min-Length", () =>
    Effect.gen(function*() {
      const distribution = yield* Distribution.make()
      const patches = (registry: V2Registry.Service) =>
        Effect.map(
          registry.requests,
          (log) => log.filter((r) => r.method === "PATCH").map((r) => r.headers["content-range"])
        )

      // No minimum: 2500 bytes arriving 300 at a time, in chunks of 1024.
      const plain = yield* V2Registry.make()
      const small = randomBytes(2500)
      const pieces = Stream.fromIterable(Array.from({ length: 9 }, (_, i) => small.subarray(i * 300, i * 300 + 300)))
      yield* distribution.uploadBlob(repo(plain.host, "team/app"), blobOf(small), pieces, { chunkSize: 1024 })
      expect(yield* patches(plain)).toEqual(["0-1023", "1024-2047", "2048-2499"])
      expect(Option.map(yield* plain.blobBytes(digestOf(small)), (b) => Buffer.compare(b, small))).toEqual(
        Option.some(0)
      )

      // The registry's minimum (1000) wins over a smaller chunk size (100); one big piece is split.
      const strict = yield* V2Registry.make({ minChunkLength: 1000 })
      const bytes = randomBytes(3500)
      yield* distribution.uploadBlob(repo(strict.host, "team/app"), blobOf(bytes), Stream.make(bytes), {
        chunkSize: 100
      })
      expect(yield* patches(strict)).toEqual(["0-999", "1000-1999", "2000-2999", "3000-3499"])
      const put = (yield* strict.requests).filter((r) => r.method === "PUT")
      expect(put).toHaveLength(1)
      expect(put[0]!.url).toContain(`digest=${encodeURIComponent(digestOf(bytes))}`)
      expect(Option.map(yield* strict.blobBytes(digestOf(bytes)), (b) => Buffer.compare(b, bytes))).toEqual(
        Option.some(0)
      )
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scopedLive("a registry minimum chunk over 64 MiB is refused before any byte is held, and the session closed", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.respond("/v2/x/blobs/uploads/", [{
        status: 202,
        headers: { location: "/v2/x/blobs/uploads/s1", "oci-chunk-min-length": String(2 ** 40) }
      }])
      yield* server.respond("/v2/x/blobs/uploads/s1", [{ status: 204 }])
      const distribution = yield* Distribution.make()
      const bytes = randomBytes(5000)
      const error = yield* Effect.flip(
        distribution.uploadBlob(repo(server.host, "x"), blobOf(bytes), Stream.make(bytes), { chunkSize: 1000 })
      )
      expect(error._tag).toBe("UnexpectedResponse")
      expect(error.message).toContain(`OCI-Chunk-Min-Length ${2 ** 40} is over the 67108864 bytes`)
      expect((yield* server.requests).map((r) => `${r.method} ${r.path}`)).toEqual([
        "POST /v2/x/blobs/uploads/",
        "DELETE /v2/x/blobs/uploads/s1"
      ])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.effect("an upload location over plain http is refused unless its host is insecure, at any hop", () =>
    Effect.gen(function*() {
      const { client: fake, sent } = yield* Recorded.client(() =>
        Effect.succeed(
          new Response(null, {
            status: 202,
            headers: { location: "http://registry.example/v2/x/blobs/uploads/s1?_state=abc" }
          })
        )
      )
      const distribution = yield* Distribution.make().pipe(Effect.provideService(HttpClient.HttpClient, fake))
      const bytes = randomBytes(100)
      const error = yield* Effect.flip(
        distribution.uploadBlob(repo("registry.example", "x"), blobOf(bytes), Stream.make(bytes))
      )
      expect(error._tag).toBe("UnexpectedResponse")
      expect(error.message).toContain(
        "the upload location is not https: http://registry.example/v2/x/blobs/uploads/s1?_state=REDACTED"
      )
      expect(yield* Ref.get(sent)).toEqual(["POST https://registry.example/v2/x/blobs/uploads/"])

      // Not an http(s) URL at all.
      const mailto = yield* Recorded.client(() =>
        Effect.succeed(new Response(null, { status: 202, headers: { location: "mailto:x@registry.example" } }))
      )
      const odd = yield* Distribution.make().pipe(Effect.provideService(HttpClient.HttpClient, mailto.client))
      const notHttp = yield* Effect.flip(
        odd.uploadBlob(repo("registry.example", "x"), blobOf(bytes), Stream.make(bytes))
      )
      expect(notHttp.message).toContain("the upload location is not an http(s) URL")

      // An insecure registry, spoken to over http, whose next location is another host's plain http.
      const insecure = yield* Recorded.client((request) =>
        request.url.startsWith("https:")
          ? Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause: new Error("no TLS") }))
          : Effect.succeed(
            new Response(null, {
              status: request.method === "DELETE" ? 204 : 202,
              headers: {
                location: request.method === "POST"
                  ? "http://lab.example/v2/x/blobs/uploads/s1"
                  : "http://elsewhere.example/v2/x/blobs/uploads/s2"
              }
            })
          )
      )
      const lab = yield* Distribution.make().pipe(
        Effect.provideService(HttpClient.HttpClient, insecure.client),
        Effect.provideService(InsecureRegistries.InsecureRegistries, { hosts: ["lab.example"], loopback: true })
      )
      const chunked = yield* Effect.flip(
        lab.uploadBlob(repo("lab.example", "x"), blobOf(bytes), Stream.make(bytes), { chunkSize: 50 })
      )
      expect(chunked.message).toContain("the upload location is not https: http://elsewhere.example/")
      expect(yield* Ref.get(insecure.sent)).toEqual([
        "GET https://lab.example/v2/",
        "POST http://lab.example/v2/x/blobs/uploads/",
        "PATCH http://lab.example/v2/x/blobs/uploads/s1",
        "DELETE http://lab.example/v2/x/blobs/uploads/s1"
      ])
    }))

  it.scopedLive("a PATCH answered 201 is tolerated: its Location is followed", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.respond("/v2/x/blobs/uploads/", [{ status: 202, headers: { location: "/v2/x/blobs/uploads/s1" } }])
      yield* server.respond("/v2/x/blobs/uploads/s1", [{
        status: 202,
        headers: { location: "/v2/x/blobs/uploads/s2" }
      }])
      yield* server.respond("/v2/x/blobs/uploads/s2", [{
        status: 201,
        headers: { location: "/v2/x/blobs/uploads/s3" }
      }])
      yield* server.respond("/v2/x/blobs/uploads/s3", [{ status: 201 }])
      const distribution = yield* Distribution.make()
      const bytes = randomBytes(2000)
      yield* distribution.uploadBlob(repo(server.host, "x"), blobOf(bytes), Stream.make(bytes), { chunkSize: 1000 })
      expect((yield* server.requests).map((r) => [r.method, r.url, r.headers["content-range"], r.bodyLength])).toEqual(
        [
          ["POST", "/v2/x/blobs/uploads/", undefined, 0],
          ["PATCH", "/v2/x/blobs/uploads/s1", "0-999", 1000],
          ["PATCH", "/v2/x/blobs/uploads/s2", "1000-1999", 1000],
          ["PUT", `/v2/x/blobs/uploads/s3?digest=${encodeURIComponent(digestOf(bytes))}`, undefined, 0]
        ]
      )
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scopedLive("putBlob sends a prepared body in one PUT with the digest; a failed one cancels its session", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.respond("/v2/x/blobs/uploads/", [
        { status: 202, headers: { location: "/v2/x/blobs/uploads/s1" } },
        { status: 202, headers: { location: "/v2/x/blobs/uploads/s2" } }
      ])
      yield* server.respond("/v2/x/blobs/uploads/s1", [{ status: 201 }])
      yield* server.respond("/v2/x/blobs/uploads/s2", [{ status: 500, body: "disk full" }, { status: 204 }])
      const distribution = yield* Distribution.make()
      const bytes = randomBytes(1500)
      yield* distribution.putBlob(repo(server.host, "x"), blobOf(bytes), HttpBody.uint8Array(bytes))
      const error = yield* Effect.flip(
        distribution.putBlob(repo(server.host, "x"), blobOf(bytes), HttpBody.uint8Array(bytes))
      )
      expect(error).toMatchObject({ _tag: "HttpStatusError", status: 500, method: "PUT" })
      const requests = yield* server.requests
      expect(requests.map((r) => `${r.method} ${r.path}`)).toEqual([
        "POST /v2/x/blobs/uploads/",
        "PUT /v2/x/blobs/uploads/s1",
        "POST /v2/x/blobs/uploads/",
        "PUT /v2/x/blobs/uploads/s2",
        "DELETE /v2/x/blobs/uploads/s2"
      ])
      expect(requests[1]!.url).toBe(`/v2/x/blobs/uploads/s1?digest=${encodeURIComponent(digestOf(bytes))}`)
      expect(requests[1]!.bodyLength).toBe(bytes.length)
    }).pipe(Effect.provide(Live)))

  it.scopedLive("a failed upload cancels its session with DELETE <location>", () =>
    Effect.gen(function*() {
      // The final PUT fails (scripted).
      const server = yield* FaultServer.make()
      yield* server.respond("/v2/x/blobs/uploads/", [{ status: 202, headers: { location: "/v2/x/blobs/uploads/s1" } }])
      yield* server.respond("/v2/x/blobs/uploads/s1", [{ status: 500, body: "disk full" }, { status: 204 }])
      const distribution = yield* Distribution.make()
      const bytes = randomBytes(1500)
      const error = yield* Effect.flip(
        distribution.uploadBlob(repo(server.host, "x"), blobOf(bytes), Stream.make(bytes))
      )
      expect(error).toMatchObject({ _tag: "HttpStatusError", status: 500, method: "PUT" })
      expect((yield* server.requests).map((r) => `${r.method} ${r.path}`)).toEqual([
        "POST /v2/x/blobs/uploads/",
        "PUT /v2/x/blobs/uploads/s1",
        "DELETE /v2/x/blobs/uploads/s1"
      ])

      // The content fails after the first chunk (V2Registry): the session is deleted there too.
      const registry = yield* V2Registry.make()
      const failing = Stream.concat(Stream.make(bytes.subarray(0, 1000)), Stream.fail("read error" as const))
      const failed = yield* Effect.flip(
        distribution.uploadBlob(repo(registry.host, "team/app"), blobOf(bytes), failing, { chunkSize: 1000 })
      )
      expect(failed).toBe("read error")
      const log = (yield* registry.requests).map((r) => `${r.method} ${r.path}`)
      expect(log).toHaveLength(3)
      expect(log[0]).toBe("POST /v2/team/app/blobs/uploads/")
      const session = log[1]!.replace(/^PATCH /, "")
      expect(session).toMatch(/^\/v2\/team\/app\/blobs\/uploads\/[0-9a-f-]+$/)
      expect(log[2]).toBe(`DELETE ${session}`)
      expect(yield* registry.blobs).toEqual([])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scopedLive("a monolithic upload whose content fails still cancels the session", () =>
    Effect.gen(function*() {
      const registry = yield* V2Registry.make()
      const distribution = yield* Distribution.make()
      const bytes = randomBytes(1500)
      const failing = Stream.concat(Stream.make(bytes.subarray(0, 1000)), Stream.fail("read error" as const))
      // The content's own error, not the aborted request's.
      const error = yield* Effect.flip(distribution.uploadBlob(repo(registry.host, "team/app"), blobOf(bytes), failing))
      expect(error).toBe("read error")
      // The aborted PUT may reach the server's log after the DELETE.
      yield* seen(registry.requests, 3)
      const log = (yield* registry.requests).map((r) => `${r.method} ${r.path}`)
      expect(log[0]).toBe("POST /v2/team/app/blobs/uploads/")
      const session = log.find((line) => line.startsWith("DELETE "))!.replace(/^DELETE /, "")
      expect(session).toMatch(/^\/v2\/team\/app\/blobs\/uploads\/[0-9a-f-]+$/)
      expect(log.slice(1).sort()).toEqual([`DELETE ${session}`, `PUT ${session}`])
      expect(yield* registry.blobs).toEqual([])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
  it.scopedLive("the registry's reason for refusing an upload, a mount or a ping is in the error, with the URL sent", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const denied = JSON.stringify({
        errors: [{ code: "DENIED", message: "requested access to the resource is denied" }]
      })
      yield* server.respond("/v2/team/app/blobs/uploads/", [
        { status: 403, body: denied },
        { status: 403, body: denied }
      ])
      yield* server.respond("/v2/", [{ status: 503, body: "down for maintenance" }])
      const distribution = yield* Distribution.make()
      const bytes = randomBytes(100)
      const target = repo(server.host, "team/app")
      const upload = yield* Effect.flip(distribution.uploadBlob(target, blobOf(bytes), Stream.make(bytes)))
      expect(upload.message).toBe("unauthorized: DENIED: requested access to the resource is denied")
      const mount = yield* Effect.flip(distribution.mountBlob(target, blobOf(bytes).digest, "team/base"))
      expect(mount.message).toBe("unauthorized: DENIED: requested access to the resource is denied")
      const ping = yield* Effect.flip(distribution.ping(server.host))
      expect(ping.message).toContain("down for maintenance")
      // The URL as it was sent: over plain http, the insecure host's scheme.
      expect(ping.message).toContain(`(GET http://${server.host}/v2/ → HTTP 503)`)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scopedLive("an interrupted upload (monolithic, chunked, of a prepared body) still cancels its session", () =>
    Effect.gen(function*() {
      const registry = yield* V2Registry.make()
      const distribution = yield* Distribution.make()
      const bytes = randomBytes(3000)
      const stalled = Stream.concat(Stream.make(bytes.subarray(0, 2000)), Stream.never)
      const target = repo(registry.host, "team/app")
      const uploads = [
        distribution.uploadBlob(target, blobOf(bytes), stalled),
        distribution.uploadBlob(target, blobOf(bytes), stalled, { chunkSize: 1000 }),
        distribution.putBlob(target, blobOf(bytes), HttpBody.stream(stalled, "application/octet-stream", bytes.length))
      ]
      for (const upload of uploads) {
        yield* registry.clearRequests
        // A caller that gives up on a stalled upload interrupts it.
        const outcome = yield* Effect.either(upload.pipe(Effect.timeout("300 millis")))
        expect(outcome._tag).toBe("Left")
        yield* seen(
          Effect.map(registry.requests, (log) => log.filter((r) => r.method === "DELETE")),
          1
        )
        const log = (yield* registry.requests).map((r) => `${r.method} ${r.path}`)
        const deleted = log.find((line) => line.startsWith("DELETE "))!.replace(/^DELETE /, "")
        expect(deleted).toMatch(/^\/v2\/team\/app\/blobs\/uploads\/[0-9a-f-]+$/)
        expect(log[0]).toBe("POST /v2/team/app/blobs/uploads/")
      }
      expect(yield* registry.blobs).toEqual([])
    }).pipe(
      // With the runtime's timeouts, whose timers a cancel run as a plain finalizer could not stop.
      Effect.provide(Layer.effect(HttpClient.HttpClient, Effect.map(HttpClient.HttpClient, Timeouts.withTimeouts()))),
      Effect.provide(NodeHttpClient.layerUndici)
    ))
})

describe("mounts", () => {
  it.scopedLive("a copy within one registry mounts every blob (201), with pull on the source in the token", () =>
    Effect.gen(function*() {
      const registry = yield* V2Registry.make({ tokenAuth: { users: [user] } })
      const image = OciImages.image("mount", [3000])
      yield* seed(registry, "team/app", image, "v1")
      const distribution = yield* Distribution.make({ credentials: basicEverywhere })
      const copied = yield* V2Flows.copy(
        distribution,
        yield* ref(registry.host, "team/app:v1"),
        yield* ref(registry.host, "other/copy:v1")
      )
      expect(copied).toMatchObject({ digest: image.manifest.digest, transferred: 0, skipped: 2 })
      const log = yield* registry.requests
      const mounts = log.filter((r) => r.method === "POST").map((r) => new URL(r.url, "http://x"))
      // Each mount is asked once with a token (the first one also before the challenge).
      const mounted = new Set(mounts.map((url) => `${url.pathname}?${url.searchParams.toString()}`))
      expect([...mounted].sort()).toEqual(
        [image.config.digest, image.layers[0]!.digest].map((digest) =>
          `/v2/other/copy/blobs/uploads/?${new URLSearchParams({ mount: digest, from: "team/app" }).toString()}`
        ).sort()
      )
      expect(log.filter((r) => r.method === "PATCH" || (r.method === "PUT" && r.path.includes("/uploads/")))).toEqual(
        []
      )
      const blobs = yield* registry.blobs
      for (const blob of blobs) expect(blob.repositories).toEqual(["other/copy", "team/app"])
      const tokens = yield* registry.tokenRequests
      expect(tokens.some((t) =>
        t.scopes.includes("repository:team/app:pull") &&
        t.scopes.includes("repository:other/copy:pull,push")
      )).toBe(true)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scopedLive("a mount the registry answers 202 (source not readable): the session is deleted, then uploaded", () =>
    Effect.gen(function*() {
      const registry = yield* V2Registry.make()
      const bytes = randomBytes(2000)
      const digest = yield* registry.addBlob("team/app", bytes)
      const distribution = yield* Distribution.make()
      const target = repo(registry.host, "other/copy")
      expect(yield* distribution.mountBlob(target, digest, "team/nowhere")).toBe(false)
      const log = yield* registry.requests
      expect(log.map((r) => r.method)).toEqual(["POST", "DELETE"])
      expect(log[0]!.url).toBe(
        `/v2/other/copy/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent("team/nowhere")}`
      )
      expect(log[1]!.path).toMatch(/^\/v2\/other\/copy\/blobs\/uploads\/[0-9a-f-]+$/)
      // The session is gone.
      const http = yield* HttpClient.HttpClient
      expect((yield* http.get(`${registry.url}${log[1]!.path}`)).status).toBe(404)

      yield* distribution.uploadBlob(target, blobOf(bytes), Stream.make(bytes))
      expect((yield* registry.blobs).map((b) => b.repositories)).toEqual([["other/copy", "team/app"]])
      // Mounting from a readable source is a 201.
      expect(yield* distribution.mountBlob(repo(registry.host, "third"), digest, "team/app")).toBe(true)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})

// ---------------------------------------------------------------------------------------
// Pagination and referrers
// ---------------------------------------------------------------------------------------

describe("tags pagination", () => {
  it.scopedLive("n and Link over several pages", () =>
    Effect.gen(function*() {
      const registry = yield* V2Registry.make()
      const image = OciImages.image("tags", [100])
      yield* seed(registry, "team/app", image, "v1")
      for (const tag of ["a", "b", "c", "d", "e"]) {
        yield* Effect.orDie(registry.addManifest("team/app", image.manifest.bytes, { tag }))
      }
      const distribution = yield* Distribution.make()
      const tags = yield* Stream.runCollect(distribution.tags(repo(registry.host, "team/app"), { pageSize: 2 }))
      expect(Chunk.toReadonlyArray(tags)).toEqual(["a", "b", "c", "d", "e", "v1"])
      expect((yield* registry.requests).map((r) => r.url)).toEqual([
        "/v2/team/app/tags/list?n=2",
        "/v2/team/app/tags/list?n=2&last=b",
        "/v2/team/app/tags/list?n=2&last=d"
      ])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scopedLive("a Link to another origin or back to a page already read is UnexpectedResponse; an absolute Link to the registry itself is followed", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const distribution = yield* Distribution.make()
      yield* server.respond("/v2/x/tags/list", [{
        status: 200,
        headers: { link: `<https://elsewhere.example/v2/x/tags/list?n=2&last=b>; rel="next"` },
        body: JSON.stringify({ name: "x", tags: ["a", "b"] })
      }])
      const error = yield* Effect.flip(Stream.runDrain(distribution.tags(repo(server.host, "x"), { pageSize: 2 })))
      expect(error._tag).toBe("UnexpectedResponse")
      expect(error.message).toContain("the next page link leaves the registry: https://elsewhere.example/")
      expect(yield* server.requests).toHaveLength(1)

      // An insecure registry spoken to over http that writes its own absolute http:// links.
      yield* server.clearRequests
      yield* server.respond("/v2/x/tags/list", [
        {
          status: 200,
          headers: { link: `<${server.url}/v2/x/tags/list?n=2&last=b>; rel="next"` },
          body: JSON.stringify({ name: "x", tags: ["a", "b"] })
        },
        { status: 200, body: JSON.stringify({ name: "x", tags: ["c"] }) }
      ])
      const tags = yield* Stream.runCollect(distribution.tags(repo(server.host, "x"), { pageSize: 2 }))
      expect(Chunk.toReadonlyArray(tags)).toEqual(["a", "b", "c"])
      expect((yield* server.requests).map((r) => r.url)).toEqual(["/v2/x/tags/list?n=2", "/v2/x/tags/list?n=2&last=b"])

      // Links that lead back to a page already read end the listing instead of looping.
      yield* server.clearRequests
      const page = (tags: ReadonlyArray<string>, next: string) => ({
        status: 200,
        headers: { link: `<${next}>; rel="next"` },
        body: JSON.stringify({ name: "x", tags })
      })
      yield* server.respond("/v2/x/tags/list", [
        page(["a", "b"], "/v2/x/tags/list?n=2&last=b"),
        page(["c", "d"], "/v2/x/tags/list?n=2")
      ])
      const loop = yield* Effect.flip(Stream.runDrain(distribution.tags(repo(server.host, "x"), { pageSize: 2 })))
      expect(loop.message).toContain("the next page link leads back to a page already read")
      expect(yield* server.requests).toHaveLength(2)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})

/** An OCI artifact manifest about `subject`, with an empty config. */
const artifact = (subject: OciImages.Blob, artifactType: string, emptyDigest: string, note: string) =>
  Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType,
    config: { mediaType: "application/vnd.oci.empty.v1+json", digest: emptyDigest, size: 2 },
    layers: [],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: { note }
  }))

const sbom = "application/vnd.example.sbom"
const signature = "application/vnd.example.signature"

/** A subject image and two artifacts about it in `team/app`; their digests. */
const seedReferrers = (registry: V2Registry.Service) =>
  Effect.gen(function*() {
    const image = OciImages.image("subject", [100])
    yield* seed(registry, "team/app", image, "v1")
    const empty = yield* Effect.orDie(registry.addBlob("team/app", Buffer.from("{}")))
    const sbomBytes = artifact(image.manifest, sbom, empty, "sbom")
    const signatureBytes = artifact(image.manifest, signature, empty, "signature")
    const sbomDigest = yield* Effect.orDie(registry.addManifest("team/app", sbomBytes))
    const signatureDigest = yield* Effect.orDie(registry.addManifest("team/app", signatureBytes))
    return {
      subject: Identifiers.Digest.make(image.manifest.digest),
      sbom: { digest: sbomDigest, size: sbomBytes.length },
      signature: { digest: signatureDigest, size: signatureBytes.length }
    }
  })

describe("referrers", () => {
  it.scopedLive("the referrers API, filtered by artifactType", () =>
    Effect.gen(function*() {
      const registry = yield* V2Registry.make()
      const seeded = yield* seedReferrers(registry)
      const distribution = yield* Distribution.make()
      const target = repo(registry.host, "team/app")
      const all = yield* distribution.referrers(target, seeded.subject)
      expect(all.manifests.map((m) => [m.digest, m.artifactType]).sort()).toEqual(
        [[seeded.sbom.digest, sbom], [seeded.signature.digest, signature]].sort()
      )
      const filtered = yield* distribution.referrers(target, seeded.subject, { artifactType: sbom })
      expect(filtered.manifests).toEqual([{
        mediaType: MediaType.OciManifest,
        digest: seeded.sbom.digest,
        size: seeded.sbom.size,
        artifactType: sbom,
        annotations: { note: "sbom" }
      }])
      expect((yield* registry.requests).map((r) => r.url)).toEqual([
        `/v2/team/app/referrers/${seeded.subject}`,
        `/v2/team/app/referrers/${seeded.subject}?artifactType=${encodeURIComponent(sbom)}`
      ])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scopedLive("a registry that ignores the artifactType filter (no OCI-Filters-Applied): the client filters", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const subject = digestOf(Buffer.from("subject"))
      const descriptor = (artifactType: string, seedText: string) => ({
        mediaType: MediaType.OciManifest,
        digest: digestOf(Buffer.from(seedText)),
        size: 10,
        artifactType
      })
      yield* server.respond(`/v2/x/referrers/${subject}`, [{
        status: 200,
        headers: { "content-type": MediaType.OciIndex },
        body: JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.OciIndex,
          manifests: [descriptor(sbom, "a"), descriptor(signature, "b")]
        })
      }])
      const distribution = yield* Distribution.make()
      const filtered = yield* distribution.referrers(repo(server.host, "x"), subject, { artifactType: sbom })
      expect(filtered.manifests).toEqual([descriptor(sbom, "a")])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scopedLive("without the API: the sha256-<hex> fallback tag, filtered; an empty index when neither exists", () =>
    Effect.gen(function*() {
      const registry = yield* V2Registry.make({ referrersApi: false })
      const seeded = yield* seedReferrers(registry)
      const entry = (blob: { readonly digest: string; readonly size: number }, artifactType: string) => ({
        mediaType: MediaType.OciManifest,
        digest: blob.digest,
        size: blob.size,
        artifactType
      })
      const index = {
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [entry(seeded.sbom, sbom), entry(seeded.signature, signature)]
      }
      const fallbackTag = `sha256-${Identifiers.digestHex(seeded.subject)}`
      yield* Effect.orDie(registry.addManifest("team/app", JSON.stringify(index), { tag: fallbackTag }))
      const distribution = yield* Distribution.make()
      const target = repo(registry.host, "team/app")

      expect((yield* distribution.referrers(target, seeded.subject)).manifests).toEqual(index.manifests)
      const filtered = yield* distribution.referrers(target, seeded.subject, { artifactType: signature })
      expect(filtered.manifests).toEqual([entry(seeded.signature, signature)])
      expect((yield* registry.requests).slice(0, 2).map((r) => `${r.method} ${r.path}`)).toEqual([
        `GET /v2/team/app/referrers/${seeded.subject}`,
        `GET /v2/team/app/manifests/${fallbackTag}`
      ])

      const none = yield* distribution.referrers(target, seeded.sbom.digest)
      expect(none).toEqual({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] })
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})

// ---------------------------------------------------------------------------------------
// Token auth
// ---------------------------------------------------------------------------------------

describe("token auth", () => {
  it.scopedLive("the token request carries the request's scope merged with the challenge's", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const manifest = OciImages.image("scopes", [100]).manifest
      yield* server.respond("/v2/x/manifests/v1", [
        {
          status: 401,
          headers: {
            "www-authenticate": bearer(`${server.url}/token`, "repository:x:pull repository:shared/base:pull")
          }
        },
        { status: 201, headers: { "docker-content-digest": manifest.digest } }
      ])
      yield* server.respond("/token", [{ status: 200, body: JSON.stringify({ token: "t1", expires_in: 300 }) }])
      const distribution = yield* Distribution.make({ credentials: basicEverywhere })
      const pushed = yield* distribution.putManifest(repo(server.host, "x"), "v1", {
        bytes: manifest.bytes,
        mediaType: manifest.mediaType
      })
      expect(pushed).toBe(manifest.digest)
      const log = yield* server.requests
      expect(log.map((r) => `${r.method} ${r.path}`)).toEqual([
        "PUT /v2/x/manifests/v1",
        "GET /token",
        "PUT /v2/x/manifests/v1"
      ])
      const token = log[1]!
      expect(scopesOf(token.url)).toEqual(["repository:shared/base:pull", "repository:x:pull,push"])
      expect(new URL(token.url, "http://x").searchParams.get("service")).toBe("fault")
      expect(token.headers["authorization"]).toBe(
        `Basic ${Buffer.from(`${user.username}:${user.password}`).toString("base64")}`
      )
      expect(log[0]!.headers["authorization"]).toBeUndefined()
      expect(log[2]!.headers["authorization"]).toBe("Bearer t1")
      expect(log[2]!.bodyLength).toBe(manifest.size)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scopedLive("one token request for concurrent requests of the same scope; pull then push asks for push", () =>
    Effect.gen(function*() {
      const registry = yield* V2Registry.make({ tokenAuth: { users: [user] } })
      const blobs = Array.from({ length: 5 }, () => randomBytes(100))
      for (const bytes of blobs) yield* registry.addBlob("team/app", bytes)
      const distribution = yield* Distribution.make({ credentials: basicEverywhere })
      const target = repo(registry.host, "team/app")
      const sizes = yield* Effect.all(blobs.map((bytes) => distribution.headBlob(target, digestOf(bytes))), {
        concurrency: 5
      })
      expect(sizes).toEqual(blobs.map(() => Option.some(100)))
      const tokens = yield* registry.tokenRequests
      expect(tokens.map((t) => [t.method, t.scopes, t.username, t.status])).toEqual([
        ["GET", ["repository:team/app:pull"], user.username, 200]
      ])

      // A push to the same repository gets a token with push before sending: no 401.
      yield* registry.clearRequests
      const bytes = randomBytes(300)
      yield* distribution.uploadBlob(target, blobOf(bytes), Stream.make(bytes))
      expect((yield* registry.tokenRequests).map((t) => t.scopes)).toEqual([["repository:team/app:pull,push"]])
      const log = (yield* registry.requests).filter((r) => r.path.startsWith("/v2/"))
      expect(log.map((r) => r.method)).toEqual(["POST", "PUT"])
      expect(log.every((r) => r.headers["authorization"]?.startsWith("Bearer "))).toBe(true)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("a token is renewed before expires_in runs out, before the request is sent", () =>
    Effect.gen(function*() {
      const registry = yield* V2Registry.make({ tokenAuth: { users: [user], expiresIn: 60 } })
      const bytes = randomBytes(100)
      const digest = yield* registry.addBlob("team/app", bytes)
      const distribution = yield* Distribution.make({ credentials: basicEverywhere })
      const target = repo(registry.host, "team/app")
      const heads = Effect.map(
        registry.requests,
        (log) => log.filter((r) => r.method === "HEAD").map((r) => r.headers["authorization"])
      )

      expect(yield* distribution.headBlob(target, digest)).toEqual(Option.some(100))
      const [challenged, first] = yield* heads
      expect(challenged).toBeUndefined()
      expect(yield* registry.tokenRequests).toHaveLength(1)

      // Still fresh at 53 s (renewal at 90 % of 60 s): the same token, one request.
      yield* TestClock.adjust("53 seconds")
      expect(yield* distribution.headBlob(target, digest)).toEqual(Option.some(100))
      expect((yield* heads).slice(2)).toEqual([first])
      expect(yield* registry.tokenRequests).toHaveLength(1)

      // At 55 s a new token is fetched first: still one request (no 401), with the new token.
      yield* TestClock.adjust("2 seconds")
      expect(yield* distribution.headBlob(target, digest)).toEqual(Option.some(100))
      const after = (yield* heads).slice(3)
      expect(after).toHaveLength(1)
      expect(after[0]).toMatch(/^Bearer /)
      expect(after[0]).not.toBe(first)
      expect((yield* registry.tokenRequests).map((t) => t.scopes)).toEqual([
        ["repository:team/app:pull"],
        ["repository:team/app:pull"]
      ])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scopedLive("a 401 with insufficient_scope fetches a new token (with the scope it names) and sends again", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const realm = `${server.url}/token`
      const image = OciImages.image("insufficient", [100])
      yield* serveImage(server, "x", image, "v1")
      yield* server.respond("/v2/x/manifests/v1", [
        { status: 401, headers: { "www-authenticate": bearer(realm, "repository:x:pull") } },
        { status: 200, headers: { "content-type": MediaType.OciManifest }, body: image.manifest.bytes }
      ])
      // The push token is refused once, as if the token server granted less than asked.
      yield* server.respond("/v2/x/manifests/v2", [
        {
          status: 401,
          headers: { "www-authenticate": bearer(realm, "repository:x:pull,push", `,error="insufficient_scope"`) }
        },
        { status: 201 }
      ])
      // A HEAD that needs a scope of another repository too.
      const layer = image.layers[0]!.digest
      yield* server.respond(`/v2/x/blobs/${layer}`, [
        {
          status: 401,
          headers: {
            "www-authenticate": bearer(
              realm,
              "repository:x:pull repository:x-cache:pull",
              `,error="insufficient_scope"`
            )
          }
        },
        { status: 200, headers: { "content-length": "0" } }
      ])
      yield* server.respond("/token", [
        { status: 200, body: JSON.stringify({ token: "tok-1" }) },
        { status: 200, body: JSON.stringify({ token: "tok-2" }) },
        { status: 200, body: JSON.stringify({ token: "tok-3" }) },
        { status: 200, body: JSON.stringify({ token: "tok-4" }) }
      ])
      const distribution = yield* Distribution.make({ credentials: basicEverywhere })
      const target = repo(server.host, "x")
      yield* distribution.getManifest(yield* ref(server.host, "x:v1"))
      yield* distribution.putManifest(target, "v2", { bytes: image.manifest.bytes, mediaType: MediaType.OciManifest })
      yield* distribution.headBlob(target, Identifiers.Digest.make(layer))

      const log = yield* server.requests
      const auth = (path: string) => log.filter((r) => r.path === path).map((r) => r.headers["authorization"])
      expect(auth("/v2/x/manifests/v1")).toEqual([undefined, "Bearer tok-1"])
      expect(auth("/v2/x/manifests/v2")).toEqual(["Bearer tok-2", "Bearer tok-3"])
      // The last challenge's scope (pull,push) is merged into the HEAD's: tok-3 is tried first.
      expect(auth(`/v2/x/blobs/${layer}`)).toEqual(["Bearer tok-3", "Bearer tok-4"])
      expect(log.filter((r) => r.path === "/token").map((r) => scopesOf(r.url))).toEqual([
        ["repository:x:pull"],
        ["repository:x:pull,push"],
        ["repository:x:pull,push"],
        ["repository:x:pull", "repository:x-cache:pull"]
      ])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scopedLive("identity tokens: POST grant_type=refresh_token; a GET fallback when the POST answers 404", () =>
    Effect.gen(function*() {
      // Against V2Registry: a refresh token from the OAuth2 password grant, then used.
      const registry = yield* V2Registry.make({ tokenAuth: { users: [user] } })
      const image = OciImages.image("identity", [100])
      yield* seed(registry, "team/app", image, "v1")
      const http = yield* HttpClient.HttpClient
      const granted = yield* http.execute(
        HttpClientRequest.post(`${registry.url}/token`).pipe(HttpClientRequest.bodyUrlParams({
          grant_type: "password",
          username: user.username,
          password: user.password,
          service: V2Registry.tokenService,
          scope: "repository:team/app:pull"
        }))
      )
      const refresh = ((yield* granted.json) as { refresh_token: string }).refresh_token
      expect(refresh).toMatch(/./)
      yield* registry.clearRequests
      const identity: V2Auth.CredentialsLookup = () =>
        Effect.succeed(
          Option.some({ _tag: "IdentityToken" as const, username: "alice", token: Redacted.make(refresh) })
        )
      const withIdentity = yield* Distribution.make({ credentials: identity })
      const got = yield* withIdentity.getManifest(yield* ref(registry.host, "team/app:v1"))
      expect(got.digest).toBe(image.manifest.digest)
      expect((yield* registry.tokenRequests).map((t) => [t.method, t.grantType, t.scopes, t.username, t.status]))
        .toEqual([["POST", "refresh_token", ["repository:team/app:pull"], "alice", 200]])

      // A token server without the POST flow (FaultServer): 404, then GET; access_token read.
      const server = yield* FaultServer.make()
      yield* server.respond("/token", [{ status: 404 }, {
        status: 200,
        body: JSON.stringify({ access_token: "acc-1" })
      }])
      yield* server.respond("/v2/x/manifests/v1", [
        { status: 401, headers: { "www-authenticate": bearer(`${server.url}/token`, "repository:x:pull") } },
        { status: 200, headers: { "content-type": MediaType.OciManifest }, body: image.manifest.bytes }
      ])
      const fallback = yield* Distribution.make({ credentials: identity })
      yield* fallback.getManifest(yield* ref(server.host, "x:v1"))
      const log = yield* server.requests
      expect(log.map((r) => `${r.method} ${r.path}`)).toEqual([
        "GET /v2/x/manifests/v1",
        "POST /token",
        "GET /token",
        "GET /v2/x/manifests/v1"
      ])
      const form = log[1]!
      expect(form.headers["content-type"]).toBe("application/x-www-form-urlencoded")
      const expectedForm = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: refresh,
        client_id: "dockside",
        service: "fault",
        scope: "repository:x:pull"
      }).toString()
      expect(form.bodyLength).toBe(Buffer.byteLength(expectedForm))
      const get = new URL(log[2]!.url, "http://x").searchParams
      expect([get.get("service"), get.getAll("scope"), get.get("account")]).toEqual([
        "fault",
        ["repository:x:pull"],
        "alice"
      ])
      expect(log[2]!.headers["authorization"]).toBeUndefined()
      expect(log[3]!.headers["authorization"]).toBe("Bearer acc-1")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scopedLive("token and access_token are both read; a response without either fails", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const realm = `${server.url}/token`
      const digest = digestOf(Buffer.from("blob"))
      yield* server.respond(`/v2/a/blobs/${digest}`, [
        { status: 401, headers: { "www-authenticate": bearer(realm, "") } },
        { status: 200, headers: { "content-length": "0" } }
      ])
      for (const name of ["b", "c", "d"]) {
        yield* server.respond(`/v2/${name}/blobs/${digest}`, [{ status: 200, headers: { "content-length": "0" } }])
      }
      yield* server.respond("/token", [
        { status: 200, body: JSON.stringify({ token: "tok-only" }) },
        { status: 200, body: JSON.stringify({ access_token: "acc-only" }) },
        { status: 200, body: JSON.stringify({ token: "", access_token: "acc-fallback" }) },
        { status: 200, body: JSON.stringify({ expires_in: 300 }) }
      ])
      const distribution = yield* Distribution.make()
      for (const name of ["a", "b", "c"]) yield* distribution.headBlob(repo(server.host, name), digest)
      const none = yield* Effect.flip(distribution.headBlob(repo(server.host, "d"), digest))
      expect(none._tag).toBe("ConnectionFailed")
      expect(none.message).toContain("the token response holds no token")
      const log = yield* server.requests
      const lastAuth = (name: string) =>
        log.filter((r) => r.path === `/v2/${name}/blobs/${digest}`).at(-1)?.headers["authorization"]
      expect(["a", "b", "c"].map(lastAuth)).toEqual(["Bearer tok-only", "Bearer acc-only", "Bearer acc-fallback"])
      expect(log.filter((r) => r.path === `/v2/d/blobs/${digest}`)).toEqual([])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.effect("a token realm over plain http is refused for a registry that is not insecure", () =>
    Effect.gen(function*() {
      const { client: fake, sent } = yield* Recorded.client(() =>
        Effect.succeed(
          new Response(null, {
            status: 401,
            headers: { "www-authenticate": `Bearer realm="http://auth.example/token",service="registry.example"` }
          })
        )
      )
      const http = V2Auth.withV2Auth({ insecure: () => false, credentials: basicEverywhere })(fake)
      const failure = yield* Effect.flip(http.get("https://registry.example/v2/team/app/manifests/v1"))
      const error = HttpErrors.fromHttpClientError(failure.request, failure)
      expect(error._tag).toBe("ConnectionFailed")
      expect(error.message).toContain("refusing to send credentials to the token realm http://auth.example/token")
      expect(error.message).toContain("it is not https")
      expect(yield* Ref.get(sent)).toEqual(["GET https://registry.example/v2/team/app/manifests/v1"])
    }))

  it.live("a token fetch whose requester is interrupted does not strand the requests waiting for it", () =>
    Effect.gen(function*() {
      const tokenCalls = yield* Ref.make(0)
      const fake = HttpClient.make((request) =>
        Effect.gen(function*() {
          const url = new URL(request.url)
          if (url.host === "auth.example") {
            // The first token request never answers.
            if ((yield* Ref.getAndUpdate(tokenCalls, (n) => n + 1)) === 0) return yield* Effect.never
            return HttpClientResponse.fromWeb(request, new Response(JSON.stringify({ token: "t" }), { status: 200 }))
          }
          const authorized = request.headers["authorization"] === "Bearer t"
          return HttpClientResponse.fromWeb(
            request,
            new Response(null, {
              status: authorized ? 200 : 401,
              headers: authorized ? {} : { "www-authenticate": `Bearer realm="https://auth.example/token"` }
            })
          )
        })
      )
      const http = V2Auth.withV2Auth()(fake)
      const get = http.get("https://registry.example/v2/team/app/manifests/v1")
      const first = yield* Effect.fork(get)
      for (let i = 0; i < 100 && (yield* Ref.get(tokenCalls)) === 0; i++) yield* Effect.sleep("2 millis")
      expect(yield* Ref.get(tokenCalls)).toBe(1)
      const second = yield* Effect.fork(get)
      yield* Effect.sleep("20 millis")
      yield* Fiber.interrupt(first)
      const answer = yield* Fiber.join(second).pipe(Effect.timeout("2 seconds"))
      expect(answer.status).toBe(200)
      expect(yield* Ref.get(tokenCalls)).toBe(2)
    }))

  it.effect("requests that start together look up a registry's credentials once", () =>
    Effect.gen(function*() {
      const lookups = yield* Ref.make(0)
      const credentials: V2Auth.CredentialsLookup = (host) =>
        Effect.zipRight(Ref.update(lookups, (n) => n + 1), Effect.sleep("10 millis")).pipe(
          Effect.zipRight(basicEverywhere(host))
        )
      const fake = HttpClient.make((request) =>
        Effect.succeed(
          HttpClientResponse.fromWeb(
            request,
            new Response(null, {
              status: request.headers["authorization"] === undefined ? 401 : 200,
              headers: { "www-authenticate": `Basic realm="registry.example"` }
            })
          )
        )
      )
      const http = V2Auth.withV2Auth({ credentials })(fake)
      const gets = Array.from(
        { length: 6 },
        (_, i) => http.get(`https://registry.example/v2/team/app/blobs/sha256:${i}`)
      )
      const fiber = yield* Effect.fork(Effect.all(gets, { concurrency: "unbounded" }))
      yield* TestClock.adjust("10 millis")
      const answers = yield* Fiber.join(fiber)
      expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200, 200])
      expect(answers.map((answer) => answer.request.headers["authorization"])).toEqual(
        answers.map(() => `Basic ${Buffer.from(`${user.username}:${user.password}`).toString("base64")}`)
      )
      // The credential helper (a process per lookup) ran once.
      expect(yield* Ref.get(lookups)).toBe(1)
    }))
})

// ---------------------------------------------------------------------------------------
// Insecure registries
// ---------------------------------------------------------------------------------------

describe("insecure registries", () => {
  /** A registry that speaks https when `https`, plain http otherwise; every request logged. */
  const registryAt = (https: boolean) =>
    Recorded.client((request) =>
      request.url.startsWith("https:") !== https
        ? Effect.fail(
          new HttpClientError.RequestError({ request, reason: "Transport", cause: new Error("wrong protocol") })
        )
        : Effect.succeed(
          request.method === "HEAD"
            ? new Response(null, { status: 200, headers: { "content-length": "3" } })
            : new Response("{}", { status: 200 })
        )
    )

  it.effect("requests that start together ask once whether the host speaks https, then use plain http", () =>
    Effect.gen(function*() {
      const { client, sent } = yield* registryAt(false)
      const distribution = yield* Distribution.make().pipe(
        Effect.provideService(HttpClient.HttpClient, client),
        Effect.provideService(InsecureRegistries.InsecureRegistries, {
          hosts: ["registry.example:5000"],
          loopback: true
        })
      )
      const target = repo("registry.example:5000", "team/app")
      const digests = Array.from({ length: 5 }, (_, i) => digestOf(Buffer.from(`blob ${i}`)))
      const sizes = yield* Effect.all(digests.map((digest) => distribution.headBlob(target, digest)), {
        concurrency: "unbounded"
      })
      expect(sizes).toEqual(digests.map(() => Option.some(3)))
      const log = yield* Ref.get(sent)
      expect(log.filter((line) => line.includes("https:"))).toEqual(["GET https://registry.example:5000/v2/"])
      expect(log.filter((line) => line.startsWith("HEAD")).sort()).toEqual(
        digests.map((digest) => `HEAD http://registry.example:5000/v2/team/app/blobs/${digest}`).sort()
      )
      // Known from then on: no second probe.
      yield* distribution.headBlob(target, digests[0]!)
      expect((yield* Ref.get(sent)).filter((line) => line.includes("https:"))).toHaveLength(1)
    }))

  it.effect("an insecure host that speaks https is spoken to over https", () =>
    Effect.gen(function*() {
      const { client, sent } = yield* registryAt(true)
      const distribution = yield* Distribution.make().pipe(
        Effect.provideService(HttpClient.HttpClient, client),
        Effect.provideService(InsecureRegistries.InsecureRegistries, {
          hosts: ["registry.example:5000"],
          loopback: true
        })
      )
      const digest = digestOf(Buffer.from("blob"))
      expect(yield* distribution.headBlob(repo("registry.example:5000", "team/app"), digest)).toEqual(Option.some(3))
      expect(yield* Ref.get(sent)).toEqual([
        "GET https://registry.example:5000/v2/",
        `HEAD https://registry.example:5000/v2/team/app/blobs/${digest}`
      ])
    }))
})

// ---------------------------------------------------------------------------------------
// Retry-After
// ---------------------------------------------------------------------------------------

describe("retries", () => {
  it.scoped("a 429 with Retry-After on a manifest GET waits exactly that long (Retry.withRetry)", () =>
    Effect.gen(function*() {
      const registry = yield* V2Registry.make()
      const image = OciImages.image("retry-after", [100])
      yield* seed(registry, "team/app", image, "v1")
      const base = yield* HttpClient.HttpClient
      const distribution = yield* Distribution.make().pipe(
        Effect.provideService(HttpClient.HttpClient, Retry.withRetry()(base))
      )
      const reference = yield* ref(registry.host, "team/app:v1")
      // A first call learns the scheme (its probe has a timeout on the test clock).
      yield* distribution.headManifest(reference)
      yield* registry.failNext(1, 429, { "retry-after": "7" })
      const fiber = yield* Effect.fork(distribution.getManifest(reference))
      yield* seen(registry.requests, 2)
      yield* sleepingFor(7000)
      yield* TestClock.adjust("6999 millis")
      yield* liveSleep(50)
      expect(yield* registry.requests).toHaveLength(2)
      yield* TestClock.adjust("1 millis")
      const manifest = yield* Fiber.join(fiber)
      expect(manifest.digest).toBe(image.manifest.digest)
      expect((yield* registry.requests).map((r) => `${r.method} ${r.path}`)).toEqual([
        "HEAD /v2/team/app/manifests/v1",
        "GET /v2/team/app/manifests/v1",
        "GET /v2/team/app/manifests/v1"
      ])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})
