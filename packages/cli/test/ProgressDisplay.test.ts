import * as Progress from "@dockside/client/Progress"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as ProgressDisplay from "../src/ProgressDisplay.js"

const a = `sha256:${"a".repeat(64)}`
const b = `sha256:${"b".repeat(64)}`
const c = `sha256:${"c".repeat(64)}`

/** A writer that keeps what it was given. */
const recorder = () => {
  const written: Array<string> = []
  return { written, write: (text: string) => void written.push(text) }
}

const retry = Progress.Event.Retrying({
  method: "GET",
  url: "https://registry.example/v2/\u001b[2Jx",
  attempt: 1,
  status: 503,
  reason: "",
  delay: Duration.millis(200)
})

describe("ProgressDisplay", () => {
  it("chooses nothing with --quiet, live on a terminal, else lines", () => {
    expect(ProgressDisplay.mode(true, true)).toBe("quiet")
    expect(ProgressDisplay.mode(false, true)).toBe("live")
    expect(ProgressDisplay.mode(false, false)).toBe("lines")
  })

  it.effect("lines: one per finished blob; policy events only with verbose, control characters blanked", () =>
    Effect.gen(function*() {
      for (const verbose of [false, true]) {
        const { write, written } = recorder()
        const progress = yield* Effect.provide(
          Progress.Progress,
          ProgressDisplay.layer({ mode: "lines", verbose, write })
        )
        yield* progress.publish(Progress.Event.Started({ id: a, action: "pull", size: 10 }))
        yield* progress.publish(Progress.Event.Bytes({ id: a, done: 10, size: 10 }))
        yield* progress.publish(Progress.Event.Done({ id: a, action: "pulled" }))
        yield* progress.publish(Progress.Event.Done({ id: b, action: "skipped" }))
        yield* progress.publish(Progress.Event.Done({ id: c, action: "mounted" }))
        yield* progress.publish(retry)
        expect(written.join("")).toBe(
          "aaaaaaaaaaaa: Pulled\nbbbbbbbbbbbb: Already exists\ncccccccccccc: Mounted\n" +
            (verbose ? "retrying GET https://registry.example/v2/ [2Jx in 200ms (attempt 1 got HTTP 503)\n" : "")
        )
      }
    }))

  it.effect("quiet: nothing", () =>
    Effect.gen(function*() {
      const { write, written } = recorder()
      const progress = yield* Effect.provide(
        Progress.Progress,
        ProgressDisplay.layer({ mode: "quiet", verbose: true, write })
      )
      yield* progress.publish(Progress.Event.Done({ id: a, action: "pushed" }))
      yield* progress.publish(retry)
      expect(written).toEqual([])
    }))

  it("live: one line per blob and a totals line, redrawn in place, messages above", () => {
    const { write, written } = recorder()
    let now = 0
    const live = ProgressDisplay.makeLive(true, write, () => now)
    live.draw()
    expect(written).toEqual([])
    live.publish(Progress.Event.Started({ id: a, action: "pull", size: 2_000_000 }))
    live.publish(Progress.Event.Bytes({ id: a, done: 1_048_576, size: 2_000_000 }))
    live.publish(Progress.Event.Done({ id: b, action: "skipped" }))
    now = 1000
    live.draw()
    expect(written.pop()).toBe(
      "aaaaaaaaaaaa: Downloading    1.049 MB / 2 MB 52%\n" +
        "bbbbbbbbbbbb: Already exists\n" +
        "Total: 1.049 MB / 2 MB, 1.05 MB/s\n"
    )
    // nothing changed: nothing drawn
    live.draw()
    expect(written).toEqual([])
    live.publish(retry)
    live.publish(Progress.Event.Done({ id: a, action: "pulled" }))
    now = 2000
    live.draw()
    expect(written.pop()).toBe(
      "\x1b[3A\r\x1b[J" +
        "retrying GET https://registry.example/v2/ [2Jx in 200ms (attempt 1 got HTTP 503)\n" +
        "aaaaaaaaaaaa: Pulled         2 MB / 2 MB 100%\n" +
        "bbbbbbbbbbbb: Already exists\n" +
        "Total: 2 MB / 2 MB, 0.52 MB/s\n"
    )
  })

  it.live("live: drawn by a fiber that stops with the layer's scope, after a last drawing", () =>
    Effect.gen(function*() {
      const { write, written } = recorder()
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        ProgressDisplay.layer({ mode: "live", verbose: false, write, interval: "10 millis" }),
        scope
      )
      const progress = context.unsafeMap.get(Progress.Progress.key) as Progress.Progress["Type"]
      yield* progress.publish(Progress.Event.Started({ id: a, action: "push", size: 100 }))
      yield* Effect.sleep("50 millis")
      expect(written.join("")).toContain("aaaaaaaaaaaa: Uploading      0 B / 100 B 0%\n")
      yield* progress.publish(Progress.Event.Done({ id: a, action: "pushed" }))
      yield* Scope.close(scope, Exit.void)
      expect(written.at(-1)).toContain("aaaaaaaaaaaa: Pushed         100 B / 100 B 100%\n")
      const count = written.length
      yield* progress.publish(Progress.Event.Done({ id: b, action: "pushed" }))
      yield* Effect.sleep("50 millis")
      expect(written.length).toBe(count)
    }))
})
