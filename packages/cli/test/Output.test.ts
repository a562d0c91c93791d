import { describe, expect, it } from "@effect/vitest"
import * as Output from "../src/Output.js"

describe("Output", () => {
  it("aligns table columns, without trailing spaces, and shows control characters as spaces", () => {
    expect(Output.table(["A", "LONG HEADER", "C"], [["wide cell", "x", ""], ["b\u001b[2J\r\nc", "", "z"]])).toBe(
      "A           LONG HEADER   C\n" +
        "wide cell   x\n" +
        "b [2J c                   z"
    )
    expect(Output.table(["NAME", "STARS"], [])).toBe("NAME   STARS")
  })

  it("prints a list one item a line, an item's control characters as spaces (a tag cannot fake a line)", () => {
    expect(Output.lines(["v1\u001b[2J\u001b]0;TITLE\u0007\nLogin Succeeded", "v2\u202eevil\u2028x", "👩\u200d💻"]))
      .toBe(
        "v1 [2J ]0;TITLE Login Succeeded\nv2 evil x\n👩\u200d💻"
      )
  })

  it("prints label/value fields aligned", () => {
    expect(Output.fields([["Version", "0.9.1"], ["Standalone", "false"]])).toBe("Version:    0.9.1\nStandalone: false")
  })

  it("prints sizes as Docker's HumanSize does, unknown as ?", () => {
    expect([0, 152, 999, 1000, 1530, 12_345_678, 1e15, -1].map(Output.humanSize)).toEqual([
      "0 B",
      "152 B",
      "999 B",
      "1 kB",
      "1.53 kB",
      "12.35 MB",
      "1 PB",
      "?"
    ])
  })

  it("truncates with ... and shortens ids to 12 characters", () => {
    expect(Output.truncate("a".repeat(46), 45)).toBe(`${"a".repeat(42)}...`)
    expect(Output.truncate("a".repeat(45), 45)).toBe("a".repeat(45))
    expect(Output.shortId("42d718c941f5c532ac049bf0b0ab53f0062f09a03afd4aa4a02c098e46032b9d")).toBe("42d718c941f5")
  })
})
