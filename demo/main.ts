/**
 * `npm run demo`: push and pull images through embedded registries, step by step.
 *
 * v1: starts `V1Registry` (from @dockside/testing) on a free loopback port, builds a small
 * two-layer image in the legacy `docker save` layout, pushes it with `pushV1`, lists its
 * tags and history, pulls it into a fresh folder with `pullV1`, and checks that the JSON
 * bytes and layer contents came back identical.
 *
 * v2: starts `V2Registry` (an in-process OCI Distribution registry, token auth on), pushes
 * the same image as an OCI image with `V2Flows.push` (from the docker save folder, converted
 * on the way), copies it to another repository (blobs mounted), lists the tags, pulls it
 * into an OCI layout with `V2Flows.pull`, and checks every blob's digest.
 */
import * as Distribution from "@dockside/client/Distribution"
import * as DockerArchive from "@dockside/client/DockerArchive"
import * as V1Flows from "@dockside/client/V1Flows"
import * as V1Session from "@dockside/client/V1Session"
import * as V2Flows from "@dockside/client/V2Flows"
import * as Reference from "@dockside/protocol/Reference"
import * as Tar from "@dockside/protocol/Tar"
import * as TarSum from "@dockside/protocol/TarSum"
import * as V1Registry from "@dockside/testing/V1Registry"
import * as V2Registry from "@dockside/testing/V2Registry"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const layerTar = (files: Readonly<Record<string, string>>): Uint8Array => {
  const parts: Array<Uint8Array> = []
  for (const [name, text] of Object.entries(files)) {
    const data = Buffer.from(text)
    const header = Tar.encodeHeader({ name, size: data.length, mtime: 1_700_000_000 })
    if (typeof header === "string") throw new Error(header)
    parts.push(header, data, Tar.padding(data.length))
  }
  parts.push(new Uint8Array(1024))
  return Buffer.concat(parts)
}

const makeImage = (seed: string, files: Readonly<Record<string, string>>, parent?: string) => {
  const id = createHash("sha256").update(seed).digest("hex")
  const json = Buffer.from(JSON.stringify({ id, ...(parent ? { parent } : {}), created: "2026-11-27T00:00:00Z" }))
  return { id, json, layer: layerTar(files) }
}

const step = (n: number, text: string) => Console.log(`\n[${n}] ${text}`)
const short = (id: string) => id.slice(0, 12)

