/**
 * The short usage text printed after a usage error: the usage line of the command named
 * on the command line, every line of the group named (`dockside v1 --bogus`), or every
 * line of every command.
 *
 * @since 0.1.0
 */
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Usage from "@effect/cli/Usage"

/** A command with its usage line, or a group of commands under a name. */
export type Entry =
  | { readonly _tag: "Command"; readonly name: string; readonly line: string }
  | { readonly _tag: "Group"; readonly name: string; readonly children: ReadonlyArray<Entry> }

/** A command, from its usage (`Command.getUsage`); its name is the line's first word. */
export const command = (usage: Usage.Usage): Entry => {
  const line = HelpDoc.toAnsiText(Usage.getHelp(usage)).trim()
  return { _tag: "Command", name: line.split(" ")[0]!, line }
}

/** A group of subcommands. */
export const group = (name: string, children: ReadonlyArray<Usage.Usage>): Entry => ({
  _tag: "Group",
  name,
  children: children.map(command)
})

/** Every usage line under an entry, each prefixed with the names of the groups above it. */
const expand = (entry: Entry, prefix: string): ReadonlyArray<string> =>
  entry._tag === "Command"
    ? [`${prefix}${entry.line}`]
    : entry.children.flatMap((child) => expand(child, `${prefix}${entry.name} `))

/** The lines of the first entry named in `words` (descending into groups), or of all entries. */
const select = (entries: ReadonlyArray<Entry>, words: ReadonlyArray<string>, prefix: string): ReadonlyArray<string> => {
  const at = words.findIndex((word) => entries.some((entry) => entry.name === word))
  const entry = entries.find((candidate) => candidate.name === words[at])
  if (entry === undefined) return entries.flatMap((candidate) => expand(candidate, prefix))
  return entry._tag === "Command"
    ? expand(entry, prefix)
    : select(entry.children, words.slice(at + 1), `${prefix}${entry.name} `)
}

/** The usage text for `process.argv`-style arguments (the first two are the runtime and the script). */
export const render = (program: string, entries: ReadonlyArray<Entry>, argv: ReadonlyArray<string>): string =>
  `Usage:\n${select(entries, argv.slice(2), "").map((line) => `  ${program} ${line}`).join("\n")}\n` +
  `Run "${program} --help" for details.`
