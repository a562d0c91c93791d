/**
 * The v2 commands of the built binary against the real CNCF registry (`docker-registry`,
 * started by @dockside/testing's RealRegistry in this process): push, pull, copy, tags,
 * manifest, catalog, delete, login, `--platform`, progress lines and usage errors.
 */
import * as FaultServer from "@dockside/testing/FaultServer"
import * as OciImages from "@dockside/testing/OciImages"
import * as RealRegistry from "@dockside/testing/RealRegistry"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Dockside from "./support/Dockside.js"

const timeout = 60_000

/** A temporary folder, removed when the scope closes. */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "dockside-cli-v2-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** Run the binary with an empty Docker config folder, so that the user's credentials never count. */
const dockside = (args: ReadonlyArray<string>, input = "") =>
  Effect.flatMap(tempDir, (config) => Dockside.run(args, input, { DOCKER_CONFIG: config }))

/** The short form of a digest in progress lines. */
const short = (digest: string): string => digest.slice(7, 19)

/** The sorted progress lines expected for blobs. */
const lines = (blobs: ReadonlyArray<OciImages.Blob>, word: string): string =>
  blobs.map((blob) => `${short(blob.digest)}: ${word}`).sort().join("\n")

const sortedLines = (text: string): string => text.trim().split("\n").sort().join("\n")

const blobFile = (dir: string, blob: OciImages.Blob): string => join(dir, "blobs", "sha256", blob.digest.slice(7))

