import * as InsecureRegistries from "@dockside/client/InsecureRegistries"
import { describe, expect, it } from "@effect/vitest"

describe("InsecureRegistries", () => {
  it("loopback by default; named hosts matched exactly as the URL writes its host", () => {
    const insecure = (hosts: ReadonlyArray<string>, url: string, loopback = true) =>
      InsecureRegistries.isInsecure({ hosts, loopback }, new URL(url))
    expect(insecure([], "https://127.0.0.1:5000/v2/")).toBe(true)
    expect(insecure([], "https://[::1]/v2/")).toBe(true)
    expect(insecure([], "http://localhost:5000/v2/")).toBe(true)
    expect(insecure([], "https://127.0.0.1:5000/v2/", false)).toBe(false)
    expect(insecure(["r.example:5000"], "https://r.example:5000/v2/")).toBe(true)
    expect(insecure(["r.example:5000"], "https://r.example/v2/")).toBe(false)
    expect(insecure(["r.example"], "https://r.example:443/v2/")).toBe(true)
    expect(insecure(["r.example"], "http://r.example:80/v2/")).toBe(true)
    expect(insecure(["r.example"], "https://r.example:5000/v2/")).toBe(false)
    expect(insecure(["r.example"], "https://r.example:80/v2/")).toBe(false)
    expect(insecure(["r.example:443"], "https://r.example:443/v2/")).toBe(false)
    expect(insecure(["[fd00::1]:5000"], "https://[fd00::1]:5000/v2/")).toBe(true)
    expect(InsecureRegistries.isInsecureHost({ hosts: ["r.example:5000"], loopback: true }, "r.example:5000")).toBe(
      true
    )
    expect(InsecureRegistries.isInsecureHost({ hosts: [], loopback: true }, "127.0.0.1:5000")).toBe(true)
    expect(InsecureRegistries.isInsecureHost({ hosts: [], loopback: false }, "127.0.0.1:5000")).toBe(false)
  })
})
