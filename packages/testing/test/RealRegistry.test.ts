import * as RealRegistry from "@dockside/testing/RealRegistry"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { createHash } from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Send from "./support/Send.js"

/** Per test: starting a registry takes well under a second; token auth adds an RSA key. */
const timeout = 15_000

// On a fresh machine (as root) this installs the tools with apt-get, which takes longer than a test.
beforeAll(() => Effect.runPromise(RealRegistry.ensureTools), 300_000)

/** One request with a plain undici `HttpClient`; the whole body is read. */
const send = (method: Send.Method, url: string, options: Send.Options = {}) =>
  Effect.provide(Send.send(method, url, options), NodeHttpClient.layerUndici)

const basic = (username: string, password: string): Record<string, string> => ({
  Authorization: `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`
})

const bearer = (token: string): Record<string, string> => ({ Authorization: `Bearer ${token}` })

const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * Start a registry in a scope of its own, for tests that close it themselves; the test's scope
 * closes it too when the test fails before that.
 */
const startOwned = (options?: RealRegistry.Options) =>
  Effect.gen(function*() {
    const scope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    const registry = yield* Scope.extend(RealRegistry.make(options), scope)
    return { registry, close: Scope.close(scope, Exit.void) }
  })

/** `GET /token` with these scopes; the token, or the failed reply's status. */
const getToken = (
  registry: RealRegistry.Service,
  scopes: ReadonlyArray<string>,
  headers: Record<string, string> = {}
) =>
  Effect.gen(function*() {
    const query = new URLSearchParams({ service: RealRegistry.service })
    for (const scope of scopes) query.append("scope", scope)
    const reply = yield* send("GET", `${registry.tokenUrl}?${query}`, { headers })
    const body = reply.status === 200 ? JSON.parse(reply.text) as { token: string; access_token: string } : undefined
    return { status: reply.status, token: body?.token ?? "", body }
  })

const blob = new TextEncoder().encode("a blob pushed by the RealRegistry test\n")
const digest = `sha256:${createHash("sha256").update(blob).digest("hex")}`

/** `POST …/blobs/uploads/` then `PUT ?digest=` with the whole blob; both statuses. */
const pushBlob = (registry: RealRegistry.Service, repository: string, headers: Record<string, string>) =>
  Effect.gen(function*() {
    const start = yield* send("POST", `${registry.url}/v2/${repository}/blobs/uploads/`, { headers })
    if (start.status !== 202) return { start: start.status, put: undefined }
    const location = new URL(start.headers.location!, registry.url)
    location.searchParams.set("digest", digest)
    const put = yield* send("PUT", location.href, { headers, body: blob })
    return { start: start.status, put: put.status }
  })

