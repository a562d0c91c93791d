/**
 * Mirror every tag of a repository to another registry (or repository), with a more
 * patient retry policy than the default composed in.
 *
 *   node examples/dist/mirror.js SOURCE_REPOSITORY TARGET_REPOSITORY
 *   node examples/dist/mirror.js registry.example.com/team/app 127.0.0.1:5000/mirror/app
 *
 * Credentials come from the Docker config; loopback registries are spoken to over http.
 */
import * as Distribution from "@dockside/client/Distribution"
import * as V2Flows from "@dockside/client/V2Flows"
import * as DocksideNode from "@dockside/node/DocksideNode"
import * as Identifiers from "@dockside/protocol/Identifiers"
import * as Reference from "@dockside/protocol/Reference"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

const [sourceName, targetName] = process.argv.slice(2)

const program = Effect.gen(function*() {
  if (sourceName === undefined || targetName === undefined) {
    return yield* Effect.fail(new Error("usage: mirror SOURCE_REPOSITORY TARGET_REPOSITORY"))
  }
  const source = yield* Reference.parse(sourceName)
  const target = yield* Reference.parse(targetName)
  const registry: Distribution.Service = yield* DocksideNode.distribution()
  const tags = yield* Stream.runCollect(registry.tags(source))
  for (const name of tags) {
    const tag = yield* Identifiers.parseTag(name) // tags come from the network: checked before use
    const from = new Reference.Reference({ ...source, tag })
    const to = new Reference.Reference({ registry: target.registry, repository: target.repository, tag })
    const result = yield* V2Flows.copy(registry, from, to)
    yield* Console.log(`${tag} ${result.digest} (${result.transferred} blobs copied, ${result.skipped} already there)`)
  }
})

// Eight attempts with a slower backoff, for flaky links, on top of the defaults.
const patient = DocksideNode.layer({
  policy: { retry: { attempts: 8, baseDelay: Duration.millis(500) } }
})

NodeRuntime.runMain(program.pipe(Effect.provide(patient)))
