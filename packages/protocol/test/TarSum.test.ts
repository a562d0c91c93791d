import * as Tar from "@dockside/protocol/Tar"
import * as TarSum from "@dockside/protocol/TarSum"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import { existsSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { gunzipSync } from "node:zlib"
import * as TarBuilder from "./support/TarBuilder.js"

const vectors = fileURLToPath(new URL("../../../../shared/spec/tarsum-vectors", import.meta.url))
const haveVectors = existsSync(vectors)
if (!haveVectors) {
  console.warn(`SKIPPED: the TarSum reference vectors are not at ${vectors} (../shared beside the clone)`)
}
const fixture = (path: string): Uint8Array => readFileSync(`${vectors}/${path}`)
const id46 = "46af0962ab5afeb5ce6740d4d91652e69206fc991fd5328c1a94d364ad00e457"
const id5111 = "511136ea3c5a64f264b78b5433614aec563103b4d4702f3ba7d4d2698e22c158"

/** Feed the archive in pieces of the given sizes (cycled). */
const chunked = (bytes: Uint8Array, sizes: ReadonlyArray<number> = [bytes.length || 1]): Stream.Stream<Uint8Array> => {
  const pieces: Array<Uint8Array> = []
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length]!)
    pieces.push(bytes.subarray(at, at + n))
    at += n
  }
  return Stream.fromIterable(pieces)
}

/** Run an archive through TarSum, collecting the bytes that flow on. */
const run = (
  bytes: Uint8Array,
  options: TarSum.Options & { readonly extra?: Uint8Array } = {},
  sizes?: ReadonlyArray<number>
) =>
  Effect.gen(function*() {
    const tarSum = yield* TarSum.make(options)
    const out = yield* Stream.runCollect(tarSum.passThrough(chunked(bytes, sizes)))
    return { sum: tarSum.sum(options.extra), output: Buffer.concat([...out]), entries: tarSum.entries() }
  })

const sha256 = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex")
const expectedFinal = (sums: ReadonlyArray<string>, label = "tarsum+sha256") =>
  `${label}:${sha256([...sums].sort().join(""))}`

