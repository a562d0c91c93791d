import * as Identifiers from "@dockside/protocol/Identifiers"
import * as V1Wire from "@dockside/protocol/V1Wire"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

const id1 = Identifiers.ImageId.make("42d718c941f5c532ac049bf0b0ab53f0062f09a03afd4aa4a02c098e46032b9d")
const id2 = Identifiers.ImageId.make("77dbf71da1d00e3fbddc480176eac8994025630c6590d11cfc8fe1209c2a1d20")
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)

describe("V1Wire", () => {
  it.effect("encodes ImgData with a capital Tag and without empty fields", () =>
    Effect.gen(function*() {
      const json = yield* V1Wire.encodeImgDataList([
        { id: id1, checksum: "sha256:abc", tag: Identifiers.Tag.make("latest") },
        { id: id2 },
        { id: id2, checksum: "" }
      ])
      expect(json).toBe(
        `[{"id":"${id1}","checksum":"sha256:abc","Tag":"latest"},{"id":"${id2}"},{"id":"${id2}"}]`
      )
    }))

  it.effect("decodes ImgData keys like Go's encoding/json", () =>
    Effect.gen(function*() {
      const list = yield* V1Wire.decodeImgDataList(
        bytes(
          `[{"ID":"${id1}","Checksum":"sha256:abc","tag":"v1","extra":1},` +
            `{"id":"${id2}","TAG":"v2","checksum":null},` +
            `{"id":"${id2}","Tag":"","checksum":""},` +
            `{"id":"${id2}","checkſum":"folded"}]`
        )
      )
      expect(list).toEqual([
        { id: id1, checksum: "sha256:abc", tag: "v1" },
        { id: id2, tag: "v2" },
        { id: id2 },
        { id: id2, checksum: "folded" }
      ])
    }))

  it.effect("lets the last key for a field win, as Go does", () =>
    Effect.gen(function*() {
      // the exact key resolves to the field wherever it stands; several keys for one field: the last one wins
      expect(yield* V1Wire.decodeImgDataList(`[{"id":"${id1}","tag":"lower","Tag":"exact"}]`)).toEqual([
        { id: id1, tag: "exact" }
      ])
      expect(yield* V1Wire.decodeImgDataList(`[{"id":"${id1}","Tag":"exact","tag":"lower"}]`)).toEqual([
        { id: id1, tag: "lower" }
      ])
    }))

  it.effect("fails with InvalidDocument on bad JSON or bad fields", () =>
    Effect.gen(function*() {
      const notJson = yield* Effect.flip(V1Wire.decodeImgDataList("[{"))
      expect(notJson._tag).toBe("InvalidDocument")
      expect(notJson.what).toBe("image list")
      expect(notJson.reason).toBe("the body is not JSON (syntax error at character 2)")
      expect((yield* Effect.flip(V1Wire.decodeImgDataList(""))).reason).toBe("the body is not JSON (it ends too early)")
      const badJson = yield* Effect.flip(V1Wire.decodeImgDataList(`[{"id":"${id1}",]`))
      expect(badJson.message).toBe("invalid image list: the body is not JSON (syntax error at character 74)")
      const badType = yield* Effect.flip(V1Wire.decodeImgDataList(`[{"id":"${id1}"},{"id":5}]`))
      expect(badType.reason).toBe("1.id: Expected string, actual 5")
      expect((yield* Effect.flip(V1Wire.decodeImgDataList(`{"id":"${id1}"}`)))._tag).toBe("InvalidDocument")
      expect((yield* Effect.flip(V1Wire.decodeSearchResults("[]")))._tag).toBe("InvalidDocument")
      expect((yield* Effect.flip(V1Wire.decodeSearchResults(`{"num_results":1.5}`))).reason).toContain("num_results")
      expect((yield* Effect.flip(V1Wire.decodeImgDataList(bytes("\ufeff[]")))).reason).toBe(
        "the body starts with a byte order mark"
      )
      expect((yield* Effect.flip(V1Wire.decodeImgDataList(new Uint8Array([0x5b, 0xff, 0x5d])))).reason).toBe(
        "the body is not valid UTF-8"
      )
    }))

  it.effect("decodes a Hub search answer and encodes in Go's field order", () =>
    Effect.gen(function*() {
      const body = `{"num_pages":1,"num_results":1,"results":[{"is_automated":false,"name":"fakequery",` +
        `"is_trusted":false,"is_official":true,"star_count":42,"description":"a <fake> & query"}],` +
        `"page_size":25,"query":"fakequery","page":1}`
      const results = yield* V1Wire.decodeSearchResults(bytes(body))
      expect(results).toEqual({
        query: "fakequery",
        numResults: 1,
        results: [{
          starCount: 42,
          isOfficial: true,
          name: "fakequery",
          isAutomated: false,
          description: "a <fake> & query"
        }]
      })
      expect(yield* V1Wire.encodeSearchResults(results)).toBe(
        `{"query":"fakequery","num_results":1,"results":[{"star_count":42,"is_official":true,"name":"fakequery",` +
          `"is_automated":false,"description":"a \\u003cfake\\u003e \\u0026 query"}]}`
      )
      expect(yield* V1Wire.decodeSearchResults(`{"results":[{}]}`)).toEqual({
        query: "",
        numResults: 0,
        results: [{ starCount: 0, isOfficial: false, name: "", isAutomated: false, description: "" }]
      })
    }))

  it.effect("decodes ping bodies with Go zero values", () =>
    Effect.gen(function*() {
      expect(yield* Schema.decodeUnknown(V1Wire.PingResult)({})).toEqual({ version: "", standalone: false })
      expect(yield* V1Wire.encodePingResult({ version: "0.6.0", standalone: true })).toBe(
        `{"version":"0.6.0","standalone":true}`
      )
    }))

  it("interprets a _ping response as Docker does", () => {
    const cases: ReadonlyArray<readonly [V1Wire.PingResponse, V1Wire.PingResult]> = [
      [{ body: "true" }, { version: "", standalone: true }],
      [{ body: "" }, { version: "", standalone: true }],
      [{ body: `{"version":"0.6.0","Standalone":false}` }, { version: "0.6.0", standalone: false }],
      [{ body: `{"version":1,"standalone":"no"}` }, { version: "", standalone: true }],
      [{ body: `{"version":"1"}`, versionHeader: "0.9" }, { version: "0.9", standalone: true }],
      [{ body: `{"version":"1"}`, versionHeader: "" }, { version: "1", standalone: true }],
      [{ body: `{"standalone":false}`, standaloneHeader: "True" }, { version: "", standalone: true }],
      [{ body: `{"standalone":false}`, standaloneHeader: "1" }, { version: "", standalone: true }],
      [{ body: "{}", standaloneHeader: "False" }, { version: "", standalone: false }],
      [{ body: "{}", standaloneHeader: "mirror" }, { version: "", standalone: false }],
      [{ body: bytes(`{"standalone":false}`), standaloneHeader: "" }, { version: "", standalone: false }]
    ]
    for (const [response, expected] of cases) {
      expect([response, V1Wire.pingResult(response)]).toEqual([response, expected])
    }
  })

  it.effect("reads tag maps, tag values and ancestry", () =>
    Effect.gen(function*() {
      expect(yield* V1Wire.decodeTagMap(`{"latest":"${id1}","test":"${id1}"}`)).toEqual({ latest: id1, test: id1 })
      expect(yield* V1Wire.encodeTagMap({ [Identifiers.Tag.make("latest")]: id1 })).toBe(`{"latest":"${id1}"}`)

      expect(yield* V1Wire.decodeTagValue(`"${id1}"`)).toBe(id1)
      expect(yield* V1Wire.decodeTagValue(bytes(`${id1}\n`))).toBe(id1)
      const badValue = yield* Effect.flip(V1Wire.decodeTagValue(`"abcdef"`))
      expect(badValue.message).toBe("invalid tag value: an image id is 64 lower-case hexadecimal characters")
      expect((yield* Effect.flip(V1Wire.decodeTagValue("abcdef"))).reason).toBe("the body is not JSON")
      expect(V1Wire.encodeTagValue(id1)).toBe(`"${id1}"`)

      expect(yield* V1Wire.decodeAncestry(`["${id1}","${id2}"]`)).toEqual([id1, id2])
      expect(yield* V1Wire.encodeAncestry([id1, id2])).toBe(`["${id1}","${id2}"]`)
    }))

  it("builds RepositoryData keyed by image id", () => {
    const data = V1Wire.repositoryData(
      [{ id: id1 }, { id: id2, checksum: "a" }, { id: id2, checksum: "b" }],
      ["http://r/v1/"],
      ["t"]
    )
    expect([...data.imgList.entries()]).toEqual([[id1, { id: id1 }], [id2, { id: id2, checksum: "b" }]])
    expect(data.endpoints).toEqual(["http://r/v1/"])
    expect(data.tokens).toEqual(["t"])
  })

  it.effect("keeps AuthConfig secrets redacted and omits empty fields", () =>
    Effect.gen(function*() {
      const config = yield* V1Wire.decodeAuthConfig(
        `{"Username":"me","password":"s3cret","auth":"","serveraddress":"https://index.docker.io/v1/","IdentityToken":"tok"}`
      )
      expect(config.username).toBe("me")
      expect(config.auth).toBeUndefined()
      expect(config.serverAddress).toBe("https://index.docker.io/v1/")
      expect(Redacted.isRedacted(config.password)).toBe(true)
      expect(config.password === undefined ? undefined : Redacted.value(config.password)).toBe("s3cret")
      expect(config.identityToken === undefined ? undefined : Redacted.value(config.identityToken)).toBe("tok")
      expect(String(config.password)).toBe("<redacted>")
      expect(JSON.stringify(config)).not.toContain("s3cret")

      expect(yield* V1Wire.encodeAuthConfig({ username: "me", password: Redacted.make("s3cret"), email: "" })).toBe(
        `{"username":"me","password":"s3cret"}`
      )
      expect(
        yield* V1Wire.encodeAuthConfig({
          registryToken: Redacted.make("r"),
          identityToken: Redacted.make("i"),
          serverAddress: "s",
          email: "e",
          auth: Redacted.make("a"),
          password: Redacted.make("p"),
          username: "u"
        })
      ).toBe(
        `{"username":"u","password":"p","auth":"a","email":"e","serveraddress":"s","identitytoken":"i","registrytoken":"r"}`
      )
      expect(yield* V1Wire.encodeAuthConfig({ password: Redacted.make("") })).toBe("{}")
    }))

  it.effect("decodes an image list with a bad id or tag, leaving the check to the caller", () =>
    Effect.gen(function*() {
      const list = yield* V1Wire.decodeImgDataList(`[{"id":"${id1}"},{"id":"../etc","Tag":"../x"},{"id":"${id2}"}]`)
      expect(list).toEqual([{ id: id1 }, { id: "../etc", tag: "../x" }, { id: id2 }])
      const bad = list[1]!
      expect((yield* Effect.flip(Identifiers.parseImageId(bad.id))).reason).toBe(
        "an image id is 64 lower-case hexadecimal characters"
      )
      expect((yield* Effect.flip(Identifiers.parseTag(bad.tag ?? "")))._tag).toBe("InvalidArgument")
      expect(Identifiers.partition(Identifiers.ImageId, list.map((image) => image.id))).toEqual({
        valid: [id1, id2],
        invalid: ["../etc"]
      })
      const encoded = yield* Effect.flip(V1Wire.encodeImgDataList([{ id: id1 }, { id: "../etc" }]))
      expect(encoded.reason).toBe("1.id: an image id is 64 lower-case hexadecimal characters")
      expect((yield* Effect.flip(V1Wire.encodeImgDataList([{ id: id1, tag: "a b" }]))).reason).toBe(
        "0.tag: a tag starts with a letter, digit or _ and holds only letters, digits, _, . and -"
      )
    }))

  it.effect("decodes a tag map with a bad entry, leaving the check to the caller", () =>
    Effect.gen(function*() {
      const tags = yield* V1Wire.decodeTagMap(`{"latest":"${id1}","../x":"${id1}","old":"abc"}`)
      expect(tags).toEqual({ latest: id1, "../x": id1, old: "abc" })
      expect((yield* Effect.flip(Identifiers.parseTag("../x")))._tag).toBe("InvalidArgument")
      expect((yield* Effect.flip(Identifiers.parseImageId(tags["old"] ?? "")))._tag).toBe("InvalidArgument")
      expect((yield* Effect.flip(V1Wire.encodeTagMap({ "../x": id1 }))).reason).toBe(
        "../x: is unexpected, expected: Tag"
      )
      expect((yield* Effect.flip(V1Wire.encodeTagMap({ latest: "abc" }))).reason).toBe(
        "latest: an image id is 64 lower-case hexadecimal characters"
      )
    }))

  it.effect("never quotes an AuthConfig body or its values in errors", () =>
    Effect.gen(function*() {
      const notJson = yield* Effect.flip(V1Wire.decodeAuthConfig("{\"password\":hunter2SECRET}"))
      expect(notJson.reason).toBe("the body is not JSON")
      expect(notJson.message).not.toContain("SECRET")
      const array = yield* Effect.flip(V1Wire.decodeAuthConfig("{\"password\":[\"hunter2SECRET\"]}"))
      expect(array.reason).toBe("password: expected string")
      expect(array.message).not.toContain("SECRET")
      const several = yield* Effect.flip(
        V1Wire.decodeAuthConfig("{\"username\":{\"SECRET\":1},\"auth\":42,\"identitytoken\":true}")
      )
      expect(several.reason).toBe("username: expected string; auth: expected string; identitytoken: expected string")
      const notObject = yield* Effect.flip(V1Wire.decodeAuthConfig("\"hunter2SECRET\""))
      expect(notObject.reason).toBe("expected { readonly [x: string]: unknown }")
      const unterminated = yield* Effect.flip(V1Wire.decodeAuthConfig("{\"password\":\"hunter2SECRET"))
      expect(unterminated.message).not.toContain("SECRET")
    }))

  it.effect("refuses __proto__ keys instead of letting them replace a prototype", () =>
    Effect.gen(function*() {
      const polluting = "{\"__proto__\":{\"polluted\":1}}"
      for (
        const error of [
          yield* Effect.flip(V1Wire.decodeAuthConfig(polluting)),
          yield* Effect.flip(V1Wire.decodeTagMap(polluting)),
          yield* Effect.flip(V1Wire.decodeSearchResults(`{"results":[${polluting}]}`)),
          yield* Effect.flip(V1Wire.decodeImgDataList(bytes(`[{"id":"${id1}","x":${polluting}}]`)))
        ]
      ) {
        expect([error._tag, error.reason]).toEqual(["InvalidDocument", "the body has a key \"__proto__\""])
      }
      expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined()
      // a parsed object handed to the schema directly: the key matches no field and is dropped
      const config = yield* Schema.decodeUnknown(V1Wire.AuthConfig)(JSON.parse("{\"__proto__\":{\"username\":\"x\"}}"))
      expect(config).toEqual({})
      expect(Object.getPrototypeOf(config)).toBe(Object.prototype)
      expect(config.username).toBeUndefined()
    }))
})
