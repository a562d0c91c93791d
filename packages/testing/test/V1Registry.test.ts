import * as V1Endpoint from "@dockside/protocol/V1Endpoint"
import * as V1Wire from "@dockside/protocol/V1Wire"
import * as V1Registry from "@dockside/testing/V1Registry"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import * as Http from "node:http"
import * as Send from "./support/Send.js"

const { baseImage, childImage } = V1Registry.seed
const unknownImage = "0123456789abcdef".repeat(4)

const send = Send.send

const basic = (username: string, password: string): string =>
  `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`

const asksToken = { "X-Docker-Token": "true" }

/** Ask the index for a token (`GET …/images` for a read token, `PUT …/` for a write token). */
const tokenFor = (
  registry: V1Registry.Service,
  repository: string,
  access: "read" | "write" | "delete",
  headers: Record<string, string> = {}
) =>
  Effect.gen(function*() {
    const url = `${registry.url}/v1/repositories/${repository}/`
    const reply = access === "read"
      ? yield* send("GET", `${url}images`, { headers: { ...asksToken, ...headers } })
      : access === "write"
      ? yield* send("PUT", url, { headers: { ...asksToken, ...headers }, body: "[]" })
      : yield* send("DELETE", url, { headers: { ...asksToken, ...headers } })
    const token = reply.headers["x-docker-token"]
    expect(token, `no token in a ${reply.status} answer: ${reply.text}`).toBeDefined()
    return { Authorization: `Token ${token}` }
  })

const json = (id: string, parent?: string): string =>
  JSON.stringify({ id, ...(parent === undefined ? {} : { parent }), comment: "pushed by a test" })

const payloadChecksum = (jsonText: string, layer: Uint8Array): string =>
  `sha256:${createHash("sha256").update(jsonText).update("\n").update(layer).digest("hex")}`

const layerOf = (size: number): Uint8Array => Uint8Array.from({ length: size }, (_, i) => (i * 7) % 251)

/** Push one image (json, layer, checksum) with the given auth headers; returns the three statuses. */
const pushImage = (
  registry: V1Registry.Service,
  headers: Record<string, string>,
  id: string,
  layer: Uint8Array,
  parent?: string
) =>
  Effect.gen(function*() {
    const text = json(id, parent)
    const put = yield* send("PUT", `${registry.url}/v1/images/${id}/json`, { headers, body: text })
    const upload = yield* send("PUT", `${registry.url}/v1/images/${id}/layer`, {
      headers,
      body: Stream.make(layer.subarray(0, 10), layer.subarray(10))
    })
    const checksum = yield* send("PUT", `${registry.url}/v1/images/${id}/checksum`, {
      headers: {
        ...headers,
        "X-Docker-Checksum": "tarsum+sha256:test",
        "X-Docker-Checksum-Payload": payloadChecksum(text, layer)
      }
    })
    return [put.status, upload.status, checksum.status]
  })

/** Read a layer body until the server drops the connection: the bytes that arrived, and whether it failed. */
const readUntilDropped = (url: string, headers: Record<string, string>) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const received = yield* Ref.make(0)
    const response = yield* client.execute(HttpClientRequest.get(url).pipe(HttpClientRequest.setHeaders(headers)))
    const outcome = yield* response.stream.pipe(
      Stream.runForEach((chunk) => Ref.update(received, (n) => n + chunk.length)),
      Effect.either
    )
    return { status: response.status, received: yield* Ref.get(received), failed: Either.isLeft(outcome) }
  })

