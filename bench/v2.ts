/**
 * OCI Distribution pull and push against the real `docker-registry`, side by side in the
 * same run with `skopeo copy` and with plain parallel `curl` (the transfer ceiling).
 *
 *   npm run bench                        (builds first; TarSum, then this)
 *   BENCH_RUNS=1 node bench/dist/v2.js   (after a build)
 *
 * Three images are generated as OCI image layouts in a temp folder: 4 layers × 64 MiB,
 * 32 layers × 1 MiB, and 1 layer × 1 GiB. Each layer is a tar of random bytes gzipped at
 * level 0 (stored blocks: valid gzip, incompressible, cheap to make). One `docker-registry`
 * (RealRegistry, no auth, 127.0.0.1) serves every measurement.
 *
 * The contenders, each a process of its own per measurement:
 * - dockside: the `dockside` command as installed (`packages/cli/dist/dockside.js`, the
 *   bundle, started through its `#!` line): `dockside pull|push --json --quiet`.
 * - library: `V2Flows.pull` / `V2Flows.push` with `DocksideNode.layer()` in a child node
 *   process (`--child pull|push …`), which reports its setup time (layer, client, first
 *   request) and its flow time in-process: the library's cost without the process start.
 * - node: `bench/plainNode.ts`, the same transfer written directly on node:http, node:crypto
 *   and node:fs (no Effect, no policies): what Node itself achieves here.
 * - skopeo: `skopeo copy docker://… oci:…` (pull); `skopeo copy oci:… docker://…` (push) with
 *   an empty blob-info cache of its own (else it mounts blobs it has seen instead of
 *   uploading them).
 * - curl: GET of every blob at once to /dev/null (pull: no manifest, no hashing, no disk);
 *   POST + monolithic PUT of every blob at once (push: no manifest).
 * Pushes go to a fresh repository each time. Everything but the library child runs under
 * `/usr/bin/time -v` when it is there (peak RSS, CPU time). The registry's CPU time is read
 * from `/proc/<pid>/stat` around each measurement. The order of the contenders rotates from
 * run to run; `sync` runs before each measurement. Medians over BENCH_RUNS runs (default 3).
 *
 * Environment: BENCH_RUNS (default 3), BENCH_CONCURRENCY (blobs at once for dockside, the
 * library and node, default 6 = skopeo's fixed parallelism), BENCH_NODE_FLAGS (extra node
 * flags for the library children), BENCH_KEEP (keep the generated images for the next run).
 */
import * as V2Flows from "@dockside/client/V2Flows"
import * as DocksideNode from "@dockside/node/DocksideNode"
import * as Reference from "@dockside/protocol/Reference"
import * as Tar from "@dockside/protocol/Tar"
import * as RealRegistry from "@dockside/testing/RealRegistry"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as StreamPromises from "node:stream/promises"
import * as Url from "node:url"
import * as Zlib from "node:zlib"

const MiB = 1024 * 1024
const positive = (text: string | undefined, fallback: number): number => {
  const n = Math.floor(Number(text ?? fallback))
  return Number.isFinite(n) && n >= 1 ? n : fallback
}
const runs = positive(process.env.BENCH_RUNS, 3)
const concurrency = positive(process.env.BENCH_CONCURRENCY, 6)
const nodeFlags: ReadonlyArray<string> = (process.env.BENCH_NODE_FLAGS ?? "").split(/\s+/).filter((f) => f !== "")
const self = Url.fileURLToPath(import.meta.url)
const plainNode = Url.fileURLToPath(new URL("plainNode.js", import.meta.url))
const docksideCommand = Url.fileURLToPath(new URL("../../packages/cli/dist/dockside.js", import.meta.url))

const ociLayer = "application/vnd.oci.image.layer.v1.tar+gzip"
const ociConfig = "application/vnd.oci.image.config.v1+json"
const ociManifest = "application/vnd.oci.image.manifest.v1+json"
const tag = "v1"

/** A failed step of the benchmark. */
class BenchError extends Data.TaggedError("BenchError")<{ readonly reason: string }> {
  override get message(): string {
    return this.reason
  }
}

// ---------------------------------------------------------------------------------------
// Child mode: one dockside pull or push in a fresh process.
// ---------------------------------------------------------------------------------------

/** What a dockside child reports on stdout (one JSON line). */
interface ChildReport {
  /**
   * Building the layer and the client, and the first request (`ping`: for an insecure host
   * such as 127.0.0.1 it includes dockside's https-first probe), in ms; after node startup
   * and module loading.
   */
  readonly setupMs: number
  /** The flow (`V2Flows.pull` / `V2Flows.push`) after that, and the layer's release, in ms. */
  readonly flowMs: number
  readonly rssMiB: number
  /** User + system CPU of the whole process (startup included), in s. */
  readonly cpuS: number
  readonly transferred: number
  readonly skipped: number
}

