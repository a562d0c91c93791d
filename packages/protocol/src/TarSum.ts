/**
 * TarSum, the v1 layer checksum, bit-exact with Docker 17.03 (`pkg/tarsum`).
 *
 * A TarSum hashes selected header fields plus the data of every entry of a tar archive,
 * then hashes the sorted entry sums (after an optional "extra" prefix, the image JSON in
 * the v1 protocol). It runs as a stream transform: the archive flows through in chunks of
 * any size, the bytes flow on (optionally gzipped), and the sum is ready at the end.
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as crypto from "node:crypto"
import * as Compression from "./Compression.js"
import * as Errors from "./Errors.js"
import * as Tar from "./Tar.js"

// ---------------------------------------------------------------------------------------
// Versions and labels
// ---------------------------------------------------------------------------------------

/** The TarSum versions. Version1 and VersionDev hash the same fields. */
export type Version = "Version0" | "Version1" | "VersionDev"

/** Version → label, as in `tarsum.v1+sha256:…`. */
export const labels: Readonly<Record<Version, string>> = {
  Version0: "tarsum",
  Version1: "tarsum.v1",
  VersionDev: "tarsum.dev"
}

const versionsByLabel: ReadonlyMap<string, Version> = new Map(
  Object.entries(labels).map(([version, label]) => [label, version as Version])
)

/** The hashes a label may name (`NewTarSumForLabel`); any node hash works programmatically. */
export const labelHashes: ReadonlyArray<string> = ["sha256", "sha512"]

/** Everything before the first `+`, or `""` when there is none (`VersionLabelForChecksum`). */
export const versionLabelForChecksum = (checksum: string): string => {
  const plus = checksum.indexOf("+")
  return plus === -1 ? "" : checksum.slice(0, plus)
}

/** The version a TarSum string or label names (`GetVersionFromTarsum`). */
export const versionFromTarSum = (checksum: string): Effect.Effect<Version, Errors.InvalidTarSumLabel> => {
  const plus = checksum.indexOf("+")
  const version = versionsByLabel.get(plus === -1 ? checksum : checksum.slice(0, plus))
  return version === undefined
    ? Effect.fail(
      new Errors.InvalidTarSumLabel({ label: checksum, reason: "string does not include a TarSum Version" })
    )
    : Effect.succeed(version)
}

/** Parse a label such as `tarsum.v1+sha256` (`NewTarSumForLabel`): only sha256 and sha512. */
export const parseLabel = (
  label: string
): Effect.Effect<{ readonly version: Version; readonly hash: string }, Errors.InvalidTarSumLabel> => {
  const plus = label.indexOf("+")
  if (plus === -1) return Effect.fail(new Errors.InvalidTarSumLabel({ label, reason: "the label has no +<hash> part" }))
  const version = versionsByLabel.get(label.slice(0, plus))
  const hash = label.slice(plus + 1)
  if (version === undefined) {
    return Effect.fail(new Errors.InvalidTarSumLabel({ label, reason: "string does not include a TarSum Version" }))
  }
  if (!labelHashes.includes(hash)) {
    return Effect.fail(new Errors.InvalidTarSumLabel({ label, reason: `unknown TarSum hash "${hash}"` }))
  }
  return Effect.succeed({ version, hash })
}

/** Format the label of a version and hash: `tarsum.dev+sha256`. */
export const formatLabel = (version: Version, hash: string): string => `${labels[version]}+${hash}`

// ---------------------------------------------------------------------------------------
// Options and results
// ---------------------------------------------------------------------------------------

/**
 * Which Docker's TarSum to match. `docker-17.03` (the default) is the v1 registry era;
 * `docker-2018` hashes owner names as empty strings and cleans names with
 * `Join(".", Join("/", name))`, as the classic builder cache did from 2018 on.
 */
export type Compatibility = "docker-17.03" | "docker-2018"