describe("RealRegistry", () => {
  describe("no auth", () => {
    it.scopedLive(
      "starts on 127.0.0.1, answers /v2/, stores blobs; process and storage gone after close",
      () =>
        Effect.gen(function*() {
          const { close, registry } = yield* startOwned()
          expect(registry.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
          expect(registry.host).toBe(registry.url.slice("http://".length))
          expect(registry.auth).toBe("none")
          expect(registry.tokenUrl).toBeUndefined()
          expect(isRunning(registry.pid)).toBe(true)

          const ping = yield* send("GET", `${registry.url}/v2/`)
          expect(ping.status).toBe(200)
          expect(ping.headers["docker-distribution-api-version"]).toBe("registry/2.0")

          expect(yield* pushBlob(registry, "plain/repo", {})).toEqual({ start: 202, put: 201 })
          const fetched = yield* send("GET", `${registry.url}/v2/plain/repo/blobs/${digest}`)
          expect(fetched.status).toBe(200)
          expect(fetched.bytes).toEqual(blob)
          const stored = Path.join(
            registry.storage,
            "docker/registry/v2/blobs/sha256",
            digest.slice(7, 9),
            digest.slice(7)
          )
          expect(Fs.existsSync(stored)).toBe(true)
          expect((yield* send("DELETE", `${registry.url}/v2/plain/repo/blobs/${digest}`)).status).toBe(202)

          yield* close
          expect(isRunning(registry.pid)).toBe(false)
          expect(Fs.existsSync(registry.storage)).toBe(false)
        }),
      timeout
    )

    it.scopedLive("stops the process when the scope closes on a failure", () =>
      Effect.gen(function*() {
        let pid = 0
        const exit = yield* Effect.exit(Effect.scoped(Effect.gen(function*() {
          const registry = yield* RealRegistry.make()
          pid = registry.pid
          return yield* Effect.fail("the test failed")
        })))
        expect(Exit.isFailure(exit)).toBe(true)
        expect(pid).toBeGreaterThan(0)
        expect(isRunning(pid)).toBe(false)
      }), timeout)

    it.scopedLive(
      "several registries run at once on different ports; deleteEnabled: false refuses DELETE",
      () =>
        Effect.gen(function*() {
          const [one, two] = yield* Effect.all([RealRegistry.make(), RealRegistry.make({ deleteEnabled: false })], {
            concurrency: 2
          })
          expect(one.url).not.toBe(two.url)
          expect(one.storage).not.toBe(two.storage)
          expect((yield* send("GET", `${one.url}/v2/`)).status).toBe(200)
          expect(yield* pushBlob(two, "kept/repo", {})).toEqual({ start: 202, put: 201 })
          expect((yield* send("DELETE", `${two.url}/v2/kept/repo/blobs/${digest}`)).status).toBe(405)
        }),
      timeout
    )
  })

  describe("basic auth", () => {
    it.scopedLive(
      "challenges with Basic realm, refuses a wrong password, accepts the user",
      () =>
        Effect.gen(function*() {
          const user = { username: "alice", password: "wonder land" }
          const registry = yield* RealRegistry.make({ auth: "basic", users: [user, RealRegistry.defaultUser] })
          expect(registry.users).toEqual([user, RealRegistry.defaultUser])

          const anonymous = yield* send("GET", `${registry.url}/v2/`)
          expect(anonymous.status).toBe(401)
          expect(anonymous.headers["www-authenticate"]).toBe(`Basic realm="${RealRegistry.realm}"`)
          expect((yield* send("GET", `${registry.url}/v2/`, { headers: basic("alice", "wrong") })).status).toBe(401)
          expect((yield* send("GET", `${registry.url}/v2/`, { headers: basic(user.username, user.password) })).status)
            .toBe(200)
          const other = RealRegistry.defaultUser
          expect((yield* send("GET", `${registry.url}/v2/`, { headers: basic(other.username, other.password) })).status)
            .toBe(200)
        }),
      timeout
    )
  })

  describe("token auth", () => {
    it.scopedLive(
      "challenges with Bearer, tokens from the server push and pull, anonymous only pulls",
      () =>
        Effect.gen(function*() {
          const { close, registry } = yield* startOwned({ auth: "token" })
          const { password, username } = RealRegistry.defaultUser
          expect(registry.tokenUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/token$/)

          const challenge = yield* send("GET", `${registry.url}/v2/`)
          expect(challenge.status).toBe(401)
          expect(challenge.headers["www-authenticate"]).toBe(
            `Bearer realm="${registry.tokenUrl}",service="${RealRegistry.service}"`
          )

          const pushPull = yield* getToken(registry, ["repository:a/b:pull,push"], basic(username, password))
          expect(pushPull.status).toBe(200)
          expect(pushPull.body).toMatchObject({ expires_in: 300, access_token: pushPull.token })
          expect((yield* send("GET", `${registry.url}/v2/`, { headers: bearer(pushPull.token) })).status).toBe(200)
          expect(yield* pushBlob(registry, "a/b", bearer(pushPull.token))).toEqual({ start: 202, put: 201 })
          const fetched = yield* send("GET", `${registry.url}/v2/a/b/blobs/${digest}`, {
            headers: bearer(pushPull.token)
          })
          expect(fetched.status).toBe(200)
          expect(fetched.bytes).toEqual(blob)

          const anonymous = yield* getToken(registry, ["repository:a/b:pull,push"])
          expect(anonymous.status).toBe(200)
          const refused = yield* pushBlob(registry, "a/b", bearer(anonymous.token))
          expect([401, 403]).toContain(refused.start)
          const pulled = yield* send("GET", `${registry.url}/v2/a/b/blobs/${digest}`, {
            headers: bearer(anonymous.token)
          })
          expect(pulled.status).toBe(200)

          expect((yield* getToken(registry, ["repository:a/b:pull"], basic(username, "wrong"))).status).toBe(401)

          const requests = yield* registry.tokenRequests
          expect(requests.map((request) => [request.credentials, request.username, request.status])).toEqual([
            ["basic", username, 200],
            ["none", undefined, 200],
            ["basic", username, 401]
          ])
          expect(requests[0]).toMatchObject({
            method: "GET",
            service: RealRegistry.service,
            scopes: ["repository:a/b:pull,push"],
            granted: [{ type: "repository", name: "a/b", actions: ["pull", "push"] }]
          })
          expect(requests[1].granted).toEqual([{ type: "repository", name: "a/b", actions: ["pull"] }])

          const tokenPort = Number(new URL(registry.tokenUrl!).port)
          yield* close
          expect(isRunning(registry.pid)).toBe(false)
          const afterClose = yield* Effect.either(send("GET", `http://127.0.0.1:${tokenPort}/token`))
          expect(afterClose._tag).toBe("Left")
        }),
      timeout
    )

    it.scopedLive(
      "the OAuth2 form: password grant, then refresh token; several scopes; fault knobs",
      () =>
        Effect.gen(function*() {
          const registry = yield* RealRegistry.make({ auth: "token" })
          const { password, username } = RealRegistry.defaultUser
          const form = (fields: Record<string, string>) =>
            send("POST", registry.tokenUrl!, {
              body: new URLSearchParams(fields).toString(),
              contentType: "application/x-www-form-urlencoded"
            })

          const byPassword = yield* form({
            grant_type: "password",
            username,
            password,
            service: RealRegistry.service,
            scope: "repository:a/b:pull repository:c/d:pull,push",
            client_id: "dockside-test"
          })
          expect(byPassword.status).toBe(200)
          const granted = JSON.parse(byPassword.text) as { access_token: string; refresh_token: string; scope: string }
          expect(granted.scope).toBe("repository:a/b:pull repository:c/d:pull,push")
          expect(yield* pushBlob(registry, "c/d", bearer(granted.access_token))).toEqual({ start: 202, put: 201 })

          const byRefresh = yield* form({
            grant_type: "refresh_token",
            refresh_token: granted.refresh_token,
            service: RealRegistry.service,
            scope: "repository:c/d:pull"
          })
          expect(byRefresh.status).toBe(200)
          const refreshed = JSON.parse(byRefresh.text) as { access_token: string }
          const pulled = yield* send("GET", `${registry.url}/v2/c/d/blobs/${digest}`, {
            headers: bearer(refreshed.access_token)
          })
          expect(pulled.status).toBe(200)

          const offline = yield* send(
            "GET",
            `${registry.tokenUrl}?service=${RealRegistry.service}&scope=repository:c/d:pull&offline_token=true`,
            { headers: basic(username, password) }
          )
          const offlineRefresh = (JSON.parse(offline.text) as { refresh_token: string }).refresh_token
          expect((yield* form({ grant_type: "refresh_token", refresh_token: offlineRefresh })).status).toBe(200)

          expect((yield* form({ grant_type: "password", username, password: "wrong" })).status).toBe(401)
          expect((yield* form({ grant_type: "refresh_token", refresh_token: "unknown" })).status).toBe(401)

          yield* registry.clearTokenRequests
          const several = yield* getToken(
            registry,
            ["repository:a/b:pull", "repository:c/d:push", "repository(plugin):p/q:pull", "registry:catalog:*"],
            basic(username, password)
          )
          expect(several.status).toBe(200)
          expect((yield* registry.tokenRequests)[0].granted).toEqual([
            { type: "repository", name: "a/b", actions: ["pull"] },
            { type: "repository", name: "c/d", actions: ["push"] },
            { type: "repository", class: "plugin", name: "p/q", actions: ["pull"] },
            { type: "registry", name: "catalog", actions: ["*"] }
          ])
          const catalog = yield* send("GET", `${registry.url}/v2/_catalog`, { headers: bearer(several.token) })
          expect(catalog.status).toBe(200)
          expect(JSON.parse(catalog.text)).toEqual({ repositories: ["c/d"] })
          const anonymous = yield* getToken(registry, ["registry:catalog:*", "repository(plugin):p/q:pull"])
          expect((yield* registry.tokenRequests)[1].granted).toEqual([
            { type: "repository", class: "plugin", name: "p/q", actions: ["pull"] }
          ])
          expect((yield* send("GET", `${registry.url}/v2/_catalog`, { headers: bearer(anonymous.token) })).status)
            .toBe(401)

          yield* registry.failTokenRequests(1, 503)
          expect((yield* getToken(registry, ["repository:a/b:pull"])).status).toBe(503)
          expect((yield* getToken(registry, ["repository:a/b:pull"])).status).toBe(200)
          yield* registry.delayTokenRequests(300)
          const started = Date.now()
          expect((yield* getToken(registry, ["repository:a/b:pull"])).status).toBe(200)
          expect(Date.now() - started).toBeGreaterThanOrEqual(250)
        }),
      timeout
    )
  })

  describe("start errors", () => {
    it.scopedLive("a user name with a colon", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          RealRegistry.make({ auth: "basic", users: [{ username: "a:b", password: "c" }] })
        )
        expect(error._tag).toBe("RealRegistryStartError")
        expect(error.message).toContain(`"a:b"`)
      }), timeout)

    it.scopedLive("a missing docker-registry, not root: names the command to run", () =>
      Effect.gen(function*() {
        const empty = Fs.mkdtempSync(Path.join(Os.tmpdir(), "dockside-empty-path-"))
        yield* Effect.acquireRelease(
          Effect.sync(() => {
            const saved = { path: process.env.PATH, getuid: process.getuid! }
            process.env.PATH = empty
            process.getuid = () => 1000
            return saved
          }),
          (saved) =>
            Effect.sync(() => {
              process.env.PATH = saved.path
              process.getuid = saved.getuid
              Fs.rmSync(empty, { recursive: true, force: true })
            })
        )
        const error = yield* Effect.flip(RealRegistry.make())
        expect(error.message).toContain("docker-registry is not on PATH")
        expect(error.message).toContain("sudo apt-get install docker-registry apache2-utils skopeo")
      }), timeout)
  })
})