// The tests mostly wait for child processes: they run at the same time.
describe.concurrent("dockside v2 commands", () => {
  it("requires the built binary", () => {
    expect(existsSync(Dockside.bin), `${Dockside.bin} is missing: run npm run build`).toBe(true)
  })

  it.scopedLive("push, pull, copy, tags, manifest, catalog and delete", () =>
    Effect.gen(function*() {
      const registry = yield* RealRegistry.make()
      const work = yield* tempDir
      const image = OciImages.image("cli-push", [3000, 150_000])
      const source = join(work, "src")
      OciImages.writeLayout(source, OciImages.blobsOf(image), image.manifest, "v1")
      const blobs = [image.config, ...image.layers]
      const app = `${registry.host}/team/app`

      // push: one line per blob on stderr (not a terminal), the result as JSON
      const pushed = yield* dockside(["push", "--json", source, `${app}:v1`])
      expect(pushed.code, pushed.stderr).toBe(0)
      expect(JSON.parse(pushed.stdout)).toEqual({
        reference: `${app}:v1`,
        source,
        digest: image.manifest.digest,
        mediaType: image.manifest.mediaType,
        transferred: 3,
        skipped: 0
      })
      expect(sortedLines(pushed.stderr)).toBe(lines(blobs, "Pushed"))
      const again = yield* dockside(["push", "--concurrency", "1", source, `${app}:v1`])
      expect(again.stdout).toBe(`Pushed ${app}:v1: ${image.manifest.digest} (0 blobs transferred, 3 already there)\n`)
      expect(sortedLines(again.stderr)).toBe(lines(blobs, "Already exists"))

      // pull into a fresh layout: the same bytes; again with --quiet: nothing on stderr, nothing moved
      const dest = join(work, "dest")
      const pulled = yield* dockside(["pull", `${app}:v1`, dest])
      expect(pulled.stdout).toBe(
        `Pulled ${app}:v1 into ${dest}: ${image.manifest.digest} (3 blobs transferred, 0 already there)\n`
      )
      expect(sortedLines(pulled.stderr)).toBe(lines(blobs, "Pulled"))
      for (const blob of OciImages.blobsOf(image)) {
        expect(Buffer.compare(readFileSync(blobFile(dest, blob)), blob.bytes)).toBe(0)
      }
      const index = JSON.parse(readFileSync(join(dest, "index.json"), "utf8"))
      expect(index.manifests[0].annotations["org.opencontainers.image.ref.name"]).toBe("v1")
      expect(yield* dockside(["pull", "--quiet", `${app}:v1`, dest])).toEqual({
        code: 0,
        stdout: `Pulled ${app}:v1 into ${dest}: ${image.manifest.digest} (0 blobs transferred, 3 already there)\n`,
        stderr: ""
      })

      // copy within the registry: blobs are mounted, the tag is the source's
      const copied = yield* dockside(["copy", `${app}:v1`, `${registry.host}/other/copy`])
      expect(copied.code, copied.stderr).toBe(0)
      expect(copied.stdout).toBe(
        `Copied ${app}:v1 to ${registry.host}/other/copy: ${image.manifest.digest} (0 blobs transferred, 3 already there)\n`
      )
      expect(sortedLines(copied.stderr)).toBe(lines(blobs, "Mounted"))

      // tags
      const retagged = yield* dockside(["copy", "--quiet", `${app}:v1`, `${app}:v2`])
      expect(retagged.code).toBe(0)
      expect(yield* dockside(["tags", app])).toEqual({ code: 0, stdout: "v1\nv2\n", stderr: "" })

      // manifest: the exact bytes, or the parsed document
      const raw = yield* dockside(["manifest", `${app}:v1`])
      expect(raw.code).toBe(0)
      expect(Buffer.compare(Buffer.from(raw.stdout, "utf8"), image.manifest.bytes)).toBe(0)
      const byDigest = yield* dockside(["manifest", "--json", `${app}@${image.manifest.digest}`])
      expect(byDigest.stdout).toBe(`${JSON.stringify(JSON.parse(image.manifest.bytes.toString("utf8")), null, 2)}\n`)

      // catalog
      expect(JSON.parse((yield* dockside(["catalog", "--json", registry.host])).stdout)).toEqual({
        registry: registry.host,
        repositories: ["other/copy", "team/app"]
      })

      // delete by tag (the digest is found with HEAD), then by digest
      expect(yield* dockside(["delete", `${registry.host}/other/copy:v1`])).toEqual({
        code: 0,
        stdout: `Deleted ${registry.host}/other/copy@${image.manifest.digest}\n`,
        stderr: ""
      })
      expect(yield* dockside(["manifest", `${registry.host}/other/copy:v1`])).toMatchObject({
        code: 1,
        stdout: "",
        stderr: expect.stringMatching(/^dockside: .*not found\n$/)
      })
      const deleted = yield* dockside(["delete", "--json", `${app}@${image.manifest.digest}`])
      expect(JSON.parse(deleted.stdout)).toEqual({ deleted: "manifest", name: app, digest: image.manifest.digest })
      expect(yield* dockside(["delete", `${app}:v1`])).toEqual({
        code: 1,
        stdout: "",
        stderr: `dockside: manifest ${app}:v1 not found\n`
      })
    }), timeout)

  it.scopedLive("--platform picks one manifest of an index", () =>
    Effect.gen(function*() {
      const registry = yield* RealRegistry.make()
      const work = yield* tempDir
      const amd = OciImages.image("cli-amd", [2000], "amd64")
      const arm = OciImages.image("cli-arm", [2500], "arm64")
      const top = OciImages.index([{ image: amd, arch: "amd64" }, { image: arm, arch: "arm64" }])
      const source = join(work, "src")
      OciImages.writeLayout(source, [...OciImages.blobsOf(amd), ...OciImages.blobsOf(arm), top], top, "multi")
      const ref = `${registry.host}/team/multi:multi`
      // the layout's only image is pushed under another tag
      const pushed = yield* dockside(["push", "--quiet", source, ref])
      expect(pushed.code, pushed.stderr).toBe(0)
      const raw = yield* dockside(["manifest", ref])
      expect(Buffer.compare(Buffer.from(raw.stdout, "utf8"), top.bytes)).toBe(0)

      const dest = join(work, "arm")
      const pulled = yield* dockside(["pull", "--json", "--platform", "linux/arm64", ref, dest])
      expect(pulled.code, pulled.stderr).toBe(0)
      expect(JSON.parse(pulled.stdout)).toMatchObject({ digest: arm.manifest.digest, transferred: 2 })
      expect(sortedLines(pulled.stderr)).toBe(lines([arm.config, ...arm.layers], "Pulled"))
      for (const blob of OciImages.blobsOf(arm)) expect(existsSync(blobFile(dest, blob))).toBe(true)
      for (const blob of OciImages.blobsOf(amd)) expect(existsSync(blobFile(dest, blob))).toBe(false)

      const missing = yield* dockside(["pull", "--platform", "linux/s390x", ref, join(work, "none")])
      expect(missing.code).toBe(1)
      expect(missing.stderr).toMatch(/^dockside: invalid platform "linux\/s390x": .* has no manifest for it/)
    }), timeout)

  it.scopedLive(
    "login checks the credentials, then stores them; other commands use them",
    () =>
      Effect.gen(function*() {
        const image = OciImages.image("cli-login", [1500])
        const work = yield* tempDir
        const source = join(work, "src")
        OciImages.writeLayout(source, OciImages.blobsOf(image), image.manifest, "v1")
        const { password, username } = RealRegistry.defaultUser
        for (const auth of ["basic", "token"] as const) {
          const registry = yield* RealRegistry.make({ auth })
          const config = yield* tempDir
          const configFile = join(config, "config.json")

          // a wrong password: exit 1, nothing written
          const refused = yield* dockside(
            ["login", "--config", config, "--username", username, "--password-stdin", registry.host],
            "wrong-password\n"
          )
          expect(refused.code, auth).toBe(1)
          expect(refused.stderr).toMatch(new RegExp(`^dockside: login to ${registry.host} failed: `))
          expect(refused.stdout + refused.stderr).not.toContain("wrong-password")
          expect(existsSync(configFile)).toBe(false)

          // without credentials the registry refuses
          const anonymous = yield* dockside(["push", "--config", config, source, `${registry.host}/team/app:v1`])
          expect(anonymous.code, auth).toBe(1)

          const login = yield* dockside(
            ["login", "--config", config, "--username", username, "--password-stdin", registry.host],
            `${password}\n`
          )
          expect(login, auth).toEqual({ code: 0, stdout: "Login Succeeded\n", stderr: "" })
          expect(JSON.parse(readFileSync(configFile, "utf8"))).toEqual({
            auths: { [registry.host]: { auth: Buffer.from(`${username}:${password}`).toString("base64") } }
          })

          const pushed = yield* dockside([
            "push",
            "--quiet",
            "--config",
            config,
            source,
            `${registry.host}/team/app:v1`
          ])
          expect(pushed.code, pushed.stderr).toBe(0)
          if (auth === "basic") {
            const json = yield* dockside(
              ["login", "--json", "--config", config, "-u", username, "--password-stdin", `http://${registry.host}/`],
              password
            )
            expect(JSON.parse(json.stdout)).toEqual({ registry: registry.host, username, stored: configFile })
          } else {
            // a token for the catalog (registry:catalog:*) and one for the repository
            const catalog = yield* dockside(["catalog", "--config", config, registry.host])
            expect(catalog.stdout, catalog.stderr).toBe("team/app\n")
            const tags = yield* dockside(["tags", "--json", "--config", config, `${registry.host}/team/app`])
            expect(JSON.parse(tags.stdout)).toEqual({ name: `${registry.host}/team/app`, tags: ["v1"] })
          }
        }
      }),
    timeout
  )

  it.scopedLive(
    "login sends the password to the registry only, not to an origin it redirects to",
    () =>
      Effect.gen(function*() {
        const registry = yield* FaultServer.make()
        const other = yield* FaultServer.make()
        yield* registry.respond("/v2/", [{ status: 307, headers: { location: `http://${other.host}/v2/` } }])
        // The other origin asks for Basic credentials.
        const challenge = { status: 401, headers: { "www-authenticate": `Basic realm="other"` } }
        yield* other.respond("/v2/", [challenge, challenge, challenge])
        const login = yield* dockside(["login", "--username", "alice", "--password-stdin", registry.host], "s3cret\n")
        expect(login.code, login.stderr).toBe(1)
        expect(login.stderr).toContain(`login to ${registry.host} failed`)
        const seen = yield* other.requests
        expect(seen.length).toBeGreaterThan(0)
        expect(seen.map((request) => request.headers["authorization"])).toEqual(seen.map(() => undefined))
      }),
    timeout
  )

  it.scoped("usage errors exit 2 with the reason and the command's usage", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string, string]> = [
        [["pull", "Team/App", "dest"], "repository name must be lowercase", "dockside pull"],
        [["pull", "--platform", "linux", "app", "dest"], `invalid platform "linux"`, "dockside pull"],
        [["pull", "--platform", "linux/$", "app", "dest"], `invalid platform "linux/$"`, "dockside pull"],
        [["pull", "--concurrency", "0", "app", "dest"], "--concurrency must be from 1 to 32", "dockside pull"],
        [["copy", "--concurrency", "33", "a", "b"], "--concurrency must be from 1 to 32", "dockside copy"],
        [["push", "/nonexistent-layout", "app"], "/nonexistent-layout", "dockside push"],
        [["tags", "ubuntu:latest"], `"docker.io/library/ubuntu:latest" names a tag or digest`, "dockside tags"],
        [["delete", "localhost:5000/app"], "names no tag and no digest", "dockside delete"],
        [["manifest", "app:-bad"], `invalid tag "-bad"`, "dockside manifest"],
        [["catalog", "bad_host!"], "invalid registry host", "dockside catalog"],
        [
          ["login", "-u", "a", "--password-stdin", "127.0.0.1:99999"],
          "the port must be from 1 to 65535",
          "dockside login"
        ],
        [["pull", "127.0.0.1:99999/foo:1", "dest"], "the port must be from 1 to 65535", "dockside pull"],
        [["tags", "xn--a.com/foo"], "it is not a host name a URL can hold", "dockside tags"],
        [["login", "--password-stdin", "localhost:5000"], "--password-stdin needs --username", "dockside login"],
        [["login", "--username", "me", "localhost:5000"], "--username needs --password-stdin", "dockside login"]
      ]
      yield* Effect.forEach(cases, ([args, reason, usage]) =>
        Effect.map(dockside(args), (result) => {
          expect(result.code, args.join(" ")).toBe(2)
          expect(result.stdout).toBe("")
          expect(result.stderr, args.join(" ")).toContain(reason)
          expect(result.stderr).toContain(`Usage:\n  ${usage} `)
        }), { concurrency: 4 })
      // the usage printer lists the new commands
      const unknown = yield* dockside(["--bogus"])
      expect(unknown.code).toBe(2)
      for (const command of ["pull", "push", "copy", "tags", "manifest", "catalog", "delete", "login"]) {
        expect(unknown.stderr).toContain(`  dockside ${command} `)
      }
    }), timeout)
})
