#!/usr/bin/env -S node --max-semi-space-size=2
/**
 * Entry point of the `dockside` command.
 *
 * A young generation of 2 MiB (Node's default grows to 16 MiB) lets the network buffers of
 * a transfer be freed after a few MiB instead of a few dozen: peak RSS of a 4 × 64 MiB pull
 * ~145 MiB instead of ~185, for a few percent more time in the collector.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cli from "./Cli.js"

NodeRuntime.runMain(Cli.run(process.argv), { disableErrorReporting: true })
