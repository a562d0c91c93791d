import * as Reference from "@dockside/protocol/Reference"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"

const sha = `sha256:${"ab".repeat(32)}`

// registry_test.go TestParseRepositoryInfo: name → [index, remote name, local name, official]
const repositoryInfo: ReadonlyArray<readonly [string, string, string, string, boolean]> = [
  ["fooo/bar", "docker.io", "fooo/bar", "fooo/bar", false],
  ["library/ubuntu", "docker.io", "library/ubuntu", "ubuntu", true],
  ["nonlibrary/ubuntu", "docker.io", "nonlibrary/ubuntu", "nonlibrary/ubuntu", false],
  ["ubuntu", "docker.io", "library/ubuntu", "ubuntu", true],
  ["other/library", "docker.io", "other/library", "other/library", false],
  ["127.0.0.1:8000/private/moonbase", "127.0.0.1:8000", "private/moonbase", "127.0.0.1:8000/private/moonbase", false],
  ["127.0.0.1:8000/privatebase", "127.0.0.1:8000", "privatebase", "127.0.0.1:8000/privatebase", false],
  ["localhost:8000/private/moonbase", "localhost:8000", "private/moonbase", "localhost:8000/private/moonbase", false],
  ["localhost:8000/privatebase", "localhost:8000", "privatebase", "localhost:8000/privatebase", false],
  ["example.com/private/moonbase", "example.com", "private/moonbase", "example.com/private/moonbase", false],
  ["example.com/privatebase", "example.com", "privatebase", "example.com/privatebase", false],
  [
    "example.com:8000/private/moonbase",
    "example.com:8000",
    "private/moonbase",
    "example.com:8000/private/moonbase",
    false
  ],
  ["example.com:8000/privatebase", "example.com:8000", "privatebase", "example.com:8000/privatebase", false],
  ["localhost/private/moonbase", "localhost", "private/moonbase", "localhost/private/moonbase", false],
  ["localhost/privatebase", "localhost", "privatebase", "localhost/privatebase", false],
  ["docker.io/public/moonbase", "docker.io", "public/moonbase", "public/moonbase", false],
  ["index.docker.io/public/moonbase", "docker.io", "public/moonbase", "public/moonbase", false],
  ["ubuntu-12.04-base", "docker.io", "library/ubuntu-12.04-base", "ubuntu-12.04-base", true],
  ["docker.io/ubuntu-12.04-base", "docker.io", "library/ubuntu-12.04-base", "ubuntu-12.04-base", true],
  ["index.docker.io/ubuntu-12.04-base", "docker.io", "library/ubuntu-12.04-base", "ubuntu-12.04-base", true],
  ["registry-1.docker.io/library/ubuntu", "docker.io", "library/ubuntu", "ubuntu", true],
  ["docker.io/library/foo/bar", "docker.io", "library/foo/bar", "library/foo/bar", false]
]

const failure = (input: string) => Effect.flip(Reference.parse(input))