layer(NodeHttpClient.layerUndici)("V1Registry", (it) => {
  describe("server", () => {
    it.scoped("listens on 127.0.0.1 with a free port and exposes its addresses", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        expect(registry.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
        expect(registry.host).toBe(registry.url.slice("http://".length))
        expect(registry.indexAddress).toBe(`${registry.url}/v1/`)
        expect(registry.standalone).toBe(false)
        const other = yield* V1Registry.make()
        expect(other.url).not.toBe(registry.url)
      }))

    it.effect("stops when its scope closes", () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const registry = yield* V1Registry.make().pipe(Scope.extend(scope))
        expect((yield* send("GET", `${registry.url}/v1/_ping`)).status).toBe(200)
        yield* Scope.close(scope, Exit.void)
        const after = yield* send("GET", `${registry.url}/v1/_ping`).pipe(Effect.either)
        expect(Either.isLeft(after)).toBe(true)
      }))

    it.effect("is available as a layer", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.V1Registry
        expect((yield* send("GET", `${registry.url}/v1/_ping`)).status).toBe(200)
      }).pipe(Effect.provide(V1Registry.layer({ standalone: true }))))

    it.scoped("answers unknown routes with a JSON 404 and common headers", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        const reply = yield* send("GET", `${registry.url}/v2/`)
        expect(reply.status).toBe(404)
        expect(JSON.parse(reply.text)).toEqual({ error: "Not found" })
        expect(reply.headers["x-docker-registry-version"]).toBe("0.9.1")
        expect(reply.headers["cache-control"]).toBe("no-cache")
        expect(reply.headers["pragma"]).toBe("no-cache")
        expect(reply.headers["expires"]).toBe("-1")
        const unknownRepositoryRoute = yield* send("GET", `${registry.url}/v1/repositories/foo42/bar/`)
        expect(unknownRepositoryRoute.status).toBe(404)
      }))
  })

  describe("ping (§7.1, §11.1)", () => {
    it.scoped("says not standalone by default, on /v1/_ping and /_ping", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        for (const path of ["/v1/_ping", "/_ping"]) {
          const reply = yield* send("GET", `${registry.url}${path}`)
          expect(reply.status).toBe(200)
          expect(reply.text).toBe("{}")
          expect(reply.headers["x-docker-registry-standalone"]).toBe("False")
          expect(reply.headers["x-docker-registry-version"]).toBe("0.9.1")
          expect(V1Wire.pingResult({
            body: reply.bytes,
            versionHeader: reply.headers["x-docker-registry-version"],
            standaloneHeader: reply.headers["x-docker-registry-standalone"]
          })).toEqual({ version: "0.9.1", standalone: false })
        }
      }))

    it.scoped("says standalone when standalone, and needs no credentials even when protected", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make({ standalone: true, basicAuth: { username: "u", password: "p" } })
        const reply = yield* send("GET", `${registry.url}/v1/_ping`)
        expect(reply.status).toBe(200)
        expect(reply.headers["x-docker-registry-standalone"]).toBe("True")
        expect(
          V1Wire.pingResult({
            body: reply.bytes,
            standaloneHeader: reply.headers["x-docker-registry-standalone"]
          }).standalone
        ).toBe(true)
      }))
  })

  describe("seed data and the registry_test.go reads (§10.3, §10.4)", () => {
    it.scoped("repository data: 2 images, endpoints, a read token", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make({ endpointsHeader: (host) => `${host} \t,  test.example.com ` })
        const reply = yield* send("GET", `${registry.url}/v1/repositories/foo42/bar/images`, { headers: asksToken })
        expect(reply.status).toBe(200)
        expect(JSON.parse(reply.text)).toEqual([
          { id: baseImage, checksum: "tarsum+sha256:4409a0685741ca86d38df878ed6f8cbba4c99de5dc73cd71aef04be3bb70be7c" },
          { id: childImage, checksum: "tarsum+sha256:68fdb56fb364f074eec2c9b3f85ca175329c4dcabc4a6a452b7272aa613a07a2" }
        ])
        expect(reply.headers["x-docker-endpoints"]).toBe(`${registry.host} \t,  test.example.com `)
        expect(V1Endpoint.buildEndpointsList([reply.headers["x-docker-endpoints"]!], registry.indexAddress)).toEqual([
          `${registry.url}/v1/`,
          "http://test.example.com/v1/"
        ])
        const token = reply.headers["x-docker-token"]!
        expect(token).toMatch(/^signature=[A-Z0-9]{16},repository="foo42\/bar",access=read$/)
        expect(reply.headers["www-authenticate"]).toBe(`Token ${token}`)
        expect((yield* registry.tokens).map((issued) => issued.value)).toEqual([token])
      }))

    it.scoped("default endpoints: the host the request was sent to; no token unless asked", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        const reply = yield* send("GET", `${registry.url}/v1/repositories/foo42/bar/images`)
        expect(reply.headers["x-docker-endpoints"]).toBe(registry.host)
        expect(reply.headers["x-docker-token"]).toBeUndefined()
        const missing = yield* send("GET", `${registry.url}/v1/repositories/foo42/baz/images`, { headers: asksToken })
        expect(missing.status).toBe(404)
      }))

    it.scoped("ancestry, image json with X-Docker-Size 154, layer, tags", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        const auth = yield* tokenFor(registry, "foo42/bar", "read")
        const images = `${registry.url}/v1/images`

        const ancestry = yield* send("GET", `${images}/${childImage}/ancestry`, { headers: auth })
        expect(JSON.parse(ancestry.text)).toEqual([childImage, baseImage])

        const imageJson = yield* send("GET", `${images}/${childImage}/json`, { headers: auth })
        expect(imageJson.status).toBe(200)
        expect(imageJson.headers["x-docker-size"]).toBe("154")
        expect(imageJson.headers["x-docker-checksum-payload"]).toBe(
          "sha256:bea7bf2e4bacd479344b737328db47b18880d09096e6674165533aa994f5e9f2"
        )
        expect(imageJson.headers["content-type"]).toBe("application/json")
        expect(imageJson.headers["cache-control"]).toBe("public, max-age=31536000")
        expect(imageJson.headers["pragma"]).toBeUndefined()
        expect(JSON.parse(imageJson.text)).toMatchObject({ id: childImage, parent: baseImage, Size: 424242 })
        const stored = yield* registry.image(childImage)
        expect(Option.map(stored, (image) => Buffer.from(image.json).toString("utf8"))).toEqual(
          Option.some(imageJson.text)
        )

        const layer = yield* send("GET", `${images}/${childImage}/layer`, { headers: auth })
        expect(layer.status).toBe(200)
        expect(layer.bytes.length).toBe(154)
        expect(layer.headers["accept-ranges"]).toBe("bytes")
        expect(layer.headers["content-type"]).toBe("application/octet-stream")
        expect([layer.bytes[0], layer.bytes[1]]).toEqual([0x1f, 0x8b])
        const base = yield* send("GET", `${images}/${baseImage}/layer`, { headers: auth })
        expect(base.bytes.length).toBe(152)

        const tags = yield* send("GET", `${registry.url}/v1/repositories/foo42/bar/tags`, { headers: auth })
        expect(JSON.parse(tags.text)).toEqual({ latest: childImage, test: childImage })
        const tag = yield* send("GET", `${registry.url}/v1/repositories/foo42/bar/tags/test`, { headers: auth })
        expect(JSON.parse(tag.text)).toBe(childImage)
      }))

    it.scoped("unknown images, repositories and tags", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        const auth = yield* tokenFor(registry, "foo42/bar", "read")
        const badId = yield* send("GET", `${registry.url}/v1/images/abcdef/json`, { headers: auth })
        expect([badId.status, JSON.parse(badId.text)]).toEqual([404, { error: "Invalid image ID" }])
        const unknown = yield* send("GET", `${registry.url}/v1/images/${unknownImage}/layer`, { headers: auth })
        expect([unknown.status, JSON.parse(unknown.text)]).toEqual([404, { error: "Image not found" }])
        const otherAuth = yield* tokenFor(registry, "foo42/baz", "write")
        expect(yield* registry.repositories).toContain("foo42/baz")
        const baz = yield* tokenFor(registry, "foo42/baz", "read", otherAuth)
        const noTags = yield* send("GET", `${registry.url}/v1/repositories/foo42/baz/tags/foo`, { headers: baz })
        expect([noTags.status, JSON.parse(noTags.text)]).toEqual([404, { error: "Tag not found" }])
        const missingTag = yield* send("GET", `${registry.url}/v1/repositories/foo42/bar/tags/nope`, { headers: auth })
        expect(JSON.parse(missingTag.text)).toEqual({ error: "Tag not found" })
        const badName = yield* send("GET", `${registry.url}/v1/repositories/Foo/Bar/tags`, { headers: auth })
        expect([badName.status, JSON.parse(badName.text)]).toEqual([400, { error: "Could not parse repository" }])
      }))

    it.scoped("without the seed the server starts empty", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make({ seed: false })
        expect(yield* registry.images).toEqual([])
        expect(yield* registry.repositories).toEqual([])
        const search = yield* send("GET", `${registry.url}/v1/search?q=fakequery`)
        expect(JSON.parse(search.text)).toEqual({ query: "fakequery", num_results: 0, results: [] })
      }))
  })

  describe("tokens on registry calls (§3, §11.1)", () => {
    it.scoped("a registry call without a token is refused with WWW-Authenticate: Token", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        const reply = yield* send("GET", `${registry.url}/v1/images/${childImage}/ancestry`)
        expect(reply.status).toBe(401)
        expect(reply.headers["www-authenticate"]).toBe("Token")
        expect(JSON.parse(reply.text)).toEqual({ error: "Requires authorization" })
        const fake = yield* send("GET", `${registry.url}/v1/repositories/foo42/bar/tags`, {
          headers: { Authorization: "Token fake-token" }
        })
        expect(fake.status).toBe(401)
        const basicOnRegistry = yield* send("GET", `${registry.url}/v1/repositories/foo42/bar/tags`, {
          headers: { Authorization: basic("u", "p") }
        })
        expect(basicOnRegistry.status).toBe(401)
      }))

    it.scoped("a token is checked against its repository and its access", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        const read = yield* tokenFor(registry, "foo42/bar", "read")
        const other = yield* tokenFor(registry, "foo42/other", "write")
        const tags = `${registry.url}/v1/repositories/foo42/bar/tags`
        expect((yield* send("GET", tags, { headers: read })).status).toBe(200)
        expect((yield* send("GET", tags, { headers: other })).status).toBe(401)
        const putWithRead = yield* send("PUT", `${tags}/stable`, { headers: read, body: `"${childImage}"` })
        expect(putWithRead.status).toBe(401)
        const write = yield* tokenFor(registry, "foo42/bar", "write")
        expect((yield* send("GET", tags, { headers: write })).status).toBe(401)
        expect((yield* send("PUT", `${tags}/stable`, { headers: write, body: `"${childImage}"` })).status).toBe(200)
        const doubled = { Authorization: `Token ${read.Authorization}` }
        expect((yield* send("GET", tags, { headers: doubled })).status).toBe(200)
        const joined = { Authorization: `${read.Authorization},${other.Authorization.slice("Token ".length)}` }
        expect((yield* send("GET", `${registry.url}/v1/images/${childImage}/json`, { headers: joined })).status).toBe(
          401
        )
      }))

    it.scoped("library names: a one-component repository is library/<name>", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        yield* registry.setTag("ubuntu", "latest", childImage)
        expect(yield* registry.repositories).toContain("library/ubuntu")
        const token = yield* send("GET", `${registry.url}/v1/repositories/ubuntu/images`, { headers: asksToken })
        expect(token.headers["x-docker-token"]).toContain(`repository="library/ubuntu"`)
        const auth = { Authorization: `Token ${token.headers["x-docker-token"]}` }
        const tags = yield* send("GET", `${registry.url}/v1/repositories/library/ubuntu/tags`, { headers: auth })
        expect(JSON.parse(tags.text)).toEqual({ latest: childImage })
      }))
  })

  describe("push: the Python registry's rules (§4.9–§4.12, §11.1)", () => {
    it.scoped("a full push: index start, json, streamed layer, checksum, tag, index end", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make({ seed: false })
        const start = yield* send("PUT", `${registry.url}/v1/repositories/team/app/`, {
          headers: asksToken,
          body: JSON.stringify([{ id: "a".repeat(64), Tag: "v1" }, { id: "b".repeat(64) }])
        })
        expect(start.status).toBe(200)
        expect(JSON.parse(start.text)).toBe("")
        expect(start.headers["x-docker-endpoints"]).toBe(registry.host)
        expect(start.headers["x-docker-token"]).toMatch(/repository="team\/app",access=write$/)
        const auth = { Authorization: `Token ${start.headers["x-docker-token"]}` }

        const root = "b".repeat(64)
        const top = "a".repeat(64)
        expect(yield* pushImage(registry, auth, root, layerOf(1000))).toEqual([200, 200, 200])
        expect(yield* pushImage(registry, auth, top, layerOf(300), root)).toEqual([200, 200, 200])
        const stored = Option.getOrThrow(yield* registry.image(top))
        expect(stored).toMatchObject({
          id: top,
          parent: root,
          ancestry: [top, root],
          layerSize: 300,
          checksumPayload: payloadChecksum(json(top, root), layerOf(300)),
          checksum: "tarsum+sha256:test",
          uploading: false
        })
        expect(yield* registry.layerBytes(top)).toEqual(Option.some(layerOf(300)))

        const tag = yield* send("PUT", `${registry.url}/v1/repositories/team/app/tags/v1`, {
          headers: auth,
          body: `"${top}"`
        })
        expect([tag.status, tag.text]).toEqual([200, "true"])
        const end = yield* send("PUT", `${registry.url}/v1/repositories/team/app/images`, {
          headers: asksToken,
          body: JSON.stringify([{ id: top, checksum: "tarsum+sha256:top" }])
        })
        expect(end.status).toBe(204)
        expect(end.headers["x-docker-token"]).toMatch(/access=write$/)
        expect(yield* registry.tags("team/app")).toEqual(Option.some({ v1: top }))

        const read = yield* tokenFor(registry, "team/app", "read")
        const list = yield* send("GET", `${registry.url}/v1/repositories/team/app/images`, { headers: read })
        expect(JSON.parse(list.text)).toEqual([{ id: top, checksum: "tarsum+sha256:top" }, { id: root }])
        const ancestry = yield* send("GET", `${registry.url}/v1/images/${top}/ancestry`, { headers: read })
        expect(JSON.parse(ancestry.text)).toEqual([top, root])
        const size = yield* send("GET", `${registry.url}/v1/images/${top}/json`, { headers: read })
        expect(size.headers["x-docker-size"]).toBe("300")
      }))

    it.scoped("image JSON rules: id format, JSON object, matching id, existing parent, completed image", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        const auth = yield* tokenFor(registry, "foo42/bar", "write")
        const put = (id: string, body: string) =>
          send("PUT", `${registry.url}/v1/images/${id}/json`, { headers: auth, body })
        const id = "c".repeat(64)
        const cases: ReadonlyArray<readonly [string, string, number, string]> = [
          ["abc", json("abc"), 404, "Invalid image ID"],
          [id.slice(0, 16), json(id.slice(0, 16)), 404, "Invalid image ID"],
          [id, "not json", 400, "Invalid JSON"],
          [id, "[1]", 400, "Invalid JSON"],
          [id, `{"comment":"no id"}`, 400, "Missing key `id' in JSON"],
          [id, json("d".repeat(64)), 400, "JSON data contains invalid id"],
          [id, json(id, unknownImage), 400, "Image depends on a non existing parent"],
          [childImage, json(childImage, baseImage), 409, "Image already exists"]
        ]
        for (const [path, body, status, error] of cases) {
          const reply = yield* put(path, body)
          expect([reply.status, JSON.parse(reply.text)], body).toEqual([status, { error }])
        }
        expect((yield* put(id, json(id, baseImage))).status).toBe(200)
        // a retry of an unfinished push is allowed
        expect((yield* put(id, json(id, baseImage))).status).toBe(200)
        expect(Option.map(yield* registry.image(id), (image) => image.ancestry)).toEqual(
          Option.some([id, baseImage])
        )
      }))

    it.scoped("an image being uploaded is not served; its layer needs its JSON first", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        const write = yield* tokenFor(registry, "foo42/bar", "write")
        const read = yield* tokenFor(registry, "foo42/bar", "read")
        const id = "e".repeat(64)
        const early = yield* send("PUT", `${registry.url}/v1/images/${id}/layer`, { headers: write, body: layerOf(5) })
        expect([early.status, JSON.parse(early.text)]).toEqual([404, { error: "Image not found" }])
        yield* send("PUT", `${registry.url}/v1/images/${id}/json`, { headers: write, body: json(id) })
        for (const action of ["json", "layer", "ancestry"]) {
          const reply = yield* send("GET", `${registry.url}/v1/images/${id}/${action}`, { headers: read })
          expect([reply.status, JSON.parse(reply.text)]).toEqual([400, {
            error: "Image is being uploaded, retry later"
          }])
        }
        expect(Option.map(yield* registry.image(id), (image) => image.uploading)).toEqual(Option.some(true))
      }))

    it.scoped("layer rules: completed images refuse a new layer; Docker before 0.10 gets 412", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        const auth = yield* tokenFor(registry, "foo42/bar", "write")
        const done = yield* send("PUT", `${registry.url}/v1/images/${childImage}/layer`, {
          headers: auth,
          body: layerOf(4)
        })
        expect([done.status, JSON.parse(done.text)]).toEqual([409, { error: "Image already exists" }])
        const id = "f".repeat(64)
        yield* send("PUT", `${registry.url}/v1/images/${id}/json`, { headers: auth, body: json(id) })
        const old = yield* send("PUT", `${registry.url}/v1/images/${id}/layer`, {
          headers: { ...auth, "User-Agent": "docker/0.9.1 go/go1.2.1 git-commit/3600720 kernel/3.8.0" },
          body: layerOf(4)
        })
        expect(old.status).toBe(412)
        const recent = yield* send("PUT", `${registry.url}/v1/images/${id}/layer`, {
          headers: { ...auth, "User-Agent": "docker/17.03.2-ce go/go1.7.5" },
          body: layerOf(4)
        })
        expect(recent.status).toBe(200)
      }))

    it.scoped("checksum rules: header required, known image, upload in progress, payload checksum must match", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        const auth = yield* tokenFor(registry, "foo42/bar", "write")
        const id = "1".repeat(64)
        const text = json(id)
        const layer = layerOf(2048)
        const checksum = (image: string, payload?: string) =>
          send("PUT", `${registry.url}/v1/images/${image}/checksum`, {
            headers: { ...auth, ...(payload === undefined ? {} : { "X-Docker-Checksum-Payload": payload }) }
          })
        const expectError = (reply: Send.Reply, status: number, error: string) =>
          expect([reply.status, JSON.parse(reply.text)]).toEqual([status, { error }])

        expectError(yield* checksum(id), 412, "Missing Image's checksum")
        expectError(yield* checksum(id, ""), 400, "Missing Image's checksum")
        expectError(yield* checksum(id, payloadChecksum(text, layer)), 404, "Image not found")
        expectError(yield* checksum(childImage, "sha256:x"), 409, "Cannot set this image checksum")
        yield* send("PUT", `${registry.url}/v1/images/${id}/json`, { headers: auth, body: text })
        expectError(yield* checksum(id, payloadChecksum(text, layer)), 400, "Checksum mismatch")
        yield* send("PUT", `${registry.url}/v1/images/${id}/layer`, { headers: auth, body: Stream.make(layer) })
        expectError(yield* checksum(id, payloadChecksum(text + " ", layer)), 400, "Checksum mismatch")
        expect((yield* checksum(id, payloadChecksum(text, layer))).status).toBe(200)
        expectError(yield* checksum(id, payloadChecksum(text, layer)), 409, "Cannot set this image checksum")
        const again = yield* send("PUT", `${registry.url}/v1/images/${id}/json`, { headers: auth, body: text })
        expectError(again, 409, "Image already exists")
      }))

    it.scoped("tag rules: valid name, JSON string body, existing image", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        const auth = yield* tokenFor(registry, "foo42/bar", "write")
        const put = (tag: string, body: string) =>
          send("PUT", `${registry.url}/v1/repositories/foo42/bar/tags/${tag}`, { headers: auth, body })
        const cases: ReadonlyArray<readonly [string, string, number, string]> = [
          [".hidden", `"${childImage}"`, 400, "Invalid tag name"],
          ["x".repeat(129), `"${childImage}"`, 400, "Invalid tag name"],
          ["ok", childImage, 400, "Invalid data"],
          ["ok", `""`, 400, "Invalid data"],
          ["ok", `{"id":"${childImage}"}`, 400, "Invalid data"],
          ["ok", `"${unknownImage}"`, 404, "Image not found"]
        ]
        for (const [tag, body, status, error] of cases) {
          const reply = yield* put(tag, body)
          expect([reply.status, JSON.parse(reply.text)], `${tag} ${body}`).toEqual([status, { error }])
        }
        expect((yield* put("_v1.0-rc", `"${baseImage}"`)).status).toBe(200)
        expect(yield* registry.tags("foo42/bar")).toEqual(
          Option.some({ latest: childImage, test: childImage, "_v1.0-rc": baseImage })
        )
      }))

    it.scoped("index image lists: JSON arrays of valid entries; checksums merge", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        const url = `${registry.url}/v1/repositories/foo42/bar/`
        expect((yield* send("PUT", url, { body: "nope" })).text).toBe(`{"error":"Error Decoding JSON"}`)
        expect((yield* send("PUT", url, { body: "{}" })).text).toBe(`{"error":"Invalid data"}`)
        expect((yield* send("PUT", `${url}images`, { body: `[{"id":"abc"}]` })).text).toBe(`{"error":"Invalid data"}`)
        const merged = yield* send("PUT", `${url}images`, { body: JSON.stringify([{ id: baseImage }]) })
        expect(merged.status).toBe(204)
        const list = yield* send("GET", `${url}images`)
        expect(JSON.parse(list.text)[0]).toEqual({
          id: baseImage,
          checksum: "tarsum+sha256:4409a0685741ca86d38df878ed6f8cbba4c99de5dc73cd71aef04be3bb70be7c"
        })
        const auth = yield* send("PUT", `${url}auth`, { body: "" })
        expect([auth.status, JSON.parse(auth.text)]).toEqual([200, "OK"])
      }))
  })

  describe("deletes (§11)", () => {
    it.scoped("delete a tag, then the repository (…/tags and …/)", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        const auth = yield* tokenFor(registry, "foo42/bar", "delete")
        const repository = `${registry.url}/v1/repositories/foo42/bar`
        const tag = yield* send("DELETE", `${repository}/tags/test`, { headers: auth })
        expect([tag.status, tag.text]).toEqual([200, "true"])
        const again = yield* send("DELETE", `${repository}/tags/test`, { headers: auth })
        expect([again.status, JSON.parse(again.text)]).toEqual([404, { error: "Tag not found" }])
        expect(yield* registry.tags("foo42/bar")).toEqual(Option.some({ latest: childImage }))
        expect((yield* send("DELETE", `${repository}/tags`, { headers: auth })).status).toBe(200)
        const gone = yield* send("DELETE", `${repository}/tags`, { headers: auth })
        expect([gone.status, JSON.parse(gone.text)]).toEqual([404, { error: "Repository not found" }])
        expect(yield* registry.tags("foo42/bar")).toEqual(Option.none())
        expect(Option.isSome(yield* registry.image(childImage))).toBe(true)

        yield* registry.setTag("foo42/bar", "latest", childImage)
        const needsDeleteToken = yield* send("DELETE", `${repository}/`, {
          headers: yield* tokenFor(registry, "foo42/bar", "read")
        })
        expect(needsDeleteToken.status).toBe(401)
        expect((yield* send("DELETE", `${repository}/`, { headers: auth })).status).toBe(200)
        const missing = yield* send("DELETE", `${repository}/tags/latest`, { headers: auth })
        expect(JSON.parse(missing.text)).toEqual({ error: "Repository not found" })
      }))

    it.scoped("the index's delete step answers 202 with a delete token and endpoints", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        const repository = `${registry.url}/v1/repositories/foo42/bar`
        const start = yield* send("DELETE", `${repository}/`, { headers: asksToken })
        expect(start.status).toBe(202)
        expect(start.headers["x-docker-endpoints"]).toBe(registry.host)
        expect(start.headers["x-docker-token"]).toMatch(/repository="foo42\/bar",access=delete$/)
        expect(Option.isSome(yield* registry.tags("foo42/bar"))).toBe(true)
        const images = yield* send("DELETE", `${repository}/images`, { headers: asksToken })
        expect(images.status).toBe(204)
        expect(images.headers["x-docker-token"]).toMatch(/access=delete$/)
        const unknown = yield* send("DELETE", `${registry.url}/v1/repositories/foo42/nothing/`, { headers: asksToken })
        expect(unknown.status).toBe(404)
      }))
  })

  describe("search (§4.13, §11.2)", () => {
    it.scoped("fakequery finds the seeded fakeimage with 42 stars", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        const reply = yield* send("GET", `${registry.url}/v1/search?q=fakequery&n=25`, { headers: asksToken })
        expect(reply.status).toBe(200)
        expect(reply.headers["x-docker-token"]).toBeUndefined()
        const results = yield* V1Wire.decodeSearchResults(reply.bytes)
        expect(results.query).toBe("fakequery")
        expect(results.numResults).toBe(1)
        expect(results.results[0]).toMatchObject({ name: "fakeimage", starCount: 42 })
        expect(reply.text).toMatch(/^\{"query":"fakequery","num_results":1,"results":\[\{"star_count":42,"is_official"/)
      }))

    it.scoped("repositories are found by name; n limits the results; a bad n is refused", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        const foo = JSON.parse((yield* send("GET", `${registry.url}/v1/search?q=foo42`)).text)
        expect(foo.results.map((result: { name: string }) => result.name)).toEqual(["foo42/bar"])
        const all = JSON.parse((yield* send("GET", `${registry.url}/v1/search?q=&n=1`)).text)
        expect([all.num_results, all.results.length]).toEqual([2, 1])
        for (const n of ["0", "101", "x"]) {
          expect((yield* send("GET", `${registry.url}/v1/search?q=a&n=${n}`)).status).toBe(400)
        }
      }))
  })

  describe("login and users (§8)", () => {
    it.scoped("open server: GET /v1/users/ needs Basic credentials, any pass", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        const none = yield* send("GET", `${registry.url}/v1/users/`)
        expect(none.status).toBe(401)
        expect(none.headers["www-authenticate"]).toBe(`Basic realm="auth required"`)
        const any = yield* send("GET", `${registry.url}/v1/users`, { headers: { Authorization: basic("who", "ever") } })
        expect([any.status, JSON.parse(any.text)]).toEqual([200, "OK"])
      }))

    it.scoped("registration: rules, duplicates, then the new user's password is checked", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        const register = (body: string) => send("POST", `${registry.url}/v1/users/`, { body })
        const created = yield* register(JSON.stringify({ username: "alice_1", password: "secret", email: "a@x.test" }))
        expect([created.status, JSON.parse(created.text)]).toEqual([201, "User Created"])
        const duplicate = yield* register(JSON.stringify({ username: "bobby", password: "secret", email: "a@x.test" }))
        expect([duplicate.status, duplicate.text]).toEqual([400, `"Username or email already exists"`])
        const sameName = yield* register(JSON.stringify({ username: "alice_1", password: "secret", email: "" }))
        expect(sameName.text).toBe(`"Username or email already exists"`)
        for (
          const body of [
            "{",
            JSON.stringify({ username: "al", password: "secret" }),
            JSON.stringify({ username: "Alice", password: "secret" }),
            JSON.stringify({ username: "carol", password: "1234" })
          ]
        ) {
          expect((yield* register(body)).status, body).toBe(400)
        }
        const login = (password: string) =>
          send("GET", `${registry.url}/v1/users/`, { headers: { Authorization: basic("alice_1", password) } })
        expect((yield* login("secret")).status).toBe(200)
        expect((yield* login("wrong")).status).toBe(401)
      }))
  })

  describe("basic auth (§3, §11.2)", () => {
    const basicAuth = { username: "tester", password: Redacted.make("s3cret") }

    it.scoped("index calls need the right credentials; they trade them for a token", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make({ basicAuth })
        const url = `${registry.url}/v1/repositories/foo42/bar/images`
        const none = yield* send("GET", url, { headers: asksToken })
        expect(none.status).toBe(401)
        expect(none.headers["www-authenticate"]).toBe(`Basic realm="auth required",Token`)
        const wrong = yield* send("GET", url, { headers: { ...asksToken, Authorization: basic("tester", "nope") } })
        expect(wrong.status).toBe(401)
        const auth = yield* tokenFor(registry, "foo42/bar", "read", { Authorization: basic("tester", "s3cret") })
        expect((yield* send("GET", `${registry.url}/v1/images/${childImage}/ancestry`, { headers: auth })).status).toBe(
          200
        )
        // an index call may also carry a token this server issued
        expect((yield* send("GET", url, { headers: auth })).status).toBe(200)
        expect((yield* send("GET", `${registry.url}/v1/search?q=foo`)).status).toBe(401)
        const login = yield* send("GET", `${registry.url}/v1/users/`, {
          headers: { Authorization: basic("tester", "s3cret") }
        })
        expect(login.status).toBe(200)
        const stranger = yield* send("GET", `${registry.url}/v1/users/`, {
          headers: { Authorization: basic("x", "y") }
        })
        expect(stranger.status).toBe(401)
      }))

    it.scoped("standalone + basic: Basic on every call, no tokens", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make({ basicAuth, standalone: true })
        const ancestry = `${registry.url}/v1/images/${childImage}/ancestry`
        const none = yield* send("GET", ancestry)
        expect(none.status).toBe(401)
        expect(none.headers["www-authenticate"]).toBe(`Basic realm="auth required"`)
        expect((yield* send("GET", ancestry, { headers: { Authorization: basic("tester", "bad") } })).status).toBe(401)
        const ok = yield* send("GET", ancestry, { headers: { Authorization: basic("tester", "s3cret") } })
        expect(ok.status).toBe(200)
        const data = yield* send("GET", `${registry.url}/v1/repositories/foo42/bar/images`, {
          headers: { ...asksToken, Authorization: basic("tester", "s3cret") }
        })
        expect(data.status).toBe(200)
        expect(data.headers["x-docker-token"]).toBeUndefined()
        expect(data.headers["x-docker-endpoints"]).toBe(registry.host)
      }))

    it.scoped("standalone without auth: registry calls need nothing (the registry_test.go session works)", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make({ standalone: true })
        const fakeToken = { Authorization: "Token fake-token" }
        const ancestry = yield* send("GET", `${registry.url}/v1/images/${childImage}/ancestry`, { headers: fakeToken })
        expect(JSON.parse(ancestry.text)).toEqual([childImage, baseImage])
        expect((yield* send("GET", `${registry.url}/v1/images/${childImage}/json`)).headers["x-docker-size"]).toBe(
          "154"
        )
        const tags = yield* send("GET", `${registry.url}/v1/repositories/foo42/bar/tags`)
        expect(JSON.parse(tags.text)).toEqual({ latest: childImage, test: childImage })
        const id = "2".repeat(64)
        expect(yield* pushImage(registry, {}, id, layerOf(64), baseImage)).toEqual([200, 200, 200])
      }))
  })

  describe("layer downloads: ranges and caching (§4.7, §11.1)", () => {
    it.scoped("Range: bytes=N- and bytes=N-size answer 206; past the end 416", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make({ standalone: true })
        const url = `${registry.url}/v1/images/${childImage}/layer`
        const full = yield* send("GET", url)
        const tail = yield* send("GET", url, { headers: { Range: "bytes=100-" } })
        expect(tail.status).toBe(206)
        expect(tail.headers["content-range"]).toBe("bytes 100-153/154")
        expect(tail.headers["content-length"]).toBe("54")
        expect(tail.bytes).toEqual(full.bytes.subarray(100))
        const offByOne = yield* send("GET", url, { headers: { Range: "bytes=100-154" } })
        expect([offByOne.status, offByOne.bytes.length]).toEqual([206, 54])
        const middle = yield* send("GET", url, { headers: { Range: "bytes=10-19" } })
        expect(middle.bytes).toEqual(full.bytes.subarray(10, 20))
        const end = yield* send("GET", url, { headers: { Range: "bytes=154-" } })
        expect([end.status, end.bytes.length, end.headers["content-range"]]).toEqual([416, 0, "bytes */154"])
        expect((yield* send("GET", url, { headers: { Range: "bytes=20-10" } })).status).toBe(416)
        expect((yield* send("GET", url, { headers: { Range: "items=1-" } })).status).toBe(200)
      }))

    it.scoped("rangeSupport: false: no Accept-Ranges, Range ignored", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make({ standalone: true, rangeSupport: false })
        const reply = yield* send("GET", `${registry.url}/v1/images/${childImage}/layer`, {
          headers: { Range: "bytes=100-" }
        })
        expect(reply.status).toBe(200)
        expect(reply.bytes.length).toBe(154)
        expect(reply.headers["accept-ranges"]).toBeUndefined()
      }))

    it.scoped("cacheable GETs answer 304 to If-Modified-Since", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make({ standalone: true })
        for (const action of ["json", "layer", "ancestry"]) {
          const reply = yield* send("GET", `${registry.url}/v1/images/${childImage}/${action}`, {
            headers: { "If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT" }
          })
          expect([reply.status, reply.bytes.length]).toEqual([304, 0])
          expect(reply.headers["last-modified"]).toBe("Thu, 01 Jan 1970 00:00:00 GMT")
        }
      }))
  })

  describe("faults", () => {
    it.scoped("failNext(n, status): the next n requests, any route, then normal again", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        yield* registry.failNext(2, 503)
        const first = yield* send("GET", `${registry.url}/v1/_ping`)
        expect([first.status, JSON.parse(first.text)]).toEqual([503, { error: "Injected failure" }])
        expect(first.headers["x-docker-registry-version"]).toBe("0.9.1")
        expect((yield* send("GET", `${registry.url}/v1/search?q=x`)).status).toBe(503)
        expect((yield* send("GET", `${registry.url}/v1/_ping`)).status).toBe(200)
        yield* registry.failNext(1, 204)
        const empty = yield* send("PUT", `${registry.url}/v1/images/${childImage}/layer`, { body: layerOf(10) })
        expect([empty.status, empty.bytes.length]).toEqual([204, 0])
      }))

    it.effect("fault knobs refuse nonsense with InvalidArgument", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        for (
          const attempt of [
            registry.failNext(-1, 500),
            registry.failNext(1, 99),
            registry.failNext(1.5, 500),
            registry.failNext(1, 600)
          ]
        ) {
          const error = yield* Effect.flip(attempt)
          expect(error._tag).toBe("InvalidArgument")
        }
        expect((yield* Effect.flip(registry.cutLayerAfter(-3)))._tag).toBe("InvalidArgument")
        expect((yield* Effect.flip(registry.cutLayerAfter(3, Number.NaN)))._tag).toBe("InvalidArgument")
      }).pipe(Effect.scoped))

    it.scoped("cutLayerAfter(bytes): the next download drops the connection after that many body bytes", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make({ standalone: true, seed: false })
        const id = yield* registry.addImage(json("3".repeat(64)), layerOf(256 * 1024))
        const url = `${registry.url}/v1/images/${id}/layer`
        yield* registry.cutLayerAfter(100_000)
        const cut = yield* readUntilDropped(url, {})
        expect(cut).toEqual({ status: 200, received: 100_000, failed: true })
        const whole = yield* readUntilDropped(url, {})
        expect(whole).toEqual({ status: 200, received: 256 * 1024, failed: false })

        yield* registry.cutLayerAfter(10, 2)
        expect(yield* readUntilDropped(url, { Range: "bytes=1000-" })).toEqual({
          status: 206,
          received: 10,
          failed: true
        })
        expect(yield* readUntilDropped(url, {})).toEqual({ status: 200, received: 10, failed: true })
        expect((yield* readUntilDropped(url, {})).failed).toBe(false)

        yield* registry.cutLayerAfter(0)
        expect(yield* readUntilDropped(url, {})).toEqual({ status: 200, received: 0, failed: true })
        // other routes are not affected, and the server keeps serving
        expect((yield* send("GET", `${registry.url}/v1/images/${id}/json`)).status).toBe(200)
      }))
  })

  describe("inspection and setup", () => {
    it.scoped("requests: method, url and every header as sent (nothing redacted)", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        yield* send("GET", `${registry.url}/v1/images/${childImage}/layer?x=1`, {
          headers: { Authorization: "Token secret-ish", Range: "bytes=3-", "X-Docker-Token": "true" }
        })
        const [entry] = yield* registry.requests
        expect(entry).toMatchObject({
          method: "GET",
          url: `/v1/images/${childImage}/layer?x=1`,
          path: `/v1/images/${childImage}/layer`
        })
        expect(entry!.headers).toMatchObject({
          authorization: "Token secret-ish",
          range: "bytes=3-",
          "x-docker-token": "true"
        })

        // one header line per X-Docker-Endpoints element (§13.6) stays visible
        yield* Effect.async<void>((resume) => {
          const request = Http.request(`${registry.url}/v1/repositories/foo42/bar/images`, {
            method: "PUT",
            headers: { "X-Docker-Endpoints": ["a.test", "b.test"], "Content-Type": "application/json" }
          }, (response) => {
            response.resume()
            response.on("end", () => resume(Effect.void))
          })
          request.end("[]")
        })
        const last = (yield* registry.requests).at(-1)!
        expect(last.headerLines.filter(([name]) => name.toLowerCase() === "x-docker-endpoints")).toEqual([
          ["X-Docker-Endpoints", "a.test"],
          ["X-Docker-Endpoints", "b.test"]
        ])
        expect(last.headers["x-docker-endpoints"]).toBe("a.test, b.test")
        yield* registry.clearRequests
        expect(yield* registry.requests).toEqual([])
      }))

    it.scoped("the request log is bounded", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make({ requestLogLimit: 3 })
        for (let i = 0; i < 5; i++) yield* send("GET", `${registry.url}/v1/_ping?i=${i}`)
        expect((yield* registry.requests).map((entry) => entry.url)).toEqual([
          "/v1/_ping?i=2",
          "/v1/_ping?i=3",
          "/v1/_ping?i=4"
        ])
      }))

    it.scoped("addImage and setTag follow the push rules", () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        const id = "4".repeat(64)
        const layer = layerOf(77)
        expect(yield* registry.addImage(json(id, childImage), layer)).toBe(id)
        const stored = Option.getOrThrow(yield* registry.image(id))
        expect(stored).toMatchObject({
          parent: childImage,
          ancestry: [id, childImage, baseImage],
          layerSize: 77,
          checksumPayload: payloadChecksum(json(id, childImage), layer),
          uploading: false
        })
        expect((yield* registry.images).map((image) => image.id)).toEqual([baseImage, childImage, id])
        const failures = [
          registry.addImage(json(id), layer),
          registry.addImage("{}", layer),
          registry.addImage(json("5".repeat(64), unknownImage), layer),
          registry.addImage(json("short"), layer),
          registry.setTag("Bad Name", "x", id),
          registry.setTag("foo42/bar", "-x", id),
          registry.setTag("foo42/bar", "x", unknownImage)
        ]
        for (const failure of failures) {
          expect((yield* Effect.flip(failure))._tag).toBe("InvalidArgument")
        }
        yield* registry.setTag("foo42/bar", "extra", id)
        expect(Option.map(yield* registry.tags("foo42/bar"), (tags) => tags.extra)).toEqual(Option.some(id))
        expect(yield* registry.tags("foo42/none")).toEqual(Option.none())
        expect(yield* registry.image(unknownImage)).toEqual(Option.none())
        expect(yield* registry.layerBytes(unknownImage)).toEqual(Option.none())
      }))
  })
})
