/**
 * TarSum throughput against plain node:crypto sha256 over the same bytes, in the same run.
 *
 *   npm run bench            (builds first)
 *
 * Two generated 256 MiB archives (one big file; ~20k small files) are written to a temp
 * folder. Each measurement runs in a child process of its own so that its peak RSS is its
 * own; the runs alternate between the two contenders and the medians are reported.
 */
import * as Tar from "@dockside/protocol/Tar"
import * as TarSum from "@dockside/protocol/TarSum"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { execFileSync } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, rmSync, statSync, writeSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const MiB = 1024 * 1024
const chunkSize = 64 * 1024
const runs = Number(process.env.BENCH_RUNS ?? 3)

const writeArchive = (path: string, files: ReadonlyArray<{ name: string; size: number }>): void => {
  const fd = openSync(path, "w")
  const noise = randomBytes(MiB)
  for (const file of files) {
    const header = Tar.encodeHeader({ name: file.name, size: file.size, mtime: 1_700_000_000 })
    if (typeof header === "string") throw new Error(header)
    writeSync(fd, header)
    for (let left = file.size; left > 0; left -= MiB) writeSync(fd, noise, 0, Math.min(MiB, left))
    writeSync(fd, Tar.padding(file.size))
  }
  writeSync(fd, new Uint8Array(1024))
  closeSync(fd)
}

const archives = {
  "one 256 MiB file": (path: string) => writeArchive(path, [{ name: "big.bin", size: 256 * MiB - 2048 }]),
  "20k small files": (path: string) =>
    writeArchive(path, Array.from({ length: 20_000 }, (_, i) => ({ name: `d${i % 100}/f${i}.bin`, size: 12_800 })))
} as const

type Contender = "sha256" | "tarsum"

/** The archive as a stream of 64 KiB chunks, as a Node file read stream delivers them. */
const source = (path: string) =>
  Stream.fromAsyncIterable(createReadStream(path, { highWaterMark: chunkSize }), (e) => e)

/** One pass over the file, in this process: MiB/s. */
const measure = async (contender: Contender, path: string): Promise<number> => {
  const size = statSync(path).size
  const start = performance.now()
  if (contender === "sha256") {
    const hash = createHash("sha256")
    for await (const chunk of createReadStream(path, { highWaterMark: chunkSize })) hash.update(chunk as Buffer)
    hash.digest("hex")
  } else {
    await Effect.gen(function*() {
      const tarSum = yield* TarSum.make()
      yield* Stream.runDrain(tarSum.passThrough(source(path)))
      return tarSum.sum()
    }).pipe(Effect.runPromise)
  }
  return size / MiB / ((performance.now() - start) / 1000)
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

const self = fileURLToPath(import.meta.url)

/** V8 flag for the children: a small young generation, so garbage chunks are freed promptly. */
const v8Flags = ["--max-semi-space-size=1"]

const child = (contender: Contender, path: string): { mibps: number; rssMiB: number } => {
  const args = [...v8Flags, ...process.execArgv, self, "--child", contender, path]
  const out = execFileSync(process.execPath, args, { encoding: "utf8" })
  return JSON.parse(out) as { mibps: number; rssMiB: number }
}

const main = (): void => {
  const dir = join(tmpdir(), "dockside-bench-tarsum")
  mkdirSync(dir, { recursive: true })
  console.log(
    `TarSum vs node:crypto sha256 over the same file, 64 KiB reads; ${runs} child processes per contender ` +
      `(alternating, node ${process.version} ${v8Flags.join(" ")}), each 1 warm-up + 3 timed passes; medians`
  )
  console.log("archive            | sha256 MiB/s | TarSum MiB/s | ratio | TarSum peak RSS | sha256 peak RSS")
  try {
    for (const [label, generate] of Object.entries(archives)) {
      const path = join(dir, `${label.replace(/\W+/g, "-")}.tar`)
      if (!existsSync(path)) generate(path)
      const results: Record<Contender, Array<{ mibps: number; rssMiB: number }>> = { sha256: [], tarsum: [] }
      for (let i = 0; i < runs; i++) {
        results.sha256.push(child("sha256", path))
        results.tarsum.push(child("tarsum", path))
      }
      const raw = median(results.sha256.map((r) => r.mibps))
      const ours = median(results.tarsum.map((r) => r.mibps))
      const ratios = results.tarsum.map((r, i) => r.mibps / results.sha256[i]!.mibps)
      const rss = (c: Contender) => Math.max(...results[c].map((r) => r.rssMiB)).toFixed(0)
      console.log(
        `${label.padEnd(18)} | ${raw.toFixed(0).padStart(12)} | ${ours.toFixed(0).padStart(12)} | ` +
          `${median(ratios).toFixed(2).padStart(5)} | ${`${rss("tarsum")} MiB`.padStart(15)} | ${
            `${rss("sha256")} MiB`.padStart(15)
          }`
      )
    }
    console.log(
      "ratio = median of per-run TarSum/sha256 throughput ratios; peak RSS = max over runs (maxRSS of the child)."
    )
  } finally {
    if (process.env.BENCH_KEEP === undefined) rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[2] === "--child") {
  const [contender, path] = [process.argv[3] as Contender, process.argv[4]!]
  await measure(contender, path) // warm-up: JIT, page cache
  const timed = [await measure(contender, path), await measure(contender, path), await measure(contender, path)]
  const mibps = median(timed)
  process.stdout.write(JSON.stringify({ mibps, rssMiB: process.resourceUsage().maxRSS / 1024 }))
} else {
  main()
}
