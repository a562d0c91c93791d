import * as Platform from "@dockside/protocol/Platform"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

const entry = (
  digest: string,
  platform?: Platform.Platform
) => (platform === undefined ? { digest } : { digest, platform })

describe("Platform.parse", () => {
  it.effect("parses and normalises like containerd", () =>
    Effect.gen(function*() {
      const vectors: ReadonlyArray<readonly [string, Platform.Platform]> = [
        ["linux/amd64", { os: "linux", architecture: "amd64" }],
        ["Linux/X86_64", { os: "linux", architecture: "amd64" }],
        ["linux/x86-64", { os: "linux", architecture: "amd64" }],
        ["linux/amd64/v1", { os: "linux", architecture: "amd64" }],
        ["linux/amd64/v3", { os: "linux", architecture: "amd64", variant: "v3" }],
        ["linux/i386", { os: "linux", architecture: "386" }],
        ["linux/aarch64", { os: "linux", architecture: "arm64" }],
        ["linux/arm64/v8", { os: "linux", architecture: "arm64" }],
        ["linux/arm64/8", { os: "linux", architecture: "arm64" }],
        ["linux/arm64/v9", { os: "linux", architecture: "arm64", variant: "v9" }],
        ["linux/arm", { os: "linux", architecture: "arm", variant: "v7" }],
        ["linux/arm/7", { os: "linux", architecture: "arm", variant: "v7" }],
        ["linux/arm/6", { os: "linux", architecture: "arm", variant: "v6" }],
        ["linux/arm/v5", { os: "linux", architecture: "arm", variant: "v5" }],
        ["linux/armhf", { os: "linux", architecture: "arm", variant: "v7" }],
        ["linux/armel", { os: "linux", architecture: "arm", variant: "v6" }],
        ["windows/amd64", { os: "windows", architecture: "amd64" }],
        ["macos/arm64", { os: "darwin", architecture: "arm64" }],
        ["linux/ppc64le", { os: "linux", architecture: "ppc64le" }],
        ["linux/s390x", { os: "linux", architecture: "s390x" }],
        ["linux/riscv64", { os: "linux", architecture: "riscv64" }]
      ]
      for (const [input, expected] of vectors) {
        expect([input, yield* Platform.parse(input)]).toEqual([input, expected])
      }
    }))

  it.effect("rejects malformed platforms with InvalidArgument", () =>
    Effect.gen(function*() {
      const shape = "a platform is os/architecture or os/architecture/variant, e.g. linux/amd64 or linux/arm/v7"
      const cases: ReadonlyArray<readonly [string, string]> = [
        ["", shape],
        ["linux", shape],
        ["linux/amd64/v8/extra", shape],
        ["linux/", "a platform part cannot be empty"],
        ["/amd64", "a platform part cannot be empty"],
        ["linux//v7", "a platform part cannot be empty"],
        ["linux/am d64", "\"am d64\" may hold only letters, digits, _ and -"],
        ["linux/arm/v7.1", "\"v7.1\" may hold only letters, digits, _ and -"]
      ]
      for (const [value, reason] of cases) {
        const error = yield* Effect.flip(Platform.parse(value))
        expect([error._tag, error.name, error.value, error.reason]).toEqual([
          "InvalidArgument",
          "platform",
          value,
          reason
        ])
      }
    }))
})

describe("Platform.format and normalize", () => {
  it.effect("prints os/architecture[/variant] and round-trips", () =>
    Effect.gen(function*() {
      expect(Platform.format({ os: "linux", architecture: "arm", variant: "v7" })).toBe("linux/arm/v7")
      expect(Platform.format({ os: "linux", architecture: "amd64" })).toBe("linux/amd64")
      expect(Platform.format({ os: "linux", architecture: "amd64", variant: "" })).toBe("linux/amd64")
      expect(Platform.format(yield* Platform.parse("linux/aarch64/v8"))).toBe("linux/arm64")
      expect(Platform.format(yield* Platform.parse("linux/armhf"))).toBe("linux/arm/v7")
    }))

  it("keeps os.version and os.features", () => {
    expect(
      Platform.normalize({
        os: "Windows",
        architecture: "x86_64",
        "os.version": "10.0.17763.5329",
        "os.features": ["win32k"]
      })
    ).toEqual({ os: "windows", architecture: "amd64", "os.version": "10.0.17763.5329", "os.features": ["win32k"] })
  })
})

