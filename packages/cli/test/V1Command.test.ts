import * as V1Registry from "@dockside/testing/V1Registry"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Dockside from "./support/Dockside.js"

const dockside = Dockside.run

const { baseImage, childImage } = V1Registry.seed
const timeout = 60_000

/** A one-file tar archive: a ustar header, the data padded to a block, two zero blocks. */
const tarOf = (name: string, data: string): Buffer => {
  const header = Buffer.alloc(512)
  header.write(name, 0)
  header.write("0000644\0", 100)
  header.write("0000000\0", 108)
  header.write("0000000\0", 116)
  header.write(`${data.length.toString(8).padStart(11, "0")}\0`, 124)
  header.write("00000000000\0", 136)
  header.write("0", 156)
  header.write("ustar\u000000", 257)
  header.fill(0x20, 148, 156)
  header.write(`${header.reduce((sum, byte) => sum + byte, 0).toString(8).padStart(6, "0")}\0 `, 148)
  const body = Buffer.alloc(Math.ceil(data.length / 512) * 512)
  body.write(data)
  return Buffer.concat([header, body, Buffer.alloc(1024)])
}

/** A legacy `docker save` folder holding one image tagged `me/app:v1`. */
const legacyLayout = (dir: string) => {
  const id = createHash("sha256").update("dockside cli round trip").digest("hex")
  const json = Buffer.from(JSON.stringify({ id, created: "2017-03-01T00:00:00Z", os: "linux" }))
  const layer = tarOf("hello.txt", "hello from dockside\n")
  mkdirSync(join(dir, id), { recursive: true })
  writeFileSync(join(dir, "repositories"), JSON.stringify({ "me/app": { v1: id } }))
  writeFileSync(join(dir, id, "VERSION"), "1.0")
  writeFileSync(join(dir, id, "json"), json)
  writeFileSync(join(dir, id, "layer.tar"), layer)
  return { id, json, layer }
}

/** A temporary folder, removed when the scope closes. */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "dockside-cli-v1-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

