/**
 * Entry point of the `dockside` command: what `npm run build` bundles into `bundle.cjs`,
 * which `dockside.ts` runs.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cli from "./Cli.js"

NodeRuntime.runMain(Cli.run(process.argv), { disableErrorReporting: true })