describe("Platform.matches", () => {
  it("compares normalised platforms and lets amd64, arm64 and arm fall back to older variants", () => {
    const vectors: ReadonlyArray<readonly [Platform.Platform, Platform.Platform, boolean]> = [
      [{ os: "linux", architecture: "amd64" }, { os: "linux", architecture: "amd64" }, true],
      [{ os: "linux", architecture: "x86_64" }, { os: "Linux", architecture: "amd64" }, true],
      [{ os: "linux", architecture: "amd64" }, { os: "linux", architecture: "amd64", variant: "v3" }, false],
      [{ os: "linux", architecture: "amd64" }, { os: "windows", architecture: "amd64" }, false],
      [{ os: "linux", architecture: "arm64" }, { os: "linux", architecture: "arm64", variant: "v8" }, true],
      [{ os: "linux", architecture: "aarch64" }, { os: "linux", architecture: "arm64" }, true],
      [{ os: "linux", architecture: "arm64" }, { os: "linux", architecture: "arm", variant: "v7" }, false],
      [{ os: "linux", architecture: "arm" }, { os: "linux", architecture: "arm", variant: "v7" }, true],
      [{ os: "linux", architecture: "arm", variant: "v7" }, { os: "linux", architecture: "arm", variant: "v6" }, true],
      [{ os: "linux", architecture: "arm", variant: "v7" }, { os: "linux", architecture: "arm", variant: "v5" }, true],
      [{ os: "linux", architecture: "arm", variant: "v6" }, { os: "linux", architecture: "arm", variant: "v7" }, false],
      [{ os: "linux", architecture: "arm", variant: "v5" }, { os: "linux", architecture: "arm", variant: "v6" }, false],
      [{ os: "linux", architecture: "arm", variant: "v8" }, { os: "linux", architecture: "arm", variant: "v7" }, true],
      [{ os: "linux", architecture: "armel" }, { os: "linux", architecture: "arm", variant: "v6" }, true],
      [
        { os: "linux", architecture: "amd64", variant: "v4" },
        { os: "linux", architecture: "amd64", variant: "v3" },
        true
      ],
      [
        { os: "linux", architecture: "amd64", variant: "v4" },
        { os: "linux", architecture: "amd64", variant: "v2" },
        true
      ],
      [
        { os: "linux", architecture: "amd64", variant: "v4" },
        { os: "linux", architecture: "amd64", variant: "v1" },
        true
      ],
      [{ os: "linux", architecture: "amd64", variant: "v3" }, { os: "linux", architecture: "amd64" }, true],
      [{ os: "linux", architecture: "amd64", variant: "v2" }, { os: "linux", architecture: "amd64" }, true],
      [
        { os: "linux", architecture: "amd64", variant: "v2" },
        { os: "linux", architecture: "amd64", variant: "v3" },
        false
      ],
      [{ os: "linux", architecture: "amd64", variant: "v3" }, { os: "linux", architecture: "386" }, false],
      [
        { os: "linux", architecture: "arm64", variant: "v9" },
        { os: "linux", architecture: "arm64", variant: "v8" },
        true
      ],
      [{ os: "linux", architecture: "arm64", variant: "v9" }, { os: "linux", architecture: "arm64" }, true],
      [{ os: "linux", architecture: "arm64" }, { os: "linux", architecture: "arm64", variant: "v9" }, false],
      [
        { os: "linux", architecture: "arm64", variant: "v9" },
        { os: "linux", architecture: "arm", variant: "v7" },
        false
      ]
    ]
    for (const [wanted, candidate, expected] of vectors) {
      expect([wanted, candidate, Platform.matches(wanted, candidate)]).toEqual([wanted, candidate, expected])
    }
  })
})