/** How to compute a TarSum. */
export interface Options {
  /** Default `Version0`. */
  readonly version?: Version
  /** Any hash node:crypto offers (`md5`, `sha1`, `sha224`, `sha256`, `sha384`, `sha512`…). Default `sha256`. */
  readonly hash?: string
  /** Gzip the bytes that flow on (the v1 layer upload does). Default false. */
  readonly gzip?: boolean
  /** Default `docker-17.03`. */
  readonly compatibility?: Compatibility
}

/** The sum of one entry. */
export interface EntrySum {
  /** The cleaned entry name used for duplicate detection (UTF-8 decoded for display). */
  readonly name: string
  /** Lower-case hex digest of the entry's header selection and data. */
  readonly sum: string
  /** 0-based position among the entries of the archive. */
  readonly pos: number
}

/** A TarSum computation in progress. */
export interface TarSum {
  readonly version: Version
  readonly hash: string
  /**
   * Run an archive through: the result stream emits the bytes that flow on (the archive
   * up to its end marker, then the two-block trailer; gzipped when asked) and fails with
   * `CorruptArchive` on bad input. Run it once.
   */
  readonly passThrough: <E, R>(
    archive: Stream.Stream<Uint8Array, E, R>
  ) => Stream.Stream<Uint8Array, E | Errors.CorruptArchive, R>
  /** The TarSum string over the entries read so far, with `extra` hashed first. */
  readonly sum: (extra?: Uint8Array) => string
  /** The entry sums read so far, in archive order. */
  readonly entries: () => ReadonlyArray<EntrySum>
}

/** The end-of-archive marker: two zero blocks. */
export const trailer: Uint8Array = new Uint8Array(2 * Tar.blockSize)

// ---------------------------------------------------------------------------------------
// Computation
// ---------------------------------------------------------------------------------------

/** Go's `path.Clean` on a byte string. */
export const cleanPath = (path: string): string => {
  if (path === "") return "."
  const rooted = path[0] === "/"
  const parts: Array<string> = []
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue
    if (part === "..") {
      if (parts.length > 0 && parts[parts.length - 1] !== "..") parts.pop()
      else if (!rooted) parts.push("..")
    } else {
      parts.push(part)
    }
  }
  const joined = parts.join("/")
  return rooted ? `/${joined}` : joined === "" ? "." : joined
}

const bookkeepingName = (name: string, compatibility: Compatibility): string =>
  compatibility === "docker-17.03" ? cleanPath(name) : cleanPath(`./${cleanPath(`/${name}`)}`)

const headerSelection = (header: Tar.Header, version: Version, compatibility: Compatibility): string => {
  const owners = compatibility === "docker-17.03"
  let text = `name${header.name}mode${header.mode}uid${header.uid}gid${header.gid}size${header.size}`
  if (version === "Version0") text += `mtime${header.mtime}`
  text += `typeflag${header.typeflag}linkname${header.linkname}uname${owners ? header.uname : ""}` +
    `gname${owners ? header.gname : ""}devmajor${header.devmajor}devminor${header.devminor}`
  if (version !== "Version0") {
    const byKey = ([a]: readonly [string, string], [b]: readonly [string, string]) => a < b ? -1 : a > b ? 1 : 0
    for (const [key, value] of [...header.xattrs].sort(byKey)) text += key + value
  }
  return text
}

/**
 * Sort entries for the final digest (`SortBySums`): by sum, but entries with the same
 * cleaned name keep their archive order. With duplicates that comparator is not a total
 * order, so the result depends on the algorithm: Go's `sort.Sort` of Go 1.6–1.18 is
 * reproduced exactly for that case.
 */
export const sortForDigest = (entries: ReadonlyArray<EntrySum>): Array<EntrySum> => {
  const list = [...entries]
  const names = new Set(list.map((entry) => entry.name))
  if (names.size === list.length) return list.sort((a, b) => a.sum < b.sum ? -1 : a.sum > b.sum ? 1 : 0)
  goSort(list, (a, b) => a.name === b.name ? a.pos < b.pos : a.sum < b.sum)
  return list
}

