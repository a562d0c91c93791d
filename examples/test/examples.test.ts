/**
 * The examples run as users would run them (`node examples/dist/…`), against the real
 * distribution registry started on a loopback port.
 */
import * as Distribution from "@dockside/client/Distribution"
import * as V2Flows from "@dockside/client/V2Flows"
import * as Reference from "@dockside/protocol/Reference"
import * as RealRegistry from "@dockside/testing/RealRegistry"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { execFile } from "node:child_process"
import { createHash } from "node:crypto"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const dist = fileURLToPath(new URL("../dist/", import.meta.url))

const run = (script: string, args: ReadonlyArray<string>, home: string) =>
  Effect.async<{ code: number; stdout: string; stderr: string }>((resume) => {
    execFile(process.execPath, [join(dist, script), ...args], {
      timeout: 60_000,
      env: { ...process.env, HOME: home, DOCKER_CONFIG: home }
    }, (error, stdout, stderr) => resume(Effect.succeed({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr })))
  })

const sha256 = (bytes: Uint8Array) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`

/** A two-platform image (amd64, arm64) as an OCI layout named `v1`. */
const writeIndexLayout = (dir: string) => {
  const blobs: Array<Buffer> = []
  const add = (bytes: Buffer) => {
    blobs.push(bytes)
    return { digest: sha256(bytes), size: bytes.length }
  }
  const manifests = ["amd64", "arm64"].map((arch) => {
    const layer = add(Buffer.alloc(1000 + arch.length, arch.charCodeAt(1)))
    const config = add(
      Buffer.from(
        JSON.stringify({ architecture: arch, os: "linux", rootfs: { type: "layers", diff_ids: [layer.digest] } })
      )
    )
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", ...layer }]
    }))
    return {
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      ...add(manifest),
      platform: { architecture: arch, os: "linux" }
    }
  })
  const index = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests })
  )
  const top = add(index)
  mkdirSync(join(dir, "blobs", "sha256"), { recursive: true })
  for (const bytes of blobs) writeFileSync(join(dir, "blobs", "sha256", sha256(bytes).slice(7)), bytes)
  writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }))
  writeFileSync(
    join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{
        mediaType: "application/vnd.oci.image.index.v1+json",
        ...top,
        annotations: { "org.opencontainers.image.ref.name": "v1" }
      }]
    })
  )
  return manifests
}

describe("examples", () => {
  it.scopedLive("platforms prints each platform with its size; mirror copies every tag", () =>
    Effect.gen(function*() {
      const registry = yield* RealRegistry.make()
      const work = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "dockside-examples-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      )
      const manifests = writeIndexLayout(join(work, "layout"))
      const distribution = yield* Distribution.make()
      const source = yield* Reference.parse(`${registry.host}/team/app:v1`)
      yield* V2Flows.push(distribution, join(work, "layout"), source)
      yield* V2Flows.copy(distribution, source, yield* Reference.parse(`${registry.host}/team/app:v2`))

      const platforms = yield* run("platforms.js", [`${registry.host}/team/app:v1`], work)
      expect(platforms.code).toBe(0)
      const lines = platforms.stdout.trim().split("\n")
      expect(lines).toHaveLength(2)
      expect(lines[0]).toMatch(new RegExp(`^linux/amd64 \\d+ bytes ${manifests[0]!.digest}$`))
      expect(lines[1]).toMatch(new RegExp(`^linux/arm64(/v8)? \\d+ bytes ${manifests[1]!.digest}$`))

      const mirror = yield* run("mirror.js", [`${registry.host}/team/app`, `${registry.host}/mirror/app`], work)
      expect(mirror.code).toBe(0)
      expect(mirror.stdout).toContain("v1 sha256:")
      expect(mirror.stdout).toContain("v2 sha256:")
      const tags = yield* Stream.runCollect(distribution.tags(yield* Reference.parse(`${registry.host}/mirror/app`)))
      expect(Chunk.toReadonlyArray(tags).slice().sort()).toEqual(["v1", "v2"])
    }).pipe(Effect.provide(Layer.merge(NodeHttpClient.layerUndici, NodeContext.layer))), 120_000)
})
