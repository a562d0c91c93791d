import * as Challenge from "@dockside/protocol/Challenge"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"

const failure = (header: string | ReadonlyArray<string>) =>
  Effect.map(Effect.flip(Challenge.parse(header)), (error) => ({
    tag: error._tag,
    header: error.header,
    reason: error.reason
  }))

describe("Challenge.parse", () => {
  it.effect("reads Docker Hub's challenge", () =>
    Effect.gen(function*() {
      const [hub, ...rest] = yield* Challenge.parse(
        "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/ubuntu:pull\""
      )
      expect(rest).toEqual([])
      expect(hub).toEqual({
        scheme: "Bearer",
        params: new Map([
          ["realm", "https://auth.docker.io/token"],
          ["service", "registry.docker.io"],
          ["scope", "repository:library/ubuntu:pull"]
        ]),
        realm: "https://auth.docker.io/token",
        service: "registry.docker.io",
        scope: ["repository:library/ubuntu:pull"]
      })
    }))

  it.effect("reads GHCR, Harbor, Quay and ACR challenges", () =>
    Effect.gen(function*() {
      const [ghcr] = yield* Challenge.parse(
        "Bearer realm=\"https://ghcr.io/token\",service=\"ghcr.io\",scope=\"repository:octo/app:pull\""
      )
      expect([ghcr?.scheme, ghcr?.realm, ghcr?.service, ghcr?.scope]).toEqual([
        "Bearer",
        "https://ghcr.io/token",
        "ghcr.io",
        ["repository:octo/app:pull"]
      ])
      const [harbor] = yield* Challenge.parse(
        "Bearer realm=\"https://harbor.example.com/service/token\",service=\"harbor-registry\",scope=\"repository:library/nginx:pull,push\""
      )
      expect([harbor?.realm, harbor?.service, harbor?.scope]).toEqual([
        "https://harbor.example.com/service/token",
        "harbor-registry",
        ["repository:library/nginx:pull,push"]
      ])
      const [quay] = yield* Challenge.parse("Bearer realm=\"https://quay.io/v2/auth\",service=\"quay.io\"")
      expect(quay).toEqual({
        scheme: "Bearer",
        params: new Map([["realm", "https://quay.io/v2/auth"], ["service", "quay.io"]]),
        realm: "https://quay.io/v2/auth",
        service: "quay.io",
        scope: []
      })
      const [acr] = yield* Challenge.parse(
        "Bearer realm=\"https://myregistry.azurecr.io/oauth2/token\",service=\"myregistry.azurecr.io\""
      )
      expect([acr?.realm, acr?.service]).toEqual([
        "https://myregistry.azurecr.io/oauth2/token",
        "myregistry.azurecr.io"
      ])
    }))

  it.effect("reads ECR's basic challenge", () =>
    Effect.gen(function*() {
      const challenges = yield* Challenge.parse(
        "Basic realm=\"https://123456789012.dkr.ecr.us-east-1.amazonaws.com/\",service=\"ecr.amazonaws.com\""
      )
      expect(challenges).toEqual([{
        scheme: "Basic",
        params: new Map([
          ["realm", "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/"],
          ["service", "ecr.amazonaws.com"]
        ]),
        realm: "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/",
        service: "ecr.amazonaws.com",
        scope: []
      }])
    }))

  it.effect("reads distribution's insufficient_scope and invalid_token errors", () =>
    Effect.gen(function*() {
      const [insufficient] = yield* Challenge.parse(
        "Bearer realm=\"https://auth.example.com/token\",service=\"registry.example.com\"," +
          "scope=\"repository:samalba/my-app:pull,push\",error=\"insufficient_scope\""
      )
      expect(insufficient?.error).toBe("insufficient_scope")
      expect(insufficient?.errorDescription).toBeUndefined()
      expect(insufficient?.scope).toEqual(["repository:samalba/my-app:pull,push"])
      const [expired] = yield* Challenge.parse(
        "Bearer realm=\"https://auth.example.com/token\", error=\"invalid_token\", error_description=\"The access token expired\""
      )
      expect([expired?.error, expired?.errorDescription]).toEqual(["invalid_token", "The access token expired"])
    }))

  it.effect("reads the v1 Token scheme with bare values", () =>
    Effect.gen(function*() {
      const [token] = yield* Challenge.parse("Token signature=123abc,repository=\"foo/bar\",access=read")
      expect(token).toEqual({
        scheme: "Token",
        params: new Map([["signature", "123abc"], ["repository", "foo/bar"], ["access", "read"]]),
        scope: []
      })
    }))

  it.effect("treats schemes and parameter names case-insensitively", () =>
    Effect.gen(function*() {
      const challenges = yield* Challenge.parse(
        "BEARER REALM=\"https://a/token\",Service=svc, basic Realm=x, Negotiate"
      )
      expect(challenges.map((c) => [c.scheme, c.realm, c.service])).toEqual([
        ["Bearer", "https://a/token", "svc"],
        ["Basic", "x", undefined],
        ["Negotiate", undefined, undefined]
      ])
    }))

  it.effect("unescapes quoted strings and keeps commas and blanks inside them", () =>
    Effect.gen(function*() {
      const [c] = yield* Challenge.parse(
        "Basic realm=\"a \\\"quoted\\\" realm, with\\\\backslash\\x\", charset=\"UTF-8\""
      )
      expect(c?.realm).toBe("a \"quoted\" realm, with\\backslashx")
      expect(c?.params.get("charset")).toBe("UTF-8")
      const [empty] = yield* Challenge.parse("Bearer realm=\"\",scope=\"\"")
      expect([empty?.realm, empty?.scope]).toEqual(["", []])
    }))

  it.effect("splits several space-separated scopes", () =>
    Effect.gen(function*() {
      const [c] = yield* Challenge.parse(
        "Bearer realm=\"https://a/token\",scope=\"repository:a/b:pull  repository:c/d:pull,push registry:catalog:*\""
      )
      expect(c?.scope).toEqual(["repository:a/b:pull", "repository:c/d:pull,push", "registry:catalog:*"])
    }))

  it.effect("reads several challenges in one value and several values", () =>
    Effect.gen(function*() {
      const one = yield* Challenge.parse(
        "Bearer realm=\"https://auth.example.com/token\",service=\"registry\", Basic realm=\"registry\""
      )
      expect(one.map((c) => [c.scheme, c.realm, c.service])).toEqual([
        ["Bearer", "https://auth.example.com/token", "registry"],
        ["Basic", "registry", undefined]
      ])
      const many = yield* Challenge.parse(["Basic realm=\"a\"", "Bearer realm=\"b\",service=\"c\", Negotiate abc=="])
      expect(many.map((c) => [c.scheme, c.realm, c.token68])).toEqual([
        ["Basic", "a", undefined],
        ["Bearer", "b", undefined],
        ["Negotiate", undefined, "abc=="]
      ])
      const bare = yield* Challenge.parse("Basic, Bearer realm=\"y\"")
      expect(bare.map((c) => [c.scheme, c.params.size])).toEqual([["Basic", 0], ["Bearer", 1]])
    }))

  it.effect("tolerates token68, blanks around =, empty list elements and unquoted URLs", () =>
    Effect.gen(function*() {
      const [negotiate, basic] = yield* Challenge.parse("Negotiate YIIB+w/eA==, Basic realm = \"x\"")
      expect(negotiate).toEqual({ scheme: "Negotiate", params: new Map(), token68: "YIIB+w/eA==", scope: [] })
      expect(basic?.realm).toBe("x")
      const empties = yield* Challenge.parse(" , Basic realm=\"x\",, ,Bearer realm=\"y\" ,")
      expect(empties.map((c) => c.realm)).toEqual(["x", "y"])
      const [sloppy] = yield* Challenge.parse("Bearer realm=https://auth.example.com/token?x=1,service=registry")
      expect([sloppy?.realm, sloppy?.service]).toEqual(["https://auth.example.com/token?x=1", "registry"])
      // RFC 7235: a lone `name=` is a token68 credential, not an empty parameter
      const [lone] = yield* Challenge.parse("Bearer realm=")
      expect([lone?.token68, lone?.realm]).toEqual(["realm=", undefined])
    }))

  it.effect("rejects every malformed header with a reason", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, string]> = [
        ["", "no challenge"],
        [" , ,", "no challenge"],
        ["Bearer realm=\"https://auth", "unterminated quoted string in parameter \"realm\""],
        ["Bearer realm=\"abc\\", "unterminated quoted string in parameter \"realm\""],
        ["realm=\"x\"", "missing auth scheme before parameter \"realm\""],
        ["=\"x\"", "expected an auth scheme at character 1"],
        ["@Bearer realm=\"x\"", "expected an auth scheme at character 1"],
        ["Bearer =\"x\"", "\"=\" without a parameter name at character 8"],
        ["Bearer realm=\"x\",=\"y\"", "\"=\" without a parameter name at character 18"],
        ["Bearer realm=\"x\",service=", "parameter \"service\" has no value"],
        ["Bearer realm=\"x\",service= ,scope=y", "parameter \"service\" has no value"],
        ["Bearer realm=,service=x", "missing auth scheme before parameter \"service\""],
        ["Bearer realm=\"x\" service=\"y\"", "expected \",\" after parameter \"realm\" at character 18"],
        ["Bearer realm=\"x\"junk", "expected \",\" after parameter \"realm\" at character 17"],
        ["Bearer\"x\"", "expected a blank after auth scheme \"Bearer\""],
        ["Bearer realm=\"a\",Realm=\"b\"", "parameter \"realm\" appears twice in one challenge"],
        ["Bearer foo bar", "expected \"=\" after parameter \"foo\""],
        ["Bearer realm=\"x\", @", "expected a parameter name at character 19"]
      ]
      for (const [header, reason] of cases) {
        expect(yield* failure(header)).toEqual({ tag: "InvalidChallenge", header, reason })
      }
      expect(yield* failure([])).toEqual({ tag: "InvalidChallenge", header: "", reason: "no challenge" })
      expect(yield* failure(["Basic realm=\"ok\"", "Bearer realm=\"x"])).toEqual({
        tag: "InvalidChallenge",
        header: "Bearer realm=\"x",
        reason: "unterminated quoted string in parameter \"realm\""
      })
      const error = yield* Effect.flip(Challenge.parse("realm=\"x\""))
      expect(error.message).toBe(
        "invalid WWW-Authenticate header \"realm=\"x\"\": missing auth scheme before parameter \"realm\""
      )
    }))
})

