/**
 * The v2 client and flows against the real CNCF distribution registry (Debian package
 * `docker-registry`), started on a loopback port by @dockside/testing's RealRegistry in its
 * three configurations: no auth, htpasswd basic auth, and token auth.
 */
import * as Distribution from "@dockside/client/Distribution"
import * as DockerArchive from "@dockside/client/DockerArchive"
import * as V2Flows from "@dockside/client/V2Flows"
import * as Identifiers from "@dockside/protocol/Identifiers"
import * as Reference from "@dockside/protocol/Reference"
import * as Images from "@dockside/testing/LegacyImages"
import * as OciImages from "@dockside/testing/OciImages"
import * as RealRegistry from "@dockside/testing/RealRegistry"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { execFile } from "node:child_process"
import { createHash } from "node:crypto"
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const sha256 = (bytes: Uint8Array) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`

const Live = Layer.merge(NodeHttpClient.layerUndici, NodeContext.layer)
const timeout = 120_000

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "dockside-v2-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const ref = (registry: RealRegistry.Service, name: string) => Effect.orDie(Reference.parse(`${registry.host}/${name}`))

const client = (registry: RealRegistry.Service) =>
  Distribution.make({
    credentials: () =>
      Effect.succeed(
        registry.auth === "none"
          ? Option.none()
          : Option.some({
            _tag: "Basic" as const,
            username: RealRegistry.defaultUser.username,
            password: Redacted.make(RealRegistry.defaultUser.password)
          })
      )
  })

for (const auth of ["none", "basic", "token"] as const) {
  describe(`against docker-registry (auth: ${auth})`, () => {
    it.scopedLive(
      "push, pull, copy with mounts, tags pagination, chunked upload, delete",
      () =>
        Effect.gen(function*() {
          const registry = yield* RealRegistry.make({ auth })
          const distribution = yield* client(registry)
          const work = yield* tempDir
          const image = OciImages.image(`img-${auth}`, [3000, 200_000])
          OciImages.writeLayout(join(work, "src"), OciImages.blobsOf(image), image.manifest, "v1")

          // push from an OCI layout
          const target = yield* ref(registry, "team/app:v1")
          const pushed = yield* V2Flows.push(distribution, join(work, "src"), target)
          expect(pushed.digest).toBe(image.manifest.digest)
          expect(pushed.transferred).toBe(3)
          const again = yield* V2Flows.push(distribution, join(work, "src"), target)
          expect(again).toMatchObject({ transferred: 0, skipped: 3 })

          // pull into a fresh layout: every blob verified and in place
          const pulled = yield* V2Flows.pull(distribution, target, join(work, "dest"))
          expect(pulled.digest).toBe(image.manifest.digest)
          for (const blob of OciImages.blobsOf(image)) {
            expect(
              Buffer.compare(readFileSync(join(work, "dest", "blobs", "sha256", blob.digest.slice(7))), blob.bytes)
            ).toBe(0)
          }
          expect(readdirSync(join(work, "dest", "blobs", "sha256")).some((name) => name.endsWith(".partial"))).toBe(
            false
          )
          const index = JSON.parse(readFileSync(join(work, "dest", "index.json"), "utf8"))
          expect(index.manifests[0].annotations["org.opencontainers.image.ref.name"]).toBe("v1")
          // a second pull finds everything there
          expect((yield* V2Flows.pull(distribution, target, join(work, "dest"))).skipped).toBe(3)

          // copy to another repository of the same registry: blobs are mounted
          const copyTarget = yield* ref(registry, "other/copy:v1")
          const copied = yield* V2Flows.copy(distribution, target, copyTarget)
          expect(copied).toMatchObject({ digest: image.manifest.digest, transferred: 0, skipped: 3 })
          const manifest = yield* distribution.getManifest(copyTarget)
          expect(Buffer.compare(Buffer.from(manifest.bytes), image.manifest.bytes)).toBe(0)

          // tags, paginated two by two
          for (const tag of ["a", "b", "c", "d", "e"]) {
            yield* distribution.putManifest(target, tag, {
              bytes: image.manifest.bytes,
              mediaType: image.manifest.mediaType
            })
          }
          const tags = Chunk.toReadonlyArray(yield* Stream.runCollect(distribution.tags(target, { pageSize: 2 })))
          expect([...tags].sort()).toEqual(["a", "b", "c", "d", "e", "v1"])

          // chunked upload of a new blob, then read back verified
          const chunked = OciImages.image(`chunk-${auth}`, [150_000]).layers[0]!
          const chunkedRef = { digest: Identifiers.Digest.make(chunked.digest), size: chunked.size }
          yield* distribution.uploadBlob(target, chunkedRef, Stream.make(chunked.bytes), { chunkSize: 40_000 })
          const back = yield* Stream.runCollect(distribution.getBlob(target, chunkedRef))
          expect(Buffer.compare(Buffer.concat([...back]), chunked.bytes)).toBe(0)

          // a blob that does not match its digest is refused while it streams
          const wrong = { digest: Identifiers.Digest.make(chunked.digest), size: chunked.size }
          const bad = yield* Effect.flip(
            Stream.runDrain(
              distribution.getBlob(target, {
                ...wrong,
                digest: Identifiers.Digest.make(image.layers[0]!.digest),
                size: image.layers[0]!.size + 1
              })
            )
          )
          expect(["SizeMismatch", "DigestMismatch"]).toContain(bad._tag)

          // delete the manifest by digest: gone for every tag
          yield* distribution.deleteManifest(copyTarget, Identifiers.Digest.make(image.manifest.digest))
          expect(Option.isNone(yield* distribution.headManifest(copyTarget))).toBe(true)
          const missing = yield* Effect.flip(distribution.getManifest(copyTarget))
          expect(missing._tag).toBe("NotFound")
        }).pipe(Effect.provide(Live)),
      timeout
    )
  })
}

describe("docker-registry with token auth", () => {
  it.scopedLive(
    "tokens are asked for with the request's scope and reused; anonymous pulls get pull only",
    () =>
      Effect.gen(function*() {
        const registry = yield* RealRegistry.make({ auth: "token" })
        const distribution = yield* client(registry)
        const work = yield* tempDir
        const image = OciImages.image("tok", [500])
        OciImages.writeLayout(join(work, "src"), OciImages.blobsOf(image), image.manifest, "v1")
        const target = yield* ref(registry, "scoped/app:v1")
        yield* V2Flows.push(distribution, join(work, "src"), target)
        const requests = yield* registry.tokenRequests
        expect(requests.every((r) => r.credentials === "basic")).toBe(true)
        expect(requests.some((r) => r.scopes.includes("repository:scoped/app:pull,push"))).toBe(true)
        // one token per scope set, reused for every blob of the push
        expect(new Set(requests.map((r) => r.scopes.join(" "))).size).toBe(requests.length)

        const anonymous = yield* Distribution.make({})
        const pulled = yield* V2Flows.pull(anonymous, target, join(work, "anon"))
        expect(pulled.digest).toBe(image.manifest.digest)
        const denied = yield* Effect.flip(
          V2Flows.push(anonymous, join(work, "src"), yield* ref(registry, "scoped/other:v1"))
        )
        expect(["LoginRequired", "ConnectionFailed"]).toContain(denied._tag)
      }).pipe(Effect.provide(Live)),
    timeout
  )
})

/** Run skopeo (Debian package `skopeo`) and fail with its stderr when it fails. */
const skopeo = (args: ReadonlyArray<string>) =>
  Effect.async<string, Error>((resume) => {
    execFile("skopeo", ["--insecure-policy", ...args], { timeout: 60_000 }, (error, stdout, stderr) =>
      resume(
        error ? Effect.fail(new Error(`skopeo ${args.join(" ")}: ${stderr || error.message}`)) : Effect.succeed(stdout)
      ))
  })

describe("interop with skopeo", () => {
  it.scopedLive(
    "an image dockside pushes is copied out by skopeo; an image skopeo pushes is pulled by dockside",
    () =>
      Effect.gen(function*() {
        const registry = yield* RealRegistry.make({ auth: "basic" })
        const distribution = yield* client(registry)
        const work = yield* tempDir
        const creds = `${RealRegistry.defaultUser.username}:${RealRegistry.defaultUser.password}`
        const image = OciImages.image("interop", [5000, 100_000])
        OciImages.writeLayout(join(work, "src"), OciImages.blobsOf(image), image.manifest, "v1")

        // dockside pushes, skopeo copies it to an OCI layout: same manifest, same blobs.
        yield* V2Flows.push(distribution, join(work, "src"), yield* ref(registry, "interop/ours:v1"))
        yield* skopeo([
          "copy",
          "--src-tls-verify=false",
          "--src-creds",
          creds,
          `docker://${registry.host}/interop/ours:v1`,
          `oci:${join(work, "by-skopeo")}:v1`
        ])
        for (const blob of OciImages.blobsOf(image)) {
          expect(
            Buffer.compare(readFileSync(join(work, "by-skopeo", "blobs", "sha256", blob.digest.slice(7))), blob.bytes)
          ).toBe(0)
        }

        // skopeo pushes its own copy of another image; dockside pulls and verifies it.
        const theirs = OciImages.image("interop-theirs", [7000])
        OciImages.writeLayout(join(work, "theirs"), OciImages.blobsOf(theirs), theirs.manifest, "v2")
        yield* skopeo([
          "copy",
          "--dest-tls-verify=false",
          "--dest-creds",
          creds,
          `oci:${join(work, "theirs")}:v2`,
          `docker://${registry.host}/interop/theirs:v2`
        ])
        const pulled = yield* V2Flows.pull(
          distribution,
          yield* ref(registry, "interop/theirs:v2"),
          join(work, "pulled")
        )
        const manifest = JSON.parse(
          readFileSync(join(work, "pulled", "blobs", "sha256", pulled.digest.slice(7)), "utf8")
        )
        for (const layer of [manifest.config, ...manifest.layers]) {
          const bytes = readFileSync(join(work, "pulled", "blobs", "sha256", layer.digest.slice(7)))
          expect(`sha256:${createHash("sha256").update(bytes).digest("hex")}`).toBe(layer.digest)
          expect(bytes.length).toBe(layer.size)
        }
        expect(manifest.layers).toHaveLength(1)
      }).pipe(Effect.provide(Live)),
    timeout
  )
})

