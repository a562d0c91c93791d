import * as DockerConfig from "@dockside/node/DockerConfig"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { inspect } from "node:util"

/** Every secret any fixture holds; none may show up in a result, warning or error. */
const secrets = [
  "s3cret:with:colons",
  "plain-pass-1",
  "identity-token-2",
  "registry-token-3",
  "hub-secret-4",
  "helper-secret-5",
  "refresh-secret-6",
  "new-password-7",
  "c2VjcmV0LWluLWJhZC1qc29u",
  "98765432",
  "TOPSECRET",
  "ALSOSECRET"
]

const expectNoSecret = (value: unknown): void => {
  const shown = [
    JSON.stringify(value) ?? "",
    String(value),
    inspect(value, { depth: 10 }),
    value instanceof Error ? value.message : ""
  ].join("\n")
  for (const secret of secrets) expect(shown).not.toContain(secret)
}

const basic = (user: string, password: string): string => Buffer.from(`${user}:${password}`).toString("base64")

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "dockside-dockerconfig-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const writeConfig = (folder: string, config: unknown): void => {
  mkdirSync(folder, { recursive: true })
  writeFileSync(join(folder, "config.json"), typeof config === "string" ? config : JSON.stringify(config))
}

const readConfig = (folder: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(folder, "config.json"), "utf8")) as Record<string, unknown>

/** A bin folder with fake `docker-credential-*` helpers; `log` receives what `store` was fed. */
const helpers = (work: string) => {
  const bin = join(work, "bin")
  const log = join(work, "helper-store.log")
  mkdirSync(bin)
  const script = (name: string, body: string): void => {
    writeFileSync(join(bin, `docker-credential-${name}`), `#!/bin/sh\n${body}\n`)
    chmodSync(join(bin, `docker-credential-${name}`), 0o755)
  }
  script(
    "test",
    `case "$1" in
get)
  read -r server
  case "$server" in
    https://index.docker.io/v1/) printf '{"ServerURL":"%s","Username":"hubuser","Secret":"hub-secret-4"}' "$server" ;;
    token.example.com) printf '{"ServerURL":"%s","Username":"<token>","Secret":"refresh-secret-6"}' "$server" ;;
    nothing.example.com) echo "credentials not found in native keychain"; exit 1 ;;
    *) printf '{"ServerURL":"%s","Username":"helper-%s","Secret":"helper-secret-5"}' "$server" "$server" ;;
  esac ;;
store) cat > "$HELPER_LOG" ;;
*) exit 2 ;;
esac`
  )
  script("other", `read -r server; printf '{"ServerURL":"%s","Username":"other","Secret":"helper-secret-5"}' "$server"`)
  script("fail", `cat > /dev/null; echo "error talking to the keychain" >&2; exit 1`)
  // Echoes what it was fed (the secret) on stdout and stderr before failing.
  script("echo", `input=$(cat); echo "$input"; echo "$input" >&2; exit 1`)
  // Prints a whole answer, then fails: stdout must never reach a warning.
  script(
    "leaky",
    `cat > /dev/null; printf '{"ServerURL":"x","Username":"u","Secret":"TOPSECRET"}\\n'; echo "broken pipe" >&2; exit 1`
  )
  script(
    "leakyerr",
    `cat > /dev/null; printf '{"ServerURL":"x","Username":"u","Secret":"TOPSECRET"}'; echo "got TOPSECRET, {\\"Token\\": \\"ALSOSECRET\\"}" >&2; exit 1`
  )
  script("hang", `sleep 30`)
  // Ignores SIGTERM, as a helper waiting on a prompt may.
  script("stubborn", `trap '' TERM; sleep 30`)
  script("garbage", `echo "hub-secret-4 this is not json"`)
  const options: DockerConfig.LoadOptions = {
    env: { PATH: `${bin}:${process.env.PATH ?? ""}`, HELPER_LOG: log },
    helperTimeout: "300 millis"
  }
  return { log, options }
}

