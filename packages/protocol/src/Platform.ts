/**
 * Platforms (`os/architecture[/variant]`) as image indexes describe them: the wire
 * schema, parsing and printing, normalisation the way containerd does it, matching, and
 * choosing the best manifest of an index for a wanted platform.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Errors from "./Errors.js"

/** The `platform` object of an index entry, with its exact JSON names. */
export const Platform = Schema.Struct({
  os: Schema.String,
  architecture: Schema.String,
  variant: Schema.optionalWith(Schema.String, { exact: true }),
  "os.version": Schema.optionalWith(Schema.String, { exact: true }),
  "os.features": Schema.optionalWith(Schema.Array(Schema.String), { exact: true })
}).annotations({ identifier: "Platform" })
/** @see {@link Platform} */
export type Platform = typeof Platform.Type

const specifier = /^[A-Za-z0-9_-]+$/

/** A platform with only the given parts; `variant` is left out when empty or absent. */
const make = (os: string, architecture: string, variant: string | undefined): Platform =>
  variant === undefined || variant === "" ? { os, architecture } : { os, architecture, variant }

const normalizeOs = (os: string): string => {
  const lower = os.toLowerCase()
  return lower === "macos" ? "darwin" : lower
}

const normalizeArchitecture = (architecture: string, variant: string): readonly [string, string] => {
  switch (architecture) {
    case "x86_64":
    case "x86-64":
    case "amd64":
      return ["amd64", variant === "v1" ? "" : variant]
    case "i386":
      return ["386", ""]
    case "aarch64":
    case "arm64":
      switch (variant) {
        case "8":
        case "v8":
        case "v8.0":
          return ["arm64", ""]
        case "9":
        case "9.0":
        case "v9.0":
          return ["arm64", "v9"]
        default:
          return ["arm64", variant]
      }
    case "armhf":
      return ["arm", "v7"]
    case "armel":
      return ["arm", "v6"]
    case "arm":
      switch (variant) {
        case "":
        case "7":
          return ["arm", "v7"]
        case "5":
        case "6":
        case "8":
          return ["arm", `v${variant}`]
        default:
          return ["arm", variant]
      }
    default:
      return [architecture, variant]
  }
}

/**
 * Normalise a platform as containerd does: lower-case everything, `macos` → `darwin`,
 * `x86_64`/`x86-64` → `amd64` (variant `v1` dropped), `i386` → `386`, `aarch64` →
 * `arm64` (variant `v8` dropped: it is arm64's default), `armhf` → `arm/v7`, `armel` →
 * `arm/v6`, `arm` without variant → `arm/v7`, bare variant numbers get their `v`.
 * `os.version` and `os.features` are kept as they are.
 */
export const normalize = (platform: Platform): Platform => {
  const [architecture, variant] = normalizeArchitecture(
    platform.architecture.toLowerCase(),
    (platform.variant ?? "").toLowerCase()
  )
  const base = make(normalizeOs(platform.os), architecture, variant)
  return {
    ...base,
    ...(platform["os.version"] === undefined ? {} : { "os.version": platform["os.version"] }),
    ...(platform["os.features"] === undefined ? {} : { "os.features": platform["os.features"] })
  }
}

/**
 * Parse `os/architecture[/variant]` (e.g. `linux/arm64`, `linux/arm/v7`) and
 * {@link normalize} it. Each part is letters, digits, `_` or `-`.
 */
export const parse = (input: string): Effect.Effect<Platform, Errors.InvalidArgument> => {
  const parts = input.split("/")
  const fail = (reason: string): Effect.Effect<never, Errors.InvalidArgument> =>
    Effect.fail(new Errors.InvalidArgument({ name: "platform", value: input, reason }))
  if (parts.length < 2 || parts.length > 3) {
    return fail("a platform is os/architecture or os/architecture/variant, e.g. linux/amd64 or linux/arm/v7")
  }
  const bad = parts.find((part) => !specifier.test(part))
  if (bad !== undefined) {
    return fail(
      bad === "" ? "a platform part cannot be empty" : `"${bad}" may hold only letters, digits, _ and -`
    )
  }
  const [os = "", architecture = "", variant] = parts
  return Effect.succeed(normalize(make(os, architecture, variant)))
}

/** Print a platform as `os/architecture[/variant]` (`os.version` and features are not printed). */
export const format = (platform: Platform): string =>
  platform.variant === undefined || platform.variant === ""
    ? `${platform.os}/${platform.architecture}`
    : `${platform.os}/${platform.architecture}/${platform.variant}`

