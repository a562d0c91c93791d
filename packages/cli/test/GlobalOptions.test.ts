import * as V1Registry from "@dockside/testing/V1Registry"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as GlobalOptions from "../src/GlobalOptions.js"
import * as Dockside from "./support/Dockside.js"

const timeout = 60_000

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "dockside-global-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

describe("global options", () => {
  it("parseDuration reads 30s, 500ms, 2m, 1h and Effect's forms", () => {
    expect(GlobalOptions.parseDuration("30s")).toEqual(Option.some(Duration.seconds(30)))
    expect(GlobalOptions.parseDuration("500ms")).toEqual(Option.some(Duration.millis(500)))
    expect(GlobalOptions.parseDuration("2m")).toEqual(Option.some(Duration.minutes(2)))
    expect(GlobalOptions.parseDuration("1h")).toEqual(Option.some(Duration.hours(1)))
    expect(GlobalOptions.parseDuration("10 seconds")).toEqual(Option.some(Duration.seconds(10)))
    expect(GlobalOptions.parseDuration("soon")).toEqual(Option.none())
  })

  it.scoped("--verbose shows a retry; --retries 1 turns it into a failure", () =>
    Effect.gen(function*() {
      const registry = yield* V1Registry.make({ standalone: true })
      yield* registry.failNext(1, 503)
      const recovered = yield* Dockside.run(["v1", "tags", "--verbose", "--index", registry.url, "foo42/bar"])
      expect(recovered.code).toBe(0)
      expect(recovered.stderr).toMatch(
        /^retrying GET http:\/\/127\.0\.0\.1:\d+\/v1\/repositories\/foo42\/bar\/images in \d+ms \(attempt 1 got HTTP 503\)\n$/
      )
      expect(recovered.stdout).toContain("latest")
      yield* registry.failNext(1, 503)
      const failed = yield* Dockside.run(["v1", "tags", "--retries", "1", "--index", registry.url, "foo42/bar"])
      expect(failed.code).toBe(1)
    }), timeout)

  it.scoped("bad values are usage errors (exit 2)", () =>
    Effect.gen(function*() {
      for (
        const args of [
          ["--retries", "0"],
          ["--timeout", "soon"],
          ["--timeout", "0ms"],
          ["--timeout", "-5 seconds"],
          ["--ca-file", "/nonexistent.pem"],
          ["--config", "/nonexistent-dir"]
        ]
      ) {
        const result = yield* Dockside.run(["v1", "ping", ...args, "http://127.0.0.1:1"])
        expect(result.code, args.join(" ")).toBe(2)
        expect(result.stderr).toContain("Usage:")
      }
    }), timeout)

  it.scoped("an invalid DOCKSIDE_* variable is a usage error that names the variable", () =>
    Effect.gen(function*() {
      const result = yield* Dockside.run(["v1", "ping", "http://127.0.0.1:1"], "", { DOCKSIDE_RETRIES: "abc" })
      expect(result.code).toBe(2)
      expect(result.stderr).toContain("dockside: invalid environment: (Invalid data at DOCKSIDE_RETRIES")
      const proxy = yield* Dockside.run(["tags", "127.0.0.1:1/x"], "", { HTTPS_PROXY: "http://bob:hunter2@[bad" })
      expect(proxy.code).toBe(2)
      expect(proxy.stderr).toContain("dockside: invalid environment:")
      expect(proxy.stderr).toContain("HTTPS_PROXY")
      expect(proxy.stderr).not.toContain("hunter2")
    }), timeout)

  it.scoped(
    "credentials come from the Docker config (--config); a failing helper is a warning",
    () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make({ basicAuth: { username: "alice", password: "s3cret" } })
        const config = yield* tempDir
        writeFileSync(
          join(config, "config.json"),
          JSON.stringify({
            auths: { [registry.host]: { auth: Buffer.from("alice:s3cret").toString("base64") } }
          })
        )
        const ok = yield* Dockside.run(["v1", "tags", "--config", config, "--index", registry.url, "foo42/bar"])
        expect(ok.code).toBe(0)
        const index = (yield* registry.requests).find((r) => r.path === "/v1/repositories/foo42/bar/images")
        expect(index!.headers["authorization"]).toBe(`Basic ${Buffer.from("alice:s3cret").toString("base64")}`)
        expect(ok.stdout + ok.stderr).not.toContain("s3cret")

        const bin = yield* tempDir
        mkdirSync(bin, { recursive: true })
        writeFileSync(join(bin, "docker-credential-broken"), "#!/bin/sh\necho 'keychain locked' >&2\nexit 1\n")
        chmodSync(join(bin, "docker-credential-broken"), 0o755)
        writeFileSync(join(config, "config.json"), JSON.stringify({ credsStore: "broken" }))
        const denied = yield* Dockside.run(
          ["v1", "tags", "--config", config, "--index", registry.url, "foo42/bar"],
          "",
          { PATH: `${bin}:${process.env.PATH}` }
        )
        expect(denied.code).toBe(1)
        expect(denied.stderr).toContain("warning: credential helper docker-credential-broken")
        expect(denied.stderr).toContain("dockside: unauthorized: authentication required")
      }),
    timeout
  )
})