/** `--child pull REFERENCE DIR CONCURRENCY` or `--child push DIR REFERENCE CONCURRENCY`. */
const child = async (args: ReadonlyArray<string>): Promise<void> => {
  const [op, from, to, blobsAtOnce] = [args[0], args[1]!, args[2]!, Number(args[3])]
  const start = performance.now()
  let ready = start
  const program = Effect.gen(function*() {
    const reference = yield* Reference.parse(op === "pull" ? from : to)
    const distribution = yield* DocksideNode.distribution()
    yield* distribution.ping(reference.registry)
    ready = performance.now()
    return op === "pull"
      ? yield* V2Flows.pull(distribution, reference, to, { concurrency: blobsAtOnce })
      : yield* V2Flows.push(distribution, from, reference, { concurrency: blobsAtOnce })
  })
  const exit = await Effect.runPromiseExit(program.pipe(Effect.provide(DocksideNode.layer())))
  if (Exit.isFailure(exit)) {
    process.stderr.write(`${Cause.pretty(exit.cause)}\n`)
    process.exitCode = 1
    return
  }
  const usage = process.resourceUsage()
  const report: ChildReport = {
    setupMs: ready - start,
    flowMs: performance.now() - ready,
    rssMiB: usage.maxRSS / 1024,
    cpuS: (usage.userCPUTime + usage.systemCPUTime) / 1e6,
    transferred: exit.value.transferred,
    skipped: exit.value.skipped
  }
  process.stdout.write(`${JSON.stringify(report)}\n`)
}

// ---------------------------------------------------------------------------------------
// Images: OCI layouts written by hand (as packages/client/test/support/OciImages.ts does).
// ---------------------------------------------------------------------------------------

interface Blob {
  readonly mediaType: string
  readonly digest: string
  readonly size: number
}

interface Image {
  /** `4 × 64 MiB` */
  readonly label: string
  /** The repository suffix and folder name: `big`. */
  readonly name: string
  /** The OCI image layout folder (tag {@link tag}). */
  readonly dir: string
  /** Config and layers: what a pull fetches and a push uploads. */
  readonly blobs: ReadonlyArray<Blob>
  /** Their total size. */
  readonly bytes: number
}

interface ImageSpec {
  readonly label: string
  readonly name: string
  readonly layers: number
  /** Bytes of each layer's tar (header, data and end blocks). */
  readonly tarSize: number
}

const specs = {
  big: { label: "4 × 64 MiB", name: "big", layers: 4, tarSize: 64 * MiB },
  small: { label: "32 × 1 MiB", name: "small", layers: 32, tarSize: MiB },
  huge: { label: "1 × 1 GiB", name: "huge", layers: 1, tarSize: 1024 * MiB }
} as const satisfies Record<string, ImageSpec>

const sha256 = (bytes: Uint8Array): string => `sha256:${Crypto.createHash("sha256").update(bytes).digest("hex")}`

const writeBytes = (blobs: string, mediaType: string, bytes: Uint8Array): Blob => {
  const digest = sha256(bytes)
  Fs.writeFileSync(Path.join(blobs, digest.slice(7)), bytes)
  return { mediaType, digest, size: bytes.length }
}

/** One layer: a tar with one file of random bytes, gzipped at level 0; its blob and diff id. */
const writeLayer = async (
  blobs: string,
  name: string,
  tarSize: number
): Promise<{ readonly blob: Blob; readonly diffId: string }> => {
  const dataSize = tarSize - 3 * Tar.blockSize // one header block, two end blocks
  const header = Tar.encodeHeader({ name, size: dataSize, mtime: 1_700_000_000 })
  if (typeof header === "string") throw new Error(header)
  const headerBlock: Uint8Array = header
  const diff = Crypto.createHash("sha256")
  const digest = Crypto.createHash("sha256")
  let size = 0
  async function* tar(): AsyncGenerator<Uint8Array> {
    diff.update(headerBlock)
    yield headerBlock
    for (let left = dataSize; left > 0; left -= MiB) {
      const noise = Crypto.randomFillSync(Buffer.allocUnsafe(Math.min(MiB, left)))
      diff.update(noise)
      yield noise
    }
    const end = Buffer.concat([Tar.padding(dataSize), new Uint8Array(2 * Tar.blockSize)])
    diff.update(end)
    yield end
  }
  async function* counted(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      digest.update(chunk)
      size += chunk.length
      yield chunk
    }
  }
  const partial = Path.join(blobs, `${name}.partial`)
  await StreamPromises.pipeline(
    tar,
    Zlib.createGzip({ level: 0, chunkSize: 64 * 1024 }),
    counted,
    Fs.createWriteStream(partial)
  )
  const hex = digest.digest("hex")
  Fs.renameSync(partial, Path.join(blobs, hex))
  return { blob: { mediaType: ociLayer, digest: `sha256:${hex}`, size }, diffId: `sha256:${diff.digest("hex")}` }
}

