import * as SingleFlight from "@dockside/client/SingleFlight"
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Ref from "effect/Ref"

/** An effect that counts its runs and ends when `gate` opens, with `gate`'s value. */
const gated = <A, E>(runs: Ref.Ref<number>, gate: Deferred.Deferred<A, E>) =>
  Effect.zipRight(Ref.update(runs, (n) => n + 1), Deferred.await(gate))

/** Wait until the effect has started `n` times. */
const started = (runs: Ref.Ref<number>, n: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < 1000 && (yield* Ref.get(runs)) < n; i++) yield* Effect.yieldNow()
    expect(yield* Ref.get(runs)).toBe(n)
  })

describe("SingleFlight", () => {
  it.effect("callers of a key that runs share its run and its result; other keys run on their own", () =>
    Effect.gen(function*() {
      const flight = SingleFlight.make<string, number, never>()
      const runs = yield* Ref.make(0)
      const gate = yield* Deferred.make<number>()
      const callers = yield* Effect.forkAll(Array.from({ length: 5 }, () => flight("a", gated(runs, gate))))
      yield* started(runs, 1)
      const other = yield* Effect.fork(flight("b", Effect.zipRight(Ref.update(runs, (n) => n + 1), Effect.succeed(7))))
      expect(yield* Fiber.join(other)).toBe(7)
      yield* Deferred.succeed(gate, 42)
      expect(yield* Fiber.join(callers)).toEqual([42, 42, 42, 42, 42])
      expect(yield* Ref.get(runs)).toBe(2)
      // Nothing is kept: a later call runs again.
      expect(yield* flight("a", Effect.succeed(1))).toBe(1)
    }))

  it.effect("a failure goes to every caller of the run", () =>
    Effect.gen(function*() {
      const flight = SingleFlight.make<string, number, string>()
      const runs = yield* Ref.make(0)
      const gate = yield* Deferred.make<number, string>()
      const callers = yield* Effect.forkAll(
        Array.from({ length: 3 }, () => Effect.either(flight("a", gated(runs, gate))))
      )
      yield* started(runs, 1)
      yield* Deferred.fail(gate, "refused")
      expect(yield* Fiber.join(callers)).toEqual([
        Either.left("refused"),
        Either.left("refused"),
        Either.left("refused")
      ])
      expect(yield* Ref.get(runs)).toBe(1)
    }))

  it.effect("when the caller running it is interrupted, a waiting caller runs it itself", () =>
    Effect.gen(function*() {
      const flight = SingleFlight.make<string, number, never>()
      const runs = yield* Ref.make(0)
      const never = yield* Deferred.make<number>()
      const first = yield* Effect.fork(flight("a", gated(runs, never)))
      yield* started(runs, 1)
      const second = yield* Effect.fork(flight("a", Effect.zipRight(Ref.update(runs, (n) => n + 1), Effect.succeed(5))))
      yield* Effect.yieldNow()
      expect(yield* Ref.get(runs)).toBe(1)
      yield* Fiber.interrupt(first)
      expect(yield* Fiber.join(second)).toBe(5)
      expect(yield* Ref.get(runs)).toBe(2)
    }))
})
