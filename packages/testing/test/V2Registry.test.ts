import * as Challenge from "@dockside/protocol/Challenge"
import * as MediaType from "@dockside/protocol/MediaType"
import * as FaultServer from "@dockside/testing/FaultServer"
import * as V2Registry from "@dockside/testing/V2Registry"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { createHash } from "node:crypto"
import * as Send from "./support/Send.js"

const send = Send.send

/** The first error code of a distribution error body. */
const codeOf = (reply: Send.Reply): string => JSON.parse(reply.text).errors[0].code

/** The one challenge of a 401. */
const challengeOf = (reply: Send.Reply) =>
  Effect.map(Challenge.parse(reply.headers["www-authenticate"] ?? ""), (challenges) => challenges[0])

const sha256 = (bytes: Uint8Array | string): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`
const sha512 = (bytes: Uint8Array | string): string => `sha512:${createHash("sha512").update(bytes).digest("hex")}`

const bytesOf = (size: number, seed = 7): Uint8Array => Uint8Array.from({ length: size }, (_, i) => (i * seed) % 251)

const basic = (username: string, password: string): string =>
  `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`

/** An OCI image manifest over a config and layers (each `{digest,size}`), optionally an artifact with a subject. */
const imageManifest = (
  config: { readonly digest: string; readonly size: number },
  layers: ReadonlyArray<{ readonly digest: string; readonly size: number }>,
  extra: Record<string, unknown> = {}
): string =>
  JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, ...config },
    layers: layers.map((layer) => ({ mediaType: MediaType.OciLayerGzip, ...layer })),
    ...extra
  })

const indexOf = (children: ReadonlyArray<{ readonly digest: string; readonly size: number }>): string =>
  JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: children.map((child) => ({ mediaType: MediaType.OciManifest, ...child }))
  })

/** A config and a layer pushed to `repository` through the service, and a manifest over them (not pushed). */
const seedImage = (registry: V2Registry.Service, repository: string, seed = 7) =>
  Effect.gen(function*() {
    const configBytes = new Uint8Array(Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", seed })))
    const layerBytes = bytesOf(300, seed)
    const config = { digest: yield* registry.addBlob(repository, configBytes), size: configBytes.length }
    const layer = { digest: yield* registry.addBlob(repository, layerBytes), size: layerBytes.length }
    return { config, layer, layerBytes, manifest: imageManifest(config, [layer]) }
  })

/** Push a blob in one `POST …/uploads/?digest=`. */
const pushBlob = (registry: V2Registry.Service, repository: string, bytes: Uint8Array, headers = {}) =>
  send("POST", `${registry.url}/v2/${repository}/blobs/uploads/?digest=${sha256(bytes)}`, { headers, body: bytes })

const putManifest = (
  registry: V2Registry.Service,
  repository: string,
  reference: string,
  manifest: string,
  headers: Record<string, string> = {},
  contentType: string = MediaType.OciManifest
) => send("PUT", `${registry.url}/v2/${repository}/manifests/${reference}`, { headers, body: manifest, contentType })

/** Start an upload session; its absolute URL. */
const startUpload = (registry: V2Registry.Service, repository: string, headers: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const reply = yield* send("POST", `${registry.url}/v2/${repository}/blobs/uploads/`, { headers })
    expect(reply.status).toBe(202)
    return { reply, url: `${registry.url}${reply.headers["location"]}` }
  })

/** Read a body until it ends or the connection drops: the bytes that arrived, and whether it failed. */
const readUntilDropped = (url: string) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const received = yield* Ref.make(0)
    const response = yield* client.get(url)
    const outcome = yield* response.stream.pipe(
      Stream.runForEach((chunk) => Ref.update(received, (n) => n + chunk.length)),
      Effect.either
    )
    return { response, received: yield* Ref.get(received), failed: Either.isLeft(outcome) }
  })

/** A token from the registry's own token endpoint. */
const tokenFor = (registry: V2Registry.Service, scopes: ReadonlyArray<string>, headers: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const query = new URLSearchParams([
      ["service", V2Registry.tokenService],
      ...scopes.map((scope): [string, string] => ["scope", scope])
    ])
    const reply = yield* send("GET", `${registry.url}/token?${query.toString()}`, { headers })
    expect(reply.status, reply.text).toBe(200)
    const body = JSON.parse(reply.text)
    return { Authorization: `Bearer ${body.token}` }
  })

layer(NodeHttpClient.layerUndici)("V2Registry", (it) => {
  describe("server", () => {
    it.scoped("listens on 127.0.0.1 with a free port", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        expect(registry.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
        expect(registry.host).toBe(registry.url.slice("http://".length))
        const other = yield* V2Registry.make()
        expect(other.url).not.toBe(registry.url)
      }))

    it.effect("stops when its scope closes", () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const registry = yield* V2Registry.make().pipe(Scope.extend(scope))
        expect((yield* send("GET", `${registry.url}/v2/`)).status).toBe(200)
        yield* Scope.close(scope, Exit.void)
        expect(Either.isLeft(yield* send("GET", `${registry.url}/v2/`).pipe(Effect.either))).toBe(true)
      }))

    it.effect("is available as a layer", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.V2Registry
        expect((yield* send("GET", `${registry.url}/v2/`)).status).toBe(200)
      }).pipe(Effect.provide(V2Registry.layer())))

    it.scoped("refuses contradictory options", () =>
      Effect.gen(function*() {
        const both = yield* V2Registry.make({
          basicAuth: { username: "u", password: "p" },
          tokenAuth: {}
        }).pipe(Effect.flip)
        expect(both._tag).toBe("V2RegistryStartError")
        expect(both.message).toContain("cannot be combined")
        const chunk = yield* V2Registry.make({ minChunkLength: 0 }).pipe(Effect.flip)
        expect(chunk.reason).toContain("minChunkLength")
        const expiry = yield* V2Registry.make({ tokenAuth: { expiresIn: -1 } }).pipe(Effect.flip)
        expect(expiry.reason).toContain("expiresIn")
      }))

    it.scoped("answers unknown routes 404 and other methods 405, with the API version header", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const unknown = yield* send("GET", `${registry.url}/v2/a/b/nothing`)
        expect(unknown.status).toBe(404)
        expect(codeOf(unknown)).toBe("UNSUPPORTED")
        expect(unknown.headers["docker-distribution-api-version"]).toBe("registry/2.0")
        expect((yield* send("GET", `${registry.url}/v1/_ping`)).status).toBe(404)
        expect((yield* send("GET", `${registry.url}/token`)).status).toBe(404)
        const method = yield* send("POST", `${registry.url}/v2/a/b/manifests/latest`)
        expect(method.status).toBe(405)
        expect(codeOf(method)).toBe("UNSUPPORTED")
      }))

    it.scoped("refuses invalid repository names with NAME_INVALID", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const reply = yield* send("GET", `${registry.url}/v2/Upper/Case/tags/list`)
        expect(reply.status).toBe(400)
        expect(codeOf(reply)).toBe("NAME_INVALID")
      }))
  })

  describe("ping", () => {
    it.scoped("GET and HEAD /v2/ answer 200 {} with Docker-Distribution-API-Version", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        for (const path of ["/v2/", "/v2"]) {
          const reply = yield* send("GET", `${registry.url}${path}`)
          expect(reply.status).toBe(200)
          expect(reply.text).toBe("{}")
          expect(reply.headers["content-type"]).toBe("application/json")
          expect(reply.headers["docker-distribution-api-version"]).toBe("registry/2.0")
        }
        expect((yield* send("HEAD", `${registry.url}/v2/`)).status).toBe(200)
      }))
  })

  describe("blobs", () => {
    it.scoped("HEAD and GET: length, digest, ranges; 404 BLOB_UNKNOWN elsewhere", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const bytes = bytesOf(1000)
        const digest = yield* registry.addBlob("a/b", bytes)
        expect(digest).toBe(sha256(bytes))
        const url = `${registry.url}/v2/a/b/blobs/${digest}`

        const head = yield* send("HEAD", url)
        expect(head.status).toBe(200)
        expect(head.bytes.length).toBe(0)
        expect(head.headers["content-length"]).toBe("1000")
        expect(head.headers["docker-content-digest"]).toBe(digest)
        expect(head.headers["accept-ranges"]).toBe("bytes")

        const get = yield* send("GET", url)
        expect(get.status).toBe(200)
        expect(get.bytes).toEqual(bytes)
        expect(get.headers["content-length"]).toBe("1000")
        expect(get.headers["docker-content-digest"]).toBe(digest)

        const tail = yield* send("GET", url, { headers: { Range: "bytes=990-" } })
        expect(tail.status).toBe(206)
        expect(tail.headers["content-range"]).toBe("bytes 990-999/1000")
        expect(tail.headers["content-length"]).toBe("10")
        expect(tail.bytes).toEqual(bytes.subarray(990))

        const middle = yield* send("GET", url, { headers: { Range: "bytes=10-19" } })
        expect(middle.status).toBe(206)
        expect(middle.headers["content-range"]).toBe("bytes 10-19/1000")
        expect(middle.bytes).toEqual(bytes.subarray(10, 20))

        const beyond = yield* send("GET", url, { headers: { Range: "bytes=1000-" } })
        expect(beyond.status).toBe(416)
        expect(beyond.headers["content-range"]).toBe("bytes */1000")

        const encoded = yield* send("GET", `${registry.url}/v2/a/b/blobs/${encodeURIComponent(digest)}`)
        expect(encoded.bytes).toEqual(bytes)

        const elsewhere = yield* send("GET", `${registry.url}/v2/other/repo/blobs/${digest}`)
        expect(elsewhere.status).toBe(404)
        expect(codeOf(elsewhere)).toBe("BLOB_UNKNOWN")
        expect(JSON.parse(elsewhere.text).errors[0]).toEqual({
          code: "BLOB_UNKNOWN",
          message: "blob unknown to registry",
          detail: { digest }
        })
        const headMissing = yield* send("HEAD", `${registry.url}/v2/a/b/blobs/${sha256("nothing")}`)
        expect(headMissing.status).toBe(404)

        const invalid = yield* send("GET", `${registry.url}/v2/a/b/blobs/sha256:nothex`)
        expect(invalid.status).toBe(400)
        expect(codeOf(invalid)).toBe("DIGEST_INVALID")
      }))

    it.scoped("DELETE answers 202 and unlinks; other repositories keep the content", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const bytes = bytesOf(10)
        const digest = yield* registry.addBlob("a/one", bytes)
        yield* registry.addBlob("a/two", bytes)
        expect(yield* registry.blobs).toEqual([{ digest, size: 10, repositories: ["a/one", "a/two"] }])

        const deleted = yield* send("DELETE", `${registry.url}/v2/a/one/blobs/${digest}`)
        expect(deleted.status).toBe(202)
        expect((yield* send("GET", `${registry.url}/v2/a/one/blobs/${digest}`)).status).toBe(404)
        expect((yield* send("GET", `${registry.url}/v2/a/two/blobs/${digest}`)).bytes).toEqual(bytes)
        const again = yield* send("DELETE", `${registry.url}/v2/a/one/blobs/${digest}`)
        expect(again.status).toBe(404)
        expect(codeOf(again)).toBe("BLOB_UNKNOWN")

        yield* send("DELETE", `${registry.url}/v2/a/two/blobs/${digest}`)
        expect(yield* registry.blobs).toEqual([])
        expect(yield* registry.blobBytes(digest)).toEqual(Option.none())
      }))
  })

  describe("uploads", () => {
    it.scoped("monolithic POST ?digest= stores the blob (201), a wrong digest is DIGEST_INVALID", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const bytes = bytesOf(2000)
        const reply = yield* pushBlob(registry, "a/b", bytes)
        expect(reply.status).toBe(201)
        expect(reply.headers["location"]).toBe(`/v2/a/b/blobs/${sha256(bytes)}`)
        expect(reply.headers["docker-content-digest"]).toBe(sha256(bytes))
        expect(reply.headers["content-length"]).toBe("0")
        expect(Option.getOrThrow(yield* registry.blobBytes(sha256(bytes)))).toEqual(bytes)

        const wrong = yield* send("POST", `${registry.url}/v2/a/b/blobs/uploads/?digest=${sha256("other")}`, {
          body: bytes
        })
        expect(wrong.status).toBe(400)
        expect(codeOf(wrong)).toBe("DIGEST_INVALID")

        const malformed = yield* send("POST", `${registry.url}/v2/a/b/blobs/uploads/?digest=md5:abc`, { body: bytes })
        expect(malformed.status).toBe(400)
        expect(codeOf(malformed)).toBe("DIGEST_INVALID")
      }))

    it.scoped("POST opens a session: 202, Location, Range 0-0, Docker-Upload-UUID", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const { reply } = yield* startUpload(registry, "a/b")
        const uuid = reply.headers["docker-upload-uuid"]
        expect(uuid).toMatch(/^[0-9a-f-]{36}$/)
        expect(reply.headers["location"]).toBe(`/v2/a/b/blobs/uploads/${uuid}`)
        expect(reply.headers["range"]).toBe("0-0")
        expect(reply.headers["content-length"]).toBe("0")
        expect(reply.headers["oci-chunk-min-length"]).toBeUndefined()
        // without the trailing slash too
        expect((yield* send("POST", `${registry.url}/v2/a/b/blobs/uploads`)).status).toBe(202)
      }))

    it.scoped("chunked: PATCH with Content-Range, status GET, streamed PATCH, PUT with a final chunk", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const bytes = bytesOf(3000)
        const { url } = yield* startUpload(registry, "a/b")

        const first = yield* send("PATCH", url, {
          headers: { "Content-Range": "0-999" },
          body: bytes.subarray(0, 1000)
        })
        expect(first.status).toBe(202)
        expect(first.headers["range"]).toBe("0-999")
        expect(first.headers["location"]).toBe(new URL(url).pathname)
        expect(first.headers["content-length"]).toBe("0")

        const status = yield* send("GET", url)
        expect(status.status).toBe(204)
        expect(status.headers["range"]).toBe("0-999")
        expect(status.headers["docker-upload-uuid"]).toBe(url.slice(url.lastIndexOf("/") + 1))

        const streamed = yield* send("PATCH", url, {
          body: Stream.make(bytes.subarray(1000, 1500), bytes.subarray(1500, 2000))
        })
        expect(streamed.status).toBe(202)
        expect(streamed.headers["range"]).toBe("0-1999")

        const done = yield* send("PUT", `${url}?digest=${sha256(bytes)}`, {
          headers: { "Content-Range": "2000-2999" },
          body: bytes.subarray(2000)
        })
        expect(done.status).toBe(201)
        expect(done.headers["location"]).toBe(`/v2/a/b/blobs/${sha256(bytes)}`)
        expect(done.headers["docker-content-digest"]).toBe(sha256(bytes))
        expect((yield* send("GET", `${registry.url}/v2/a/b/blobs/${sha256(bytes)}`)).bytes).toEqual(bytes)

        const closed = yield* send("GET", url)
        expect(closed.status).toBe(404)
        expect(codeOf(closed)).toBe("BLOB_UPLOAD_UNKNOWN")
      }))

    it.scoped("Content-Range errors: a gap or overlap is 416 with the current Range; a wrong length 416; junk 400", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const bytes = bytesOf(100)
        const { url } = yield* startUpload(registry, "a/b")
        expect(
          (yield* send("PATCH", url, { headers: { "Content-Range": "0-49" }, body: bytes.subarray(0, 50) })).status
        )
          .toBe(202)

        const gap = yield* send("PATCH", url, { headers: { "Content-Range": "60-99" }, body: bytes.subarray(60) })
        expect(gap.status).toBe(416)
        expect(gap.headers["range"]).toBe("0-49")
        expect(codeOf(gap)).toBe("BLOB_UPLOAD_INVALID")
        const overlap = yield* send("PATCH", url, { headers: { "Content-Range": "40-99" }, body: bytes.subarray(40) })
        expect(overlap.status).toBe(416)

        const short = yield* send("PATCH", url, { headers: { "Content-Range": "50-99" }, body: bytes.subarray(50, 60) })
        expect(short.status).toBe(416)
        expect(short.headers["range"]).toBe("0-49")

        const junk = yield* send("PATCH", url, { headers: { "Content-Range": "fifty" }, body: bytes.subarray(50) })
        expect(junk.status).toBe(400)
        expect(codeOf(junk)).toBe("BLOB_UPLOAD_INVALID")

        // nothing refused was kept: the rest still fits
        const rest = yield* send("PATCH", url, { headers: { "Content-Range": "50-99" }, body: bytes.subarray(50) })
        expect(rest.status).toBe(202)
        expect(rest.headers["range"]).toBe("0-99")
        expect((yield* send("PUT", `${url}?digest=${sha256(bytes)}`)).status).toBe(201)
      }))

    it.scoped("PUT: a missing or wrong digest is DIGEST_INVALID; a wrong one closes the session", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const bytes = bytesOf(10)
        const { url } = yield* startUpload(registry, "a/b")
        yield* send("PATCH", url, { body: bytes })
        const missing = yield* send("PUT", url)
        expect(missing.status).toBe(400)
        expect(codeOf(missing)).toBe("DIGEST_INVALID")
        const wrong = yield* send("PUT", `${url}?digest=${sha256("something else")}`)
        expect(wrong.status).toBe(400)
        expect(codeOf(wrong)).toBe("DIGEST_INVALID")
        expect(JSON.parse(wrong.text).errors[0].detail).toEqual({
          expected: sha256("something else"),
          computed: sha256(bytes)
        })
        expect((yield* send("PUT", `${url}?digest=${sha256(bytes)}`)).status).toBe(404)
        expect(yield* registry.blobs).toEqual([])
      }))

    it.scoped("a SHA-512 digest is verified too", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const bytes = bytesOf(500)
        const { url } = yield* startUpload(registry, "a/b")
        yield* send("PATCH", url, { body: bytes })
        const done = yield* send("PUT", `${url}?digest=${sha512(bytes)}`)
        expect(done.status).toBe(201)
        expect(done.headers["docker-content-digest"]).toBe(sha512(bytes))
        expect((yield* send("GET", `${registry.url}/v2/a/b/blobs/${sha512(bytes)}`)).bytes).toEqual(bytes)
        const monolithic = yield* send("POST", `${registry.url}/v2/a/c/blobs/uploads/?digest=${sha512(bytes)}`, {
          body: bytes
        })
        expect(monolithic.status).toBe(201)
      }))

    it.scoped("DELETE cancels (204); unknown sessions and other repositories' sessions are BLOB_UPLOAD_UNKNOWN", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const { url } = yield* startUpload(registry, "a/b")
        const elsewhere = yield* send("GET", url.replace("/v2/a/b/", "/v2/a/c/"))
        expect(elsewhere.status).toBe(404)
        expect(codeOf(elsewhere)).toBe("BLOB_UPLOAD_UNKNOWN")
        expect((yield* send("DELETE", url)).status).toBe(204)
        for (const method of ["GET", "PATCH", "PUT", "DELETE"] as const) {
          const reply = yield* send(method, url)
          expect(reply.status).toBe(404)
          expect(codeOf(reply)).toBe("BLOB_UPLOAD_UNKNOWN")
        }
        const unknown = yield* send("GET", `${registry.url}/v2/a/b/blobs/uploads/not-a-session`)
        expect(codeOf(unknown)).toBe("BLOB_UPLOAD_UNKNOWN")
      }))

    it.scoped("minChunkLength: announced, and only the last chunk may be shorter", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make({ minChunkLength: 100 })
        const bytes = bytesOf(250)
        const { reply, url } = yield* startUpload(registry, "a/b")
        expect(reply.headers["oci-chunk-min-length"]).toBe("100")
        expect(
          (yield* send("PATCH", url, { headers: { "Content-Range": "0-99" }, body: bytes.subarray(0, 100) })).status
        )
          .toBe(202)
        expect(
          (yield* send("PATCH", url, { headers: { "Content-Range": "100-149" }, body: bytes.subarray(100, 150) }))
            .status
        )
          .toBe(202)
        const after = yield* send("PATCH", url, { headers: { "Content-Range": "150-249" }, body: bytes.subarray(150) })
        expect(after.status).toBe(416)
        expect(after.headers["range"]).toBe("0-149")
        const finalChunk = yield* send("PUT", `${url}?digest=${sha256(bytes)}`, { body: bytes.subarray(150) })
        expect(finalChunk.status).toBe(416)
        // the short chunk was the last: completing without a body works
        expect((yield* send("PUT", `${url}?digest=${sha256(bytes.subarray(0, 150))}`)).status).toBe(201)

        const second = yield* startUpload(registry, "a/b")
        yield* send("PATCH", second.url, { body: bytes.subarray(0, 200) })
        const last = yield* send("PUT", `${second.url}?digest=${sha256(bytes)}`, { body: bytes.subarray(200) })
        expect(last.status).toBe(201)
      }))

    it.scoped("cross-repository mount: 201 when the source holds the blob, else a fresh upload (202)", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const bytes = bytesOf(64)
        const digest = yield* registry.addBlob("src/repo", bytes)
        const mounted = yield* send("POST", `${registry.url}/v2/dst/repo/blobs/uploads/?mount=${digest}&from=src/repo`)
        expect(mounted.status).toBe(201)
        expect(mounted.headers["location"]).toBe(`/v2/dst/repo/blobs/${digest}`)
        expect(mounted.headers["docker-content-digest"]).toBe(digest)
        expect((yield* send("GET", `${registry.url}/v2/dst/repo/blobs/${digest}`)).bytes).toEqual(bytes)

        const unknown = sha256("not stored")
        const fallback = yield* send(
          "POST",
          `${registry.url}/v2/dst/repo/blobs/uploads/?mount=${unknown}&from=src/repo`
        )
        expect(fallback.status).toBe(202)
        expect(fallback.headers["location"]).toMatch(/^\/v2\/dst\/repo\/blobs\/uploads\//)
        const wrongSource = yield* send(
          "POST",
          `${registry.url}/v2/dst/two/blobs/uploads/?mount=${digest}&from=nowhere`
        )
        expect(wrongSource.status).toBe(202)
        const withoutFrom = yield* send("POST", `${registry.url}/v2/dst/two/blobs/uploads/?mount=${digest}`)
        expect(withoutFrom.status).toBe(202)
      }))

    it.scoped("a large streamed upload is hashed as it arrives", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const bytes = bytesOf(4 * 1024 * 1024 + 17, 13)
        const chunks = Array.from({ length: 65 }, (_, i) => bytes.subarray(i * 65536, (i + 1) * 65536))
        const { url } = yield* startUpload(registry, "big/one")
        const patched = yield* send("PATCH", url, { body: Stream.fromIterable(chunks) })
        expect(patched.headers["range"]).toBe(`0-${bytes.length - 1}`)
        expect((yield* send("PUT", `${url}?digest=${sha256(bytes)}`)).status).toBe(201)
        const head = yield* send("HEAD", `${registry.url}/v2/big/one/blobs/${sha256(bytes)}`)
        expect(head.headers["content-length"]).toBe(String(bytes.length))
      }))
  })

  describe("manifests", () => {
    it.scoped("PUT by tag: 201, Location, Docker-Content-Digest; GET and HEAD by tag and digest: the exact bytes", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const { manifest } = yield* seedImage(registry, "a/b")
        const spaced = manifest.replace("{", "{ ") // not canonical JSON: the digest is of these bytes
        const digest = sha256(spaced)
        const put = yield* putManifest(registry, "a/b", "v1", spaced)
        expect(put.status).toBe(201)
        expect(put.headers["location"]).toBe(`/v2/a/b/manifests/${digest}`)
        expect(put.headers["docker-content-digest"]).toBe(digest)
        expect(put.headers["oci-subject"]).toBeUndefined()

        for (const reference of ["v1", digest]) {
          const get = yield* send("GET", `${registry.url}/v2/a/b/manifests/${reference}`, {
            headers: { Accept: MediaType.manifestAcceptHeader }
          })
          expect(get.status).toBe(200)
          expect(get.text).toBe(spaced)
          expect(get.headers["content-type"]).toBe(MediaType.OciManifest)
          expect(get.headers["docker-content-digest"]).toBe(digest)
          expect(get.headers["content-length"]).toBe(String(Buffer.byteLength(spaced)))
          const head = yield* send("HEAD", `${registry.url}/v2/a/b/manifests/${reference}`)
          expect(head.status).toBe(200)
          expect(head.bytes.length).toBe(0)
          expect(head.headers["content-length"]).toBe(String(Buffer.byteLength(spaced)))
          expect(head.headers["docker-content-digest"]).toBe(digest)
        }
        const logged = (yield* registry.requests).find((request) =>
          request.method === "GET" && request.path.endsWith("/v1")
        )
        expect(logged?.headers["accept"]).toBe(MediaType.manifestAcceptHeader)

        const missing = yield* send("GET", `${registry.url}/v2/a/b/manifests/nope`)
        expect(missing.status).toBe(404)
        expect(codeOf(missing)).toBe("MANIFEST_UNKNOWN")
        expect((yield* send("HEAD", `${registry.url}/v2/a/b/manifests/${sha256("x")}`)).status).toBe(404)
        expect(yield* registry.tags("a/b")).toEqual(Option.some({ v1: digest }))
        const stored = yield* registry.manifests("a/b")
        expect(stored.map((m) => [m.digest, m.mediaType, m.tags])).toEqual([[digest, MediaType.OciManifest, ["v1"]]])
      }))

    it.scoped("PUT by digest must match the bytes (DIGEST_INVALID); invalid references are refused", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const { manifest } = yield* seedImage(registry, "a/b")
        const wrong = yield* putManifest(registry, "a/b", sha256("other"), manifest)
        expect(wrong.status).toBe(400)
        expect(codeOf(wrong)).toBe("DIGEST_INVALID")
        const right = yield* putManifest(registry, "a/b", sha256(manifest), manifest)
        expect(right.status).toBe(201)
        expect(right.headers["docker-content-digest"]).toBe(sha256(manifest))
        const badTag = yield* putManifest(registry, "a/b", "-bad", manifest)
        expect(badTag.status).toBe(400)
        expect(codeOf(badTag)).toBe("TAG_INVALID")
        const badDigest = yield* send("GET", `${registry.url}/v2/a/b/manifests/sha256:123`)
        expect(codeOf(badDigest)).toBe("DIGEST_INVALID")
      }))

    it.scoped("Content-Type must be a manifest type and agree with mediaType (MANIFEST_INVALID)", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const { config, layer, manifest } = yield* seedImage(registry, "a/b")
        const text = yield* putManifest(registry, "a/b", "t", manifest, {}, "text/plain")
        expect(text.status).toBe(400)
        expect(codeOf(text)).toBe("MANIFEST_INVALID")
        const mismatch = yield* putManifest(registry, "a/b", "t", manifest, {}, MediaType.DockerManifest)
        expect(mismatch.status).toBe(400)
        expect(codeOf(mismatch)).toBe("MANIFEST_INVALID")
        const notJson = yield* putManifest(registry, "a/b", "t", "{not json", {}, MediaType.OciManifest)
        expect(codeOf(notJson)).toBe("MANIFEST_INVALID")
        const schema1 = yield* putManifest(registry, "a/b", "t", "{}", {}, MediaType.DockerSchema1SignedManifest)
        expect(codeOf(schema1)).toBe("MANIFEST_INVALID")

        // no mediaType field: the Content-Type says what it is
        const bare = JSON.parse(manifest)
        delete bare.mediaType
        const withoutField = yield* putManifest(registry, "a/b", "bare", JSON.stringify(bare))
        expect(withoutField.status).toBe(201)
        // a Docker schema 2 manifest with parameters on the Content-Type
        const docker = JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.DockerManifest,
          config: { mediaType: MediaType.DockerConfig, ...config },
          layers: [{ mediaType: MediaType.DockerLayer, ...layer }]
        })
        const dockerPut = yield* putManifest(
          registry,
          "a/b",
          "docker",
          docker,
          {},
          `${MediaType.DockerManifest}; charset=utf-8`
        )
        expect(dockerPut.status).toBe(201)
        const get = yield* send("GET", `${registry.url}/v2/a/b/manifests/docker`)
        expect(get.headers["content-type"]).toBe(MediaType.DockerManifest)
      }))

    it.scoped("referenced blobs must exist (MANIFEST_BLOB_UNKNOWN); index children too (MANIFEST_UNKNOWN)", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const { config, layer, manifest } = yield* seedImage(registry, "a/b")
        const missingLayer = imageManifest(config, [layer, { digest: sha256("missing"), size: 7 }])
        const refused = yield* putManifest(registry, "a/b", "t", missingLayer)
        expect(refused.status).toBe(400)
        expect(JSON.parse(refused.text).errors[0]).toMatchObject({
          code: "MANIFEST_BLOB_UNKNOWN",
          detail: { digest: sha256("missing") }
        })
        const missingConfig = imageManifest({ digest: sha256("no config"), size: 9 }, [layer])
        expect(codeOf(yield* putManifest(registry, "a/b", "t", missingConfig))).toBe("MANIFEST_BLOB_UNKNOWN")
        // blobs of another repository do not count
        expect(codeOf(yield* putManifest(registry, "c/d", "t", manifest))).toBe("MANIFEST_BLOB_UNKNOWN")
        // a layer with URLs (foreign) is not checked
        const foreign = JSON.stringify({
          ...JSON.parse(manifest),
          layers: [{
            mediaType: MediaType.OciLayerGzip,
            digest: sha256("far"),
            size: 3,
            urls: ["https://example.com/l"]
          }]
        })
        expect((yield* putManifest(registry, "a/b", "foreign", foreign)).status).toBe(201)

        const index = indexOf([{ digest: sha256(manifest), size: manifest.length }])
        const orphan = yield* putManifest(registry, "a/b", "multi", index, {}, MediaType.OciIndex)
        expect(orphan.status).toBe(400)
        expect(codeOf(orphan)).toBe("MANIFEST_UNKNOWN")
        yield* putManifest(registry, "a/b", sha256(manifest), manifest)
        const accepted = yield* putManifest(registry, "a/b", "multi", index, {}, MediaType.OciIndex)
        expect(accepted.status).toBe(201)
        const get = yield* send("GET", `${registry.url}/v2/a/b/manifests/multi`)
        expect(get.headers["content-type"]).toBe(MediaType.OciIndex)
        expect(get.text).toBe(index)
      }))

    it.scoped("a body over 4 MiB is 413 MANIFEST_INVALID", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const { manifest } = yield* seedImage(registry, "a/b")
        const padded = JSON.stringify({
          ...JSON.parse(manifest),
          annotations: { pad: "x".repeat(V2Registry.maxManifestSize) }
        })
        const reply = yield* putManifest(registry, "a/b", "big", padded)
        expect(reply.status).toBe(413)
        expect(codeOf(reply)).toBe("MANIFEST_INVALID")
        // the connection is still good
        expect((yield* send("GET", `${registry.url}/v2/`)).status).toBe(200)
      }))

    it.scoped("DELETE by tag removes the tag; by digest the manifest and its tags (202)", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const { manifest } = yield* seedImage(registry, "a/b")
        const digest = sha256(manifest)
        yield* putManifest(registry, "a/b", "one", manifest)
        yield* putManifest(registry, "a/b", "two", manifest)
        expect((yield* send("DELETE", `${registry.url}/v2/a/b/manifests/one`)).status).toBe(202)
        expect((yield* send("GET", `${registry.url}/v2/a/b/manifests/one`)).status).toBe(404)
        expect((yield* send("GET", `${registry.url}/v2/a/b/manifests/${digest}`)).status).toBe(200)
        expect((yield* send("DELETE", `${registry.url}/v2/a/b/manifests/${digest}`)).status).toBe(202)
        const gone = yield* send("GET", `${registry.url}/v2/a/b/manifests/two`)
        expect(gone.status).toBe(404)
        expect(codeOf(gone)).toBe("MANIFEST_UNKNOWN")
        const again = yield* send("DELETE", `${registry.url}/v2/a/b/manifests/${digest}`)
        expect(again.status).toBe(404)
        expect(codeOf(again)).toBe("MANIFEST_UNKNOWN")
        expect(yield* registry.tags("a/b")).toEqual(Option.some({}))
      }))
  })

  describe("tags and catalog", () => {
    it.scoped("tags/list in lexical order, paginated with n, last and Link", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const { manifest } = yield* seedImage(registry, "a/b")
        for (const tag of ["v2", "v10", "latest", "V1", "alpha"]) {
          yield* registry.addManifest("a/b", manifest, { tag })
        }
        const all = yield* send("GET", `${registry.url}/v2/a/b/tags/list`)
        expect(JSON.parse(all.text)).toEqual({ name: "a/b", tags: ["V1", "alpha", "latest", "v10", "v2"] })
        expect(all.headers["link"]).toBeUndefined()

        const first = yield* send("GET", `${registry.url}/v2/a/b/tags/list?n=2`)
        expect(JSON.parse(first.text).tags).toEqual(["V1", "alpha"])
        expect(first.headers["link"]).toBe(`</v2/a/b/tags/list?n=2&last=alpha>; rel="next"`)
        const second = yield* send("GET", `${registry.url}/v2/a/b/tags/list?n=2&last=alpha`)
        expect(JSON.parse(second.text).tags).toEqual(["latest", "v10"])
        const third = yield* send("GET", `${registry.url}/v2/a/b/tags/list?n=2&last=v10`)
        expect(JSON.parse(third.text).tags).toEqual(["v2"])
        expect(third.headers["link"]).toBeUndefined()
        const exact = yield* send("GET", `${registry.url}/v2/a/b/tags/list?n=5`)
        expect(exact.headers["link"]).toBeUndefined()
        const none = yield* send("GET", `${registry.url}/v2/a/b/tags/list?n=0`)
        expect(JSON.parse(none.text).tags).toEqual([])
        expect(none.headers["link"]).toBeUndefined()

        const badN = yield* send("GET", `${registry.url}/v2/a/b/tags/list?n=-1`)
        expect(badN.status).toBe(400)
        expect(codeOf(badN)).toBe("PAGINATION_NUMBER_INVALID")
        const unknown = yield* send("GET", `${registry.url}/v2/x/y/tags/list`)
        expect(unknown.status).toBe(404)
        expect(codeOf(unknown)).toBe("NAME_UNKNOWN")
      }))

    it.scoped("_catalog in lexical order, paginated with Link", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        for (const name of ["b/two", "a/one", "c", "a/b/c"]) yield* registry.addBlob(name, bytesOf(1))
        const all = yield* send("GET", `${registry.url}/v2/_catalog`)
        expect(JSON.parse(all.text)).toEqual({ repositories: ["a/b/c", "a/one", "b/two", "c"] })
        const first = yield* send("GET", `${registry.url}/v2/_catalog?n=2`)
        expect(JSON.parse(first.text).repositories).toEqual(["a/b/c", "a/one"])
        const link = first.headers["link"] ?? ""
        expect(link).toBe(`</v2/_catalog?n=2&last=a%2Fone>; rel="next"`)
        const next = yield* send("GET", `${registry.url}${/^<([^>]+)>/.exec(link)?.[1]}`)
        expect(JSON.parse(next.text).repositories).toEqual(["b/two", "c"])
        expect(next.headers["link"]).toBeUndefined()
        expect(yield* registry.repositories).toEqual(["a/b/c", "a/one", "b/two", "c"])
      }))
  })

  describe("referrers", () => {
    const artifact = (
      subject: { readonly digest: string; readonly size: number },
      config: { readonly digest: string; readonly size: number },
      artifactType: string | undefined
    ): string =>
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        ...(artifactType === undefined ? {} : { artifactType }),
        config: {
          mediaType: artifactType === undefined ? "application/vnd.example.config+json" : MediaType.OciEmpty,
          ...config
        },
        layers: [],
        subject: { mediaType: MediaType.OciManifest, ...subject },
        annotations: { "org.example": "yes" }
      })

    it.scoped("lists the manifests whose subject is the digest, filtered by artifactType", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const { manifest } = yield* seedImage(registry, "a/b")
        const subject = { digest: sha256(manifest), size: manifest.length }
        yield* putManifest(registry, "a/b", "v1", manifest)
        const empty = { digest: yield* registry.addBlob("a/b", new Uint8Array(Buffer.from("{}"))), size: 2 }
        const signature = artifact(subject, empty, "application/vnd.example.signature")
        const sbom = artifact(subject, empty, "application/vnd.example.sbom")
        const untyped = artifact(subject, empty, undefined)
        const configBlob = yield* registry.addBlob("a/b", new Uint8Array(Buffer.from("{}")))
        expect(configBlob).toBe(empty.digest)

        const put = yield* putManifest(registry, "a/b", sha256(signature), signature)
        expect(put.status).toBe(201)
        expect(put.headers["oci-subject"]).toBe(subject.digest)
        yield* putManifest(registry, "a/b", sha256(sbom), sbom)
        yield* putManifest(registry, "a/b", sha256(untyped), untyped)

        const all = yield* send("GET", `${registry.url}/v2/a/b/referrers/${subject.digest}`)
        expect(all.status).toBe(200)
        expect(all.headers["content-type"]).toBe(MediaType.OciIndex)
        expect(all.headers["oci-filters-applied"]).toBeUndefined()
        const index = JSON.parse(all.text)
        expect(index.schemaVersion).toBe(2)
        expect(index.mediaType).toBe(MediaType.OciIndex)
        expect(index.manifests).toEqual([
          {
            mediaType: MediaType.OciManifest,
            digest: sha256(signature),
            size: signature.length,
            artifactType: "application/vnd.example.signature",
            annotations: { "org.example": "yes" }
          },
          {
            mediaType: MediaType.OciManifest,
            digest: sha256(sbom),
            size: sbom.length,
            artifactType: "application/vnd.example.sbom",
            annotations: { "org.example": "yes" }
          },
          {
            mediaType: MediaType.OciManifest,
            digest: sha256(untyped),
            size: untyped.length,
            artifactType: "application/vnd.example.config+json",
            annotations: { "org.example": "yes" }
          }
        ])

        const filtered = yield* send(
          "GET",
          `${registry.url}/v2/a/b/referrers/${subject.digest}?artifactType=application/vnd.example.sbom`
        )
        expect(filtered.headers["oci-filters-applied"]).toBe("artifactType")
        expect(JSON.parse(filtered.text).manifests.map((m: { digest: string }) => m.digest)).toEqual([sha256(sbom)])

        const none = yield* send("GET", `${registry.url}/v2/a/b/referrers/${sha256("nothing refers")}`)
        expect(none.status).toBe(200)
        expect(JSON.parse(none.text).manifests).toEqual([])
        const invalid = yield* send("GET", `${registry.url}/v2/a/b/referrers/sha256:zz`)
        expect(invalid.status).toBe(400)
        expect(codeOf(invalid)).toBe("DIGEST_INVALID")

        // deleting a referrer removes it from the list
        yield* send("DELETE", `${registry.url}/v2/a/b/manifests/${sha256(sbom)}`)
        const after = yield* send("GET", `${registry.url}/v2/a/b/referrers/${subject.digest}`)
        expect(JSON.parse(after.text).manifests).toHaveLength(2)
      }))

    it.scoped("referrersApi: false answers 404, so clients use the sha256-<hex> tag fallback", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make({ referrersApi: false })
        const reply = yield* send("GET", `${registry.url}/v2/a/b/referrers/${sha256("x")}`)
        expect(reply.status).toBe(404)
        const { manifest } = yield* seedImage(registry, "a/b")
        const fallbackTag = `sha256-${sha256("x").slice("sha256:".length)}`
        const index = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] })
        expect((yield* putManifest(registry, "a/b", fallbackTag, index, {}, MediaType.OciIndex)).status).toBe(201)
        expect((yield* putManifest(registry, "a/b", "v1", manifest)).status).toBe(201)
      }))
  })

  describe("basic auth", () => {
    it.scoped("every /v2/ call needs the credentials: 401 with Basic realm=\"dockside\" otherwise", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make({ basicAuth: { username: "alice", password: Redacted.make("s3cret") } })
        const anonymous = yield* send("GET", `${registry.url}/v2/`)
        expect(anonymous.status).toBe(401)
        expect(anonymous.headers["www-authenticate"]).toBe(`Basic realm="dockside"`)
        expect(codeOf(anonymous)).toBe("UNAUTHORIZED")
        const wrong = yield* send("GET", `${registry.url}/v2/a/b/tags/list`, {
          headers: { Authorization: basic("alice", "nope") }
        })
        expect(wrong.status).toBe(401)
        const right = { Authorization: basic("alice", "s3cret") }
        expect((yield* send("GET", `${registry.url}/v2/`, { headers: right })).status).toBe(200)
        const bytes = bytesOf(10)
        expect((yield* pushBlob(registry, "a/b", bytes, right)).status).toBe(201)
        expect((yield* send("GET", `${registry.url}/v2/a/b/blobs/${sha256(bytes)}`, { headers: right })).status)
          .toBe(200)
        expect((yield* send("GET", `${registry.url}/v2/_catalog`)).status).toBe(401)
      }))
  })

  describe("token auth", () => {
    const users = [{ username: "alice", password: "s3cret" }]

    it.scoped("challenges with the realm, the service and the scope the request needs", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make({ tokenAuth: { users } })
        const ping = yield* send("GET", `${registry.url}/v2/`)
        expect(ping.status).toBe(401)
        expect(ping.headers["www-authenticate"]).toBe(
          `Bearer realm="${registry.url}/token",service="dockside-v2"`
        )
        const cases: ReadonlyArray<readonly [Send.Method, string, string]> = [
          ["GET", "/v2/a/b/manifests/latest", "repository:a/b:pull"],
          ["HEAD", "/v2/a/b/blobs/" + sha256("x"), "repository:a/b:pull"],
          ["POST", "/v2/a/b/blobs/uploads/", "repository:a/b:pull,push"],
          ["PUT", "/v2/a/b/manifests/latest", "repository:a/b:pull,push"],
          ["DELETE", "/v2/a/b/manifests/latest", "repository:a/b:delete"],
          ["GET", "/v2/_catalog", "registry:catalog:*"],
          [
            "POST",
            `/v2/a/b/blobs/uploads/?mount=${sha256("x")}&from=c/d`,
            "repository:a/b:pull,push repository:c/d:pull"
          ]
        ]
        for (const [method, path, scope] of cases) {
          const reply = yield* send(method, `${registry.url}${path}`)
          expect(reply.status, `${method} ${path}`).toBe(401)
          const challenge = yield* challengeOf(reply)
          expect(challenge.scheme).toBe("Bearer")
          expect(challenge.realm).toBe(`${registry.url}/token`)
          expect(challenge.service).toBe("dockside-v2")
          expect(challenge.params.get("scope")).toBe(scope)
          expect(challenge.error).toBeUndefined()
        }
      }))

    it.scoped("tokens carry their grants: pull for anonymous, everything for users; insufficient_scope", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make({ tokenAuth: { users } })
        const bytes = bytesOf(20)
        yield* registry.addBlob("a/b", bytes)
        const blobUrl = `${registry.url}/v2/a/b/blobs/${sha256(bytes)}`

        const anonymous = yield* tokenFor(registry, ["repository:a/b:pull,push"])
        expect((yield* send("GET", `${registry.url}/v2/`, { headers: anonymous })).status).toBe(200)
        expect((yield* send("GET", blobUrl, { headers: anonymous })).status).toBe(200)
        const push = yield* send("POST", `${registry.url}/v2/a/b/blobs/uploads/`, { headers: anonymous })
        expect(push.status).toBe(401)
        const challenge = yield* challengeOf(push)
        expect(challenge.error).toBe("insufficient_scope")
        expect(challenge.params.get("scope")).toBe("repository:a/b:pull,push")
        const otherRepository = yield* send("GET", `${registry.url}/v2/c/d/tags/list`, { headers: anonymous })
        expect((yield* challengeOf(otherRepository)).error).toBe("insufficient_scope")

        const alice = yield* tokenFor(registry, ["repository:a/b:pull,push"], {
          Authorization: basic("alice", "s3cret")
        })
        expect((yield* send("POST", `${registry.url}/v2/a/b/blobs/uploads/`, { headers: alice })).status).toBe(202)
        expect((yield* send("DELETE", blobUrl, { headers: alice })).status).toBe(401)
        const deleter = yield* tokenFor(registry, ["repository:a/b:delete"], {
          Authorization: basic("alice", "s3cret")
        })
        expect((yield* send("DELETE", blobUrl, { headers: deleter })).status).toBe(202)
        const catalog = yield* tokenFor(registry, ["registry:catalog:*"], { Authorization: basic("alice", "s3cret") })
        expect((yield* send("GET", `${registry.url}/v2/_catalog`, { headers: catalog })).status).toBe(200)

        const wrongPassword = yield* send(
          "GET",
          `${registry.url}/token?service=dockside-v2&scope=repository:a/b:pull`,
          {
            headers: { Authorization: basic("alice", "wrong") }
          }
        )
        expect(wrongPassword.status).toBe(401)
        const bogus = yield* send("GET", blobUrl, { headers: { Authorization: "Bearer not-a-token" } })
        expect(bogus.status).toBe(401)
        expect((yield* challengeOf(bogus)).error).toBe("invalid_token")
        const wrongService = yield* send("GET", `${registry.url}/token?service=elsewhere`)
        expect(wrongService.status).toBe(400)

        const log = yield* registry.tokenRequests
        expect(log.map((entry) => [entry.method, entry.username, entry.status, entry.granted])).toEqual([
          ["GET", undefined, 200, ["repository:a/b:pull"]],
          ["GET", "alice", 200, ["repository:a/b:pull,push"]],
          ["GET", "alice", 200, ["repository:a/b:delete"]],
          ["GET", "alice", 200, ["registry:catalog:*"]],
          ["GET", "alice", 401, []],
          ["GET", undefined, 400, []]
        ])
        expect(log[0].scopes).toEqual(["repository:a/b:pull,push"])
        expect(log[0].service).toBe("dockside-v2")
      }))

    it.scoped("without users everyone gets what they ask for", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make({ tokenAuth: {} })
        const token = yield* tokenFor(registry, ["repository:a/b:pull,push,delete"])
        const bytes = bytesOf(5)
        expect((yield* pushBlob(registry, "a/b", bytes, token)).status).toBe(201)
        expect((yield* send("DELETE", `${registry.url}/v2/a/b/blobs/${sha256(bytes)}`, { headers: token })).status)
          .toBe(202)
      }))

    it.scoped("the token answer has token, access_token, expires_in, issued_at; tokens expire on Effect's clock", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make({ tokenAuth: { users, expiresIn: 60 } })
        const reply = yield* send("GET", `${registry.url}/token?service=dockside-v2&scope=repository:a/b:pull`)
        const body = JSON.parse(reply.text)
        expect(reply.headers["content-type"]).toBe("application/json")
        expect(Object.keys(body).sort()).toEqual(["access_token", "expires_in", "issued_at", "token"])
        expect(body.access_token).toBe(body.token)
        expect(body.expires_in).toBe(60)
        expect(body.issued_at).toBe(new Date(0).toISOString()) // TestClock time
        const headers = { Authorization: `Bearer ${body.token}` }
        expect((yield* send("GET", `${registry.url}/v2/`, { headers })).status).toBe(200)
        yield* TestClock.adjust("59 seconds")
        expect((yield* send("GET", `${registry.url}/v2/`, { headers })).status).toBe(200)
        yield* TestClock.adjust("1 second")
        const expired = yield* send("GET", `${registry.url}/v2/`, { headers })
        expect(expired.status).toBe(401)
        expect((yield* challengeOf(expired)).error).toBe("invalid_token")
      }))

    it.scoped("POST /token: password and refresh_token grants answer a refresh token", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make({ tokenAuth: { users } })
        const form = (fields: Record<string, string>) =>
          send("POST", `${registry.url}/token`, {
            body: new URLSearchParams(fields).toString(),
            contentType: "application/x-www-form-urlencoded"
          })
        const password = yield* form({
          grant_type: "password",
          username: "alice",
          password: "s3cret",
          service: "dockside-v2",
          scope: "repository:a/b:pull,push repository:c/d:pull",
          client_id: "dockside"
        })
        expect(password.status).toBe(200)
        const first = JSON.parse(password.text)
        expect(first.refresh_token).toEqual(expect.any(String))
        expect(first.scope).toBe("repository:a/b:pull,push repository:c/d:pull")
        expect(
          (yield* send("POST", `${registry.url}/v2/a/b/blobs/uploads/`, {
            headers: { Authorization: `Bearer ${first.access_token}` }
          })).status
        ).toBe(202)

        const refreshed = yield* form({
          grant_type: "refresh_token",
          refresh_token: first.refresh_token,
          service: "dockside-v2",
          scope: "repository:e/f:push"
        })
        expect(refreshed.status).toBe(200)
        const second = JSON.parse(refreshed.text)
        expect(second.refresh_token).toBe(first.refresh_token)
        expect(second.access_token).not.toBe(first.access_token)
        expect(second.scope).toBe("repository:e/f:push")

        expect((yield* form({ grant_type: "password", username: "alice", password: "no" })).status).toBe(401)
        expect((yield* form({ grant_type: "refresh_token", refresh_token: "unknown" })).status).toBe(401)
        const unsupported = yield* form({ grant_type: "client_credentials" })
        expect(unsupported.status).toBe(400)
        expect(JSON.parse(unsupported.text).error).toBe("unsupported_grant_type")

        const offline = yield* send("GET", `${registry.url}/token?service=dockside-v2&offline_token=true`, {
          headers: { Authorization: basic("alice", "s3cret") }
        })
        expect(JSON.parse(offline.text).refresh_token).toEqual(expect.any(String))
        expect((yield* registry.tokenRequests).map((entry) => [entry.method, entry.grantType, entry.status])).toEqual([
          ["POST", "password", 200],
          ["POST", "refresh_token", 200],
          ["POST", "password", 401],
          ["POST", "refresh_token", 401],
          ["POST", "client_credentials", 400],
          ["GET", undefined, 200]
        ])
      }))

    it.scoped("a mount needs pull on the source: without it the server opens an upload instead", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make({ tokenAuth: {} })
        const digest = yield* registry.addBlob("src/repo", bytesOf(8))
        const url = `${registry.url}/v2/dst/repo/blobs/uploads/?mount=${digest}&from=src/repo`
        const pushOnly = yield* tokenFor(registry, ["repository:dst/repo:pull,push"])
        expect((yield* send("POST", url, { headers: pushOnly })).status).toBe(202)
        const both = yield* tokenFor(registry, ["repository:dst/repo:pull,push", "repository:src/repo:pull"])
        expect((yield* send("POST", url, { headers: both })).status).toBe(201)
      }))
  })

  describe("faults", () => {
    it.scoped("failNext answers the next requests with a status, headers and an error body", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        yield* registry.failNext(2, 429, { "Retry-After": "3" })
        for (let i = 0; i < 2; i++) {
          const reply = yield* send("GET", `${registry.url}/v2/`)
          expect(reply.status).toBe(429)
          expect(reply.headers["retry-after"]).toBe("3")
          expect(codeOf(reply)).toBe("TOOMANYREQUESTS")
        }
        expect((yield* send("GET", `${registry.url}/v2/`)).status).toBe(200)
        yield* registry.failNext(1, 503)
        expect(codeOf(yield* send("GET", `${registry.url}/v2/_catalog`))).toBe("UNAVAILABLE")
        expect((yield* registry.failNext(1, 99).pipe(Effect.flip))._tag).toBe("InvalidArgument")
        expect((yield* registry.failNext(1, 429, { "Bad Name": "x" }).pipe(Effect.flip))._tag).toBe("InvalidArgument")
      }))

    it.scoped("cutBlobAfter drops the connection after N body bytes, for `times` downloads", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const bytes = bytesOf(1000)
        const digest = yield* registry.addBlob("a/b", bytes)
        const url = `${registry.url}/v2/a/b/blobs/${digest}`
        yield* registry.cutBlobAfter(100, 2)
        for (let i = 0; i < 2; i++) {
          const cut = yield* readUntilDropped(url)
          expect(cut.response.status).toBe(200)
          expect(cut.response.headers["content-length"]).toBe("1000")
          expect(cut.received).toBe(100)
          expect(cut.failed).toBe(true)
        }
        const whole = yield* readUntilDropped(url)
        expect(whole.received).toBe(1000)
        expect(whole.failed).toBe(false)
        // a resumed range is cut too
        yield* registry.cutBlobAfter(10)
        const client = yield* HttpClient.HttpClient
        const ranged = yield* client.execute(
          HttpClientRequest.get(url).pipe(HttpClientRequest.setHeader("Range", "bytes=500-"))
        )
        expect(ranged.status).toBe(206)
        expect(Either.isLeft(yield* Effect.either(ranged.arrayBuffer))).toBe(true)
      }))

    it.scoped("stallBlob sends the headers and then nothing", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const digest = yield* registry.addBlob("a/b", bytesOf(100))
        yield* registry.stallBlob()
        const client = yield* HttpClient.HttpClient
        const response = yield* client.get(`${registry.url}/v2/a/b/blobs/${digest}`)
        expect(response.status).toBe(200)
        expect(response.headers["content-length"]).toBe("100")
        const reading = yield* response.arrayBuffer.pipe(Effect.timeout("30 seconds"), Effect.either, Effect.fork)
        yield* TestClock.adjust("30 seconds")
        const outcome = yield* Fiber.join(reading)
        expect(Either.isLeft(outcome) && outcome.left._tag).toBe("TimeoutException")
        // only once
        expect((yield* send("GET", `${registry.url}/v2/a/b/blobs/${digest}`)).bytes.length).toBe(100)
      }))

    it.scoped("redirectBlobsTo answers blob GETs with 307 to another origin, signed", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const storage = yield* FaultServer.make()
        const bytes = bytesOf(50)
        const digest = yield* registry.addBlob("a/b", bytes)
        const path = `/v2/a/b/blobs/${digest}`
        yield* storage.respond(path, [{ status: 200, body: bytes }])
        yield* registry.redirectBlobsTo(`${storage.url}/`)

        const redirect = yield* send("GET", `${registry.url}${path}`)
        expect(redirect.status).toBe(307)
        const location = new URL(redirect.headers["location"] ?? "")
        expect(location.origin).toBe(storage.url)
        expect(location.pathname).toBe(path)
        expect(location.searchParams.get("X-Dockside-Expires")).toMatch(/^\d+$/)
        expect(location.searchParams.get("X-Dockside-Signature")).toMatch(/^[0-9a-f]{64}$/)
        const followed = yield* send("GET", location.toString())
        expect(followed.bytes).toEqual(bytes)
        expect((yield* storage.requests)[0].url).toBe(location.pathname + location.search)

        expect((yield* send("HEAD", `${registry.url}${path}`)).status).toBe(200)
        expect((yield* send("GET", `${registry.url}/v2/a/b/blobs/${sha256("none")}`)).status).toBe(404)
        yield* registry.redirectBlobsTo(undefined)
        expect((yield* send("GET", `${registry.url}${path}`)).status).toBe(200)
        expect((yield* registry.redirectBlobsTo("ftp://x").pipe(Effect.flip))._tag).toBe("InvalidArgument")
      }))
  })

  describe("accounting and the service", () => {
    it.scoped("logs every request with lower-case headers, and forgets them on demand", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make({ requestLogLimit: 2 })
        yield* send("GET", `${registry.url}/v2/`, { headers: { "X-Test": "one" } })
        yield* send("GET", `${registry.url}/v2/a/b/tags/list?n=1`, { headers: { "X-Test": "two" } })
        yield* send("DELETE", `${registry.url}/v2/a/b/manifests/latest`, { headers: { "X-Test": "three" } })
        const log = yield* registry.requests
        expect(log.map((entry) => [entry.method, entry.path, entry.url, entry.headers["x-test"]])).toEqual([
          ["GET", "/v2/a/b/tags/list", "/v2/a/b/tags/list?n=1", "two"],
          ["DELETE", "/v2/a/b/manifests/latest", "/v2/a/b/manifests/latest", "three"]
        ])
        yield* registry.clearRequests
        expect(yield* registry.requests).toEqual([])
      }))

    it.scoped("addManifest applies the push rules; manifests and tags show what is stored", () =>
      Effect.gen(function*() {
        const registry = yield* V2Registry.make()
        const { manifest } = yield* seedImage(registry, "a/b")
        const digest = yield* registry.addManifest("a/b", manifest, { tag: "v1" })
        expect(digest).toBe(sha256(manifest))
        expect(yield* registry.tags("a/b")).toEqual(Option.some({ v1: digest }))
        expect(yield* registry.tags("x/y")).toEqual(Option.none())
        expect(yield* registry.manifests("x/y")).toEqual([])
        const [stored] = yield* registry.manifests("a/b")
        expect(Buffer.from(stored.bytes).toString("utf8")).toBe(manifest)
        expect(stored.artifactType).toBe(MediaType.OciConfig)

        const missing = yield* registry.addManifest("c/d", manifest).pipe(Effect.flip)
        expect(missing.reason).toContain("MANIFEST_BLOB_UNKNOWN")
        expect((yield* registry.addManifest("a/b", manifest, { tag: "bad tag" }).pipe(Effect.flip)).name).toBe("tag")
        expect((yield* registry.addBlob("Bad", bytesOf(1)).pipe(Effect.flip)).name).toBe("repository name")
      }))
  })
})