describe("push from docker save archives", () => {
  it.scopedLive(
    "the manifest.json format and the legacy format become OCI images on the registry",
    () =>
      Effect.gen(function*() {
        const registry = yield* RealRegistry.make()
        const distribution = yield* client(registry)
        const work = yield* tempDir

        // Docker ≥ 1.10: manifest.json, <hex>.json config, <id>/layer.tar
        const layer = Images.layerTar({ "hello.txt": "hello\n" })
        const config = Buffer.from(
          JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [sha256(layer)] } })
        )
        const configName = `${sha256(config).slice(7)}.json`
        const layerId = "c".repeat(64)
        writeFileSync(
          join(work, "new.tar"),
          Images.layerTar({
            "manifest.json": JSON.stringify([{
              Config: configName,
              RepoTags: ["me/new:v1"],
              Layers: [`${layerId}/layer.tar`]
            }]),
            [configName]: config,
            [`${layerId}/layer.tar`]: layer
          })
        )
        const source = yield* DockerArchive.openSource(join(work, "new.tar"), { name: "me/new", tag: "v1" })
        const target = yield* ref(registry, "saved/new:v1")
        yield* V2Flows.push(distribution, source, target)
        const pushed = JSON.parse(Buffer.from((yield* distribution.getManifest(target)).bytes).toString("utf8"))
        expect(pushed.config.digest).toBe(sha256(config))
        expect(pushed.layers.map((l: { digest: string }) => l.digest)).toEqual([sha256(layer)])

        // legacy: repositories + <id>/json chain, turned into an image config with diff_ids
        const { root, top } = Images.twoLayers()
        Images.writeLayout(join(work, "legacy"), [root, top], { "me/legacy": { v2: top.id } })
        const legacySource = yield* DockerArchive.openSource(join(work, "legacy"), { name: "me/legacy", tag: "v2" })
        const legacyTarget = yield* ref(registry, "saved/legacy:v2")
        yield* V2Flows.push(distribution, legacySource, legacyTarget)
        const manifest = JSON.parse(Buffer.from((yield* distribution.getManifest(legacyTarget)).bytes).toString("utf8"))
        expect(manifest.layers.map((l: { digest: string }) => l.digest)).toEqual([
          sha256(root.layer),
          sha256(top.layer)
        ])
        const configBlob = yield* Stream.runCollect(distribution.getBlob(legacyTarget, {
          digest: Identifiers.Digest.make(manifest.config.digest),
          size: manifest.config.size
        }))
        const imageConfig = JSON.parse(Buffer.concat([...configBlob]).toString("utf8"))
        expect(imageConfig.rootfs.diff_ids).toEqual([sha256(root.layer), sha256(top.layer)])
        expect(imageConfig.history).toHaveLength(2)
        expect(imageConfig.id).toBeUndefined()
      }).pipe(Effect.provide(Live)),
    timeout
  )
})