/** The image's layout under `root` (made unless a complete one is there), and its blobs. */
const image = (root: string, spec: ImageSpec): Effect.Effect<Image, BenchError> =>
  Effect.tryPromise({
    try: async () => {
      const dir = Path.join(root, spec.name)
      const summary = Path.join(dir, "bench-image.json")
      if (Fs.existsSync(summary)) return JSON.parse(Fs.readFileSync(summary, "utf8")) as Image
      Fs.rmSync(dir, { recursive: true, force: true })
      const blobs = Path.join(dir, "blobs", "sha256")
      Fs.mkdirSync(blobs, { recursive: true })
      const layers: Array<{ readonly blob: Blob; readonly diffId: string }> = []
      for (let i = 0; i < spec.layers; i++) layers.push(await writeLayer(blobs, `${spec.name}-${i}.bin`, spec.tarSize))
      const config = writeBytes(
        blobs,
        ociConfig,
        Buffer.from(JSON.stringify({
          architecture: "amd64",
          os: "linux",
          config: {},
          rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) }
        }))
      )
      const manifest = writeBytes(
        blobs,
        ociManifest,
        Buffer.from(JSON.stringify({
          schemaVersion: 2,
          mediaType: ociManifest,
          config,
          layers: layers.map((l) => l.blob)
        }))
      )
      Fs.writeFileSync(Path.join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }))
      Fs.writeFileSync(
        Path.join(dir, "index.json"),
        JSON.stringify({
          schemaVersion: 2,
          manifests: [{ ...manifest, annotations: { "org.opencontainers.image.ref.name": tag } }]
        })
      )
      const all = [config, ...layers.map((l) => l.blob)]
      const result: Image = {
        label: spec.label,
        name: spec.name,
        dir,
        blobs: all,
        bytes: all.reduce((sum, b) => sum + b.size, 0)
      }
      Fs.writeFileSync(summary, JSON.stringify(result))
      return result
    },
    catch: (error) => new BenchError({ reason: `cannot generate image ${spec.label}: ${String(error)}` })
  })

// ---------------------------------------------------------------------------------------
// Processes.
// ---------------------------------------------------------------------------------------

interface Ran {
  readonly stdout: string
  readonly stderr: string
  /** Spawn to exit, in ms. */
  readonly wallMs: number
}

/** The environment of every child: no proxies (everything is on 127.0.0.1). */
const childEnv = (extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra }
  for (const name of Object.keys(env)) {
    if (/^(https?|all|no)_proxy$/i.test(name)) delete env[name]
  }
  return env
}

const tail = (text: string): string => text.length <= 2_000 ? text : `…${text.slice(-2_000)}`

/**
 * Run a command to completion in a process group of its own, killed with everything it
 * started (curl's, skopeo under time) if interrupted; fails unless it exits with 0.
 */
const run = (
  command: string,
  args: ReadonlyArray<string>,
  extraEnv: Readonly<Record<string, string>> = {}
): Effect.Effect<Ran, BenchError> =>
  Effect.async<Ran, BenchError>((resume) => {
    const start = performance.now()
    const spawned = ChildProcess.spawn(command, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: childEnv(extraEnv),
      detached: true
    })
    let stdout = ""
    let stderr = ""
    spawned.stdout.setEncoding("utf8").on("data", (text: string) => {
      stdout += text
    })
    spawned.stderr.setEncoding("utf8").on("data", (text: string) => {
      stderr += text
    })
    spawned.once("error", (error) => resume(Effect.fail(new BenchError({ reason: `${command}: ${error.message}` }))))
    spawned.once("close", (code, signal) => {
      const wallMs = performance.now() - start
      resume(
        code === 0
          ? Effect.succeed({ stdout, stderr, wallMs })
          : Effect.fail(
            new BenchError({
              reason: `${command} ${args.join(" ")} exited with ${code ?? signal}: ${tail(stderr.trim())}`
            })
          )
      )
    })
    return Effect.sync(() => {
      try {
        if (spawned.pid !== undefined) process.kill(-spawned.pid, "SIGKILL")
      } catch {
        spawned.kill("SIGKILL")
      }
    })
  })

