/**
 * Small OCI images for tests, as bytes and as an OCI image layout folder (after
 * packages/client/test/support/OciImages.ts). Layers are gzipped random bytes: registries
 * do not look inside them.
 */
import { createHash, randomBytes } from "node:crypto"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { gzipSync } from "node:zlib"

export interface Blob {
  readonly mediaType: string
  readonly digest: string
  readonly size: number
  readonly bytes: Buffer
}

export interface TestImage {
  readonly config: Blob
  readonly layers: ReadonlyArray<Blob>
  readonly manifest: Blob
}

const blob = (mediaType: string, bytes: Buffer): Blob => ({
  mediaType,
  digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`,
  size: bytes.length,
  bytes
})

const descriptor = (b: Blob) => ({ mediaType: b.mediaType, digest: b.digest, size: b.size })

/** An OCI image for linux/`arch` whose layers hold the given sizes of random bytes. */
export const image = (layerSizes: ReadonlyArray<number> = [1000, 20_000], arch = "amd64"): TestImage => {
  const layers = layerSizes.map((size) =>
    blob("application/vnd.oci.image.layer.v1.tar+gzip", gzipSync(randomBytes(size)))
  )
  const config = blob(
    "application/vnd.oci.image.config.v1+json",
    Buffer.from(JSON.stringify({
      architecture: arch,
      os: "linux",
      config: {},
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) }
    }))
  )
  const manifest = blob(
    "application/vnd.oci.image.manifest.v1+json",
    Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: descriptor(config),
      layers: layers.map(descriptor)
    }))
  )
  return { config, layers, manifest }
}

/** An index over images of several linux platforms. */
export const index = (images: ReadonlyArray<{ readonly image: TestImage; readonly arch: string }>): Blob =>
  blob(
    "application/vnd.oci.image.index.v1+json",
    Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: images.map(({ arch, image }) => ({
        ...descriptor(image.manifest),
        platform: { architecture: arch, os: "linux" }
      }))
    }))
  )

/** Write blobs and an index.json entry (named `tag`) as an OCI image layout folder. */
export const writeLayout = (dir: string, blobs: ReadonlyArray<Blob>, top: Blob, tag: string): void => {
  mkdirSync(join(dir, "blobs", "sha256"), { recursive: true })
  for (const b of blobs) writeFileSync(join(dir, "blobs", "sha256", b.digest.slice(7)), b.bytes)
  writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }))
  writeFileSync(
    join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ ...descriptor(top), annotations: { "org.opencontainers.image.ref.name": tag } }]
    })
  )
}

/** Every blob of an image, manifest included. */
export const blobsOf = (image: TestImage): ReadonlyArray<Blob> => [image.config, ...image.layers, image.manifest]