/**
 * Older variants a wanted variant can also run, best first, per architecture (after
 * normalisation, so `""` is amd64's `v1` and arm64's `v8`), as containerd's matcher
 * orders them: amd64 `v4` → `v3` → `v2` → `v1`, arm64 `v9` → `v8`, 32-bit arm `v8` →
 * `v7` → `v6` → `v5`.
 */
const variantFallbacks: Readonly<Record<string, Readonly<Record<string, ReadonlyArray<string>>>>> = {
  amd64: {
    v4: ["v3", "v2", ""],
    v3: ["v2", ""],
    v2: [""]
  },
  arm64: {
    v9: [""]
  },
  arm: {
    v8: ["v7", "v6", "v5"],
    v7: ["v6", "v5"],
    v6: ["v5"]
  }
}

const fallbacks = (architecture: string, variant: string): ReadonlyArray<string> => {
  const byVariant = Object.hasOwn(variantFallbacks, architecture) ? variantFallbacks[architecture] : undefined
  return byVariant !== undefined && Object.hasOwn(byVariant, variant) ? byVariant[variant] ?? [] : []
}

/**
 * How well `candidate` fits `wanted`, after normalising both: 0 is an exact match, a
 * higher number an older variant, `undefined` no fit.
 */
const rank = (wanted: Platform, candidate: Platform): number | undefined => {
  const w = normalize(wanted)
  const c = normalize(candidate)
  if (w.os !== c.os || w.architecture !== c.architecture) return undefined
  const wantedVariant = w.variant ?? ""
  const candidateVariant = c.variant ?? ""
  if (wantedVariant === candidateVariant) return 0
  const index = fallbacks(w.architecture, wantedVariant).indexOf(candidateVariant)
  return index === -1 ? undefined : index + 1
}

/**
 * Whether an image built for `candidate` runs where `wanted` is asked for. Both are
 * normalised first, so `linux/aarch64` matches `linux/arm64/v8` and `linux/arm` matches
 * `linux/arm/v7`. Operating system and architecture must be equal; the variant too,
 * except that a variant also accepts older ones of its architecture, as containerd
 * does: amd64 `v4` accepts `v3`, `v2` and `v1` (no variant), `v3` accepts `v2` and `v1`,
 * `v2` accepts `v1`; arm64 `v9` accepts `v8` (no variant); 32-bit arm `v7` accepts `v6`
 * and `v5`, `v8` accepts `v7`, `v6` and `v5`. `os.version` and `os.features` are not
 * compared.
 */
export const matches = (wanted: Platform, candidate: Platform): boolean => rank(wanted, candidate) !== undefined

/**
 * Choose the entry of an index that best fits `wanted`: an exact match (after
 * normalisation) first, then the newest older variant; on a tie, the first entry in
 * index order. Entries without a platform never match.
 */
export const select = <D extends { readonly platform?: Platform }>(
  wanted: Platform,
  manifests: ReadonlyArray<D>
): Option.Option<D> => {
  let best: { readonly entry: D; readonly rank: number } | undefined
  for (const entry of manifests) {
    const r = entry.platform === undefined ? undefined : rank(wanted, entry.platform)
    if (r !== undefined && (best === undefined || r < best.rank)) best = { entry, rank: r }
  }
  return Option.fromNullable(best?.entry)
}

const nodeOs: Readonly<Record<string, string>> = {
  win32: "windows",
  cygwin: "windows",
  sunos: "solaris"
}

/**
 * The platform of a Node.js process, from its `process.platform` and `process.arch`
 * (and, on 32-bit arm, `process.config.variables.arm_version`), passed in so that this
 * module stays free of globals. Node's names become OCI's (`win32` → `windows`, `x64` →
 * `amd64`, `ia32` → `386`, `mipsel` → `mipsle`, `ppc64` → `ppc64le` except on AIX);
 * unknown names pass through. The result is {@link normalize}d.
 */
export const host = (nodePlatform: string, nodeArch: string, armVersion?: string): Platform => {
  const os = nodeOs[nodePlatform] ?? nodePlatform
  switch (nodeArch) {
    case "x64":
      return normalize(make(os, "amd64", undefined))
    case "ia32":
      return normalize(make(os, "386", undefined))
    case "mipsel":
      return normalize(make(os, "mipsle", undefined))
    case "ppc64":
      return normalize(make(os, os === "aix" ? "ppc64" : "ppc64le", undefined))
    case "arm":
      return normalize(make(os, "arm", armVersion))
    default:
      return normalize(make(os, nodeArch, undefined))
  }
}
