import * as V1Endpoint from "@dockside/protocol/V1Endpoint"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"

describe("V1Endpoint", () => {
  it.effect("builds endpoints like endpoint_test.go", () =>
    Effect.gen(function*() {
      const vectors: ReadonlyArray<readonly [string, string]> = [
        ["https://index.docker.io/v1/", "https://index.docker.io/v1/"],
        ["http://0.0.0.0:5000/v1/", "http://0.0.0.0:5000/v1/"],
        ["http://0.0.0.0:5000", "http://0.0.0.0:5000/v1/"],
        ["0.0.0.0:5000", "https://0.0.0.0:5000/v1/"],
        ["http://0.0.0.0:5000/nonversion/", "http://0.0.0.0:5000/nonversion/v1/"],
        ["http://0.0.0.0:5000/v0/", "http://0.0.0.0:5000/v0/v1/"]
      ]
      for (const [input, expected] of vectors) {
        expect([input, V1Endpoint.format(yield* V1Endpoint.fromAddress(input))]).toEqual([input, expected])
      }
      const error = yield* Effect.flip(V1Endpoint.fromAddress("http://0.0.0.0:5000/v2/"))
      expect(error._tag).toBe("InvalidEndpoint")
      expect(error.reason).toBe("unsupported V1 version path v2")
      expect(error.message).toBe("invalid endpoint \"http://0.0.0.0:5000/v2/\": unsupported V1 version path v2")
      expect((yield* Effect.flip(V1Endpoint.fromAddress(""))).reason).toBe("the address is not a valid URL")
    }))

  it.effect("builds paths by concatenation and switches scheme", () =>
    Effect.gen(function*() {
      const endpoint = yield* V1Endpoint.fromAddress("localhost:5000")
      expect(endpoint.url).toBe("https://localhost:5000")
      expect(V1Endpoint.path(endpoint, "repositories/foo/bar/images")).toBe(
        "https://localhost:5000/v1/repositories/foo/bar/images"
      )
      expect(V1Endpoint.scheme(endpoint)).toBe("https")
      const plain = V1Endpoint.withScheme(endpoint, "http")
      expect(V1Endpoint.format(plain)).toBe("http://localhost:5000/v1/")
      expect(V1Endpoint.scheme(plain)).toBe("http")
      expect(V1Endpoint.isIndexServer(endpoint)).toBe(false)
      expect(V1Endpoint.isIndexServer(yield* V1Endpoint.fromAddress(V1Endpoint.IndexServer))).toBe(true)
    }))

  it("knows the official index", () => {
    expect([V1Endpoint.IndexServer, V1Endpoint.IndexHostname, V1Endpoint.IndexName]).toEqual([
      "https://index.docker.io/v1/",
      "index.docker.io",
      "docker.io"
    ])
    expect(V1Endpoint.indexAddress("docker.io")).toBe("https://index.docker.io/v1/")
    expect(V1Endpoint.indexAddress("index.docker.io")).toBe("https://index.docker.io/v1/")
    expect(V1Endpoint.indexAddress("localhost:5000")).toBe("localhost:5000")
  })

  it("builds the X-Docker-Endpoints list", () => {
    expect(V1Endpoint.buildEndpointsList(["127.0.0.1:5000 \t,  test.example.com "], "http://127.0.0.1:5000/v1/"))
      .toEqual(["http://127.0.0.1:5000/v1/", "http://test.example.com/v1/"])
    // no filtering: an empty element, a scheme already present
    expect(V1Endpoint.buildEndpointsList(["a,,b", "https://c"], "https://index.docker.io/v1/")).toEqual([
      "https://a/v1/",
      "https:///v1/",
      "https://b/v1/",
      "https://https://c/v1/"
    ])
    // several header lines: order kept, duplicates kept; Go's TrimSpace (NBSP and NEL, not BOM)
    expect(V1Endpoint.buildEndpointsList(["r1, r2", "r3", "\u00a0r1\u0085", "\ufeffr4"], "HTTP://index/v1/")).toEqual([
      "http://r1/v1/",
      "http://r2/v1/",
      "http://r3/v1/",
      "http://r1/v1/",
      "http://\ufeffr4/v1/"
    ])
    expect(V1Endpoint.buildEndpointsList([], "https://index/v1/")).toEqual([])
  })

  it("escapes search terms like Go's url.QueryEscape", () => {
    const vectors: ReadonlyArray<readonly [string, string]> = [
      ["fake query", "fake+query"],
      ["a+b", "a%2Bb"],
      ["a/b", "a%2Fb"],
      ["~user-name_1.0", "~user-name_1.0"],
      ["100%", "100%25"],
      ["ü", "%C3%BC"],
      ["日本", "%E6%97%A5%E6%9C%AC"],
      ["😀", "%F0%9F%98%80"],
      ["a&b=c?d#e*f", "a%26b%3Dc%3Fd%23e%2Af"],
      ["\n", "%0A"]
    ]
    for (const [term, escaped] of vectors) {
      expect([term, V1Endpoint.queryEscape(term)]).toEqual([term, escaped])
    }
  })

  it.effect("checks the search limit before building the URL", () =>
    Effect.gen(function*() {
      expect(yield* V1Endpoint.validateSearchLimit(1)).toBe(1)
      expect(yield* V1Endpoint.validateSearchLimit(100)).toBe(100)
      for (const limit of [0, 101, -5]) {
        const error = yield* Effect.flip(V1Endpoint.validateSearchLimit(limit))
        expect(error._tag).toBe("InvalidArgument")
        expect(error.reason).toBe(`Limit ${limit} is outside the range of [1, 100]`)
      }
      expect((yield* Effect.flip(V1Endpoint.validateSearchLimit(101))).message).toBe(
        "invalid search limit \"101\": Limit 101 is outside the range of [1, 100]"
      )
      expect((yield* Effect.flip(V1Endpoint.validateSearchLimit(2.5))).reason).toBe("Limit 2.5 is not a whole number")
      const index = yield* V1Endpoint.fromAddress("http://127.0.0.1:5000/v1/")
      expect(yield* V1Endpoint.searchUrl(index, "fake query", V1Endpoint.defaultSearchLimit)).toBe(
        "http://127.0.0.1:5000/v1/search?q=fake+query&n=25"
      )
      expect((yield* Effect.flip(V1Endpoint.searchUrl(index, "q", 0))).reason).toBe(
        "Limit 0 is outside the range of [1, 100]"
      )
    }))

  it.effect("splits search terms like Docker's search service", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, V1Endpoint.SearchTarget]> = [
        ["ubuntu", { index: "docker.io", official: true, query: "ubuntu" }],
        ["library/ubuntu", { index: "docker.io", official: true, query: "ubuntu" }],
        ["foo/bar", { index: "docker.io", official: true, query: "foo/bar" }],
        ["index.docker.io/library/ubuntu", { index: "docker.io", official: true, query: "ubuntu" }],
        ["docker.io/tianon/x", { index: "docker.io", official: true, query: "tianon/x" }],
        ["localhost:5000/library/foo", { index: "localhost:5000", official: false, query: "library/foo" }],
        ["example.com/a/b", { index: "example.com", official: false, query: "a/b" }],
        ["example.com", { index: "docker.io", official: true, query: "example.com" }]
      ]
      for (const [term, target] of cases) {
        expect([term, yield* V1Endpoint.splitSearchTerm(term)]).toEqual([term, target])
      }
      const error = yield* Effect.flip(V1Endpoint.splitSearchTerm("https://example.com/foo"))
      expect(error._tag).toBe("InvalidArgument")
      expect(error.reason).toBe("Invalid repository name (ex: \"registry.domain.tld/myrepos\")")
      expect((yield* Effect.flip(V1Endpoint.splitSearchTerm("-bad.com/foo"))).reason).toContain(
        "invalid registry host \"-bad.com\""
      )
    }))
})
