import * as Errors from "@dockside/protocol/Errors"
import * as V1Endpoint from "@dockside/protocol/V1Endpoint"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"

const request = { method: "GET", url: "https://me:SECRET@registry.example/v2/" }

describe("Errors.redactUrl", () => {
  it("removes user-info, up to the last @ before the path", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["https://user:pass@host/x", "https://host/x"],
      ["https://user:p@ss@host/x", "https://host/x"],
      ["https://user@host:5000/v1/", "https://host:5000/v1/"],
      ["http://:pw@host", "http://host"],
      ["https://@host/x", "https://host/x"],
      ["HTTPS://u:p@Host/x?q=1#f", "HTTPS://Host/x?q=1#f"],
      ["https://u:p@host?x=@y", "https://host?x=@y"],
      ["https://u:p@host\\path", "https://host\\path"],
      ["user:pw@host:5000/x", "host:5000/x"],
      ["u:SECRET@host:bad", "host:bad"],
      ["user@host", "host"],
      ["https://u:pa/ss@host/x", "https://host/x"],
      ["https://u:SECRET@host:bad/x", "https://host:bad/x"],
      ["https://host/a@b", "https://host/a@b"],
      ["https://host/x?u=a@b", "https://host/x?u=a@b"],
      ["http://0.0.0.0:5000/v1/", "http://0.0.0.0:5000/v1/"],
      ["https://[::1]:5000/v2/", "https://[::1]:5000/v2/"],
      ["host:5000", "host:5000"],
      ["", ""]
    ]
    for (const [url, redacted] of cases) {
      expect([url, Errors.redactUrl(url)]).toEqual([url, redacted])
    }
  })

  it("removes the values of query parameters that carry credentials (pre-signed URLs, tokens, upload states)", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      [
        "https://b.s3.amazonaws.com/x?X-Amz-Algorithm=AWS4&X-Amz-Credential=AKIA%2F1&X-Amz-Expires=1200&X-Amz-Signature=ab",
        "https://b.s3.amazonaws.com/x?X-Amz-Algorithm=AWS4&X-Amz-Credential=REDACTED&X-Amz-Expires=1200&X-Amz-Signature=REDACTED"
      ],
      [
        "https://cdn.example/x?Expires=1&Policy=p&Signature=s&Key-Pair-Id=k",
        "https://cdn.example/x?Expires=1&Policy=REDACTED&Signature=REDACTED&Key-Pair-Id=REDACTED"
      ],
      [
        "https://a.blob.core.windows.net/c/b?sv=2020&se=2026&sig=abc%3D#f",
        "https://a.blob.core.windows.net/c/b?sv=2020&se=2026&sig=REDACTED#f"
      ],
      [
        "https://s.example/o?X-Goog-Signature=1&GoogleAccessId=a",
        "https://s.example/o?X-Goog-Signature=REDACTED&GoogleAccessId=a"
      ],
      [
        "https://r.example/v2/x/blobs/uploads/1?_state=abc&digest=sha256:1",
        "https://r.example/v2/x/blobs/uploads/1?_state=REDACTED&digest=sha256:1"
      ],
      [
        "https://auth.example/token?service=r&scope=repository:x:pull&access_token=t",
        "https://auth.example/token?service=r&scope=repository:x:pull&access_token=REDACTED"
      ],
      ["https://u:p@r.example/x?%74oken=t&flag", "https://r.example/x?%74oken=REDACTED&flag"],
      [
        "https://production.cloudflare.docker.com/registry-v2/docker/registry/v2/blobs/sha256/ab/ab12/data?verify=1720932472-9QlP%2Bx",
        "https://production.cloudflare.docker.com/registry-v2/docker/registry/v2/blobs/sha256/ab/ab12/data?verify=REDACTED"
      ],
      ["https://cdn.example/b?hdnts=exp%3D1~acl%3D%2F*~hmac%3Dab", "https://cdn.example/b?hdnts=REDACTED"],
      ["https://r.example/v2/x/tags/list?n=10&last=v1", "https://r.example/v2/x/tags/list?n=10&last=v1"]
    ]
    for (const [url, redacted] of cases) {
      expect([url, Errors.redactUrl(url)]).toEqual([url, redacted])
    }
  })

  it("never leaves credentials the URL parser would read", () => {
    for (const url of ["https:user:SECRET@host/x", "https:\\\\user:SECRET@host/x", "ws://u:SECRET@h/x"]) {
      const redacted = Errors.redactUrl(url)
      expect([url, redacted.includes("SECRET")]).toEqual([url, false])
    }
  })
})

