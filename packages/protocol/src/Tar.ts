/**
 * A streaming tar reader that sees each entry the way Go's `archive/tar` (Go 1.5–1.7, the
 * toolchains of Docker 1.10–17.03) does: header checksum, octal and base-256 numbers,
 * ustar / old-GNU / star / V7 headers, PAX `x` records, GNU long names and links, and the
 * end-of-archive rules. TarSum is built on it.
 *
 * Text fields (names, link names, owner names, PAX values) are byte strings held as
 * latin1 strings: one character per byte, so nothing is lost to UTF-8 decoding.
 *
 * @since 0.1.0
 */
import * as Errors from "./Errors.js"

/** Size of a tar block. */
export const blockSize = 512

/** Longest PAX or GNU long-name record set the reader buffers (1 MiB). */
export const maxMetaSize = 1024 * 1024

/** One entry header, after PAX records and GNU long names were applied. */
export interface Header {
  /** Name bytes (latin1), with the ustar prefix joined. */
  readonly name: string
  readonly mode: bigint
  readonly uid: bigint
  readonly gid: bigint
  /** The size field (after a PAX `size` override); the data length may differ, see {@link dataLength}. */
  readonly size: bigint
  /** Modification time in whole seconds since the epoch. */
  readonly mtime: bigint
  /** The raw typeflag byte as a one-character string (`"\0"` stays `"\0"`). */
  readonly typeflag: string
  readonly linkname: string
  readonly uname: string
  readonly gname: string
  readonly devmajor: bigint
  readonly devminor: bigint
  /** `SCHILY.xattr.*` records (the last of a repeated key wins), prefix removed; values are bytes (latin1). */
  readonly xattrs: ReadonlyArray<readonly [key: string, value: string]>
}

/** Typeflags whose entries carry no data even when their size field is not zero. */
const headerOnly = new Set(["1", "2", "3", "4", "5", "6"])

/** How many data bytes follow a header in the archive. */
export const dataLength = (header: Header): number => headerOnly.has(header.typeflag) ? 0 : Number(header.size)

/** What the reader reports, in archive order. */
export interface Visitor {
  /** A new entry starts. */
  readonly entry: (header: Header) => void
  /** A piece of the current entry's data (a view into the input chunk: copy it to keep it). */
  readonly data: (bytes: Uint8Array) => void
  /** The current entry's data is complete. */
  readonly entryEnd: () => void
}

interface Latin1Slicer {
  readonly latin1Slice: (this: Uint8Array, start: number, end: number) => string
}
const latin1Slice = (Buffer.prototype as unknown as Latin1Slicer).latin1Slice

/** The bytes of a field up to its first NUL, as a latin1 string. */
const latin1 = (bytes: Uint8Array, start: number, end: number): string => {
  let stop = start
  while (stop < end && bytes[stop] !== 0) stop++
  return latin1Slice.call(bytes, start, stop)
}

const isZeroBlock = (block: Uint8Array, start: number): boolean => {
  for (let i = start; i < start + blockSize; i++) if (block[i] !== 0) return false
  return true
}

/** Result of decoding a numeric field: the value or the reason it is invalid. */
type Numeric = bigint | string

const isTrimmed = (c: number | undefined): boolean => c === 0x20 || c === 0

/** Go's `parseOctal`: trim spaces and NULs, stop at a NUL, parse octal digits; empty is 0. */
const parseOctal = (block: Uint8Array, start: number, length: number): Numeric => {
  let from = start
  let to = start + length
  while (from < to && isTrimmed(block[from])) from++
  while (to > from && isTrimmed(block[to - 1])) to--
  // A field is at most 12 bytes: 11 octal digits fit a double exactly.
  let value = 0
  for (let i = from; i < to; i++) {
    const digit = block[i]! - 0x30
    if (digit < 0 || digit > 7) return `invalid octal number "${latin1Slice.call(block, from, to)}"`
    value = value * 8 + digit
  }
  return BigInt(value)
}

const maxInt64 = (1n << 63n) - 1n

/** Go's `parseNumeric`: base-256 two's complement when the high bit is set, otherwise octal. */
const parseNumeric = (block: Uint8Array, start: number, length: number): Numeric => {
  const first = block[start]!
  if ((first & 0x80) === 0) return parseOctal(block, start, length)
  const inv = (first & 0x40) !== 0 ? 0xff : 0
  let x = 0n
  for (let i = 0; i < length; i++) {
    let c = block[start + i]! ^ inv
    if (i === 0) c &= 0x7f
    if (x >> 56n > 0n) return "base-256 number overflows 64 bits"
    x = (x << 8n) | BigInt(c)
  }
  if (x >> 63n > 0n) return "base-256 number overflows 64 bits"
  return inv === 0xff ? -x - 1n : x
}

