/**
 * Text output helpers of the `dockside` command: aligned tables, short image ids,
 * human sizes and JSON documents.
 *
 * @since 0.1.0
 */

/** Space between two table columns. */
const gap = "   "

/**
 * Control characters, bidirectional controls and line or paragraph separators (from the
 * network) as spaces, so a cell cannot move the cursor, reorder text or break a row. Other
 * format characters stay: joiners are part of emoji and of words in some scripts.
 */
const printable = (text: string): string =>
  text.replace(/[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]+/gu, " ")

/**
 * Render a header and rows as aligned columns (the header first, columns separated by
 * three spaces, no trailing white space), like Docker's `tabwriter` tables. Control
 * characters in cells are shown as spaces.
 */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const all = [header, ...rows].map((row) => header.map((_, column) => printable(row[column] ?? "")))
  const widths = header.map((_, column) => Math.max(...all.map((row) => row[column]!.length)))
  return all.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join(gap).trimEnd()).join("\n")
}

/** Label/value lines with the values aligned (control characters in values shown as spaces). */
export const fields = (entries: ReadonlyArray<readonly [label: string, value: string]>): string => {
  const width = Math.max(...entries.map(([label]) => label.length)) + 1
  return entries.map(([label, value]) => `${`${label}:`.padEnd(width)} ${printable(value)}`.trimEnd()).join("\n")
}

/** One item a line (control characters in items shown as spaces: an item is one line). */
export const lines = (items: ReadonlyArray<string>): string => items.map(printable).join("\n")

/** The 12-character short form of an image id, as `docker images` shows it. */
export const shortId = (id: string): string => id.slice(0, 12)

const units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"] as const

/**
 * A byte count in decimal units with four significant digits (`152 B`, `1.53 kB`), as
 * Docker's `units.HumanSize` prints it; a negative size (unknown) is `?`.
 */
export const humanSize = (bytes: number): string => {
  if (bytes < 0) return "?"
  let value = bytes
  let unit = 0
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000
    unit++
  }
  return `${Number(value.toPrecision(4))} ${units[unit]}`
}

/** Text cut to `max` characters, the last three replaced by `...` when cut (Docker's `Ellipsis`). */
export const truncate = (text: string, max: number): string => text.length > max ? `${text.slice(0, max - 3)}...` : text

/** A JSON document for `--json` output, indented by two spaces. */
export const json = (value: unknown): string => JSON.stringify(value, null, 2)
