/**
 * Writes tar archives byte by byte for tests, independently of the reader under test:
 * ustar, old-GNU and V7 headers, PAX `x`/`g` records, GNU `L`/`K` long names, base-256
 * numbers.
 */
export type Bytes = Uint8Array | string

export interface Entry {
  readonly name: string
  readonly mode?: number
  readonly uid?: number | bigint
  readonly gid?: number
  readonly size?: number
  readonly mtime?: number
  readonly typeflag?: string
  readonly linkname?: string
  readonly uname?: string
  readonly gname?: string
  readonly devmajor?: number
  readonly devminor?: number
  readonly prefix?: string
  readonly data?: Bytes
  readonly format?: "ustar" | "gnu" | "v7"
  /** Write these numeric fields in base-256. */
  readonly base256?: ReadonlyArray<"uid" | "size" | "mtime">
  /** PAX records put in an `x` header before the entry. */
  readonly pax?: ReadonlyArray<readonly [string, Bytes]>
  /** GNU long name (`L`) / long link (`K`) records before the entry. */
  readonly longName?: string
  readonly longLink?: string
}

export const bytes = (b: Bytes): Uint8Array => typeof b === "string" ? Buffer.from(b, "latin1") : b

const putString = (block: Uint8Array, offset: number, length: number, value: string) => {
  block.set(Buffer.from(value, "latin1").subarray(0, length), offset)
}

const putOctal = (block: Uint8Array, offset: number, length: number, value: number | bigint) => {
  putString(block, offset, length - 1, value.toString(8).padStart(length - 1, "0"))
}

const putBase256 = (block: Uint8Array, offset: number, length: number, value: bigint) => {
  let v = value < 0n ? (1n << BigInt(8 * length)) + value : value
  for (let i = length - 1; i >= 0; i--) {
    block[offset + i] = Number(v & 0xffn)
    v >>= 8n
  }
  block[offset] = block[offset]! | 0x80
}

export const header = (entry: Entry, dataLength: number): Uint8Array => {
  const block = new Uint8Array(512)
  const b256 = new Set(entry.base256 ?? [])
  const num = (field: "uid" | "size" | "mtime" | "other", offset: number, length: number, value: number | bigint) =>
    field !== "other" && b256.has(field)
      ? putBase256(block, offset, length, BigInt(value))
      : putOctal(block, offset, length, value)
  putString(block, 0, 100, entry.name)
  num("other", 100, 8, entry.mode ?? 0o644)
  num("uid", 108, 8, entry.uid ?? 0)
  num("other", 116, 8, entry.gid ?? 0)
  num("size", 124, 12, entry.size ?? dataLength)
  num("mtime", 136, 12, entry.mtime ?? 0)
  putString(block, 156, 1, entry.typeflag ?? "0")
  putString(block, 157, 100, entry.linkname ?? "")
  const format = entry.format ?? "ustar"
  if (format === "ustar") putString(block, 257, 8, "ustar\x0000")
  if (format === "gnu") putString(block, 257, 8, "ustar  \x00")
  if (format !== "v7") {
    putString(block, 265, 32, entry.uname ?? "")
    putString(block, 297, 32, entry.gname ?? "")
    num("other", 329, 8, entry.devmajor ?? 0)
    num("other", 337, 8, entry.devminor ?? 0)
    putString(block, 345, 155, entry.prefix ?? "")
  }
  block.fill(0x20, 148, 156)
  let sum = 0
  for (const c of block) sum += c
  putString(block, 148, 8, sum.toString(8).padStart(6, "0") + "\x00 ")
  return block
}

const pad = (n: number) => new Uint8Array(-n & 511)

export const paxRecords = (records: ReadonlyArray<readonly [string, Bytes]>): Uint8Array => {
  const parts = records.map(([key, value]) => {
    const body = Buffer.concat([Buffer.from(` ${key}=`, "latin1"), bytes(value), Buffer.from("\n")])
    let length = body.length + 1
    while (String(length).length + body.length !== length) length++
    return Buffer.concat([Buffer.from(String(length)), body])
  })
  return Buffer.concat(parts)
}

const meta = (typeflag: string, name: string, data: Uint8Array): Array<Uint8Array> => [
  header({ name, typeflag, mode: 0o644 }, data.length),
  data,
  pad(data.length)
]

export const entryBlocks = (entry: Entry): Array<Uint8Array> => {
  const data = bytes(entry.data ?? "")
  const out: Array<Uint8Array> = []
  if (entry.longName !== undefined) {
    out.push(...meta("L", "././@LongLink", Buffer.from(entry.longName + "\0", "latin1")))
  }
  if (entry.longLink !== undefined) {
    out.push(...meta("K", "././@LongLink", Buffer.from(entry.longLink + "\0", "latin1")))
  }
  if (entry.pax !== undefined) out.push(...meta("x", "PaxHeaders/x", paxRecords(entry.pax)))
  out.push(header(entry, data.length), data, pad(data.length))
  return out
}

/** An archive of the entries, ended by two zero blocks unless `trailer` is false. */
export const archive = (entries: ReadonlyArray<Entry>, options: { readonly trailer?: boolean } = {}): Uint8Array =>
  Buffer.concat([...entries.flatMap(entryBlocks), new Uint8Array(options.trailer === false ? 0 : 1024)])
