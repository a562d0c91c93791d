/** Run the built `dockside` binary from tests. */
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

/** The bundled command, as installed (`npm run build` makes it: `tsc -b`, then the bundle). */
export const bin = fileURLToPath(new URL("../../dist/dockside.js", import.meta.url))

/** What a run printed and how it ended. */
export interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Run the binary as a child process. Asynchronous on purpose: test registries serve from
 * this process's event loop, which a synchronous spawn would block.
 */
export const run = (
  args: ReadonlyArray<string>,
  input: string | Uint8Array = "",
  env: Readonly<Record<string, string>> = {}
): Effect.Effect<Result> =>
  Effect.promise(() =>
    new Promise<Result>((resolve, reject) => {
      const child = spawn(process.execPath, [bin, ...args], { timeout: 30_000, env: { ...process.env, ...env } })
      const stdout: Array<Buffer> = []
      const stderr: Array<Buffer> = []
      child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk))
      child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk))
      child.on("error", reject)
      child.on("close", (code) =>
        resolve({
          code,
          stdout: Buffer.concat(stdout).toString("utf8"),
          stderr: Buffer.concat(stderr).toString("utf8")
        }))
      child.stdin.end(input)
    })
  )
