import * as LegacyLayout from "@dockside/client/LegacyLayout"
import * as Progress from "@dockside/client/Progress"
import * as RegistryPolicy from "@dockside/client/RegistryPolicy"
import * as V1Flows from "@dockside/client/V1Flows"
import * as V1Session from "@dockside/client/V1Session"
import * as Images from "@dockside/testing/LegacyImages"
import * as V1Registry from "@dockside/testing/V1Registry"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { createHash, randomBytes } from "node:crypto"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { createServer } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"

const Live = Layer.merge(NodeHttpClient.layerUndici, NodeContext.layer)

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "dockside-flows-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const expectSameImage = (dir: string, image: Images.TestImage) => {
  expect(Buffer.compare(readFileSync(join(dir, image.id, "json")), image.json)).toBe(0)
  expect(Buffer.compare(readFileSync(join(dir, image.id, "layer.tar")), image.layer)).toBe(0)
  expect(readFileSync(join(dir, image.id, "VERSION"), "utf8")).toBe("1.0")
}

describe("pushV1 then pullV1 through V1Registry", () => {
  it.scoped("a two-layer image round-trips folder to folder, byte for byte", () =>
    Effect.gen(function*() {
      const work = yield* tempDir
      const { root, top } = Images.twoLayers()
      Images.writeLayout(join(work, "src"), [root, top], { "me/app": { v1: top.id } })
      const registry = yield* V1Registry.make()
      const pusher = yield* V1Session.make({ index: registry.indexAddress })
      const pushed = yield* V1Flows.pushV1(pusher, { name: "me/app", tag: "v1", source: join(work, "src") })
      expect(pushed.images).toEqual([{ id: root.id, pushed: true }, { id: top.id, pushed: true }])
      expect(Object.fromEntries(
        yield* Effect.map(registry.tags("me/app"), (t) => Object.entries(t._tag === "Some" ? t.value : {}))
      )).toEqual({ v1: top.id })

      // The order of spec §9: index PUT first, JSON → layer → checksum per image root first, tag, final index PUT.
      const puts = (yield* registry.requests).filter((r) => r.method === "PUT").map((r) =>
        r.path.replace(/[0-9a-f]{64}/, (id) => id === root.id ? "ROOT" : "TOP")
      )
      expect(puts).toEqual([
        "/v1/repositories/me/app/",
        "/v1/images/ROOT/json",
        "/v1/images/ROOT/layer",
        "/v1/images/ROOT/checksum",
        "/v1/images/TOP/json",
        "/v1/images/TOP/layer",
        "/v1/images/TOP/checksum",
        "/v1/repositories/me/app/tags/v1",
        "/v1/repositories/me/app/images"
      ])

      const puller = yield* V1Session.make({ index: registry.indexAddress })
      const events: Array<Progress.Event> = []
      const pulled = yield* V1Flows.pullV1(puller, { name: "me/app", tag: "v1", dest: join(work, "dest") }).pipe(
        Effect.provideService(Progress.Progress, { publish: (event) => Effect.sync(() => void events.push(event)) })
      )
      expect(events.filter((e) => e._tag === "Done")).toEqual([
        Progress.Event.Done({ id: root.id, action: "pulled" }),
        Progress.Event.Done({ id: top.id, action: "pulled" })
      ])
      const lastBytes = events.filter((e) => e._tag === "Bytes" && e.id === root.id).at(-1)
      expect(lastBytes?._tag === "Bytes" && lastBytes.done).toBe(
        Option.getOrThrow(yield* registry.image(root.id)).layerSize
      )
      expect(pulled).toEqual({ tags: { v1: top.id }, images: [root.id, top.id] })
      expectSameImage(join(work, "dest"), root)
      expectSameImage(join(work, "dest"), top)
      expect(JSON.parse(readFileSync(join(work, "dest", "repositories"), "utf8"))).toEqual({ "me/app": { v1: top.id } })

      // Pushing again: the registry has both images, only the tag and index calls are made.
      const again = yield* V1Flows.pushV1(pusher, { name: "me/app", tag: "v1", source: join(work, "src") })
      expect(again.images.map((i) => i.pushed)).toEqual([false, false])
    }).pipe(Effect.provide(Live)))

  it.scoped("a tag named __proto__ is pulled like any other", () =>
    Effect.gen(function*() {
      const work = yield* tempDir
      const { root, top } = Images.twoLayers()
      Images.writeLayout(join(work, "src"), [root, top], { "me/app": { ["__proto__"]: top.id } })
      const registry = yield* V1Registry.make()
      const session = yield* V1Session.make({ index: registry.indexAddress })
      yield* V1Flows.pushV1(session, { name: "me/app", tag: "__proto__", source: join(work, "src") })
      const pulled = yield* V1Flows.pullV1(session, { name: "me/app", tag: "__proto__", dest: join(work, "dest") })
      expect(pulled.images).toEqual([root.id, top.id])
      expect(Object.entries(pulled.tags)).toEqual([["__proto__", top.id]])
      const repositories = JSON.parse(readFileSync(join(work, "dest", "repositories"), "utf8"))
      expect(Object.entries(repositories["me/app"])).toEqual([["__proto__", top.id]])
      expectSameImage(join(work, "dest"), top)
    }).pipe(Effect.provide(Live)))

  it.scoped("from a docker save archive to an archive, every tag", () =>
    Effect.gen(function*() {
      const work = yield* tempDir
      const { root, top } = Images.twoLayers()
      Images.writeLayout(join(work, "src"), [root, top], { "me/app": { v1: top.id, base: root.id } })
      yield* LegacyLayout.pack(join(work, "src"), join(work, "src.tar"))
      const registry = yield* V1Registry.make({ standalone: true })
      const session = yield* V1Session.make({ index: registry.indexAddress })
      yield* V1Flows.pushV1(session, { name: "me/app", tag: "v1", source: join(work, "src.tar") })
      yield* V1Flows.pushV1(session, { name: "me/app", tag: "base", source: join(work, "src.tar") })
      const pulled = yield* V1Flows.pullV1(session, { name: "me/app", dest: join(work, "out.tar") })
      expect(pulled.tags).toEqual({ v1: top.id, base: root.id })
      expect(existsSync(join(work, "out.tar.partial"))).toBe(false)
      yield* LegacyLayout.unpack(join(work, "out.tar"), join(work, "out"))
      expectSameImage(join(work, "out"), root)
      expectSameImage(join(work, "out"), top)
    }).pipe(Effect.provide(Live)))

  it.scoped("a layer download cut twice is resumed; the pulled layer is identical", () =>
    Effect.gen(function*() {
      const work = yield* tempDir
      // Incompressible, so that the gzipped layer the registry stores is as big.
      const big = Images.image("big", { "blob.bin": randomBytes(400_000) })
      Images.writeLayout(join(work, "src"), [big], { "me/big": { latest: big.id } })
      const registry = yield* V1Registry.make({ standalone: true })
      const session = yield* V1Session.make({ index: registry.indexAddress, layerResume: { delay: 0 } })
      yield* V1Flows.pushV1(session, { name: "me/big", tag: "latest", source: join(work, "src") })
      yield* registry.cutLayerAfter(50_000, 2)
      yield* V1Flows.pullV1(session, { name: "me/big", tag: "latest", dest: join(work, "dest") })
      expectSameImage(join(work, "dest"), big)
      const ranges = (yield* registry.requests).filter((r) => r.path.endsWith("/layer") && r.method === "GET").map((
        r
      ) => r.headers["range"])
      expect(ranges).toEqual([undefined, "bytes=50000-", "bytes=100000-"])
    }).pipe(Effect.provide(Live)))

  it.scopedLive("without range support, a cut download restarts cleanly from the start", () =>
    Effect.gen(function*() {
      const work = yield* tempDir
      const big = Images.image("big-norange", { "blob.bin": randomBytes(300_000) })
      Images.writeLayout(join(work, "src"), [big], { "me/big": { latest: big.id } })
      const registry = yield* V1Registry.make({ standalone: true, rangeSupport: false })
      const session = yield* V1Session.make({ index: registry.indexAddress })
      yield* V1Flows.pushV1(session, { name: "me/big", tag: "latest", source: join(work, "src") })
      yield* registry.cutLayerAfter(40_000)
      yield* V1Flows.pullV1(session, { name: "me/big", dest: join(work, "dest") }).pipe(
        Effect.provideService(
          RegistryPolicy.RegistryPolicy,
          RegistryPolicy.make({ retry: { baseDelay: Duration.millis(1) } })
        )
      )
      expectSameImage(join(work, "dest"), big)
      expect(readdirSync(join(work, "dest", big.id)).sort()).toEqual(["VERSION", "json", "layer.tar"])
      const gets = (yield* registry.requests).filter((r) => r.method === "GET" && r.path.endsWith("/layer"))
      expect(gets.map((r) => r.headers["range"])).toEqual([undefined, undefined])
    }).pipe(Effect.provide(Live)))

  it.scopedLive("a layer upload that fails is sent again as a whole (a streamed body cannot be replayed)", () =>
    Effect.gen(function*() {
      const work = yield* tempDir
      const { root } = Images.twoLayers()
      Images.writeLayout(join(work, "src"), [root], { "me/one": { v1: root.id } })
      const registry = yield* V1Registry.make({ standalone: true })
      // A client that answers the first layer PUT with a 503 of its own.
      let failed = false
      const flaky = Layer.effect(
        HttpClient.HttpClient,
        Effect.map(
          HttpClient.HttpClient,
          (base) =>
            HttpClient.makeWith<never, never, HttpClientError.HttpClientError, never>(
              (request) =>
                Effect.flatMap(request, (req) => {
                  if (!failed && req.method === "PUT" && req.url.endsWith("/layer")) {
                    failed = true
                    return Effect.succeed(HttpClientResponse.fromWeb(req, new Response("busy", { status: 503 })))
                  }
                  return base.execute(req)
                }),
              Effect.succeed
            )
        )
      ).pipe(Layer.provide(NodeHttpClient.layerUndici))
      const pushed = yield* Effect.gen(function*() {
        const session = yield* V1Session.make({ index: registry.indexAddress })
        return yield* V1Flows.pushV1(session, { name: "me/one", tag: "v1", source: join(work, "src") })
      }).pipe(
        Effect.provide(flaky),
        Effect.provideService(
          RegistryPolicy.RegistryPolicy,
          RegistryPolicy.make({ retry: { baseDelay: Duration.millis(1) } })
        )
      )
      expect(failed).toBe(true)
      expect(pushed.images).toEqual([{ id: root.id, pushed: true }])
      expect(Option.getOrThrow(yield* registry.image(root.id)).uploading).toBe(false)
    }).pipe(Effect.provide(Live)))

  it.scoped("an unknown tag or repository is a typed error and writes nothing", () =>
    Effect.gen(function*() {
      const work = yield* tempDir
      const registry = yield* V1Registry.make({ standalone: true })
      const session = yield* V1Session.make({ index: registry.indexAddress })
      const error = yield* Effect.flip(
        V1Flows.pullV1(session, { name: "foo42/bar", tag: "nope", dest: join(work, "dest") })
      )
      expect(error._tag).toBe("NotFound")
      expect(existsSync(join(work, "dest"))).toBe(false)
      const missing = yield* Effect.flip(
        V1Flows.pushV1(session, { name: "me/app", tag: "v1", source: join(work, "nothing") })
      )
      expect(missing._tag).toBe("SystemError")
    }).pipe(Effect.provide(Live)))
})