describe("Reference", () => {
  it.effect("follows TestParseRepositoryInfo", () =>
    Effect.gen(function*() {
      for (const [input, index, remote, local, official] of repositoryInfo) {
        const ref = yield* Reference.parse(input)
        expect([input, Reference.indexName(ref), Reference.remoteName(ref), Reference.localName(ref)]).toEqual([
          input,
          index,
          remote,
          local
        ])
        expect([input, Reference.isOfficial(ref)]).toEqual([input, official])
        expect(ref.tag).toBeUndefined()
        expect(ref.digest).toBeUndefined()
      }
    }))

  it.effect("keeps registry, path, tag and digest of v2 references", () =>
    Effect.gen(function*() {
      const full = yield* Reference.parse(`localhost:5000/a/b:v1.2@${sha}`)
      expect(full.registry).toBe("localhost:5000")
      expect(full.repository).toBe("a/b")
      expect(full.tag).toBe("v1.2")
      expect(full.digest).toBe(sha)
      expect(Reference.format(full)).toBe(`localhost:5000/a/b:v1.2@${sha}`)
      expect(Reference.familiar(full)).toBe(`localhost:5000/a/b:v1.2@${sha}`)
      expect(Reference.apiHost(full.registry)).toBe("localhost:5000")

      const digestOnly = yield* Reference.parse(`ubuntu@${sha}`)
      expect(digestOnly.tag).toBeUndefined()
      expect(Reference.format(digestOnly)).toBe(`docker.io/library/ubuntu@${sha}`)
      expect(Reference.familiar(digestOnly)).toBe(`ubuntu@${sha}`)

      const both = yield* Reference.parse(`ubuntu:22.04@${sha}`)
      expect([both.tag, both.digest]).toEqual(["22.04", sha])
      expect(Reference.format(both)).toBe(`docker.io/library/ubuntu:22.04@${sha}`)

      const hub = yield* Reference.parse("registry-1.docker.io/library/ubuntu:latest")
      expect(Reference.format(hub)).toBe("docker.io/library/ubuntu:latest")
      expect(Reference.familiar(hub)).toBe("ubuntu:latest")
      expect(Reference.apiHost(hub.registry)).toBe("registry-1.docker.io")

      const ipv6 = yield* Reference.parse("[::1]:5000/foo:bar")
      expect([ipv6.registry, ipv6.repository, ipv6.tag]).toEqual(["[::1]:5000", "foo", "bar"])

      // no `/`: `localhost:5000` is a name with a tag, as in Docker
      const hostLike = yield* Reference.parse("localhost:5000")
      expect(Reference.format(hostLike)).toBe("docker.io/library/localhost:5000")
    }))

  it.effect("adds the default tag only when neither tag nor digest is given", () =>
    Effect.gen(function*() {
      const bare = yield* Reference.parse("ubuntu")
      expect(bare.tag).toBeUndefined()
      expect(Reference.format(Reference.withDefaultTag(bare))).toBe("docker.io/library/ubuntu:latest")
      const tagged = yield* Reference.parse("ubuntu:20.04")
      expect(Reference.withDefaultTag(tagged)).toBe(tagged)
      const pinned = yield* Reference.parse(`ubuntu@${sha}`)
      expect(Reference.withDefaultTag(pinned)).toBe(pinned)
      expect(Reference.defaultTag).toBe("latest")
    }))

  it.effect("gives the v1 tags name with library/ on any registry", () =>
    Effect.gen(function*() {
      expect(Reference.v1TagsRemoteName(yield* Reference.parse("localhost:5000/foo"))).toBe("library/foo")
      expect(Reference.remoteName(yield* Reference.parse("localhost:5000/foo"))).toBe("foo")
      expect(Reference.v1TagsRemoteName(yield* Reference.parse("localhost:5000/foo/bar"))).toBe("foo/bar")
      expect(Reference.v1TagsRemoteName(yield* Reference.parse("ubuntu"))).toBe("library/ubuntu")
    }))

  it.effect("round-trips through format and familiar", () =>
    Effect.gen(function*() {
      const inputs = [
        "ubuntu",
        "ubuntu:latest",
        "library/ubuntu",
        "foo/bar:baz",
        `localhost:5000/a/b:tag@${sha}`,
        `example.com/x@${sha}`,
        "index.docker.io/public/moonbase:v2",
        "a__b-c---d/e.f_g:W0rd_.-",
        "[::1]:5000/foo"
      ]
      for (const input of inputs) {
        const ref = yield* Reference.parse(input)
        const again = yield* Reference.parse(Reference.format(ref))
        expect(Reference.format(again)).toBe(Reference.format(ref))
        expect(Equal.equals(again, ref)).toBe(true)
        expect(Equal.equals(yield* Reference.parse(Reference.familiar(ref)), ref)).toBe(true)
      }
    }))

  it.effect("measures the name as written, host included, once", () =>
    Effect.gen(function*() {
      const official = yield* Reference.parse(`${"a".repeat(255)}:tag`)
      expect(official.repository).toBe(`library/${"a".repeat(255)}`)
      expect(Reference.familiar(official)).toBe(`${"a".repeat(255)}:tag`)
      const hosted = yield* Reference.parse(`example.com/${"b".repeat(243)}@${sha}`)
      expect([hosted.registry, hosted.repository.length]).toEqual(["example.com", 243])
      expect((yield* Effect.flip(Reference.parse(`example.com/${"b".repeat(244)}`))).reason).toBe(
        "repository name must not be more than 255 characters (it has 256)"
      )
    }))

  it.effect("refuses 64-hex names on Docker Hub only", () =>
    Effect.gen(function*() {
      const hex = "0123456789abcdef".repeat(4)
      expect((yield* Reference.parse(`example.com/${hex}`)).repository).toBe(hex)
      expect((yield* Reference.parse(`library/${hex}/x`)).repository).toBe(`library/${hex}/x`)
      expect((yield* Reference.parse(`team/${hex}`)).repository).toBe(`team/${hex}`)
      for (const input of [hex, `library/${hex}`, `docker.io/${hex}`, `registry-1.docker.io/library/${hex}:t`]) {
        expect([input, (yield* Effect.flip(Reference.parse(input))).reason]).toEqual([
          input,
          "repository name cannot be 64 hexadecimal characters (that is the form of an image id)"
        ])
      }
    }))

  it("splits a host off a name only when the first component is a host", () => {
    expect(Reference.splitHost("ubuntu")).toEqual({ host: "docker.io", path: "ubuntu" })
    expect(Reference.splitHost("team/app")).toEqual({ host: "docker.io", path: "team/app" })
    expect(Reference.splitHost("localhost/app")).toEqual({ host: "localhost", path: "app" })
    expect(Reference.splitHost("Host:5000/a/b")).toEqual({ host: "Host:5000", path: "a/b" })
    expect(Reference.splitHost("index.docker.io/x")).toEqual({ host: "index.docker.io", path: "x" })
  })

  it.effect("says exactly what is wrong", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, string]> = [
        ["", "repository name must have at least one component"],
        ["Ubuntu", "repository name must be lowercase"],
        ["example.com/Foo/bar:tag", "repository name must be lowercase"],
        [
          "a".repeat(256),
          "repository name must not be more than 255 characters (it has 256)"
        ],
        [
          `example.com/${"a".repeat(244)}`,
          "repository name must not be more than 255 characters (it has 256)"
        ],
        [
          "ubuntu:bad!tag",
          "invalid tag \"bad!tag\": a tag starts with a letter, digit or _ and holds only letters, digits, _, . and -"
        ],
        ["ubuntu:", "invalid tag \"\": a tag cannot be empty"],
        [`ubuntu:${"t".repeat(129)}`, `invalid tag "${"t".repeat(129)}": a tag has at most 128 characters, not 129`],
        ["ubuntu@sha256:abc", "invalid digest \"sha256:abc\": a sha256 digest has 64 hex characters, not 3"],
        [
          `ubuntu@md5:${"0".repeat(32)}`,
          `invalid digest "md5:${"0".repeat(32)}": unsupported digest algorithm "md5" (expected sha256 or sha512)`
        ],
        ["ubuntu@", "invalid digest \"\": a digest is <algorithm>:<hex>, e.g. sha256:<64 hex>"],
        [
          "-bad.com/foo",
          "invalid registry host \"-bad.com\": a host is dot-separated parts of letters, digits and inner dashes, or a bracketed IPv6 address"
        ],
        [
          "bad..com/foo",
          "invalid registry host \"bad..com\": a host is dot-separated parts of letters, digits and inner dashes, or a bracketed IPv6 address"
        ],
        ["localhost:abc/foo", "invalid registry host \"localhost:abc\": the port must be a decimal number"],
        ["localhost:/foo", "invalid registry host \"localhost:\": the port must be a decimal number"],
        ["localhost:99999/foo", "invalid registry host \"localhost:99999\": the port must be from 1 to 65535"],
        ["localhost:0/foo", "invalid registry host \"localhost:0\": the port must be from 1 to 65535"],
        ["xn--a.com/foo", "invalid registry host \"xn--a.com\": it is not a host name a URL can hold"],
        ["foo//bar", "a repository name cannot have an empty path component (no leading, trailing or double /)"],
        ["foo/", "a repository name cannot have an empty path component (no leading, trailing or double /)"],
        ["/foo", "a repository name cannot have an empty path component (no leading, trailing or double /)"],
        ["example.com/", "a repository name cannot be empty"],
        [
          "foo/bar$",
          "path component \"bar$\" may hold only a-z, 0-9 and single separators (., _, __ or dashes) between them"
        ],
        [
          "foo/a..b",
          "path component \"a..b\" may hold only a-z, 0-9 and single separators (., _, __ or dashes) between them"
        ],
        ["a".repeat(64), "repository name cannot be 64 hexadecimal characters (that is the form of an image id)"],
        [
          `library/${"a".repeat(64)}`,
          "repository name cannot be 64 hexadecimal characters (that is the form of an image id)"
        ],
        [
          `docker.io/library/${"a".repeat(64)}:tag`,
          "repository name cannot be 64 hexadecimal characters (that is the form of an image id)"
        ],
        [
          `index.docker.io/${"a".repeat(64)}`,
          "repository name cannot be 64 hexadecimal characters (that is the form of an image id)"
        ]
      ]
      for (const [input, reason] of cases) {
        const error = yield* failure(input)
        expect(error._tag).toBe("InvalidReference")
        expect([input, error.reason]).toEqual([input, reason])
      }
      const error = yield* failure("Ubuntu")
      expect(error.message).toBe("invalid reference \"Ubuntu\": repository name must be lowercase")
    }))

  it("normalises Docker Hub aliases and detects hosts", () => {
    expect(Reference.hubHosts.map(Reference.normalizeRegistry)).toEqual(["docker.io", "docker.io", "docker.io"])
    expect(Reference.normalizeRegistry("quay.io")).toBe("quay.io")
    expect(["localhost", "a.b", "a:1", "foo", "Localhost"].map(Reference.isRegistryHost)).toEqual([
      true,
      true,
      true,
      false,
      false
    ])
    expect(Reference.checkRegistryHost("[::1]")).toBeUndefined()
    expect(Reference.checkRegistryHost("my-host.example.com:443")).toBeUndefined()
  })
})