/** The executable's full path on PATH, if any. */
const which = (binary: string): string | undefined =>
  (process.env.PATH ?? "").split(Path.delimiter)
    .filter((folder) => folder !== "")
    .map((folder) => Path.join(folder, binary))
    .find((candidate) => {
      try {
        Fs.accessSync(candidate, Fs.constants.X_OK)
        return true
      } catch {
        return false
      }
    })

const gnuTime = Fs.existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined

/** What `/usr/bin/time -v` says about a command (and its waited-for children). */
interface Usage {
  readonly rssMiB: number | undefined
  readonly cpuS: number | undefined
}

const usageOf = (stderr: string): Usage => {
  const field = (label: string): number | undefined => {
    const match = new RegExp(`${label}: ([0-9.]+)`).exec(stderr)
    return match === null ? undefined : Number(match[1])
  }
  const rss = field("Maximum resident set size \\(kbytes\\)")
  const user = field("User time \\(seconds\\)")
  const system = field("System time \\(seconds\\)")
  return {
    rssMiB: rss === undefined ? undefined : rss / 1024,
    cpuS: user === undefined || system === undefined ? undefined : user + system
  }
}

/** Run a command under `/usr/bin/time -v` when there is one. */
const runTimed = (
  command: string,
  args: ReadonlyArray<string>,
  extraEnv: Readonly<Record<string, string>> = {}
): Effect.Effect<{ readonly wallMs: number; readonly stdout: string } & Usage, BenchError> =>
  gnuTime === undefined
    ? Effect.map(
      run(command, args, extraEnv),
      (ran) => ({ wallMs: ran.wallMs, stdout: ran.stdout, rssMiB: undefined, cpuS: undefined })
    )
    : Effect.map(run(gnuTime, ["-v", command, ...args], extraEnv), (ran) => ({
      wallMs: ran.wallMs,
      stdout: ran.stdout,
      ...usageOf(ran.stderr)
    }))

const clockTicks = ((): number => {
  try {
    return Number(ChildProcess.execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100
  } catch {
    return 100
  }
})()

/** User + system CPU seconds of a process so far (from /proc; 0 when unreadable). */
const cpuOf = (pid: number): number => {
  try {
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    return (Number(fields[11]) + Number(fields[12])) / clockTicks
  } catch {
    return 0
  }
}

/** Flush dirty pages (the last measurement's writes) before the next one starts. */
const sync: Effect.Effect<void> = Effect.sync(() => void ChildProcess.spawnSync("sync"))

/** A folder under `parent`, removed with what is in it when the scope closes. */
const scratch = (parent: string, prefix: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(parent, prefix))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )

// ---------------------------------------------------------------------------------------
// The contenders.
// ---------------------------------------------------------------------------------------

type Tool = "dockside" | "library" | "node" | "skopeo" | "curl"
type Op = "pull" | "push"

/** One measurement. */
interface Sample {
  /** Spawn to exit of the client process, in ms. */
  readonly wallMs: number
  /** library only: layer, client and first request, in ms (see {@link ChildReport}). */
  readonly setupMs: number | undefined
  /** library only: the flow itself, in ms. */
  readonly flowMs: number | undefined
  readonly rssMiB: number | undefined
  /** The client's user + system CPU, in s. */
  readonly cpuS: number | undefined
  /** The registry's user + system CPU during the measurement, in s. */
  readonly registryCpuS: number
}

interface Context {
  readonly registry: RealRegistry.Service
  /** Where pulls, skopeo caches and the like go; each measurement makes its own folder. */
  readonly work: string
}

const docksideChild = (
  args: ReadonlyArray<string>
): Effect.Effect<ChildReport & { readonly wallMs: number }, BenchError> =>
  Effect.flatMap(
    run(process.execPath, [...nodeFlags, ...process.execArgv, self, "--child", ...args, String(concurrency)]),
    (ran) =>
      Effect.try({
        try: () => ({ ...(JSON.parse(ran.stdout.trim().split("\n").pop()!) as ChildReport), wallMs: ran.wallMs }),
        catch: () => new BenchError({ reason: `the library child printed no report: ${tail(ran.stdout)}` })
      })
  )

/** What the dockside command (`--json`) and plainNode print: how many blobs moved. */
const movedOf = (
  tool: Tool,
  stdout: string
): Effect.Effect<{ readonly transferred: number; readonly skipped: number }, BenchError> =>
  Effect.try({
    try: () => {
      const report = JSON.parse(stdout) as { readonly transferred: number; readonly skipped?: number }
      return { transferred: report.transferred, skipped: report.skipped ?? 0 }
    },
    catch: () => new BenchError({ reason: `${tool} printed no report: ${tail(stdout)}` })
  })