/** A registry that answers whatever the test wants, to play a hostile server. */
type Routes = Record<string, { status?: number; body: string | Buffer; headers?: Record<string, string> }>

const hostile = (routes: Routes) =>
  Effect.acquireRelease(
    Effect.async<{ url: string; close: () => void }>((resume) => {
      const server = createServer((req, res) => {
        const route = routes[req.url ?? ""] ?? { status: 404, body: "{}" }
        res.writeHead(route.status ?? 200, route.headers ?? {})
        res.end(route.body)
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({
          url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
          close: () => server.close()
        })))
    }),
    (server) => Effect.sync(() => server.close())
  )

describe("pullV1 against hostile answers", () => {
  const id = createHash("sha256").update("h").digest("hex")
  const base = (extra: Routes): Routes => ({
    "/v1/repositories/evil/app/images": { body: JSON.stringify([{ id }]) },
    ...extra
  })

  const pull = (routes: Routes, tag?: string) =>
    Effect.gen(function*() {
      const work = yield* tempDir
      const server = yield* hostile(routes)
      const session = yield* V1Session.make({ index: server.url })
      const error = yield* Effect.flip(V1Flows.pullV1(session, { name: "evil/app", tag, dest: join(work, "dest") }))
      // Nothing escaped: the work folder holds at most the (empty or partial-free) dest.
      expect(readdirSync(work).filter((name) => name !== "dest")).toEqual([])
      return error
    })

  it.scoped("a tag named like a path, or an id that is not 64 hex, is refused", () =>
    Effect.gen(function*() {
      const badTag = yield* pull(base({ "/v1/repositories/evil/app/tags": { body: JSON.stringify({ "../x": id }) } }))
      expect(badTag._tag).toBe("InvalidArgument")
      const badId = yield* pull(
        base({ "/v1/repositories/evil/app/tags": { body: JSON.stringify({ latest: "../../etc" }) } })
      )
      expect(badId._tag).toBe("InvalidArgument")
      expect(badId.message).toContain("64 lower-case hexadecimal")
    }).pipe(Effect.provide(Live)))

  it.scoped("an ancestry naming a path is refused", () =>
    Effect.gen(function*() {
      const error = yield* pull(
        base({
          "/v1/repositories/evil/app/tags/latest": { body: JSON.stringify(id) },
          [`/v1/images/${id}/ancestry`]: { body: JSON.stringify([id, "../x"]) }
        }),
        "latest"
      )
      expect(error._tag).toBe("InvalidDocument")
    }).pipe(Effect.provide(Live)))

  it.scoped("image JSON naming another id, and a layer that fails its payload checksum", () =>
    Effect.gen(function*() {
      const other = createHash("sha256").update("other").digest("hex")
      const routes = {
        "/v1/repositories/evil/app/tags/latest": { body: JSON.stringify(id) },
        [`/v1/images/${id}/ancestry`]: { body: JSON.stringify([id]) }
      }
      const wrongId = yield* pull(
        base({ ...routes, [`/v1/images/${id}/json`]: { body: JSON.stringify({ id: other }) } }),
        "latest"
      )
      expect(wrongId._tag).toBe("InvalidDocument")
      const layer = Images.layerTar({ f: "x" })
      const wrongSum = yield* pull(
        base({
          ...routes,
          [`/v1/images/${id}/json`]: {
            body: JSON.stringify({ id }),
            headers: { "x-docker-checksum-payload": `sha256:${"0".repeat(64)}` }
          },
          [`/v1/images/${id}/layer`]: { body: layer }
        }),
        "latest"
      )
      expect(wrongSum._tag).toBe("DigestMismatch")
    }).pipe(Effect.provide(Live)))

  it.scoped("a huge error body ends in a bounded typed error", () =>
    Effect.gen(function*() {
      const error = yield* pull({
        "/v1/repositories/evil/app/images": { status: 500, body: Buffer.alloc(20 * 1024 * 1024, 0x61) }
      })
      expect(error._tag).toBe("HttpStatusError")
      expect(error.message.length).toBeLessThan(2000)
    }).pipe(Effect.provide(Live)))
})