describe("dockside v1", () => {
  it("requires the built binary", () => {
    expect(existsSync(Dockside.bin), `${Dockside.bin} is missing: run npm run build`).toBe(true)
  })

  it.scoped("ping prints the version and whether the registry is standalone", () =>
    Effect.gen(function*() {
      const registry = yield* V1Registry.make()
      expect(yield* dockside(["v1", "ping", registry.url])).toEqual({
        code: 0,
        stdout: "Version:    0.9.1\nStandalone: false\n",
        stderr: ""
      })
      const standalone = yield* V1Registry.make({ standalone: true })
      const result = yield* dockside(["v1", "ping", "--json", standalone.indexAddress])
      expect(result.code).toBe(0)
      expect(JSON.parse(result.stdout)).toEqual({ version: "0.9.1", standalone: true })
    }), timeout)

  it.scoped("search prints a table like docker search, or JSON, and takes --limit", () =>
    Effect.gen(function*() {
      const registry = yield* V1Registry.make()
      expect(yield* dockside(["v1", "search", "--index", registry.url, "fake"])).toEqual({
        code: 0,
        stdout: "NAME        DESCRIPTION   STARS   OFFICIAL   AUTOMATED\n" +
          "fakeimage   fakequery     42\n",
        stderr: ""
      })
      const all = yield* dockside(["v1", "search", "--index", registry.indexAddress, "--json", ""])
      expect(all.code).toBe(0)
      expect(JSON.parse(all.stdout)).toEqual({
        query: "",
        numResults: 2,
        results: [
          { name: "fakeimage", description: "fakequery", starCount: 42, isOfficial: false, isAutomated: false },
          { name: "foo42/bar", description: "", starCount: 0, isOfficial: false, isAutomated: false }
        ]
      })
      const limited = yield* dockside(["v1", "search", "--index", registry.url, "--limit", "1", "--json", ""])
      expect(JSON.parse(limited.stdout).results).toHaveLength(1)
    }), timeout)

  it.scoped("tags lists TAG / IMAGE ID, short ids in the table and full ones in JSON", () =>
    Effect.gen(function*() {
      const registry = yield* V1Registry.make()
      expect(yield* dockside(["v1", "tags", "--index", registry.url, "foo42/bar"])).toEqual({
        code: 0,
        stdout: `TAG      IMAGE ID\nlatest   ${childImage.slice(0, 12)}\ntest     ${childImage.slice(0, 12)}\n`,
        stderr: ""
      })
      const json = yield* dockside(["v1", "tags", "--index", registry.url, "--json", "foo42/bar"])
      expect(JSON.parse(json.stdout)).toEqual({ name: "foo42/bar", tags: { latest: childImage, test: childImage } })
    }), timeout)

  it.scoped(
    "history lists the ancestry with sizes and creation times (default tag latest)",
    () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        const created = "2013-03-23T12:53:11.10432-07:00"
        expect(yield* dockside(["v1", "history", "--index", registry.url, "foo42/bar"])).toEqual({
          code: 0,
          stdout: "IMAGE          CREATED                           SIZE\n" +
            `${childImage.slice(0, 12)}   ${created}   154 B\n` +
            `${baseImage.slice(0, 12)}   ${created}   152 B\n`,
          stderr: ""
        })
        const json = yield* dockside(["v1", "history", "--index", registry.url, "--json", "foo42/bar:test"])
        expect(JSON.parse(json.stdout)).toEqual({
          name: "foo42/bar",
          tag: "test",
          id: childImage,
          images: [{ id: childImage, size: 154, created }, { id: baseImage, size: 152, created }]
        })
      }),
    timeout
  )

  it.scoped(
    "delete on a registry that issues tokens takes the index's delete step first",
    () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make()
        expect(yield* dockside(["v1", "delete", "--index", registry.url, "foo42/bar:test"])).toEqual({
          code: 0,
          stdout: "Deleted tag foo42/bar:test\n",
          stderr: ""
        })
        expect(yield* registry.tags("foo42/bar")).toEqual(Option.some({ latest: childImage }))
        const steps = (yield* registry.requests).filter((r) => r.method === "DELETE").map((r) => r.path)
        expect(steps).toEqual(["/v1/repositories/foo42/bar/", "/v1/repositories/foo42/bar/tags/test"])
      }),
    timeout
  )

  it.scoped("delete removes a tag, or the whole repository without one", () =>
    Effect.gen(function*() {
      const registry = yield* V1Registry.make({ standalone: true })
      expect(yield* dockside(["v1", "delete", "--index", registry.url, "foo42/bar:test"])).toEqual({
        code: 0,
        stdout: "Deleted tag foo42/bar:test\n",
        stderr: ""
      })
      expect(yield* registry.tags("foo42/bar")).toEqual(Option.some({ latest: childImage }))
      const missing = yield* dockside(["v1", "delete", "--index", registry.url, "foo42/bar:test"])
      expect(missing).toEqual({ code: 1, stdout: "", stderr: "dockside: tag test of foo42/bar not found\n" })
      const repository = yield* dockside(["v1", "delete", "--index", registry.url, "--json", "foo42/bar"])
      expect(repository.code).toBe(0)
      expect(JSON.parse(repository.stdout)).toEqual({ deleted: "repository", name: "foo42/bar" })
      expect(yield* registry.tags("foo42/bar")).toEqual(Option.none())
    }), timeout)

  it.scoped("usage errors exit 2 with the reason and the command's usage", () =>
    Effect.gen(function*() {
      const registry = yield* V1Registry.make()
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string, string]> = [
        [["tags", "--index", registry.url, "Foo/Bar"], "repository name must be lowercase", "dockside v1 tags"],
        [["history", "--index", registry.url, "foo42/bar:-x"], `invalid tag "-x"`, "dockside v1 history"],
        [["delete", "--index", registry.url, "foo42/bar:"], "a tag cannot be empty", "dockside v1 delete"],
        [["tags", "foo42/bar"], "--index", "dockside v1 tags"],
        [
          ["tags", "--index", "http://127.0.0.1:1/v2/", "foo42/bar"],
          "unsupported V1 version path v2",
          "dockside v1 tags"
        ],
        [
          ["tags", "--index", registry.url, "--password-stdin", "foo42/bar"],
          "--password-stdin needs --username",
          "dockside v1 tags"
        ],
        [
          ["search", "--index", registry.url, "--limit", "101", "x"],
          "outside the range of [1, 100]",
          "dockside v1 search"
        ],
        [["pull", "--index", registry.url, "foo42/bar"], "DEST", "dockside v1 pull"]
      ]
      for (const [args, reason, usage] of cases) {
        const result = yield* dockside(["v1", ...args])
        expect(result.code, args.join(" ")).toBe(2)
        expect(result.stdout).toBe("")
        expect(result.stderr).toContain(reason)
        expect(result.stderr).toContain(`Usage:\n  ${usage} `)
      }
      const group = yield* dockside(["v1", "--bogus"])
      expect(group.code).toBe(2)
      for (const sub of ["ping", "search", "tags", "history", "push", "pull", "delete"]) {
        expect(group.stderr).toContain(`\n  dockside v1 ${sub} `)
      }
      expect((yield* registry.requests).length).toBe(0)
    }), timeout)

  it.scoped(
    "credentials come from standard input; a wrong password is a 401 that never shows it",
    () =>
      Effect.gen(function*() {
        const registry = yield* V1Registry.make({ basicAuth: { username: "u", password: "right-Pa55" } })
        const wrong = yield* dockside(
          ["v1", "tags", "--index", registry.url, "--username", "u", "--password-stdin", "foo42/bar"],
          "wrong-Pa55\n"
        )
        expect(wrong).toEqual({ code: 1, stdout: "", stderr: "dockside: unauthorized: authentication required\n" })
        const anonymous = yield* dockside(["v1", "tags", "--index", registry.url, "foo42/bar"])
        expect(anonymous.code).toBe(1)
        const right = yield* dockside(
          ["v1", "tags", "--index", registry.url, "--username", "u", "--password-stdin", "--json", "foo42/bar"],
          "right-Pa55\n"
        )
        expect(right.code).toBe(0)
        expect(JSON.parse(right.stdout).tags.latest).toBe(childImage)
        expect(right.stdout + right.stderr).not.toContain("right-Pa55")
      }),
    timeout
  )

  it.scoped("registry failures exit 1 with the typed error's message", () =>
    Effect.gen(function*() {
      const registry = yield* V1Registry.make()
      yield* registry.failNext(1, 500)
      const tags = yield* dockside(["v1", "tags", "--retries", "1", "--index", registry.url, "foo42/bar"])
      expect(tags.code).toBe(1)
      expect(tags.stdout).toBe("")
      expect(tags.stderr).toMatch(
        /^dockside: Error: Status 500 trying to pull repository foo42\/bar \(GET http:.*→ HTTP 500\)/
      )
      yield* registry.failNext(1, 503)
      const search = yield* dockside(["v1", "search", "--retries", "1", "--index", registry.url, "x"])
      expect(search.code).toBe(1)
      expect(search.stderr).toMatch(/^dockside: Unexpected status code 503 /)
      const missing = yield* dockside(["v1", "history", "--index", registry.url, "foo42/bar:nope"])
      expect(missing).toEqual({ code: 1, stdout: "", stderr: "dockside: Repository not found\n" })
    }), timeout)

  it.scoped("push then pull round-trips a legacy layout through the registry", () =>
    Effect.gen(function*() {
      const registry = yield* V1Registry.make()
      const source = yield* tempDir
      const dest = yield* tempDir
      const image = legacyLayout(source)
      const short = image.id.slice(0, 12)

      const pushed = yield* dockside(["v1", "push", "--index", registry.url, "me/app:v1", source])
      expect(pushed).toEqual({
        code: 0,
        stdout: "Pushed me/app:v1: 1 image, 1 uploaded\n",
        stderr: `${short}: Pushed\n`
      })
      expect(yield* registry.tags("me/app")).toEqual(Option.some({ v1: image.id }))
      const again = yield* dockside(["v1", "push", "--index", registry.url, "--json", "me/app:v1", source])
      expect(again.stderr).toBe(`${short}: Already exists\n`)
      expect(JSON.parse(again.stdout)).toEqual({
        name: "me/app",
        tag: "v1",
        images: [{ id: image.id, pushed: false }],
        endpoints: [registry.indexAddress]
      })

      const folder = join(dest, "layout")
      const pulled = yield* dockside(["v1", "pull", "--index", registry.url, "me/app:v1", folder])
      expect(pulled).toEqual({
        code: 0,
        stdout: `Pulled me/app:v1 into ${folder}: 1 image\n`,
        stderr: `${short}: Pull complete\n`
      })
      expect(readFileSync(join(folder, image.id, "json"))).toEqual(image.json)
      expect(readFileSync(join(folder, image.id, "layer.tar"))).toEqual(image.layer)
      expect(JSON.parse(readFileSync(join(folder, "repositories"), "utf8"))).toEqual({ "me/app": { v1: image.id } })

      const archive = join(dest, "app.tar")
      const all = yield* dockside(["v1", "pull", "--index", registry.url, "--json", "me/app", archive])
      expect(all.code).toBe(0)
      expect(JSON.parse(all.stdout)).toEqual({
        name: "me/app",
        dest: archive,
        tags: { v1: image.id },
        images: [image.id]
      })
      expect(statSync(archive).size).toBeGreaterThan(0)
    }), timeout)
})