describe.skipIf(!haveVectors)("TarSum reference vectors (MANIFEST.md)", () => {
  const cases = [
    [1, `${id46}`, "Version0", false, "tarsum+sha256:4095cc12fa5fdb1ab2760377e1cd0c4ecdd3e61b4f9b82319d96fcea6c9a41c6"],
    [
      2,
      `${id46}`,
      "VersionDev",
      false,
      "tarsum.dev+sha256:db56e35eec6ce65ba1588c20ba6b1ea23743b59e81fb6b7f358ccbde5580345c"
    ],
    [3, `${id46}`, "Version0", true, "tarsum+sha256:4095cc12fa5fdb1ab2760377e1cd0c4ecdd3e61b4f9b82319d96fcea6c9a41c6"],
    [4, "xattr", "Version0", false, "tarsum+sha256:07e304a8dbcb215b37649fde1a699f8aeea47e60815707f1cdf4d55d25ff6ab4"],
    [
      5,
      "xattr",
      "VersionDev",
      false,
      "tarsum.dev+sha256:6c58917892d77b3b357b0f9ad1e28e1f4ae4de3a8006bd3beb8beda214d8fd16"
    ],
    [
      6,
      `${id5111}`,
      "Version0",
      false,
      "tarsum+sha256:c66bd5ec9f87b8f4c6135ca37684618f486a3dd1d113b138d0a177bfa39c2571"
    ]
  ] as const
  for (const [n, dir, version, gzip, expected] of cases) {
    it.effect(`A${n}: ${dir.slice(0, 12)} ${version}${gzip ? " gzip" : ""}`, () =>
      Effect.gen(function*() {
        const layer = fixture(`${dir}/layer.tar`)
        const result = yield* run(layer, { version, gzip, extra: fixture(`${dir}/json`) })
        expect(result.sum).toBe(expected)
        const tar = gzip ? gunzipSync(result.output) : result.output
        expect(Buffer.compare(tar, layer)).toBe(0) // a well-formed archive flows on unchanged
      }))
  }

  it.effect("the json extra ends in a CR byte that is part of the hash", () =>
    Effect.sync(() => {
      const json = fixture(`${id46}/json`)
      expect(json.length).toBe(1414)
      expect(json[json.length - 1]).toBe(0x0d)
    }))

  it.effect("D: per-entry sums of 46af in archive order, and sums without the extra", () =>
    Effect.gen(function*() {
      const layer = fixture(`${id46}/layer.tar`)
      const v0 = yield* run(layer, { version: "Version0" })
      expect(v0.entries.map((e) => [e.pos, e.name, e.sum])).toEqual([
        [0, "dev", "a01aba5f36b3936803459fbd3c18f988ae9fa4763d2a41060b61d7e95e1efce0"],
        [1, "dev/core", "ccb3056607a349b94a37896f1be4d03d1745cc93156e081092aa34c518d3b88c"],
        [2, "dev/stderr", "e45e85a19321219acb0a5d4eb732172a3e0bf8f96a0eb631f414845e2de1118e"],
        [3, "dev/stdout", "5bdff0bd176c01b6882c247f072d08bbd3458f45a696529dff0edfa5adabc099"],
        [4, "dev/fd", "ab10d6f4b9e88a650cabe9c72467c32ffdd60411ed1d4edc1c0714a1c9dad3d2"],
        [5, "dev/ptmx", "00f9cbad4fbe5ce4bc00091ff942a43c68cbfed0e094037e9bae231d814c6e67"],
        [6, "dev/stdin", "8b3a1155d402b14ca12f370e123924b23447d8cc22d8d16fee508b877f5d3a83"],
        [7, "etc", "ad9656ef9f317d9c823fd66207c8e0f56e45b4749ee45005f9b333bfc751d8e4"],
        [8, "etc/sudoers", "56a8103916c6ac5a38e1b5fcbe3e47e0f0ae47f29dca93be0e743cc1c35b1c4c"]
      ])
      expect(v0.sum).toBe("tarsum+sha256:5e2c2a5b29c91f5ae3323f6cd74d1274c99de342669cb2e0c2b99f5e69c15598")
      const dev = yield* run(layer, { version: "VersionDev" })
      expect(dev.entries.map((e) => e.sum)).toEqual([
        "957752e768fb0248ad5ca39bd31576172f86350af5b8c15615c22d8ef92e87c6",
        "98ff9dea373830007d94859881558ab204c219c146973a30a08897244f12b16d",
        "dbe9272f99d7b1bf426d1a20b05af9ebe895e111acf56a52e9606ffd985b87c3",
        "f5abe4e7435914a6e20b4a13ef347e5aa907c0d5aa15ef0f4de02f01e46706e8",
        "66d1ace87bc92c26412b6bcef84b6a7cad8b28818df7b172f9266f7e1d8079b2",
        "86a188ca00b2f919352310e326eacee5d93804dab8088f2c538163170f8106cf",
        "723f3e2601462c18013944a947c6e10a56e6e0d2fbb8ea2b926701a370214656",
        "8880f0aa60d6119c33922959bbcdf1fee229963bbb390513ad36fc24577d9134",
        "9a358a9d882fac9ec6459a3718b13137ea5332de18901366e2778419d09af4e5"
      ])
      expect(dev.sum).toBe("tarsum.dev+sha256:41cd5c911333ee394776e432fc5a27cc82dfea313e5feff965e31c0fddd9213d")
      const v1 = yield* run(layer, { version: "Version1" })
      expect(v1.sum).toBe("tarsum.v1+sha256:41cd5c911333ee394776e432fc5a27cc82dfea313e5feff965e31c0fddd9213d")
      expect((yield* run(fixture(`${id5111}/layer.tar`))).sum).toBe(
        "tarsum+sha256:2a7812e636235448785062100bb9103096aa6655a8f6bb9ac9b13fe8290f66df"
      )
      expect((yield* run(fixture("xattr/layer.tar"))).sum).toBe(
        "tarsum+sha256:c4c85576835bb02f053d33ef691d7c92a889ef8365481c608e6c33769d519ddf"
      )
    }))

  it("splitting an archive at any chunk boundaries never changes the sum or the output", () => {
    const layer = fixture(`${id46}/layer.tar`)
    FastCheck.assert(
      FastCheck.property(
        FastCheck.array(FastCheck.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 20 }),
        (sizes) => {
          const result = Effect.runSync(run(layer, { version: "VersionDev" }, sizes))
          expect(result.sum).toBe("tarsum.dev+sha256:41cd5c911333ee394776e432fc5a27cc82dfea313e5feff965e31c0fddd9213d")
          expect(Buffer.compare(result.output, layer)).toBe(0)
        }
      ),
      { numRuns: 200 }
    )
  })
})