/** Go 1.6–1.18 `sort.Sort` (quicksort with median-of-three, heapsort fallback, shell pass + insertion sort). */
const goSort = <A>(data: Array<A>, less: (a: A, b: A) => boolean): void => {
  const lt = (i: number, j: number) => less(data[i]!, data[j]!)
  const swap = (i: number, j: number) => {
    const t = data[i]!
    data[i] = data[j]!
    data[j] = t
  }
  const insertionSort = (a: number, b: number) => {
    for (let i = a + 1; i < b; i++) for (let j = i; j > a && lt(j, j - 1); j--) swap(j, j - 1)
  }
  const siftDown = (lo: number, hi: number, first: number) => {
    let root = lo
    for (;;) {
      let child = 2 * root + 1
      if (child >= hi) return
      if (child + 1 < hi && lt(first + child, first + child + 1)) child++
      if (!lt(first + root, first + child)) return
      swap(first + root, first + child)
      root = child
    }
  }
  const heapSort = (a: number, b: number) => {
    const hi = b - a
    for (let i = Math.floor((hi - 1) / 2); i >= 0; i--) siftDown(i, hi, a)
    for (let i = hi - 1; i >= 0; i--) {
      swap(a, a + i)
      siftDown(0, i, a)
    }
  }
  const medianOfThree = (m1: number, m0: number, m2: number) => {
    if (lt(m1, m0)) swap(m1, m0)
    if (lt(m2, m1)) {
      swap(m2, m1)
      if (lt(m1, m0)) swap(m1, m0)
    }
  }
  const doPivot = (lo: number, hi: number): [number, number] => {
    const m = lo + Math.floor((hi - lo) / 2)
    if (hi - lo > 40) {
      const s = Math.floor((hi - lo) / 8)
      medianOfThree(lo, lo + s, lo + 2 * s)
      medianOfThree(m, m - s, m + s)
      medianOfThree(hi - 1, hi - 1 - s, hi - 1 - 2 * s)
    }
    medianOfThree(lo, m, hi - 1)
    const pivot = lo
    let a = lo + 1
    let c = hi - 1
    for (; a < c && lt(a, pivot); a++);
    let b = a
    for (;;) {
      for (; b < c && !lt(pivot, b); b++);
      for (; b < c && lt(pivot, c - 1); c--);
      if (b >= c) break
      swap(b, c - 1)
      b++
      c--
    }
    let protect = hi - c < 5
    if (!protect && hi - c < Math.floor((hi - lo) / 4)) {
      let dups = 0
      if (!lt(pivot, hi - 1)) {
        swap(c, hi - 1)
        c++
        dups++
      }
      if (!lt(b - 1, pivot)) {
        b--
        dups++
      }
      if (!lt(m, pivot)) {
        swap(m, b - 1)
        b--
        dups++
      }
      protect = dups > 1
    }
    if (protect) {
      for (;;) {
        for (; a < b && !lt(b - 1, pivot); b--);
        for (; a < b && lt(a, pivot); a++);
        if (a >= b) break
        swap(a, b - 1)
        a++
        b--
      }
    }
    swap(pivot, b - 1)
    return [b - 1, c]
  }
  const quickSort = (a: number, b: number, maxDepth: number): void => {
    while (b - a > 12) {
      if (maxDepth === 0) return heapSort(a, b)
      maxDepth--
      const [mlo, mhi] = doPivot(a, b)
      if (mlo - a < b - mhi) {
        quickSort(a, mlo, maxDepth)
        a = mhi
      } else {
        quickSort(mhi, b, maxDepth)
        b = mlo
      }
    }
    if (b - a > 1) {
      for (let i = a + 6; i < b; i++) if (lt(i, i - 6)) swap(i, i - 6)
      insertionSort(a, b)
    }
  }
  let depth = 0
  for (let i = data.length; i > 0; i >>= 1) depth++
  quickSort(0, data.length, depth * 2)
}