/** Fail unless every blob of `image` was transferred. */
const checkMoved = (
  tool: Tool,
  op: Op,
  image: Image,
  moved: { readonly transferred: number; readonly skipped: number }
): Effect.Effect<void, BenchError> =>
  moved.transferred === image.blobs.length && moved.skipped === 0 ? Effect.void : Effect.fail(
    new BenchError({
      reason: `${tool} ${op} moved ${moved.transferred} blobs and skipped ${moved.skipped} of ${image.blobs.length}`
    })
  )

/**
 * skopeo's environment for a fresh, empty blob-info cache in `folder`: containers/image keeps
 * it in `$XDG_DATA_HOME/containers/cache`, but for root always in /var/lib/containers/cache
 * unless `_CONTAINERS_ROOTLESS_UID` names another user (skopeo 1.9 has no flag for it).
 */
const skopeoEnv = (folder: string): Readonly<Record<string, string>> => ({
  XDG_DATA_HOME: folder,
  ...(process.getuid?.() === 0 ? { _CONTAINERS_ROOTLESS_UID: "65534" } : {})
})

const blobCacheFile = (folder: string): string => Path.join(folder, "containers", "cache", "blob-info-cache-v1.boltdb")

/** GET every URL at once, bodies to /dev/null. */
const curlPullScript = `
pids=""
for url in "$@"; do curl -fsS -o /dev/null "$url" & pids="$pids $!"; done
fail=0
for pid in $pids; do wait "$pid" || fail=1; done
exit $fail
`

/** Arguments: ORIGIN, then UPLOADS_URL FILE DIGEST per blob; POST then one PUT with the whole blob, all at once. */
const curlPushScript = `
origin="$1"; shift
pids=""
while [ $# -gt 0 ]; do
  (
    location=$(curl -fsS -X POST -o /dev/null -w '%header{location}' "$1") || exit 1
    case "$location" in /*) location="$origin$location" ;; esac
    curl -fsS -o /dev/null -X PUT -H 'Expect:' -H 'Content-Type: application/octet-stream' -T "$2" "$location&digest=$3"
  ) &
  pids="$pids $!"
  shift 3
done
fail=0
for pid in $pids; do wait "$pid" || fail=1; done
exit $fail
`

/** A measurement of a command run under {@link runTimed}. */
const sampleOf = (timed: { readonly wallMs: number } & Usage): Omit<Sample, "registryCpuS"> => ({
  wallMs: timed.wallMs,
  setupMs: undefined,
  flowMs: undefined,
  rssMiB: timed.rssMiB,
  cpuS: timed.cpuS
})

/** One measurement of one contender; pulled files and caches are removed afterwards. */
const measure = (
  ctx: Context,
  tool: Tool,
  op: Op,
  image: Image,
  repository: string
): Effect.Effect<Sample, BenchError> =>
  Effect.scoped(Effect.gen(function*() {
    const { registry } = ctx
    const folder = yield* scratch(ctx.work, `${tool}-${op}-`)
    const reference = `${registry.host}/${repository}:${tag}`
    yield* sync
    const cpuBefore = cpuOf(registry.pid)
    const measured = yield* ((): Effect.Effect<Omit<Sample, "registryCpuS">, BenchError> => {
      switch (tool) {
        case "dockside":
        case "node":
          return Effect.gen(function*() {
            const timed = tool === "dockside"
              ? yield* runTimed(docksideCommand, [
                op,
                "--json",
                "--quiet",
                "--concurrency",
                String(concurrency),
                ...(op === "pull" ? [reference, Path.join(folder, "layout")] : [image.dir, reference])
              ])
              : yield* runTimed(process.execPath, [
                plainNode,
                op,
                registry.url,
                repository,
                tag,
                op === "pull" ? Path.join(folder, "layout") : image.dir,
                String(concurrency)
              ])
            yield* checkMoved(tool, op, image, yield* movedOf(tool, timed.stdout))
            return sampleOf(timed)
          })
        case "library":
          return Effect.gen(function*() {
            const report = yield* docksideChild(
              op === "pull" ? ["pull", reference, Path.join(folder, "layout")] : ["push", image.dir, reference]
            )
            yield* checkMoved(tool, op, image, report)
            return {
              wallMs: report.wallMs,
              setupMs: report.setupMs,
              flowMs: report.flowMs,
              rssMiB: report.rssMiB,
              cpuS: report.cpuS
            }
          })
        case "skopeo":
          return Effect.gen(function*() {
            const cache = Path.join(folder, "xdg-data")
            const [source, target] = op === "pull"
              ? [`docker://${reference}`, `oci:${Path.join(folder, "layout")}:${tag}`]
              : [`oci:${image.dir}:${tag}`, `docker://${reference}`]
            const tls = op === "pull" ? "--src-tls-verify=false" : "--dest-tls-verify=false"
            const timed = yield* runTimed(
              "skopeo",
              ["--insecure-policy", "copy", "--quiet", tls, source, target],
              skopeoEnv(cache)
            )
            if (!Fs.existsSync(blobCacheFile(cache))) {
              return yield* new BenchError({ reason: `skopeo did not use the blob-info cache in ${cache}` })
            }
            return sampleOf(timed)
          })
        case "curl":
          return Effect.map(
            op === "pull"
              ? runTimed("bash", [
                "-c",
                curlPullScript,
                "curl-pull",
                ...image.blobs.map((b) => `${registry.url}/v2/${repository}/blobs/${b.digest}`)
              ])
              : runTimed("bash", [
                "-c",
                curlPushScript,
                "curl-push",
                registry.url,
                ...image.blobs.flatMap((b) => [
                  `${registry.url}/v2/${repository}/blobs/uploads/`,
                  Path.join(image.dir, "blobs", "sha256", b.digest.slice(7)),
                  b.digest
                ])
              ]),
            // The peak RSS of a shell of curls says nothing: left out.
            (timed) => ({ ...sampleOf(timed), rssMiB: undefined })
          )
      }
    })()
    return { ...measured, registryCpuS: cpuOf(registry.pid) - cpuBefore }
  }))