describe("TarSum built-in cases (MANIFEST.md table B)", () => {
  const owner = { uid: 1000, gid: 1000, uname: "slartibartfast", gname: "users" }
  const base = { mode: 0, mtime: 0, typeflag: "0" }
  const cases: ReadonlyArray<readonly [string, TarSum.Version, TarBuilder.Entry, string]> = [
    [
      "I1",
      "Version0",
      { ...base, name: "file.txt" },
      "tarsum+sha256:626c4a2e9a467d65c33ae81f7f3dedd4de8ccaee72af73223c4bc4718cbc7bbd"
    ],
    [
      "I2",
      "VersionDev",
      { ...base, name: "file.txt" },
      "tarsum.dev+sha256:6ffd43a1573a9913325b4918e124ee982a99c0f3cba90fc032a65f5e20bdd465"
    ],
    [
      "I3",
      "VersionDev",
      { ...base, ...owner, name: "another.txt", data: "test" },
      "tarsum.dev+sha256:b38166c059e11fb77bef30bf16fba7584446e80fcc156ff46d47e36c5305d8ef"
    ],
    ["I4", "VersionDev", {
      ...base,
      ...owner,
      name: "xattrs.txt",
      data: "test",
      pax: [["SCHILY.xattr.user.key1", "value1"], ["SCHILY.xattr.user.key2", "value2"]]
    }, "tarsum.dev+sha256:4cc2e71ac5d31833ab2be9b4f7842a14ce595ec96a37af4ed08f87bc374228cd"],
    ["I5", "VersionDev", {
      ...base,
      ...owner,
      name: "xattrs.txt",
      data: "test",
      pax: [["SCHILY.xattr.user.KEY1", "value1"], ["SCHILY.xattr.user.key2", "value2"]]
    }, "tarsum.dev+sha256:65f4284fa32c0d4112dd93c3637697805866415b570587e4fd266af241503760"],
    ["I6", "Version0", {
      ...base,
      ...owner,
      name: "xattrs.txt",
      data: "test",
      pax: [["SCHILY.xattr.user.NOT", "CALCULATED"]]
    }, "tarsum+sha256:c12bb6f1303a9ddbf4576c52da74973c00d14c109bcfa76b708d5da1154a07fa"]
  ]
  for (const [name, version, entry, expected] of cases) {
    it.effect(`${name}: ${entry.name} ${version}`, () =>
      Effect.gen(function*() {
        expect((yield* run(TarBuilder.archive([entry]), { version })).sum).toBe(expected)
      }))
  }

  it.effect("I4 with xattrs in the opposite order gives the same sum (they are sorted)", () =>
    Effect.gen(function*() {
      const entry = {
        ...base,
        ...owner,
        name: "xattrs.txt",
        data: "test",
        pax: [["SCHILY.xattr.user.key2", "value2"], ["SCHILY.xattr.user.key1", "value1"]] as const
      }
      expect((yield* run(TarBuilder.archive([entry]), { version: "VersionDev" })).sum).toBe(
        "tarsum.dev+sha256:4cc2e71ac5d31833ab2be9b4f7842a14ce595ec96a37af4ed08f87bc374228cd"
      )
    }))

  it.effect("per-entry hashed header text of I1, I2, I3, I4, I6", () =>
    Effect.gen(function*() {
      const entrySum = (entry: TarBuilder.Entry, version: TarSum.Version) =>
        Effect.map(run(TarBuilder.archive([entry]), { version }), (r) => r.entries[0]!.sum)
      expect(yield* entrySum({ ...base, name: "file.txt" }, "Version0")).toBe(
        "34b88f68a456f47e33e96f86ede00e06581e89769dc30e43819143ed3ac36900"
      )
      expect(yield* entrySum({ ...base, name: "file.txt" }, "VersionDev")).toBe(
        "43d4be3846f3c1bdaa49c97e4d419beee4d0071bd365d1995b1bc4ba811a6d51"
      )
      expect(yield* entrySum({ ...base, ...owner, name: "another.txt", data: "test" }, "VersionDev")).toBe(
        "ee4f2939f6b7754057eac7f82abe5f35d9326ce88ae8f2f1b0bea6b89c2cda30"
      )
      expect(
        yield* entrySum({
          ...base,
          ...owner,
          name: "xattrs.txt",
          data: "test",
          pax: [["SCHILY.xattr.user.key1", "value1"], ["SCHILY.xattr.user.key2", "value2"]]
        }, "VersionDev")
      ).toBe(
        "8169eacfdcb92b36129cda9887e4cd01a1b9fb509b6d8240f311374b917e14f5"
      )
      expect(yield* entrySum({ ...base, ...owner, name: "xattrs.txt", data: "test" }, "Version0")).toBe(
        "33739217a24d4ed3c14495bf81f4cd001292f6d54714c094715de8cbdddeb5c3"
      )
    }))
})

