import * as Identifiers from "@dockside/protocol/Identifiers"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"

describe("Identifiers", () => {
  it.effect("accepts a 64-hex image id and explains a bad one", () =>
    Effect.gen(function*() {
      const id = "a".repeat(64)
      expect(yield* Identifiers.parseImageId(id)).toBe(id)
      const error = yield* Effect.flip(Identifiers.parseImageId("../x"))
      expect(error._tag).toBe("InvalidArgument")
      expect(error.message).toContain("64 lower-case hexadecimal")
    }))
})