const lookup = (options: DockerConfig.LoadOptions, registry: string) =>
  Effect.flatMap(DockerConfig.load(options), (config) => config.lookup(registry))

const basicOf = (found: DockerConfig.Lookup): { username: string; password: string } => {
  const auth = Option.getOrThrow(found.auth)
  if (auth._tag !== "Basic") throw new Error(`expected Basic, got ${auth._tag}`)
  return { username: auth.username, password: Redacted.value(auth.password) }
}

describe("DockerConfig", () => {
  it("registryHost: schemes, paths and Hub aliases", () => {
    expect(DockerConfig.registryHost("https://index.docker.io/v1/")).toBe("docker.io")
    expect(DockerConfig.registryHost("registry-1.docker.io")).toBe("docker.io")
    expect(DockerConfig.registryHost("Registry.Example.com")).toBe("registry.example.com")
    expect(DockerConfig.registryHost("https://registry.example.com:5000")).toBe("registry.example.com:5000")
    expect(DockerConfig.registryHost("http://localhost:5000/v2/")).toBe("localhost:5000")
  })

  it.scopedLive("auths: base64 auth (first colon), username/password, tokens, host:port and Hub keys", () =>
    Effect.gen(function*() {
      const folder = yield* tempDir
      writeConfig(folder, {
        auths: {
          "https://index.docker.io/v1/": { auth: basic("hubber", "s3cret:with:colons") },
          "registry.example.com": { username: "plain", password: "plain-pass-1" },
          "https://registry.example.com:5000": { auth: basic("ported", "plain-pass-1") },
          "http://local.test:5001/v2/": { auth: basic("local", "plain-pass-1") },
          "acr.example.com": {
            auth: basic("00000000-0000-0000-0000-000000000000", ""),
            identitytoken: "identity-token-2"
          },
          "bearer.example.com": { registrytoken: "registry-token-3" },
          "empty.example.com": {}
        },
        psFormat: "table {{.ID}}"
      })
      for (const alias of ["docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/"]) {
        const found = yield* lookup({ folder }, alias)
        expect(basicOf(found)).toEqual({ username: "hubber", password: "s3cret:with:colons" })
        expect(found.warnings).toEqual([])
        expectNoSecret(found)
      }
      expect(basicOf(yield* lookup({ folder }, "registry.example.com"))).toEqual({
        username: "plain",
        password: "plain-pass-1"
      })
      expect(basicOf(yield* lookup({ folder }, "registry.example.com:5000")).username).toBe("ported")
      expect(basicOf(yield* lookup({ folder }, "https://local.test:5001")).username).toBe("local")

      const identity = Option.getOrThrow((yield* lookup({ folder }, "acr.example.com")).auth)
      expect(identity._tag).toBe("IdentityToken")
      if (identity._tag === "IdentityToken") {
        expect(identity.username).toBe("00000000-0000-0000-0000-000000000000")
        expect(Redacted.value(identity.token)).toBe("identity-token-2")
      }
      const bearer = Option.getOrThrow((yield* lookup({ folder }, "bearer.example.com")).auth)
      expect(bearer._tag === "BearerToken" && Redacted.value(bearer.token)).toBe("registry-token-3")
      expectNoSecret([identity, bearer])

      expect(yield* lookup({ folder }, "empty.example.com")).toEqual({ auth: Option.none(), warnings: [] })
      expect(yield* lookup({ folder }, "unknown.example.com")).toEqual({ auth: Option.none(), warnings: [] })
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("a missing file is no credentials; a broken auth entry is a warning", () =>
    Effect.gen(function*() {
      const work = yield* tempDir
      expect(yield* lookup({ folder: join(work, "nowhere") }, "docker.io")).toEqual({
        auth: Option.none(),
        warnings: []
      })
      writeConfig(work, { auths: { "bad.example.com": { auth: Buffer.from("no colon here").toString("base64") } } })
      const found = yield* lookup({ folder: work }, "bad.example.com")
      expect(Option.isNone(found.auth)).toBe(true)
      expect(found.warnings).toHaveLength(1)
      expect(found.warnings[0]).toContain(`"bad.example.com"`)
      expect(found.warnings[0]).toContain("base64")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("invalid JSON or a wrong type fails with the path, never the content", () =>
    Effect.gen(function*() {
      const folder = yield* tempDir
      writeConfig(folder, `{"auths": {"x": {"auth": "c2VjcmV0LWluLWJhZC1qc29u"}}, oops`)
      const invalid = yield* Effect.flip(DockerConfig.load({ folder }))
      expect(invalid._tag).toBe("CredentialsError")
      expect(invalid.message).toContain(join(folder, "config.json"))
      expect(invalid.message).toContain("not valid JSON")
      expectNoSecret(invalid)

      writeConfig(folder, { auths: { "x.example.com": { username: "u", password: 98765432 } } })
      const wrong = yield* Effect.flip(DockerConfig.load({ folder }))
      expect(wrong.message).toContain(`"auths"."x.example.com"."password"`)
      expectNoSecret(wrong)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("the folder comes from DOCKER_CONFIG, else HOME/.docker; the option wins", () =>
    Effect.gen(function*() {
      const work = yield* tempDir
      writeConfig(join(work, "env"), { auths: { "r.example.com": { auth: basic("from-env", "plain-pass-1") } } })
      writeConfig(join(work, "home", ".docker"), { auths: { "r.example.com": { auth: basic("from-home", "x") } } })
      writeConfig(join(work, "option"), { auths: { "r.example.com": { auth: basic("from-option", "x") } } })
      const withEnv = (entries: ReadonlyArray<readonly [string, string]>) =>
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map(entries)))

      const both = [["DOCKER_CONFIG", join(work, "env")], ["HOME", join(work, "home")]] as const
      const fromEnv = yield* DockerConfig.load().pipe(withEnv(both))
      expect(fromEnv.path).toBe(join(work, "env", "config.json"))
      expect(basicOf(yield* fromEnv.lookup("r.example.com")).username).toBe("from-env")

      const fromHome = yield* DockerConfig.load().pipe(withEnv([["HOME", join(work, "home")]]))
      expect(basicOf(yield* fromHome.lookup("r.example.com")).username).toBe("from-home")

      const fromOption = yield* DockerConfig.load({ folder: join(work, "option") }).pipe(withEnv(both))
      expect(basicOf(yield* fromOption.lookup("r.example.com")).username).toBe("from-option")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("credsStore helper: Hub asked as https://index.docker.io/v1/, <token> is an identity token", () =>
    Effect.gen(function*() {
      const work = yield* tempDir
      const { options } = helpers(work)
      const folder = join(work, "config")
      writeConfig(folder, { credsStore: "test", auths: { "https://index.docker.io/v1/": {} } })

      const hub = yield* lookup({ ...options, folder }, "registry-1.docker.io")
      expect(basicOf(hub)).toEqual({ username: "hubuser", password: "hub-secret-4" })
      expect(hub.warnings).toEqual([])

      const other = yield* lookup({ ...options, folder }, "https://registry.example.com:5000/v2/")
      expect(basicOf(other)).toEqual({ username: "helper-registry.example.com:5000", password: "helper-secret-5" })

      const token = Option.getOrThrow((yield* lookup({ ...options, folder }, "token.example.com")).auth)
      expect(token._tag).toBe("IdentityToken")
      expect(token._tag === "IdentityToken" && token.username).toBe(undefined)
      expect(token._tag === "IdentityToken" && Redacted.value(token.token)).toBe("refresh-secret-6")
      expectNoSecret([hub, other, token])
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("helper wins over auths; credHelpers wins over credsStore; not-found falls back quietly", () =>
    Effect.gen(function*() {
      const work = yield* tempDir
      const { options } = helpers(work)
      const folder = join(work, "config")
      writeConfig(folder, {
        credsStore: "test",
        credHelpers: { "https://special.example.com": "other" },
        auths: {
          "registry.example.com": { auth: basic("file-user", "plain-pass-1") },
          "nothing.example.com": { auth: basic("file-user", "plain-pass-1") }
        }
      })
      const config = yield* DockerConfig.load({ ...options, folder })
      expect(basicOf(yield* config.lookup("registry.example.com")).username).toBe("helper-registry.example.com")
      expect(basicOf(yield* config.lookup("special.example.com")).username).toBe("other")
      const fallback = yield* config.lookup("nothing.example.com")
      expect(basicOf(fallback).username).toBe("file-user")
      expect(fallback.warnings).toEqual([])
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("a failing, missing, hanging (even past SIGTERM) or garbage-printing helper is a warning, never a failure", () =>
    Effect.gen(function*() {
      const work = yield* tempDir
      const { options } = helpers(work)
      const cases = [
        ["fail", "exited with code 1: error talking to the keychain"],
        ["nosuch", "not found on the PATH"],
        ["hang", "no answer within"],
        ["stubborn", "no answer within"],
        ["garbage", "not a credentials JSON object"]
      ] as const
      for (const [helper, reason] of cases) {
        const folder = join(work, helper)
        writeConfig(folder, {
          credHelpers: { "registry.example.com": helper, "anon.example.com": helper },
          auths: { "registry.example.com": { auth: basic("file-user", "plain-pass-1") } }
        })
        const config = yield* DockerConfig.load({ ...options, folder })

        const started = Date.now()
        const withFile = yield* config.lookup("registry.example.com")
        expect(Date.now() - started).toBeLessThan(5000)
        expect(basicOf(withFile).username).toBe("file-user")
        expect(withFile.warnings).toHaveLength(1)
        expect(withFile.warnings[0]).toContain(
          `docker-credential-${helper} (credHelpers) failed for registry.example.com`
        )
        expect(withFile.warnings[0]).toContain(reason)
        expect(withFile.warnings[0]).toContain("using the auths entry")

        const anonymous = yield* config.lookup("anon.example.com")
        expect(Option.isNone(anonymous.auth)).toBe(true)
        expect(anonymous.warnings[0]).toContain(reason)
        expect(anonymous.warnings[0]).toContain("continuing without credentials")
        expectNoSecret([withFile.warnings, anonymous])
      }
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("a lookup given up by its caller kills a helper that ignores SIGTERM", () =>
    Effect.gen(function*() {
      const work = yield* tempDir
      const { options } = helpers(work)
      const folder = join(work, "stubborn")
      writeConfig(folder, { credsStore: "stubborn" })
      const config = yield* DockerConfig.load({ ...options, folder, helperTimeout: "20 seconds" })
      const started = Date.now()
      const outcome = yield* Effect.either(config.lookup("registry.example.com").pipe(Effect.timeout("300 millis")))
      expect(outcome._tag).toBe("Left")
      expect(Date.now() - started).toBeLessThan(5000)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("a helper that prints its answer and then fails: the warning shows stderr, never stdout", () =>
    Effect.gen(function*() {
      const work = yield* tempDir
      const { options } = helpers(work)
      for (const helper of ["leaky", "leakyerr"]) {
        const folder = join(work, helper)
        writeConfig(folder, { credHelpers: { "registry.example.com": helper } })
        const found = yield* lookup({ ...options, folder }, "registry.example.com")
        expect(Option.isNone(found.auth)).toBe(true)
        expect(found.warnings).toHaveLength(1)
        expect(found.warnings[0]).toContain("exited with code 1")
        expect(found.warnings[0]).not.toContain("TOPSECRET")
        expect(found.warnings[0]).not.toContain("ServerURL")
        expectNoSecret(found)
      }
      const leaky = yield* lookup({ ...options, folder: join(work, "leaky") }, "registry.example.com")
      expect(leaky.warnings[0]).toContain("exited with code 1: broken pipe")
      const leakyErr = yield* lookup({ ...options, folder: join(work, "leakyerr") }, "registry.example.com")
      expect(leakyErr.warnings[0]).toContain("got <redacted>")
      expect(leakyErr.warnings[0]).toContain(`"Token": "<redacted>"`)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("writeAuth: base64 auth, existing key spelling reused, other keys kept, mode 0600", () =>
    Effect.gen(function*() {
      const folder = yield* tempDir
      writeConfig(folder, {
        auths: {
          "other.example.com": { auth: basic("other", "plain-pass-1") },
          "https://registry.example.com": { auth: basic("old", "plain-pass-1"), identitytoken: "identity-token-2" }
        },
        psFormat: "table {{.ID}}",
        proxies: { default: { httpProxy: "http://proxy:3128" } }
      })
      chmodSync(join(folder, "config.json"), 0o644)
      const stored = yield* DockerConfig.writeAuth(folder, "registry.example.com", {
        username: "me",
        password: Redacted.make("new-password-7")
      })
      expect(stored).toEqual({ _tag: "ConfigFile", path: join(folder, "config.json") })
      expect(statSync(join(folder, "config.json")).mode & 0o777).toBe(0o600)
      expect(readConfig(folder)).toEqual({
        auths: {
          "other.example.com": { auth: basic("other", "plain-pass-1") },
          "https://registry.example.com": { auth: basic("me", "new-password-7") }
        },
        psFormat: "table {{.ID}}",
        proxies: { default: { httpProxy: "http://proxy:3128" } }
      })
      expect(basicOf(yield* lookup({ folder }, "registry.example.com"))).toEqual({
        username: "me",
        password: "new-password-7"
      })
      expectNoSecret(stored)

      const fresh = join(folder, "fresh")
      yield* DockerConfig.writeAuth(fresh, "docker.io", { username: "hub", password: Redacted.make("hub-secret-4") })
      expect(readConfig(fresh)).toEqual({
        auths: { "https://index.docker.io/v1/": { auth: basic("hub", "hub-secret-4") } }
      })
      expect(statSync(join(fresh, "config.json")).mode & 0o777).toBe(0o600)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("store through a helper: JSON on stdin, an empty auths marker; helper errors are typed and clean", () =>
    Effect.gen(function*() {
      const work = yield* tempDir
      const { log, options } = helpers(work)
      const folder = join(work, "config")
      writeConfig(folder, {
        credHelpers: { "registry.example.com": "test", "echo.example.com": "echo", "gone.example.com": "nosuch" },
        auths: { "registry.example.com": { auth: basic("stale", "plain-pass-1") } },
        detachKeys: "ctrl-e,e"
      })
      const layer = DockerConfig.layer({ ...options, folder })
      const config = yield* Effect.provide(DockerConfig.DockerConfig, layer)
      const credentials = { username: "me", password: Redacted.make("new-password-7") }

      const stored = yield* config.store("registry.example.com", credentials)
      expect(stored).toEqual({ _tag: "Helper", helper: "docker-credential-test" })
      expect(JSON.parse(readFileSync(log, "utf8"))).toEqual({
        ServerURL: "registry.example.com",
        Username: "me",
        Secret: "new-password-7"
      })
      expect(readConfig(folder)).toEqual({
        credHelpers: { "registry.example.com": "test", "echo.example.com": "echo", "gone.example.com": "nosuch" },
        auths: { "registry.example.com": {} },
        detachKeys: "ctrl-e,e"
      })

      const echoed = yield* Effect.either(config.store("echo.example.com", credentials))
      expect(Either.isLeft(echoed)).toBe(true)
      if (Either.isLeft(echoed)) {
        expect(echoed.left.message).toContain("credential helper docker-credential-echo could not store credentials")
        expect(echoed.left.message).toContain("<redacted>")
        expectNoSecret(echoed.left)
      }
      const gone = yield* Effect.flip(config.store("gone.example.com", credentials))
      expect(gone.message).toContain("not found on the PATH")
      expectNoSecret(gone)
    }).pipe(Effect.provide(NodeContext.layer)))
})
