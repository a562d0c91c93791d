/**
 * What the v2 transfers (`pull`, `push`, `copy`) show on standard error, as a
 * `Progress.Progress` layer chosen by the flags:
 *
 * - `live` (standard error is a terminal): one line per blob (short digest, status, bytes
 *   done / size, percent) and a totals line (bytes, MB/s: decimal units, as Docker prints
 *   sizes), redrawn in place at most every 100 ms by a fiber that ends with the command (the
 *   layer's scope), with a last drawing then;
 * - `lines` (otherwise): `<short digest>: Pulled|Pushed|Already exists|Mounted` as blobs finish;
 * - `quiet`: nothing.
 *
 * With `--verbose`, what the policies did (retries, redirects, resumed downloads) is shown
 * too. Event URLs carry no user-info; control characters are shown as spaces.
 *
 * @since 0.1.0
 */
import * as Progress from "@dockside/client/Progress"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Output from "./Output.js"

/** How progress is shown. */
export type Mode = "live" | "lines" | "quiet"

/** The mode for the flags: nothing with `--quiet`, live on a terminal, else plain lines. */
export const mode = (quiet: boolean, isTTY: boolean = process.stderr.isTTY === true): Mode =>
  quiet ? "quiet" : isTTY ? "live" : "lines"

/** How a display is made. */
export interface Settings {
  readonly mode: Mode
  /** Show retries, redirects and resumed downloads. */
  readonly verbose: boolean
  /** Where text goes (default: standard error). */
  readonly write?: ((text: string) => void) | undefined
  /** The shortest time between two drawings of the live display (default 100 ms). */
  readonly interval?: Duration.DurationInput | undefined
}

const writeStderr = (text: string): void => void process.stderr.write(text)

/** Control characters as spaces, so that nothing from the network moves the cursor. */
const printable = (text: string): string => text.replace(/\p{Cc}+/gu, " ")

/** The 12-character short form of a digest (`sha256:` left out), as Docker shows layers. */
export const shortDigest = (id: string): string => Output.shortId(id.slice(id.indexOf(":") + 1))

/** The word for a finished blob. */
export const doneWord = (action: "pushed" | "pulled" | "skipped" | "mounted"): string => {
  switch (action) {
    case "pulled":
      return "Pulled"
    case "pushed":
      return "Pushed"
    case "skipped":
      return "Already exists"
    case "mounted":
      return "Mounted"
  }
}

/** The `--verbose` line of a policy event (retry, redirect, resumed download), if it is one. */
export const policyLine = (event: Progress.Event): string | undefined => {
  switch (event._tag) {
    case "Retrying":
      return `retrying ${event.method} ${event.url} in ${Duration.format(event.delay)} (attempt ${event.attempt} got ${
        event.status === 0 ? event.reason : `HTTP ${event.status}`
      })`
    case "Redirected":
      return `redirected ${event.method} ${event.from} -> ${event.to} (${event.status})`
    case "Resumed":
      return `resuming ${event.url} at byte ${event.offset}`
    default:
      return undefined
  }
}

/** Plain lines: one per finished blob, and the policy lines with `verbose`. */
const lines = (verbose: boolean, write: (text: string) => void): Context.Tag.Service<Progress.Progress> => ({
  publish: (event) =>
    Effect.sync(() => {
      if (event._tag === "Done") return write(`${shortDigest(event.id)}: ${doneWord(event.action)}\n`)
      const line = verbose ? policyLine(event) : undefined
      if (line !== undefined) write(`${printable(line)}\n`)
    })
})

/** One blob of the live display. */
interface Row {
  readonly id: string
  size: number | undefined
  done: number
  /** Bytes move (it was started), as opposed to skipped or mounted. */
  transfer: boolean
  status: string
}

const percent = (done: number, size: number | undefined): string =>
  size === undefined || size <= 0 ? "" : `${Math.min(100, Math.floor((done / size) * 100))}%`

const sizeText = (size: number | undefined): string => size === undefined ? "?" : Output.humanSize(size)