describe("TarSum empty archive (MANIFEST.md C)", () => {
  const empty = "tarsum+sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
  it.effect("the end marker alone flows on as 1024 zero bytes, plain or gzipped", () =>
    Effect.gen(function*() {
      const plain = yield* run(new Uint8Array(1024))
      expect(plain.sum).toBe(empty)
      expect(Buffer.compare(plain.output, Buffer.alloc(1024))).toBe(0)
      const gzipped = yield* run(new Uint8Array(1024), { gzip: true })
      expect(gzipped.sum).toBe(empty)
      expect(gzipped.output.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]))
      expect(Buffer.compare(gunzipSync(gzipped.output), Buffer.alloc(1024))).toBe(0)
    }))
  it.effect("a 0-byte input gives the same sum and output", () =>
    Effect.gen(function*() {
      const result = yield* run(new Uint8Array(0))
      expect(result.sum).toBe(empty)
      expect(Buffer.compare(result.output, Buffer.alloc(1024))).toBe(0)
      expect(yield* TarSum.checksum(Stream.empty)).toBe(empty)
    }))
  it.effect("an empty extra equals no extra; an extra alone is hashed", () =>
    Effect.gen(function*() {
      expect((yield* run(new Uint8Array(1024), { extra: new Uint8Array(0) })).sum).toBe(empty)
      expect((yield* run(new Uint8Array(1024), { extra: Buffer.from("{}") })).sum).toBe(`tarsum+sha256:${sha256("{}")}`)
    }))
})

