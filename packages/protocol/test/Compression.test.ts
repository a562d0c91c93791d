import * as Compression from "@dockside/protocol/Compression"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { randomBytes } from "node:crypto"
import { gunzipSync, gzipSync } from "node:zlib"

const pieces = (bytes: Uint8Array, size: number) =>
  Stream.fromIterable(
    Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size))
  )
const collect = <E>(stream: Stream.Stream<Uint8Array, E>) =>
  Effect.map(Stream.runCollect(stream), (chunks) => Buffer.concat([...chunks]))

describe("Compression", () => {
  it.effect("gzip output is valid gzip of the input, whatever the chunking", () =>
    Effect.gen(function*() {
      const data = Buffer.concat([randomBytes(100_000), Buffer.alloc(100_000, 3)])
      for (const size of [1000, 65536, data.length]) {
        const out = yield* collect(pieces(data, size).pipe(Compression.gzip()))
        expect(Compression.isGzip(out)).toBe(true)
        expect(Buffer.compare(gunzipSync(out), data)).toBe(0)
      }
    }))

  it.effect("gunzip restores the input, whatever the chunking", () =>
    Effect.gen(function*() {
      const data = Buffer.concat([randomBytes(50_000), Buffer.alloc(500_000, 9)])
      const packed = gzipSync(data)
      for (const size of [7, 4096, packed.length]) {
        expect(Buffer.compare(yield* collect(pieces(packed, size).pipe(Compression.gunzip())), data)).toBe(0)
      }
    }))

  it.effect("corrupt or truncated gzip fails with CorruptArchive", () =>
    Effect.gen(function*() {
      const packed = gzipSync(randomBytes(10_000))
      const truncated = yield* Effect.flip(
        collect(Stream.make(packed.subarray(0, packed.length - 20)).pipe(Compression.gunzip()))
      )
      expect(truncated._tag).toBe("CorruptArchive")
      const garbage = Buffer.from(packed)
      garbage.fill(0x55, 20, 200)
      const corrupt = yield* Effect.flip(collect(Stream.make(garbage).pipe(Compression.gunzip())))
      expect(corrupt._tag).toBe("CorruptArchive")
      expect(corrupt.message).toContain("gzip:")
    }))
})
