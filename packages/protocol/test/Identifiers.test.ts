import * as Identifiers from "@dockside/protocol/Identifiers"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"

const sha256 = `sha256:${"ab".repeat(32)}`
const sha512 = `sha512:${"cd".repeat(64)}`

describe("Identifiers", () => {
  it.effect("accepts a 64-hex image id and explains a bad one", () =>
    Effect.gen(function*() {
      const id = "a".repeat(64)
      expect(yield* Identifiers.parseImageId(id)).toBe(id)
      const error = yield* Effect.flip(Identifiers.parseImageId("../x"))
      expect(error._tag).toBe("InvalidArgument")
      expect(error.message).toContain("64 lower-case hexadecimal")
      expect((yield* Effect.flip(Identifiers.parseImageId("A".repeat(64)))).reason).toBe(
        "an image id is 64 lower-case hexadecimal characters"
      )
      expect((yield* Effect.flip(Identifiers.parseImageId("a".repeat(63))))._tag).toBe("InvalidArgument")
    }))

  it.effect("accepts sha256 and sha512 digests", () =>
    Effect.gen(function*() {
      expect(yield* Identifiers.parseDigest(sha256)).toBe(sha256)
      expect(yield* Identifiers.parseDigest(sha512)).toBe(sha512)
    }))

  it.effect("explains every way a digest can be wrong", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, string]> = [
        [`sha256:${"a".repeat(63)}`, "a sha256 digest has 64 hex characters, not 63"],
        [`sha256:${"a".repeat(65)}`, "a sha256 digest has 64 hex characters, not 65"],
        [`sha256:${"a".repeat(128)}`, "a sha256 digest has 64 hex characters, not 128"],
        [`sha512:${"a".repeat(64)}`, "a sha512 digest has 128 hex characters, not 64"],
        [`sha512:${"a".repeat(127)}`, "a sha512 digest has 128 hex characters, not 127"],
        ["sha256:", "a sha256 digest has 64 hex characters, not 0"],
        [`sha256:${"AB".repeat(32)}`, "the digest's hex part must be lower-case hexadecimal"],
        [`sha256:${"g".repeat(64)}`, "the digest's hex part must be lower-case hexadecimal"],
        [`SHA256:${"ab".repeat(32)}`, "unsupported digest algorithm \"SHA256\" (expected sha256 or sha512)"],
        [`md5:${"0".repeat(32)}`, "unsupported digest algorithm \"md5\" (expected sha256 or sha512)"],
        [`sha384:${"0".repeat(96)}`, "unsupported digest algorithm \"sha384\" (expected sha256 or sha512)"],
        [`toString:${"0".repeat(64)}`, "unsupported digest algorithm \"toString\" (expected sha256 or sha512)"],
        ["ab".repeat(32), "a digest is <algorithm>:<hex>, e.g. sha256:<64 hex>"],
        [`:${"ab".repeat(32)}`, "a digest is <algorithm>:<hex>, e.g. sha256:<64 hex>"],
        ["", "a digest is <algorithm>:<hex>, e.g. sha256:<64 hex>"]
      ]
      for (const [value, reason] of cases) {
        const error = yield* Effect.flip(Identifiers.parseDigest(value))
        expect([value, error._tag, error.name, error.reason]).toEqual([value, "InvalidArgument", "digest", reason])
      }
    }))

  it("splits a digest into algorithm and hex", () => {
    const digest256 = Identifiers.Digest.make(sha256)
    const digest512 = Identifiers.Digest.make(sha512)
    expect(Identifiers.digestAlgorithm(digest256)).toBe("sha256")
    expect(Identifiers.digestHex(digest256)).toBe("ab".repeat(32))
    expect(Identifiers.digestAlgorithm(digest512)).toBe("sha512")
    expect(Identifiers.digestHex(digest512)).toBe("cd".repeat(64))
    expect(Identifiers.digestHex(digest512).length).toBe(Identifiers.digestAlgorithms.sha512)
  })

  it.effect("bounds tags at 128 characters", () =>
    Effect.gen(function*() {
      const longest = "t".repeat(128)
      expect(yield* Identifiers.parseTag(longest)).toBe(longest)
      expect((yield* Effect.flip(Identifiers.parseTag(`${longest}t`))).reason).toBe(
        "a tag has at most 128 characters, not 129"
      )
      expect((yield* Effect.flip(Identifiers.parseTag(""))).reason).toBe("a tag cannot be empty")
    }))

  it.effect("lets a tag start with a letter, digit or _ only", () =>
    Effect.gen(function*() {
      for (const tag of ["latest", "Latest", "1.0", "_x", "__", "a-b.c_d", "V-1.2.3-RC_4", "x-", "y."]) {
        expect(yield* Identifiers.parseTag(tag)).toBe(tag)
      }
      const rule = "a tag starts with a letter, digit or _ and holds only letters, digits, _, . and -"
      for (const tag of [".x", "-x", "a:b", "a/b", "a b", "a@b", "é", "a+b"]) {
        const error = yield* Effect.flip(Identifiers.parseTag(tag))
        expect([tag, error.name, error.reason]).toEqual([tag, "tag", rule])
      }
    }))

  it.effect("checks repository names component by component", () =>
    Effect.gen(function*() {
      for (
        const name of [
          "ubuntu",
          "library/ubuntu",
          "a/b/c",
          "a.b",
          "a_b",
          "a__b",
          "a-b",
          "a---b",
          "0/9",
          "x".repeat(300)
        ]
      ) {
        expect(yield* Identifiers.parseRepositoryName(name)).toBe(name)
      }
      const separators = "may hold only a-z, 0-9 and single separators (., _, __ or dashes) between them"
      const cases: ReadonlyArray<readonly [string, string]> = [
        ["", "a repository name cannot be empty"],
        ["Ubuntu", "repository name must be lowercase"],
        ["a//b", "a repository name cannot have an empty path component (no leading, trailing or double /)"],
        ["/a", "a repository name cannot have an empty path component (no leading, trailing or double /)"],
        ["a/", "a repository name cannot have an empty path component (no leading, trailing or double /)"],
        ["a..b", `path component "a..b" ${separators}`],
        ["a___b", `path component "a___b" ${separators}`],
        ["a._b", `path component "a._b" ${separators}`],
        ["-a", `path component "-a" ${separators}`],
        ["a/b-", `path component "b-" ${separators}`],
        ["a/.b", `path component ".b" ${separators}`],
        ["a:b", `path component "a:b" ${separators}`],
        ["a b", `path component "a b" ${separators}`]
      ]
      for (const [name, reason] of cases) {
        const error = yield* Effect.flip(Identifiers.parseRepositoryName(name))
        expect([name, error.name, error.reason]).toEqual([name, "repository name", reason])
      }
    }))

  it("partitions values into valid and invalid, keeping order", () => {
    expect(Identifiers.partition(Identifiers.Tag, ["latest", "../x", "v1", "", "a b"])).toEqual({
      valid: ["latest", "v1"],
      invalid: ["../x", "", "a b"]
    })
    expect(Identifiers.partition(Identifiers.ImageId, [])).toEqual({ valid: [], invalid: [] })
  })
})