describe("TarSum reader rules (spec §2)", () => {
  const entrySum = (header: string, data = "") => sha256(header + data)
  const v0 = (
    f: {
      name: string
      mode?: string
      uid?: string
      gid?: string
      size?: string
      mtime?: string
      typeflag?: string
      linkname?: string
      uname?: string
      gname?: string
      devmajor?: string
      devminor?: string
    }
  ) =>
    `name${f.name}mode${f.mode ?? "420"}uid${f.uid ?? "0"}gid${f.gid ?? "0"}size${f.size ?? "0"}mtime${
      f.mtime ?? "0"
    }typeflag${f.typeflag ?? "0"}linkname${f.linkname ?? ""}uname${f.uname ?? ""}gname${f.gname ?? ""}devmajor${
      f.devmajor ?? "0"
    }devminor${f.devminor ?? "0"}`

  it.effect("GNU long names and long links (L, K) replace the header's name and link", () =>
    Effect.gen(function*() {
      const long = `${"d".repeat(120)}/${"f".repeat(80)}`
      const link = `${"t".repeat(150)}`
      const result = yield* run(
        TarBuilder.archive([{
          name: "short",
          longName: long,
          longLink: link,
          typeflag: "2",
          linkname: "x",
          format: "gnu"
        }])
      )
      expect(result.entries.map((e) => e.name)).toEqual([long])
      expect(result.entries[0]!.sum).toBe(entrySum(v0({ name: long, typeflag: "2", linkname: link })))
    }))

  it.effect("PAX path, linkpath, uid, gid, uname, gname, mtime (fraction dropped) and size override the header", () =>
    Effect.gen(function*() {
      const path = `${"p".repeat(300)}.txt`
      const result = yield* run(TarBuilder.archive([{
        name: "x",
        data: "hello",
        pax: [
          ["path", path],
          ["uid", "70000000"],
          ["gid", "12"],
          ["uname", Buffer.from("ü-user", "utf8")],
          ["gname", "grp"],
          ["mtime", "1234567890.987654321"],
          ["atime", "5.5"],
          ["comment", "ignored"]
        ]
      }]))
      expect(result.entries[0]!.sum).toBe(entrySum(
        v0({ name: path, uid: "70000000", gid: "12", size: "5", mtime: "1234567890", uname: "ü-user", gname: "grp" }),
        "hello"
      ))
      const sized = yield* run(TarBuilder.archive([{ name: "big", size: 0, data: "12345", pax: [["size", "5"]] }]))
      expect(sized.entries[0]!.sum).toBe(entrySum(v0({ name: "big", size: "5" }), "12345"))
    }))

  it.effect("the ustar prefix is joined to the name; old-GNU and V7 headers are read as Go 1.7 does", () =>
    Effect.gen(function*() {
      const prefixed = yield* run(TarBuilder.archive([{ name: "file", prefix: "some/dir" }]))
      expect(prefixed.entries[0]!.name).toBe("some/dir/file")
      expect(prefixed.entries[0]!.sum).toBe(entrySum(v0({ name: "some/dir/file" })))
      const v7 = yield* run(TarBuilder.archive([{ name: "old", format: "v7", typeflag: "\0", uname: "ignored" }]))
      expect(v7.entries[0]!.sum).toBe(entrySum(v0({ name: "old", typeflag: "\0" })))
      const gnuChar = yield* run(
        TarBuilder.archive([{ name: "dev/tty", format: "gnu", typeflag: "3", devmajor: 4, devminor: 1, uname: "root" }])
      )
      expect(gnuChar.entries[0]!.sum).toBe(
        entrySum(v0({ name: "dev/tty", typeflag: "3", devmajor: "4", devminor: "1", uname: "root" }))
      )
      const notDevice = yield* run(TarBuilder.archive([{ name: "f", typeflag: "0", devmajor: 4, devminor: 1 }]))
      expect(notDevice.entries[0]!.sum).toBe(entrySum(v0({ name: "f" })))
    }))

  it.effect("base-256 numbers, positive and negative", () =>
    Effect.gen(function*() {
      const result = yield* run(
        TarBuilder.archive([{ name: "n", uid: 1n << 40n, mtime: -5, base256: ["uid", "mtime"] }])
      )
      expect(result.entries[0]!.sum).toBe(entrySum(v0({ name: "n", uid: String(1n << 40n), mtime: "-5" })))
      const size = yield* run(TarBuilder.archive([{ name: "s", data: "abc", base256: ["size"] }]))
      expect(size.entries[0]!.sum).toBe(entrySum(v0({ name: "s", size: "3" }), "abc"))
    }))

  it.effect("link, symlink, device, dir and fifo entries carry no data even with a size field", () =>
    Effect.gen(function*() {
      // The hard link says size 3 but no data follows: the next header comes right after.
      const archive = Buffer.concat([
        TarBuilder.header({ name: "hard", typeflag: "1", linkname: "target" }, 3),
        ...TarBuilder.entryBlocks({ name: "after", data: "xyz" }),
        new Uint8Array(1024)
      ])
      const result = yield* run(archive)
      expect(result.entries.map((e) => e.name)).toEqual(["hard", "after"])
      expect(result.entries[0]!.sum).toBe(entrySum(v0({ name: "hard", typeflag: "1", linkname: "target", size: "3" })))
    }))

  it.effect("a PAX global header (g) is an ordinary entry with its records as data (Go ≤ 1.9)", () =>
    Effect.gen(function*() {
      const records = TarBuilder.paxRecords([["comment", "hi"]])
      const result = yield* run(TarBuilder.archive([{ name: "global", typeflag: "g", data: records }, { name: "f" }]))
      expect(result.entries.map((e) => e.name)).toEqual(["global", "f"])
      expect(result.entries[0]!.sum).toBe(
        entrySum(
          v0({ name: "global", typeflag: "g", size: String(records.length) }),
          Buffer.from(records).toString("latin1")
        )
      )
    }))

  it.effect("anything after the end marker is ignored and not passed on; a missing marker is added", () =>
    Effect.gen(function*() {
      const tar = TarBuilder.archive([{ name: "a", data: "1" }])
      const garbage = Buffer.concat([tar, Buffer.from("trailing garbage that is not a header")])
      const result = yield* run(garbage)
      expect(Buffer.compare(result.output, tar)).toBe(0)
      const unterminated = yield* run(TarBuilder.archive([{ name: "a", data: "1" }], { trailer: false }))
      expect(Buffer.compare(unterminated.output, tar)).toBe(0)
      const oneZeroBlock = yield* run(tar.subarray(0, tar.length - 512))
      expect(Buffer.compare(oneZeroBlock.output, tar)).toBe(0)
      expect(unterminated.sum).toBe(result.sum)
    }))

  it.effect("any node hash can be used; an unknown one is a typed error", () =>
    Effect.gen(function*() {
      const tar = TarBuilder.archive([{ name: "file", data: "data" }])
      for (const hash of ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"]) {
        const entry = createHash(hash).update(v0({ name: "file", size: "4" }) + "data").digest("hex")
        expect((yield* run(tar, { hash })).sum).toBe(`tarsum+${hash}:${createHash(hash).update(entry).digest("hex")}`)
      }
      const error = yield* Effect.flip(TarSum.make({ hash: "whirlpool-9000" }))
      expect(error._tag).toBe("UnsupportedHash")
    }))

  it.effect("docker-2018 compatibility hashes owner names as empty strings", () =>
    Effect.gen(function*() {
      const tar = TarBuilder.archive([{ name: "/abs", uname: "root", gname: "wheel" }])
      const legacy = yield* run(tar)
      const modern = yield* run(tar, { compatibility: "docker-2018" })
      expect(legacy.entries[0]!.sum).toBe(entrySum(v0({ name: "/abs", uname: "root", gname: "wheel" })))
      expect(modern.entries[0]!.sum).toBe(entrySum(v0({ name: "/abs" })))
      expect(legacy.entries[0]!.name).toBe("/abs")
      expect(modern.entries[0]!.name).toBe("abs")
    }))
})