const decimal = /^[+-]?[0-9]+$/

const parseDecimal = (key: string, value: string): Numeric => {
  if (!decimal.test(value)) return `PAX record ${key} is not a decimal number: "${value}"`
  const n = BigInt(value)
  return n > maxInt64 || n < -maxInt64 - 1n ? `PAX record ${key} overflows 64 bits` : n
}

const parsePaxTime = (value: string): Numeric => {
  const dot = value.indexOf(".")
  const seconds = dot === -1 ? value : value.slice(0, dot)
  if (dot !== -1 && !/^[0-9]*$/.test(value.slice(dot + 1))) return `invalid PAX time "${value}"`
  return parseDecimal("mtime", seconds)
}

/** PAX records of one `x` header, in archive order. */
type PaxRecords = ReadonlyArray<readonly [key: string, value: string]>

const parsePax = (data: string): PaxRecords | string => {
  const records: Array<readonly [string, string]> = []
  let rest = data
  while (rest.length > 0) {
    const space = rest.indexOf(" ")
    if (space === -1) return "PAX record without a length"
    const n = /^[0-9]+$/.test(rest.slice(0, space)) ? Number(rest.slice(0, space)) : Number.NaN
    if (!(n >= 5) || rest.length < n) return "PAX record with a bad length"
    if (rest[n - 1] !== "\n") return "PAX record does not end with a newline"
    const record = rest.slice(space + 1, n - 1)
    const eq = record.indexOf("=")
    if (eq === -1) return "PAX record without ="
    records.push([record.slice(0, eq), record.slice(eq + 1)])
    rest = rest.slice(n)
  }
  return records
}

const xattrPrefix = "SCHILY.xattr."

/** Internal signal: thrown by the reader, turned into a `CorruptArchive` failure by callers. */
const corrupt = (reason: string, offset: number): Errors.CorruptArchive => new Errors.CorruptArchive({ reason, offset })

/** What the reader is waiting for. */
type State = "header" | "secondZeroBlock" | "data" | "meta" | "padding" | "end"

/** Pending GNU long name / link and PAX records waiting for their entry. */
interface Pending {
  longName?: string
  longLink?: string
  /** Set after an `x` header: the next header is taken as is (Go 1.7 reads it raw). */
  pax?: PaxRecords
}

/**
 * A push parser: feed it chunks of any size with {@link Reader.write}, then call
 * {@link Reader.end}. It throws {@link Errors.CorruptArchive} on bad input (callers
 * turn that into a failure); it holds at most one header block and one PAX or long-name
 * record set, never entry data.
 */
export class Reader {
  private state: State = "header"
  private readonly block = new Uint8Array(blockSize)
  private blockFill = 0
  private remaining = 0
  private padding = 0
  private meta: Array<Uint8Array> = []
  private metaType = ""
  private pending: Pending = {}
  /** Bytes consumed so far: the offset reported in errors. */
  offset = 0

  constructor(private readonly visitor: Visitor) {}

  /** True once the end-of-archive marker was read; later input is ignored. */
  get ended(): boolean {
    return this.state === "end"
  }

  /**
   * Consume a chunk. When `out` is given, the bytes that belong to the archive are pushed
   * to it as views of `chunk` (or copies of header blocks that straddled chunks); the
   * end-of-archive zero blocks and anything after them are left out.
   */
  write(chunk: Uint8Array, out?: Array<Uint8Array>): void {
    let pos = 0
    let runStart = 0
    const flush = (end: number) => {
      if (out !== undefined && end > runStart) out.push(chunk.subarray(runStart, end))
    }
    while (pos < chunk.length && this.state !== "end") {
      switch (this.state) {
        case "header":
        case "secondZeroBlock": {
          let block: Uint8Array
          let start: number
          if (this.blockFill === 0 && chunk.length - pos >= blockSize) {
            block = chunk
            start = pos
            pos += blockSize
            this.offset += blockSize
          } else {
            if (this.blockFill === 0) flush(pos)
            const n = Math.min(blockSize - this.blockFill, chunk.length - pos)
            this.block.set(chunk.subarray(pos, pos + n), this.blockFill)
            this.blockFill += n
            pos += n
            this.offset += n
            runStart = pos
            if (this.blockFill < blockSize) break
            this.blockFill = 0
            block = this.block
            start = 0
          }
          if (isZeroBlock(block, start)) {
            if (block === chunk) flush(start)
            runStart = pos
            if (this.state === "secondZeroBlock") {
              this.state = "end"
            } else {
              this.state = "secondZeroBlock"
            }
            break
          }
          if (this.state === "secondZeroBlock") {
            throw corrupt("a zero block followed by a non-zero block", this.offset - blockSize)
          }
          if (block !== chunk && out !== undefined) out.push(this.block.slice())
          this.header(block, start)
          break
        }
        case "data":
        case "meta": {
          const n = Math.min(this.remaining, chunk.length - pos)
          const piece = chunk.subarray(pos, pos + n)
          if (this.state === "data") this.visitor.data(piece)
          else this.meta.push(piece.slice())
          pos += n
          this.offset += n
          this.remaining -= n
          if (this.remaining === 0) this.afterData()
          break
        }
        case "padding": {
          const n = Math.min(this.padding, chunk.length - pos)
          pos += n
          this.offset += n
          this.padding -= n
          if (this.padding === 0) this.state = "header"
          break
        }
      }
    }
    if (this.state !== "header" || this.blockFill === 0) flush(this.state === "end" ? runStart : pos)
  }