/** The final TarSum string of some entry sums. */
export const finalSum = (
  entries: ReadonlyArray<EntrySum>,
  options: { readonly version: Version; readonly hash: string; readonly extra?: Uint8Array | undefined }
): string => {
  const hash = crypto.createHash(options.hash)
  if (options.extra !== undefined) hash.update(options.extra)
  for (const entry of sortForDigest(entries)) hash.update(entry.sum, "latin1")
  return `${formatLabel(options.version, options.hash)}:${hash.digest("hex")}`
}

const availableHashes = new Set(crypto.getHashes())

/** Start a TarSum computation. Fails when the platform lacks the hash. */
export const make = (options: Options = {}): Effect.Effect<TarSum, Errors.UnsupportedHash> =>
  Effect.suspend(() => {
    const version = options.version ?? "Version0"
    const hashName = options.hash ?? "sha256"
    const compatibility = options.compatibility ?? "docker-17.03"
    if (!availableHashes.has(hashName)) return Effect.fail(new Errors.UnsupportedHash({ algorithm: hashName }))
    const entries: Array<EntrySum> = []
    let current: { hash: crypto.Hash; name: string } | undefined
    const reader = new Tar.Reader({
      entry: (header) => {
        const hash = crypto.createHash(hashName)
        hash.update(headerSelection(header, version, compatibility), "latin1")
        const name = Buffer.from(bookkeepingName(header.name, compatibility), "latin1").toString("utf8")
        current = { hash, name }
      },
      data: (bytes) => current!.hash.update(bytes),
      entryEnd: () => {
        entries.push({ name: current!.name, sum: current!.hash.digest("hex"), pos: entries.length })
        current = undefined
      }
    })
    const feed = (chunk: Chunk.Chunk<Uint8Array>): Effect.Effect<Chunk.Chunk<Uint8Array>, Errors.CorruptArchive> =>
      Effect.suspend(() => {
        const out: Array<Uint8Array> = []
        try {
          for (const bytes of chunk) if (!reader.ended) reader.write(bytes, out)
        } catch (error) {
          if (error instanceof Errors.CorruptArchive) return Effect.fail(error)
          throw error
        }
        return Effect.succeed(Chunk.unsafeFromArray(out))
      })
    const finish = Effect.suspend(() => {
      try {
        reader.end()
      } catch (error) {
        if (error instanceof Errors.CorruptArchive) return Effect.fail(error)
        throw error
      }
      return Effect.succeed(trailer)
    })
    const passThrough = <E, R>(
      archive: Stream.Stream<Uint8Array, E, R>
    ): Stream.Stream<Uint8Array, E | Errors.CorruptArchive, R> => {
      const tar = archive.pipe(
        Stream.takeWhile(() => !reader.ended),
        Stream.mapChunksEffect(feed),
        Stream.concat(Stream.fromEffect(finish))
      )
      return options.gzip === true ? tar.pipe(Compression.gzip()) : tar
    }
    return Effect.succeed<TarSum>({
      version,
      hash: hashName,
      passThrough,
      sum: (extra) => finalSum(entries, { version, hash: hashName, extra }),
      entries: () => [...entries]
    })
  })

/** The TarSum string of a whole archive (drains it; nothing is kept but the entry sums). */
export const checksum = <E, R>(
  archive: Stream.Stream<Uint8Array, E, R>,
  options: Omit<Options, "gzip"> & { readonly extra?: Uint8Array } = {}
): Effect.Effect<string, E | Errors.CorruptArchive | Errors.UnsupportedHash, R> =>
  Effect.flatMap(make(options), (tarSum) =>
    Stream.runDrain(tarSum.passThrough(archive)).pipe(
      Effect.map(() => tarSum.sum(options.extra))
    ))