describe("TarSum duplicate paths (spec §5.1)", () => {
  const older = { name: "file", data: "old", mtime: 100 }
  const newer = { name: "file", data: "newer", mtime: 200 }
  it.effect("same path in different orders, or alone, gives four different sums", () =>
    Effect.gen(function*() {
      const sums = [
        (yield* run(TarBuilder.archive([older, newer]))).sum,
        (yield* run(TarBuilder.archive([newer, older]))).sum,
        (yield* run(TarBuilder.archive([newer]))).sum,
        (yield* run(TarBuilder.archive([older]))).sum
      ]
      expect(new Set(sums).size).toBe(4)
    }))
  it.effect("duplicates keep archive order, others sort by sum; ./file and file are the same path", () =>
    Effect.gen(function*() {
      const result = yield* run(TarBuilder.archive([{ ...newer, name: "./file" }, { name: "other" }, older]))
      const [first, other, second] = result.entries
      expect(first!.name).toBe("file")
      expect(second!.name).toBe("file")
      const sorted = TarSum.sortForDigest(result.entries)
      expect(sorted.indexOf(first!)).toBeLessThan(sorted.indexOf(second!))
      expect(sorted).toContain(other)
    }))
  it.effect("without duplicates the final digest hashes the sums in sorted order", () =>
    Effect.gen(function*() {
      const result = yield* run(TarBuilder.archive([{ name: "b", data: "2" }, { name: "a", data: "1" }, { name: "c" }]))
      expect(result.sum).toBe(expectedFinal(result.entries.map((e) => e.sum)))
    }))
  it("with a consistent order, the Go sort.Sort port sorts like any sort (quicksort, ninther and shell paths)", () => {
    FastCheck.assert(
      FastCheck.property(
        FastCheck.array(FastCheck.tuple(FastCheck.integer({ min: 0, max: 9 }), FastCheck.nat()), {
          minLength: 1,
          maxLength: 120
        }),
        (specs) => {
          // Give entries of the same name sums that ascend with their position: the
          // comparator is then a total order and the result is unique.
          const entries = specs.map(([name, seed], pos) => ({ name: `n${name}`, sum: sha256(`${seed}/${pos}`), pos }))
          for (const name of new Set(entries.map((e) => e.name))) {
            const group = entries.filter((e) => e.name === name)
            const sums = group.map((e) => e.sum).sort()
            group.forEach((e, i) => (e.sum = sums[i]!))
          }
          const expected = [...entries].sort((a, b) => a.sum < b.sum ? -1 : 1)
          expect(TarSum.sortForDigest(entries)).toEqual(expected)
        }
      ),
      { numRuns: 300 }
    )
  })
  it("with a cycle, the small-list path is Go's gap-6 pass then insertion sort", () => {
    // A1 < A2 by position, A2 < B by sum, B < A1 by sum: no total order exists.
    const a1 = { name: "a", sum: "c", pos: 0 }
    const a2 = { name: "a", sum: "a", pos: 1 }
    const b = { name: "b", sum: "b", pos: 2 }
    // insertion sort on [a1, a2, b]: a2 vs a1 (pos) stays; b vs a2 (sum b > a) stays.
    expect(TarSum.sortForDigest([a1, a2, b])).toEqual([a1, a2, b])
    // [b, a1, a2]: a1 < b? sum c > b no; a2 < a1? pos no -> unchanged.
    expect(TarSum.sortForDigest([b, a1, a2])).toEqual([b, a1, a2])
    // [a2, b, a1]: b < a2? no; a1 < b? no -> unchanged, although a1 comes after a2.
    expect(TarSum.sortForDigest([a2, b, a1])).toEqual([a2, b, a1])
  })
})