describe("Platform.select", () => {
  const index = [
    entry("amd64", { os: "linux", architecture: "amd64" }),
    entry("armv6", { os: "linux", architecture: "arm", variant: "v6" }),
    entry("armv7", { os: "linux", architecture: "arm", variant: "v7" }),
    entry("arm64", { os: "linux", architecture: "arm64", variant: "v8" }),
    entry("386", { os: "linux", architecture: "386" }),
    entry("ppc64le", { os: "linux", architecture: "ppc64le" }),
    entry("attestation", { os: "unknown", architecture: "unknown" }),
    entry("no-platform")
  ]
  const pick = (
    wanted: Platform.Platform,
    manifests: ReadonlyArray<{ readonly digest: string; readonly platform?: Platform.Platform }>
  ) => Option.getOrUndefined(Option.map(Platform.select(wanted, manifests), (d) => d.digest))

  it("picks the exact match, even after an older variant", () => {
    expect(pick({ os: "linux", architecture: "amd64" }, index)).toBe("amd64")
    expect(pick({ os: "linux", architecture: "arm64" }, index)).toBe("arm64")
    expect(pick({ os: "linux", architecture: "aarch64" }, index)).toBe("arm64")
    expect(pick({ os: "linux", architecture: "arm", variant: "v7" }, index)).toBe("armv7")
    expect(pick({ os: "linux", architecture: "arm" }, index)).toBe("armv7")
    expect(pick({ os: "linux", architecture: "arm", variant: "v6" }, index)).toBe("armv6")
    expect(pick({ os: "linux", architecture: "i386" }, index)).toBe("386")
  })

  it("falls back to the newest older arm variant", () => {
    const old = [
      entry("v5", { os: "linux", architecture: "arm", variant: "v5" }),
      entry("v6", { os: "linux", architecture: "arm", variant: "v6" })
    ]
    expect(pick({ os: "linux", architecture: "arm", variant: "v7" }, old)).toBe("v6")
    expect(pick({ os: "linux", architecture: "arm", variant: "v6" }, old)).toBe("v6")
    expect(pick({ os: "linux", architecture: "arm", variant: "v5" }, old)).toBe("v5")
    expect(pick({ os: "linux", architecture: "arm", variant: "v5" }, [old[1]!])).toBeUndefined()
  })

  it("falls back to the newest older amd64 and arm64 variant, as containerd does", () => {
    const amd64 = [
      entry("v1", { os: "linux", architecture: "amd64" }),
      entry("v3", { os: "linux", architecture: "amd64", variant: "v3" }),
      entry("v2", { os: "linux", architecture: "amd64", variant: "v2" })
    ]
    expect(pick({ os: "linux", architecture: "amd64", variant: "v4" }, amd64)).toBe("v3")
    expect(pick({ os: "linux", architecture: "amd64", variant: "v3" }, amd64)).toBe("v3")
    expect(pick({ os: "linux", architecture: "amd64", variant: "v2" }, amd64)).toBe("v2")
    expect(pick({ os: "linux", architecture: "amd64" }, amd64)).toBe("v1")
    expect(pick({ os: "linux", architecture: "amd64", variant: "v4" }, [amd64[0]!])).toBe("v1")
    expect(pick({ os: "linux", architecture: "amd64" }, [amd64[1]!, amd64[2]!])).toBeUndefined()
    expect(pick({ os: "linux", architecture: "arm64", variant: "v9" }, index)).toBe("arm64")
    expect(
      pick({ os: "linux", architecture: "arm64" }, [entry("v9", { os: "linux", architecture: "arm64", variant: "v9" })])
    )
      .toBeUndefined()
  })

  it("finds nothing for an absent platform and skips entries without one", () => {
    expect(pick({ os: "linux", architecture: "s390x" }, index)).toBeUndefined()
    expect(pick({ os: "windows", architecture: "amd64" }, index)).toBeUndefined()
    expect(pick({ os: "linux", architecture: "amd64" }, [entry("none")])).toBeUndefined()
    expect(pick({ os: "linux", architecture: "amd64" }, [])).toBeUndefined()
  })

  it("takes the first of equal candidates", () => {
    const windows = [
      entry("ltsc2019", { os: "windows", architecture: "amd64", "os.version": "10.0.17763.5329" }),
      entry("ltsc2022", { os: "windows", architecture: "amd64", "os.version": "10.0.20348.2227" })
    ]
    expect(pick({ os: "windows", architecture: "amd64" }, windows)).toBe("ltsc2019")
  })
})

describe("Platform.host", () => {
  it("maps Node's process.platform and process.arch", () => {
    const vectors: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
      [["linux", "x64"], "linux/amd64"],
      [["linux", "arm64"], "linux/arm64"],
      [["darwin", "arm64"], "darwin/arm64"],
      [["win32", "x64"], "windows/amd64"],
      [["win32", "ia32"], "windows/386"],
      [["linux", "arm"], "linux/arm/v7"],
      [["linux", "arm", "6"], "linux/arm/v6"],
      [["linux", "ppc64"], "linux/ppc64le"],
      [["aix", "ppc64"], "aix/ppc64"],
      [["linux", "mipsel"], "linux/mipsle"],
      [["linux", "s390x"], "linux/s390x"],
      [["linux", "riscv64"], "linux/riscv64"],
      [["linux", "loong64"], "linux/loong64"],
      [["freebsd", "x64"], "freebsd/amd64"],
      [["sunos", "x64"], "solaris/amd64"]
    ]
    for (const [[platform = "", arch = "", armVersion], expected] of vectors) {
      expect([platform, arch, Platform.format(Platform.host(platform, arch, armVersion))]).toEqual([
        platform,
        arch,
        expected
      ])
    }
    expect(Platform.host("linux", "arm", "6")).toEqual({ os: "linux", architecture: "arm", variant: "v6" })
  })
})