/** The state of a live display and its drawing (pure but for the clock passed in). */
export const makeLive = (verbose: boolean, write: (text: string) => void, now: () => number = Date.now) => {
  const rows = new Map<string, Row>()
  let messages: Array<string> = []
  let drawn = 0
  let moved = 0
  let dirty = false
  const started = now()

  const row = (id: string): Row => {
    let found = rows.get(id)
    if (found === undefined) {
      found = { id, size: undefined, done: 0, transfer: false, status: "Waiting" }
      rows.set(id, found)
    }
    return found
  }

  const publish = (event: Progress.Event): void => {
    switch (event._tag) {
      case "Started": {
        const r = row(event.id)
        r.size = event.size
        r.transfer = true
        r.status = event.action === "pull" ? "Downloading" : "Uploading"
        break
      }
      case "Bytes": {
        const r = row(event.id)
        // A restarted transfer counts again from zero.
        moved += event.done >= r.done ? event.done - r.done : event.done
        r.done = event.done
        r.size ??= event.size
        r.transfer = true
        break
      }
      case "Done": {
        const r = row(event.id)
        r.status = doneWord(event.action)
        if (r.transfer && r.size !== undefined) r.done = r.size
        break
      }
      default: {
        const line = verbose ? policyLine(event) : undefined
        if (line === undefined) return
        messages.push(printable(line))
      }
    }
    dirty = true
  }

  const rowLine = (r: Row): string =>
    r.transfer
      ? `${shortDigest(r.id)}: ${r.status.padEnd(14)} ${sizeText(r.done)} / ${sizeText(r.size)} ${
        percent(r.done, r.size)
      }`.trimEnd()
      : `${shortDigest(r.id)}: ${r.status}`

  const totalsLine = (): string => {
    const transfers = [...rows.values()].filter((r) => r.transfer)
    const done = transfers.reduce((sum, r) => sum + r.done, 0)
    const size = transfers.every((r) => r.size !== undefined)
      ? transfers.reduce((sum, r) => sum + (r.size ?? 0), 0)
      : undefined
    const seconds = Math.max(now() - started, 1) / 1000
    const speed = (moved / seconds / 1e6).toFixed(2)
    return `Total: ${sizeText(done)} / ${sizeText(size)}, ${speed} MB/s`
  }

  /** Redraw over the previous drawing (when something changed, or `force`). */
  const draw = (force = false): void => {
    if (!dirty && !force) return
    dirty = false
    // Back to the first line drawn, then clear to the end of the screen.
    let out = drawn > 0 ? `\x1b[${drawn}A\r\x1b[J` : ""
    for (const message of messages) out += `${message}\n`
    messages = []
    const body = rows.size === 0 ? [] : [...[...rows.values()].map(rowLine), totalsLine()]
    for (const line of body) out += `${line}\n`
    drawn = body.length
    if (out !== "") write(out)
  }

  return { publish, draw }
}

/** The display as a `Progress` layer; the live one draws from a fiber scoped to the layer. */
export const layer = (settings: Settings): Layer.Layer<Progress.Progress> => {
  const write = settings.write ?? writeStderr
  switch (settings.mode) {
    case "quiet":
      return Layer.succeed(Progress.Progress, { publish: () => Effect.void })
    case "lines":
      return Layer.succeed(Progress.Progress, lines(settings.verbose, write))
    case "live":
      return Layer.scoped(
        Progress.Progress,
        Effect.gen(function*() {
          const live = makeLive(settings.verbose, write)
          // Finalizers run last-added first: the drawing fiber stops, then the last drawing.
          yield* Effect.addFinalizer(() => Effect.sync(() => live.draw()))
          yield* Effect.forkScoped(
            Effect.repeat(Effect.sync(() => live.draw()), Schedule.spaced(settings.interval ?? Duration.millis(100)))
          )
          return { publish: (event) => Effect.sync(() => live.publish(event)) }
        })
      )
  }
}