describe("TarSum corrupt input", () => {
  const good = TarBuilder.archive([{ name: "a", data: "x".repeat(700) }, { name: "b", longName: "l".repeat(200) }, {
    name: "c",
    pax: [["path", "pax-name"]]
  }])
  const fail = (bytes: Uint8Array, sizes?: ReadonlyArray<number>) => Effect.flip(run(bytes, {}, sizes))

  it.effect("a bad header checksum, bad octal, bad PAX record, zero then non-zero block", () =>
    Effect.gen(function*() {
      const badSum = Buffer.from(good)
      badSum[0] = 0x41
      expect((yield* fail(badSum)).message).toContain("header checksum mismatch")
      const badOctal = TarBuilder.header({ name: "a" }, 0)
      badOctal.set(Buffer.from("0000 99"), 100)
      badOctal.fill(0x20, 148, 156)
      badOctal.set(Buffer.from(badOctal.reduce((a, c) => a + c, 0).toString(8).padStart(6, "0") + "\0 "), 148)
      expect((yield* fail(Buffer.concat([badOctal, new Uint8Array(1024)]))).message).toContain("mode: invalid octal")
      const badPax = Buffer.concat([
        TarBuilder.header({ name: "p", typeflag: "x" }, 8),
        Buffer.from("99 a=b\n\n"),
        new Uint8Array(504),
        new Uint8Array(1024)
      ])
      expect((yield* fail(badPax)).message).toContain("PAX record")
      const zeroThenData = Buffer.concat([new Uint8Array(512), TarBuilder.header({ name: "a" }, 0)])
      const error = yield* fail(zeroThenData)
      expect(error._tag).toBe("CorruptArchive")
      expect(error.message).toBe("corrupt tar archive at byte 512: a zero block followed by a non-zero block")
    }))

  it.effect("truncation inside a header or inside data, whatever the chunking", () =>
    Effect.gen(function*() {
      for (const cut of [100, 512 + 300, 1024 + 200, 1536 + 10]) {
        for (const sizes of [[cut], [1], [7, 500]]) {
          const error = yield* fail(good.subarray(0, cut), sizes)
          expect(error._tag).toBe("CorruptArchive")
          expect(error.message).toContain("unexpected end of archive")
        }
      }
    }))

  it.effect("GNU sparse files are refused with a typed error", () =>
    Effect.gen(function*() {
      expect((yield* fail(TarBuilder.archive([{ name: "s", typeflag: "S" }]))).message).toContain("sparse")
      expect((yield* fail(TarBuilder.archive([{ name: "s", pax: [["GNU.sparse.major", "1"]] }]))).message).toContain(
        "sparse"
      )
    }))

  it("fuzzed archives end in a sum or a CorruptArchive, never a defect", () => {
    FastCheck.assert(
      FastCheck.property(
        FastCheck.array(FastCheck.tuple(FastCheck.nat(good.length - 1), FastCheck.integer({ min: 0, max: 255 })), {
          maxLength: 8
        }),
        FastCheck.nat(good.length),
        FastCheck.integer({ min: 1, max: 600 }),
        (flips, cut, chunk) => {
          const bytes = Buffer.from(good.subarray(0, cut))
          for (const [at, value] of flips) if (at < bytes.length) bytes[at] = value
          const exit = Effect.runSync(Effect.either(run(bytes, {}, [chunk])))
          if (Either.isLeft(exit)) expect(exit.left._tag).toBe("CorruptArchive")
        }
      ),
      { numRuns: 500 }
    )
  })
})