// ---------------------------------------------------------------------------------------
// Statistics and the table.
// ---------------------------------------------------------------------------------------

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

const defined = <A>(xs: ReadonlyArray<A | undefined>): ReadonlyArray<A> => xs.filter((x): x is A => x !== undefined)

const fixed = (x: number | undefined, digits: number): string => x === undefined ? "–" : x.toFixed(digits)

interface Row {
  readonly image: Image
  readonly op: string
  readonly tool: Tool
  readonly samples: ReadonlyArray<Sample>
  /** Per-run wall time ratios against skopeo, when skopeo ran. */
  readonly vsSkopeo: ReadonlyArray<number>
}

const toolLabel = (tool: Tool, op: string, image: Image): string => {
  switch (tool) {
    case "curl":
      return `curl × ${image.blobs.length}${op === "pull" ? " → /dev/null" : ""}`
    case "library":
      return "library (V2Flows in node)"
    case "node":
      return "plain node (no Effect)"
    default:
      return tool
  }
}

const formatRow = (row: Row): string => {
  const wallS = median(row.samples.map((s) => s.wallMs)) / 1000
  const setups = defined(row.samples.map((s) => s.setupMs))
  const flows = defined(row.samples.map((s) => s.flowMs))
  const rss = defined(row.samples.map((s) => s.rssMiB))
  const cpus = defined(row.samples.map((s) => s.cpuS))
  const registryCpuS = median(row.samples.map((s) => s.registryCpuS))
  const cpuS = cpus.length === 0 ? undefined : median(cpus)
  // Cores kept busy on average: (client + registry CPU) / wall; 2.0 is all of this machine.
  const cores = (row.samples.length === 0 || cpuS === undefined) ? undefined : (cpuS + registryCpuS) / wallS
  return `| ${
    [
      row.image.label,
      row.op,
      toolLabel(row.tool, row.op, row.image),
      wallS.toFixed(2),
      setups.length === 0 ? "–" : (median(setups) / 1000).toFixed(2),
      flows.length === 0 ? "–" : (median(flows) / 1000).toFixed(2),
      (row.image.bytes / MiB / wallS).toFixed(0),
      row.vsSkopeo.length === 0 ? "–" : `${median(row.vsSkopeo).toFixed(2)}×`,
      rss.length === 0 ? "–" : `${Math.max(...rss).toFixed(0)} MiB`,
      fixed(cpuS, 2),
      registryCpuS.toFixed(2),
      fixed(cores, 1)
    ].join(" | ")
  } |`
}

const tableHeader = [
  "| image | op | client | wall s | setup s | flow s | MiB/s | × skopeo | peak RSS | client CPU s | registry CPU s | cores busy |",
  "| --- | --- | --- | --: | --: | --: | --: | --: | --: | --: | --: | --: |"
]