const program = Effect.gen(function*() {
  const work = mkdtempSync(join(tmpdir(), "dockside-demo-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(work, { recursive: true, force: true })))

  yield* step(1, "Start the embedded v1 registry (index + registry, in-process)")
  const registry = yield* V1Registry.make({ seed: false })
  yield* Console.log(`    listening on ${registry.url}`)

  yield* step(2, "Build a two-layer image in the legacy docker save layout")
  const base = makeImage("demo-base", {
    "etc/os-release": "NAME=dockside-demo\n",
    "bin/hello": "#!/bin/sh\necho hello\n"
  })
  const app = makeImage("demo-app", { "app/message.txt": "pushed and pulled by dockside\n" }, base.id)
  const source = join(work, "source")
  for (const image of [base, app]) {
    mkdirSync(join(source, image.id), { recursive: true })
    writeFileSync(join(source, image.id, "VERSION"), "1.0")
    writeFileSync(join(source, image.id, "json"), image.json)
    writeFileSync(join(source, image.id, "layer.tar"), image.layer)
    const sum = yield* TarSum.checksum(Stream.make(image.layer), { extra: image.json })
    yield* Console.log(`    ${short(image.id)}  ${image.layer.length} bytes  ${sum}`)
  }
  writeFileSync(join(source, "repositories"), JSON.stringify({ "demo/app": { v1: app.id } }))

  yield* step(3, "Push demo/app:v1 with pushV1 (index PUT, JSON, layer, checksum, tag, final index PUT)")
  const session = yield* V1Session.make({ index: registry.indexAddress, userAgent: "dockside-demo" })
  const pushed = yield* V1Flows.pushV1(session, { name: "demo/app", tag: "v1", source })
  for (const image of pushed.images) {
    yield* Console.log(`    ${short(image.id)}  ${image.pushed ? "pushed" : "already there"}`)
  }
  yield* Console.log(`    registry endpoints: ${pushed.endpoints.join(", ")}`)

  yield* step(4, "List tags and history")
  const puller = yield* V1Session.make({ index: registry.indexAddress, userAgent: "dockside-demo" })
  const data = yield* puller.getRepositoryData("demo/app")
  const tags = yield* puller.getRemoteTags(data.endpoints, "demo/app")
  for (const [tag, id] of Object.entries(tags)) yield* Console.log(`    tag ${tag} -> ${short(id)}`)
  const history = yield* puller.getRemoteHistory(app.id, data.endpoints[0]!)
  for (const id of history) {
    const { size } = yield* puller.getRemoteImageJson(id, data.endpoints[0]!)
    yield* Console.log(`    ${short(id)}  stored layer ${size} bytes (gzip, as the v1 upload sends it)`)
  }

  yield* step(5, "Pull demo/app:v1 into a fresh folder with pullV1")
  const dest = join(work, "pulled")
  const pulled = yield* V1Flows.pullV1(puller, { name: "demo/app", tag: "v1", dest })
  yield* Console.log(`    wrote ${pulled.images.map(short).join(", ")} and repositories ${JSON.stringify(pulled.tags)}`)

  yield* step(6, "Compare what came back")
  let identical = true
  for (const image of [base, app]) {
    const json = Buffer.compare(readFileSync(join(dest, image.id, "json")), image.json) === 0
    const layer = Buffer.compare(readFileSync(join(dest, image.id, "layer.tar")), image.layer) === 0
    identical &&= json && layer
    yield* Console.log(
      `    ${short(image.id)}  json ${json ? "identical" : "DIFFERENT"}, layer ${layer ? "identical" : "DIFFERENT"}`
    )
  }
  if (!identical) return yield* Effect.fail(new Error("the pulled image differs from the pushed one"))
  yield* Console.log("    the image made the v1 round trip byte for byte")

  yield* step(7, "Start the embedded v2 registry (OCI Distribution, token auth)")
  const v2 = yield* V2Registry.make({ tokenAuth: { users: [{ username: "demo", password: "demo-password" }] } })
  yield* Console.log(`    listening on ${v2.url}`)
  const distribution = yield* Distribution.make({
    credentials: () =>
      Effect.succeed(
        Option.some({ _tag: "Basic" as const, username: "demo", password: Redacted.make("demo-password") })
      )
  })

  yield* step(8, "Push demo/app:v1 as an OCI image (the docker save folder converted on the way)")
  const target = yield* Reference.parse(`${v2.host}/demo/app:v1`)
  const layout = yield* DockerArchive.openSource(source, { name: "demo/app", tag: "v1" })
  const pushedV2 = yield* V2Flows.push(distribution, layout, target)
  yield* Console.log(`    manifest ${pushedV2.digest}: ${pushedV2.transferred} blobs uploaded`)

  yield* step(9, "Copy it to demo/copy:v1 on the same registry (blobs are mounted, not uploaded)")
  const copied = yield* V2Flows.copy(distribution, target, yield* Reference.parse(`${v2.host}/demo/copy:v1`))
  yield* Console.log(`    ${copied.skipped} blobs mounted, ${copied.transferred} uploaded`)
  const v2tags = yield* Stream.runCollect(distribution.tags(target))
  yield* Console.log(`    tags of demo/app: ${[...v2tags].join(", ")}`)

  yield* step(10, "Pull demo/copy:v1 into an OCI image layout and verify every blob")
  const ociDest = join(work, "oci")
  const pulledV2 = yield* V2Flows.pull(distribution, yield* Reference.parse(`${v2.host}/demo/copy:v1`), ociDest)
  const blobs = readdirSync(join(ociDest, "blobs", "sha256"))
  const verified = blobs.every((hex) =>
    createHash("sha256").update(readFileSync(join(ociDest, "blobs", "sha256", hex))).digest("hex") === hex
  )
  yield* Console.log(
    `    manifest ${pulledV2.digest}: ${blobs.length} blobs in ${ociDest}, ${verified ? "all verified" : "MISMATCH"}`
  )
  if (!verified || pulledV2.digest !== pushedV2.digest) {
    return yield* Effect.fail(new Error("the v2 round trip differs"))
  }
  yield* Console.log("\nDone: the image made the v1 and the v2 round trips byte for byte.")
})

NodeRuntime.runMain(
  program.pipe(Effect.scoped, Effect.provide(Layer.merge(NodeHttpClient.layerUndici, NodeContext.layer)))
)