describe("TarSum labels (spec §1)", () => {
  it("versionLabelForChecksum", () => {
    expect(TarSum.versionLabelForChecksum("tarsum+sha256:deadbeef")).toBe("tarsum")
    expect(TarSum.versionLabelForChecksum("tarsum.v1+sha256:deadbeef")).toBe("tarsum.v1")
    expect(TarSum.versionLabelForChecksum("something+somethingelse")).toBe("something")
    expect(TarSum.versionLabelForChecksum("invalidChecksum")).toBe("")
  })
  it.effect("versionFromTarSum", () =>
    Effect.gen(function*() {
      expect(yield* TarSum.versionFromTarSum(`tarsum+sha256:${"a".repeat(64)}`)).toBe("Version0")
      expect(yield* TarSum.versionFromTarSum("tarsum+sha256")).toBe("Version0")
      expect(yield* TarSum.versionFromTarSum("tarsum")).toBe("Version0")
      expect(yield* TarSum.versionFromTarSum("tarsum.dev")).toBe("VersionDev")
      expect(yield* TarSum.versionFromTarSum("tarsum.dev+sha256:deadbeef")).toBe("VersionDev")
      expect(yield* TarSum.versionFromTarSum("tarsum.v1+sha512")).toBe("Version1")
      const error = yield* Effect.flip(TarSum.versionFromTarSum("weak+md5:abcdeabcde"))
      expect(error.message).toContain("string does not include a TarSum Version")
    }))
  it.effect("parseLabel accepts sha256 and sha512 only", () =>
    Effect.gen(function*() {
      expect(yield* TarSum.parseLabel("tarsum.v1+sha256")).toEqual({ version: "Version1", hash: "sha256" })
      expect(yield* TarSum.parseLabel("tarsum+sha512")).toEqual({ version: "Version0", hash: "sha512" })
      for (const bad of ["invalidlabel", "invalid+sha256", "tarsum.v1+invalid", "tarsum+md5"]) {
        expect((yield* Effect.flip(TarSum.parseLabel(bad)))._tag).toBe("InvalidTarSumLabel")
      }
      expect(TarSum.formatLabel("VersionDev", "sha512")).toBe("tarsum.dev+sha512")
    }))
  it("cleanPath follows Go's path.Clean", () => {
    const cases = [
      ["./", "."],
      ["dev/", "dev"],
      ["/foo", "/foo"],
      ["a//b/./c/..", "a/b"],
      ["../../x", "../../x"],
      ["/../a", "/a"],
      ["", "."],
      ["a/../..", ".."]
    ]
    for (const [input, expected] of cases) expect(TarSum.cleanPath(input!)).toBe(expected)
  })
})

describe("Tar.encodeHeader", () => {
  it.effect("writes ustar headers the reader (and TarSum) reads back, long names through the prefix", () =>
    Effect.gen(function*() {
      const long = `${"dir/".repeat(30)}file.txt`
      const header = Tar.encodeHeader({ name: long, size: 3, mode: 0o755, uid: 7, mtime: 99, uname: "me" })
      if (typeof header === "string") throw new Error(header)
      const archive = Buffer.concat([header, Buffer.from("abc"), Tar.padding(3), new Uint8Array(1024)])
      const result = yield* run(archive)
      expect(result.entries.map((e) => e.name)).toEqual([long])
      expect(result.entries[0]!.sum).toBe(
        sha256(`name${long}mode493uid7gid0size3mtime99typeflag0linknameunamemegnamedevmajor0devminor0abc`)
      )
      expect(Tar.encodeHeader({ name: "x".repeat(101) })).toContain("does not fit")
    }))
})