describe("Errors.excerpt", () => {
  it("escapes control characters so that text cannot drive a terminal", () => {
    expect(Errors.excerpt("plain text, ünïcödé ✓")).toBe("plain text, ünïcödé ✓")
    expect(Errors.excerpt("a\u001b[31mred\u0007\r\n\tb\u0000\u007f\u009b2J\u202eevil\u2028x")).toBe(
      "a\\x1b[31mred\\x07\\r\\n\\tb\\x00\\x7f\\x9b2J\\u202eevil\\u2028x"
    )
  })

  it("cuts long text before escaping, marking the cut", () => {
    const long = `${"\u001b".repeat(Errors.maxExcerpt)}tail`
    expect(Errors.excerpt(long)).toBe(`${"\\x1b".repeat(Errors.maxExcerpt)}… (4 more characters)`)
    expect(Errors.excerpt("x".repeat(Errors.maxExcerpt))).toBe("x".repeat(Errors.maxExcerpt))
  })

  it("is used for every untrusted field of a message", () => {
    const esc = "\u001b]0;pwned\u0007"
    const messages = [
      new Errors.HttpStatusError({ ...request, status: 500, detail: `bad${esc}`, body: `body${esc}` }).message,
      new Errors.RetriesExhausted({ ...request, attempts: 3, lastStatus: 0, reason: `reset${esc}` }).message,
      new Errors.RedirectRefused({ ...request, location: `http://x/${esc}`, reason: `downgrade${esc}` }).message,
      new Errors.InvalidReference({ input: `x${esc}`, reason: `because${esc}` }).message,
      new Errors.InvalidArgument({ name: "tag", value: esc, reason: esc }).message,
      new Errors.InvalidDocument({ what: "tag list", reason: esc }).message,
      new Errors.UnexpectedResponse({ ...request, status: 200, reason: esc }).message,
      new Errors.NotFound({ ...request, what: `manifest ${esc}` }).message,
      new Errors.DigestMismatch({ what: "layer", expected: esc, actual: esc }).message,
      new Errors.TarSumMismatch({ what: "layer", expected: esc, actual: esc }).message,
      new Errors.CorruptArchive({ reason: esc, offset: 0 }).message,
      new Errors.InvalidChallenge({ header: esc, reason: esc }).message,
      new Errors.ConnectionFailed({ ...request, reason: esc }).message,
      new Errors.RateLimited({ ...request, detail: esc }).message,
      new Errors.LoginRequired({ ...request, detail: esc }).message
    ]
    for (const message of messages) {
      expect([message, /[\u0000-\u001f\u007f-\u009f]/.test(message)]).toEqual([message, false])
      expect(message).not.toContain("SECRET")
    }
    expect(messages[0]).toBe(
      "bad\\x1b]0;pwned\\x07 (GET https://registry.example/v2/ → HTTP 500): body\\x1b]0;pwned\\x07"
    )
  })
})

describe("Errors with URLs", () => {
  it("never show a password in a message", () => {
    const messages = [
      new Errors.HttpStatusError({ ...request, status: 500, detail: "Unexpected status code 500", body: "" }).message,
      new Errors.MissingEndpoints(request).message,
      new Errors.TooManyRedirects({ ...request, hops: 10 }).message,
      new Errors.RedirectRefused({ ...request, location: "http://u:SECRET@other/", reason: "downgrade" }).message,
      new Errors.RetriesExhausted({ ...request, attempts: 3, lastStatus: 503, reason: "" }).message,
      new Errors.InsecureAuthRefused(request).message,
      new Errors.BodyTooLarge({ ...request, limit: 1 }).message,
      new Errors.NetworkTimeout({ ...request, phase: "headers" }).message,
      new Errors.InvalidEndpoint({ input: "https://u:SECRET@host/v2/", reason: "unsupported V1 version path v2" })
        .message,
      new Errors.InvalidEndpoint({ input: "u:SECRET@host:bad", reason: "the address is not a valid URL" }).message
    ]
    for (const message of messages) {
      expect(message).not.toContain("SECRET")
    }
  })

  it.effect("V1Endpoint.fromAddress stores and shows the address without its user-info", () =>
    Effect.gen(function*() {
      const v2 = yield* Effect.flip(V1Endpoint.fromAddress("https://u:SECRET@host/v2/"))
      expect([v2._tag, v2.input, v2.reason]).toEqual([
        "InvalidEndpoint",
        "https://host/v2/",
        "unsupported V1 version path v2"
      ])
      expect(v2.message).toBe("invalid endpoint \"https://host/v2/\": unsupported V1 version path v2")
      expect(JSON.stringify(v2)).not.toContain("SECRET")
      const badPort = yield* Effect.flip(V1Endpoint.fromAddress("u:SECRET@host:bad"))
      expect([badPort.input, badPort.reason]).toEqual(["host:bad", "the address is not a valid URL"])
      expect(badPort.message).not.toContain("SECRET")
      expect(JSON.stringify(badPort)).not.toContain("SECRET")
      const noHost = yield* Effect.flip(V1Endpoint.fromAddress("http://u:SECRET@/x"))
      expect(JSON.stringify(noHost)).not.toContain("SECRET")
      expect(noHost.message).not.toContain("SECRET")
    }))
})
