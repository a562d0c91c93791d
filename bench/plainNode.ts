/**
 * The Node.js ceiling of the v2 benchmark: a pull or a push written directly on `node:http`,
 * `node:crypto` and `node:fs`, with no Effect, no policies (no auth, retries, redirects or
 * timeouts) and no checks beyond the digests. It shows what this runtime itself achieves on
 * the machine, next to dockside and skopeo; `bench/v2.ts` runs it in a process of its own.
 *
 *   node bench/dist/plainNode.js pull ORIGIN REPOSITORY TAG DIR CONCURRENCY
 *   node bench/dist/plainNode.js push ORIGIN REPOSITORY TAG LAYOUT CONCURRENCY
 *
 * pull: the manifest, then config and layers (`CONCURRENCY` at once), each hashed with
 * sha256 while it streams into `DIR/<hex>` in writes of 1 MiB; fails on a digest mismatch.
 * push: every blob of the layout's manifest (POST, then one PUT streaming the file with
 * `?digest=`), then the manifest.
 */
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as FsPromises from "node:fs/promises"
import * as Http from "node:http"
import * as Path from "node:path"

interface Descriptor {
  readonly mediaType: string
  readonly digest: string
  readonly size: number
}

interface ImageManifest {
  readonly mediaType: string
  readonly config: Descriptor
  readonly layers: ReadonlyArray<Descriptor>
}

const [op, origin, repository, tag, folder, concurrencyText] = process.argv.slice(2)
const concurrency = Number(concurrencyText)
const agent = new Http.Agent({ keepAlive: true, maxSockets: concurrency })
const ociManifest = "application/vnd.oci.image.manifest.v1+json"

/** One request; the response once its headers are in. */
const send = (
  method: string,
  url: string,
  headers: Http.OutgoingHttpHeaders = {},
  body?: Fs.ReadStream | Buffer
): Promise<Http.IncomingMessage> =>
  new Promise((resolve, reject) => {
    const request = Http.request(url, { method, agent, headers }, resolve).on("error", reject)
    if (body === undefined) request.end()
    else if (Buffer.isBuffer(body)) request.end(body)
    else body.pipe(request)
  })

const text = async (response: Http.IncomingMessage): Promise<string> => {
  const chunks: Array<Buffer> = []
  for await (const chunk of response) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString("utf8")
}

const expect = async (response: Http.IncomingMessage, status: number, what: string): Promise<void> => {
  if (response.statusCode !== status) throw new Error(`${what}: ${response.statusCode} ${await text(response)}`)
}

/** Run `task` over `items`, `limit` at once. */
const forEach = async <A>(items: ReadonlyArray<A>, limit: number, task: (a: A) => Promise<void>): Promise<void> => {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) await task(items[next++]!)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
}

const pull = async (): Promise<number> => {
  const response = await send("GET", `${origin}/v2/${repository}/manifests/${tag}`, { accept: ociManifest })
  await expect(response, 200, "manifest")
  const manifest = JSON.parse(await text(response)) as ImageManifest
  Fs.mkdirSync(folder!, { recursive: true })
  const blobs = [manifest.config, ...manifest.layers]
  await forEach(blobs, concurrency, async (blob) => {
    const body = await send("GET", `${origin}/v2/${repository}/blobs/${blob.digest}`)
    await expect(body, 200, blob.digest)
    const hash = Crypto.createHash("sha256")
    const file = await FsPromises.open(Path.join(folder!, blob.digest.slice("sha256:".length)), "w")
    try {
      // Writes of 1 MiB: one per network piece (~64 KiB) costs this pipeline a fifth of its speed.
      let staged: Array<Buffer> = []
      let size = 0
      for await (const chunk of body as AsyncIterable<Buffer>) {
        hash.update(chunk)
        staged.push(chunk)
        size += chunk.length
        if (size >= 1024 * 1024) {
          await file.write(Buffer.concat(staged))
          staged = []
          size = 0
        }
      }
      if (size > 0) await file.write(Buffer.concat(staged))
    } finally {
      await file.close()
    }
    if (`sha256:${hash.digest("hex")}` !== blob.digest) throw new Error(`digest mismatch: ${blob.digest}`)
  })
  return blobs.length
}

const push = async (): Promise<number> => {
  const blobPath = (digest: string): string => Path.join(folder!, "blobs", "sha256", digest.slice("sha256:".length))
  const index = JSON.parse(Fs.readFileSync(Path.join(folder!, "index.json"), "utf8")) as {
    readonly manifests: ReadonlyArray<Descriptor>
  }
  const top = index.manifests[0]!
  const manifestBytes = Fs.readFileSync(blobPath(top.digest))
  const manifest = JSON.parse(manifestBytes.toString("utf8")) as ImageManifest
  const blobs = [manifest.config, ...manifest.layers]
  await forEach(blobs, concurrency, async (blob) => {
    const started = await send("POST", `${origin}/v2/${repository}/blobs/uploads/`)
    await expect(started, 202, `upload of ${blob.digest}`)
    started.resume()
    const location = new URL(started.headers.location!, origin)
    location.searchParams.set("digest", blob.digest)
    const done = await send("PUT", location.href, {
      "content-type": "application/octet-stream",
      "content-length": blob.size
    }, Fs.createReadStream(blobPath(blob.digest), { highWaterMark: 256 * 1024 }))
    await expect(done, 201, `upload of ${blob.digest}`)
    done.resume()
  })
  const put = await send("PUT", `${origin}/v2/${repository}/manifests/${tag}`, {
    "content-type": manifest.mediaType
  }, manifestBytes)
  await expect(put, 201, "manifest")
  put.resume()
  return blobs.length
}

const moved = await (op === "pull" ? pull() : push())
agent.destroy()
process.stdout.write(`${JSON.stringify({ transferred: moved })}\n`)
