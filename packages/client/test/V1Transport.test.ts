import * as V1Transport from "@dockside/client/V1Transport"
import { describe, expect, it } from "@effect/vitest"

describe("V1Transport", () => {
  it("isTrusted follows TestTrustedLocation (spec §2)", () => {
    for (
      const url of [
        "http://example.com",
        "https://example.com:7777",
        "http://docker.io",
        "http://test.docker.com",
        "https://fakedocker.com"
      ]
    ) {
      expect(V1Transport.isTrusted(new URL(url)), url).toBe(false)
    }
    for (const url of ["https://docker.io", "https://test.docker.com:80"]) {
      expect(V1Transport.isTrusted(new URL(url)), url).toBe(true)
    }
  })

  it("credentials go over https always, over http only to loopback or insecure hosts", () => {
    const loopbackOnly = { hosts: [], loopback: true }
    expect(V1Transport.mayCarryCredentials(new URL("https://registry.example.com/v1/"), loopbackOnly)).toBe(true)
    expect(V1Transport.mayCarryCredentials(new URL("http://registry.example.com/v1/"), loopbackOnly)).toBe(false)
    expect(
      V1Transport.mayCarryCredentials(new URL("http://registry.example.com:5000/v1/"), {
        hosts: ["registry.example.com:5000"],
        loopback: true
      })
    ).toBe(true)
    expect(
      V1Transport.mayCarryCredentials(new URL("http://registry.example.com:5000/v1/"), {
        hosts: ["other:5000"],
        loopback: true
      })
    ).toBe(false)
    for (const host of ["127.0.0.1:5000", "127.1.2.3", "localhost:5000", "[::1]:5000"]) {
      expect(V1Transport.mayCarryCredentials(new URL(`http://${host}/v1/`), loopbackOnly), host).toBe(true)
      expect(V1Transport.mayCarryCredentials(new URL(`http://${host}/v1/`), { hosts: [], loopback: false }), host)
        .toBe(false)
    }
  })
})
