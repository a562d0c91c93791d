/**
 * Print the platforms of an image and the size of each (config and layers, compressed).
 *
 *   node examples/dist/platforms.js REFERENCE
 *   node examples/dist/platforms.js 127.0.0.1:5000/team/app:v1
 */
import type * as Distribution from "@dockside/client/Distribution"
import * as V2Flows from "@dockside/client/V2Flows"
import * as DocksideNode from "@dockside/node/DocksideNode"
import * as Manifest from "@dockside/protocol/Manifest"
import * as Platform from "@dockside/protocol/Platform"
import * as Reference from "@dockside/protocol/Reference"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"

/** The bytes an image manifest references: config plus layers. */
const sizeOf = (registry: Distribution.Service, reference: Reference.Reference) =>
  Effect.gen(function*() {
    const manifest = yield* registry.getManifest(reference)
    const decoded = yield* Manifest.decode(manifest.bytes, manifest.mediaType)
    return V2Flows.blobsOf(decoded).reduce((total, blob) => total + blob.size, 0)
  })

const program = Effect.gen(function*() {
  const name = process.argv[2]
  if (name === undefined) return yield* Effect.fail(new Error("usage: platforms REFERENCE"))
  const reference = Reference.withDefaultTag(yield* Reference.parse(name))
  const registry = yield* DocksideNode.distribution()
  const top = yield* registry.getManifest(reference)
  const decoded = yield* Manifest.decode(top.bytes, top.mediaType)
  const children = V2Flows.childrenOf(decoded)
  if (children.length === 0) {
    return yield* Console.log(`(single manifest) ${yield* sizeOf(registry, reference)} bytes ${top.digest}`)
  }
  for (const child of children) {
    const at = new Reference.Reference({
      registry: reference.registry,
      repository: reference.repository,
      digest: child.digest
    })
    const platform = child.platform === undefined ? "unknown" : Platform.format(child.platform)
    yield* Console.log(`${platform} ${yield* sizeOf(registry, at)} bytes ${child.digest}`)
  }
})

NodeRuntime.runMain(program.pipe(Effect.provide(DocksideNode.layer())))