const rotate = <A>(xs: ReadonlyArray<A>, by: number): ReadonlyArray<A> => [
  ...xs.slice(by % xs.length),
  ...xs.slice(0, by % xs.length)
]

const verdict = (met: boolean): string => met ? "met" : "NOT met"

// ---------------------------------------------------------------------------------------
// The run.
// ---------------------------------------------------------------------------------------

const main = Effect.gen(function*() {
  if (!Fs.existsSync(docksideCommand)) {
    return yield* new BenchError({ reason: `${docksideCommand} is missing: run npm run build first` })
  }
  const tools: ReadonlyArray<Tool> = [
    "dockside",
    "library",
    "node",
    ...(which("skopeo") === undefined ? [] : ["skopeo" as const]),
    ...(which("curl") === undefined ? [] : ["curl" as const])
  ]
  const root = Path.join(Os.tmpdir(), "dockside-bench-v2")
  Fs.mkdirSync(root, { recursive: true })
  yield* Effect.addFinalizer(() =>
    Effect.sync(() => {
      if (process.env.BENCH_KEEP === undefined) Fs.rmSync(root, { recursive: true, force: true })
    })
  )
  const work = yield* scratch(root, "work-")
  const log = (text: string): Effect.Effect<void> => Console.error(text)

  yield* log("v2 bench: generating images (random bytes, gzip level 0) …")
  const big = yield* image(Path.join(root, "images"), specs.big)
  const small = yield* image(Path.join(root, "images"), specs.small)
  const huge = yield* image(Path.join(root, "images"), specs.huge)

  const registry = yield* RealRegistry.make({ auth: "none" })
  const ctx: Context = { registry, work }
  const versionOf = (command: string, args: ReadonlyArray<string>): Effect.Effect<string> =>
    run(command, args).pipe(
      Effect.map((ran) => (ran.stdout.trim().split("\n")[0] ?? "").trim()),
      Effect.orElseSucceed(() => "?")
    )
  const registryVersion = yield* versionOf("docker-registry", ["--version"])
  const skopeoVersion = tools.includes("skopeo") ? yield* versionOf("skopeo", ["--version"]) : "missing"
  const curlVersion = tools.includes("curl") ? (yield* versionOf("curl", ["--version"])).split(" ")[1] : "missing"

  // The pull sources, pushed once in-process (not measured).
  const distribution = yield* DocksideNode.distribution()
  for (const source of [big, small]) {
    const target = yield* Reference.parse(`${registry.host}/bench/${source.name}:${tag}`)
    yield* V2Flows.push(distribution, source.dir, target, { concurrency })
  }

  const results = new Map<string, Array<Sample>>()
  const key = (image: Image, op: string, tool: Tool): string => `${image.name}/${op}/${tool}`
  const record = (k: string, sample: Sample): void => {
    const list = results.get(k) ?? []
    list.push(sample)
    results.set(k, list)
  }
  const images = [big, small]
  const ops: ReadonlyArray<Op> = ["pull", "push"]
  let pushes = 0
  for (let i = 0; i < runs; i++) {
    for (const target of images) {
      for (const op of ops) {
        for (const tool of rotate(tools, i)) {
          const repository = op === "pull" ? `bench/${target.name}` : `push/${target.name}-${tool}-${++pushes}`
          const sample = yield* measure(ctx, tool, op, target, repository)
          record(key(target, op, tool), sample)
          yield* log(
            `  run ${i + 1}/${runs}  ${target.label.padEnd(10)} ${op} ${tool.padEnd(8)} ${
              (sample.wallMs / 1000).toFixed(2)
            } s${sample.rssMiB === undefined ? "" : `  ${sample.rssMiB.toFixed(0)} MiB`}`
          )
        }
      }
    }
  }

  // The 1 GiB layer: one dockside push (it is the pull source), then the pulls.
  const hugePush = yield* measure(ctx, "dockside", "push", huge, `bench/${huge.name}`)
  yield* log(`  1 GiB push dockside ${(hugePush.wallMs / 1000).toFixed(2)} s  ${hugePush.rssMiB?.toFixed(0)} MiB`)
  const hugePulls: Array<Sample> = []
  for (let i = 0; i < runs; i++) {
    const sample = yield* measure(ctx, "dockside", "pull", huge, `bench/${huge.name}`)
    hugePulls.push(sample)
    yield* log(`  run ${i + 1}/${runs}  1 GiB pull dockside ${(sample.wallMs / 1000).toFixed(2)} s`)
  }

  const rows: Array<Row> = []
  for (const target of images) {
    for (const op of ops) {
      const skopeo = results.get(key(target, op, "skopeo")) ?? []
      for (const tool of tools) {
        const samples = results.get(key(target, op, tool)) ?? []
        const vsSkopeo = skopeo.length === 0 ? [] : samples.map((s, i) => s.wallMs / skopeo[i]!.wallMs)
        rows.push({ image: target, op, tool, samples, vsSkopeo })
      }
    }
  }
  rows.push({ image: huge, op: "push (once)", tool: "dockside", samples: [hugePush], vsSkopeo: [] })
  rows.push({ image: huge, op: "pull", tool: "dockside", samples: hugePulls, vsSkopeo: [] })

  const lines: Array<string> = [
    "",
    `OCI pull/push against ${registryVersion} (filesystem storage, 127.0.0.1, no auth) on ${Os.cpus().length} cores; ${runs} run${
      runs === 1 ? "" : "s"
    }, contenders alternating, medians (peak RSS: max over runs).`,
    `node ${process.version}; dockside = the bundled dockside command (${docksideCommand}), library = V2Flows in a ` +
    `child node process${
      nodeFlags.length === 0 ? "" : ` (${nodeFlags.join(" ")})`
    }, plain node = bench/plainNode.ts; ` +
    `${concurrency} blobs at once for these three. ${skopeoVersion} (6 blobs at once, fresh ` +
    `blob-info cache each time). curl ${curlVersion}: one process per blob, all at once, no manifest.`,
    "",
    ...tableHeader,
    ...rows.map(formatRow),
    "",
    "wall s = spawn to exit of the client process (node startup and module loading included). library only:",
    "setup s = building DocksideNode.layer() and the client, and the first request (a ping; for 127.0.0.1, an",
    "insecure host, it includes the https-first probe); flow s = V2Flows.pull/push after that, in the same",
    "process. MiB/s = config + layer bytes / wall. × skopeo = median of per-run wall-time ratios. peak RSS =",
    "maxRSS of the client process (/usr/bin/time -v; library: process.resourceUsage). cores busy = (client +",
    `registry CPU) / wall; this machine has ${Os.cpus().length}.`
  ]
  if (!tools.includes("curl")) lines.push("curl is not installed: its rows are left out.")
  if (!tools.includes("skopeo")) lines.push("skopeo is not installed: its rows and the ratios are left out.")
  if (gnuTime === undefined) lines.push("/usr/bin/time is missing: skopeo's peak RSS and the CPU columns are left out.")

  // The targets.
  lines.push("", "Targets (the dockside command against skopeo):")
  const ratioOf = (target: Image, op: Op, tool: Tool): number | undefined => {
    const row = rows.find((r) => r.image === target && r.op === op && r.tool === tool)
    return row === undefined || row.vsSkopeo.length === 0 ? undefined : median(row.vsSkopeo)
  }
  for (const target of images) {
    for (const op of ops) {
      const ratio = ratioOf(target, op, "dockside")
      if (ratio === undefined) continue
      const skopeo = results.get(key(target, op, "skopeo"))!
      const library = results.get(key(target, op, "library")) ?? []
      const flowRatio = median(library.map((s, i) => s.flowMs! / skopeo[i]!.wallMs))
      lines.push(
        `- ${op} ${target.label}: dockside ${ratio.toFixed(2)}× skopeo's wall time; target ≤ 0.8×: ${
          verdict(ratio <= 0.8)
        } (the library's flow alone: ${flowRatio.toFixed(2)}×; plain node: ${
          ratioOf(target, op, "node")?.toFixed(2) ?? "–"
        }×)`
      )
    }
  }
  const peak = (samples: ReadonlyArray<Sample>): number | undefined => {
    const rss = defined(samples.map((s) => s.rssMiB))
    return rss.length === 0 ? undefined : Math.max(...rss)
  }
  const rssLine = (what: string, samples: ReadonlyArray<Sample>): string => {
    const rss = peak(samples)
    return `- peak RSS ${what}: ${
      rss === undefined
        ? "not measured (no /usr/bin/time)"
        : `${rss.toFixed(0)} MiB; target ≤ 150 MiB: ${verdict(rss <= 150)}`
    }`
  }
  lines.push(
    rssLine(`${big.label} (pull and push)`, [
      ...results.get(key(big, "pull", "dockside"))!,
      ...results.get(key(big, "push", "dockside"))!
    ]),
    rssLine("1 GiB layer pull", hugePulls)
  )
  yield* Console.log(lines.join("\n"))
})

if (process.argv[2] === "--child") {
  await child(process.argv.slice(3))
} else {
  NodeRuntime.runMain(main.pipe(Effect.scoped, Effect.provide(DocksideNode.layer())))
}