  /** The input ended: checks that it ended at an allowed place. */
  end(): void {
    // Like Go 1.7, a PAX or long-name record left without its entry is not an error.
    const atBoundary = this.blockFill === 0 &&
      (this.state === "end" || this.state === "header" || this.state === "secondZeroBlock")
    if (!atBoundary) throw corrupt("unexpected end of archive", this.offset)
  }

  private header(block: Uint8Array, start: number): void {
    const at = this.offset - blockSize
    const given = parseOctal(block, start + 148, 8)
    // The checksum field counts as 8 spaces; signed sum = unsigned sum - 256 per high byte.
    let unsigned = 8 * 0x20
    let high = 0
    for (let i = start; i < start + blockSize; i++) {
      if (i === start + 148) i += 8
      const c = block[i]!
      unsigned += c
      high += c >> 7
    }
    const signed = unsigned - 256 * high
    if (typeof given === "string" || (given !== BigInt(unsigned) && given !== BigInt(signed))) {
      throw corrupt("header checksum mismatch", at)
    }
    const numeric = (offset: number, length: number, field: string): bigint => {
      const value = parseNumeric(block, start + offset, length)
      if (typeof value === "string") throw corrupt(`${field}: ${value}`, at)
      return value
    }
    const typeflag = String.fromCharCode(block[start + 156]!)
    const magic = latin1(block, start + 257, start + 263)
    const gnu = latin1Slice.call(block, start + 257, start + 265) === "ustar  \0"
    const star = !gnu && magic === "ustar" && latin1(block, start + 508, start + 512) === "tar"
    const ustarLike = gnu || magic === "ustar"
    const device = ustarLike && (typeflag === "3" || typeflag === "4")
    let name = latin1(block, start, start + 100)
    if (ustarLike) {
      const prefix = latin1(block, start + 345, start + (star ? 476 : 500))
      if (prefix.length > 0) name = `${prefix}/${name}`
    }
    let header: {
      -readonly [K in keyof Header]: Header[K]
    } = {
      name,
      mode: numeric(100, 8, "mode"),
      uid: numeric(108, 8, "uid"),
      gid: numeric(116, 8, "gid"),
      size: numeric(124, 12, "size"),
      mtime: numeric(136, 12, "mtime"),
      typeflag,
      linkname: latin1(block, start + 157, start + 257),
      uname: ustarLike ? latin1(block, start + 265, start + 297) : "",
      gname: ustarLike ? latin1(block, start + 297, start + 329) : "",
      devmajor: device ? numeric(329, 8, "devmajor") : 0n,
      devminor: device ? numeric(337, 8, "devminor") : 0n,
      xattrs: []
    }
    if (header.size < 0n) throw corrupt("negative size", at)
    const raw = this.pending.pax !== undefined
    if (!raw && (typeflag === "x" || typeflag === "L" || typeflag === "K")) {
      if (header.size > BigInt(maxMetaSize)) {
        throw corrupt(`${typeflag} record of ${header.size} bytes exceeds ${maxMetaSize}`, at)
      }
      this.metaType = typeflag
      this.meta = []
      this.startData(Number(header.size), "meta")
      return
    }
    if (typeflag === "S") throw corrupt("GNU sparse files are not supported", at)
    if (raw) header = { ...header, ...this.mergePax(this.pending.pax!, at) }
    if (this.pending.longName !== undefined) header.name = this.pending.longName
    if (this.pending.longLink !== undefined) header.linkname = this.pending.longLink
    this.pending = {}
    if (header.size > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt("size too large", at)
    this.visitor.entry(header)
    this.startData(dataLength(header), "data")
  }

  private mergePax(records: PaxRecords, at: number): Partial<Header> {
    const merged: { -readonly [K in keyof Header]?: Header[K] } = {}
    const xattrs = new Map<string, string>()
    const number = (value: Numeric): bigint => {
      if (typeof value === "string") throw corrupt(value, at)
      return value
    }
    for (const [key, value] of records) {
      switch (key) {
        case "path":
          merged.name = value
          break
        case "linkpath":
          merged.linkname = value
          break
        case "uname":
          merged.uname = value
          break
        case "gname":
          merged.gname = value
          break
        case "uid":
          merged.uid = number(parseDecimal(key, value))
          break
        case "gid":
          merged.gid = number(parseDecimal(key, value))
          break
        case "size":
          merged.size = number(parseDecimal(key, value))
          break
        case "mtime":
          merged.mtime = number(parsePaxTime(value))
          break
        default:
          if (key.startsWith("GNU.sparse.")) throw corrupt("GNU sparse files are not supported", at)
          if (key.startsWith(xattrPrefix)) xattrs.set(key.slice(xattrPrefix.length), value)
      }
    }
    if (merged.size !== undefined && merged.size < 0n) throw corrupt("negative size", at)
    if (xattrs.size > 0) merged.xattrs = [...xattrs]
    return merged
  }

  private startData(length: number, state: "data" | "meta"): void {
    this.remaining = length
    this.padding = -length & (blockSize - 1)
    this.state = state
    if (length === 0) this.afterData()
  }

  private afterData(): void {
    if (this.state === "data") {
      this.visitor.entryEnd()
    } else {
      const data = Buffer.concat(this.meta).toString("latin1")
      this.meta = []
      if (this.metaType === "x") {
        const records = parsePax(data)
        if (typeof records === "string") throw corrupt(records, this.offset)
        this.pending.pax = records
      } else {
        const nul = data.indexOf("\0")
        const value = nul === -1 ? data : data.slice(0, nul)
        // Go 1.7 applies long names on the way back out of its recursion: the first one wins.
        if (this.metaType === "L") this.pending.longName ??= value
        else this.pending.longLink ??= value
      }
    }
    this.state = this.padding === 0 ? "header" : "padding"
  }
}

/** The fields {@link encodeHeader} writes; numbers default to 0, mode to 0o644, typeflag to `0`. */
export interface HeaderInit {
  /** Up to 255 bytes: longer than 100 is split into the ustar prefix at a `/`. */
  readonly name: string
  readonly size?: number
  readonly mode?: number
  readonly uid?: number
  readonly gid?: number
  readonly mtime?: number
  readonly typeflag?: string
  readonly linkname?: string
  readonly uname?: string
  readonly gname?: string
}

const putField = (block: Uint8Array, offset: number, length: number, text: string): void => {
  block.set(Buffer.from(text, "utf8").subarray(0, length), offset)
}

const putOctal = (block: Uint8Array, offset: number, length: number, value: number): void => {
  putField(block, offset, length - 1, value.toString(8).padStart(length - 1, "0"))
}

/**
 * Encode a ustar header block. Fails (returns a reason) when the name does not fit ustar
 * or a number exceeds its octal field.
 */
export const encodeHeader = (init: HeaderInit): Uint8Array | string => {
  const name = Buffer.from(init.name, "utf8")
  let prefix = ""
  let rest = init.name
  if (name.length > 100) {
    const split = init.name.lastIndexOf("/", init.name.length - 1)
    prefix = init.name.slice(0, split)
    rest = init.name.slice(split + 1)
    if (split <= 0 || Buffer.byteLength(prefix) > 155 || Buffer.byteLength(rest) > 100) {
      return `name "${init.name}" does not fit a ustar header`
    }
  }
  if (Buffer.byteLength(init.linkname ?? "") > 100) return `link name "${init.linkname}" does not fit a ustar header`
  const size = init.size ?? 0
  if (size >= 8 ** 11 || (init.mtime ?? 0) >= 8 ** 11) return "size or mtime exceeds the ustar octal fields"
  const block = new Uint8Array(blockSize)
  putField(block, 0, 100, rest)
  putOctal(block, 100, 8, init.mode ?? 0o644)
  putOctal(block, 108, 8, init.uid ?? 0)
  putOctal(block, 116, 8, init.gid ?? 0)
  putOctal(block, 124, 12, size)
  putOctal(block, 136, 12, init.mtime ?? 0)
  putField(block, 156, 1, init.typeflag ?? "0")
  putField(block, 157, 100, init.linkname ?? "")
  putField(block, 257, 8, "ustar\u000000")
  putField(block, 265, 32, init.uname ?? "")
  putField(block, 297, 32, init.gname ?? "")
  putOctal(block, 329, 8, 0)
  putOctal(block, 337, 8, 0)
  putField(block, 345, 155, prefix)
  block.fill(0x20, 148, 156)
  let sum = 0
  for (const c of block) sum += c
  putField(block, 148, 8, `${sum.toString(8).padStart(6, "0")}\u0000 `)
  return block
}

/** Zero bytes that pad `length` bytes of entry data to a block boundary. */
export const padding = (length: number): Uint8Array => new Uint8Array(-length & (blockSize - 1))