describe("Challenge scopes", () => {
  it.effect("parses and formats scopes", () =>
    Effect.gen(function*() {
      expect(yield* Challenge.parseScope("repository:library/ubuntu:pull,push")).toEqual({
        type: "repository",
        name: "library/ubuntu",
        actions: ["pull", "push"]
      })
      expect(yield* Challenge.parseScope("repository(plugin):vieux/sshfs:pull")).toEqual({
        type: "repository(plugin)",
        name: "vieux/sshfs",
        actions: ["pull"]
      })
      expect(yield* Challenge.parseScope("registry:catalog:*")).toEqual({
        type: "registry",
        name: "catalog",
        actions: ["*"]
      })
      expect(yield* Challenge.parseScope("repository:localhost:5000/app:pull")).toEqual({
        type: "repository",
        name: "localhost:5000/app",
        actions: ["pull"]
      })
      expect(Challenge.formatScope(Challenge.repositoryScope("library/ubuntu", ["pull", "push"]))).toBe(
        "repository:library/ubuntu:pull,push"
      )
      expect(Challenge.formatScope(yield* Challenge.parseScope("repository(plugin):a/b:pull"))).toBe(
        "repository(plugin):a/b:pull"
      )
    }))

  it.effect("rejects malformed scopes", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, string]> = [
        ["repository:foo", "a scope is type:name:actions, e.g. repository:library/ubuntu:pull"],
        ["pull", "a scope is type:name:actions, e.g. repository:library/ubuntu:pull"],
        [
          "Repository:foo:pull",
          "resource type \"Repository\" is not lower-case letters and digits, optionally (class)"
        ],
        [":foo:pull", "resource type \"\" is not lower-case letters and digits, optionally (class)"],
        ["repository::pull", "the resource name cannot be empty or hold blanks"],
        ["repository:a b:pull", "the resource name cannot be empty or hold blanks"],
        ["repository:foo:", "an action cannot be empty"],
        ["repository:foo:pull,,push", "an action cannot be empty"],
        ["repository:foo:pu ll", "action \"pu ll\" is not a word or *"]
      ]
      for (const [value, reason] of cases) {
        const error = yield* Effect.flip(Challenge.parseScope(value))
        expect([error._tag, error.name, error.value, error.reason]).toEqual(["InvalidArgument", "scope", value, reason])
      }
    }))

  it("merges scopes into a stable order", () => {
    const merged = Challenge.mergeScopes([
      Challenge.repositoryScope("b", ["pull"]),
      Challenge.repositoryScope("a", ["push"]),
      { type: "registry", name: "catalog", actions: ["*"] },
      Challenge.repositoryScope("a", ["pull", "push"]),
      { type: "repository(plugin)", name: "a", actions: ["pull"] },
      Challenge.repositoryScope("a", ["delete"])
    ])
    expect(merged.map(Challenge.formatScope)).toEqual([
      "registry:catalog:*",
      "repository:a:delete,pull,push",
      "repository:b:pull",
      "repository(plugin):a:pull"
    ])
  })

  it.effect("merges a challenge's scope with the requested ones", () =>
    Effect.gen(function*() {
      const [ghcr] = yield* Challenge.parse(
        "Bearer realm=\"https://ghcr.io/token\",service=\"ghcr.io\",scope=\"repository:octo/app:pull\""
      )
      if (ghcr === undefined) return expect.unreachable()
      expect(Challenge.tokenScopes(ghcr, [Challenge.repositoryScope("octo/app", ["push", "pull"])])).toEqual([
        "repository:octo/app:pull,push"
      ])
      expect(Challenge.tokenScopes(ghcr, [Challenge.repositoryScope("octo/base", ["pull"])])).toEqual([
        "repository:octo/app:pull",
        "repository:octo/base:pull"
      ])
      const [odd] = yield* Challenge.parse("Bearer realm=\"r\",scope=\"aud:x aud:x repository:z:pull\"")
      if (odd === undefined) return expect.unreachable()
      expect(Challenge.tokenScopes(odd, [Challenge.repositoryScope("a", ["pull"])])).toEqual([
        "repository:a:pull",
        "repository:z:pull",
        "aud:x"
      ])
      const [none] = yield* Challenge.parse("Bearer realm=\"r\"")
      if (none === undefined) return expect.unreachable()
      expect(Challenge.tokenScopes(none, [])).toEqual([])
    }))
})
