/**
 * Small OCI images for tests, demos and benchmarks: configs, gzipped layers and manifests,
 * as bytes and as an OCI image layout folder.
 *
 * @since 0.1.0
 */
import { createHash, randomBytes } from "node:crypto"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import * as Images from "./LegacyImages.js"

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

/** An OCI image whose layers hold the given sizes of random (incompressible) bytes. */
export const image = (seed: string, layerSizes: ReadonlyArray<number> = [1000, 20_000], arch = "amd64"): TestImage => {
  const layers = layerSizes.map((size, i) =>
    blob(
      "application/vnd.oci.image.layer.v1.tar+gzip",
      gzipSync(Images.layerTar({ [`${seed}/file${i}.bin`]: randomBytes(size) }))
    )
  )
  const config = blob(
    "application/vnd.oci.image.config.v1+json",
    Buffer.from(JSON.stringify({
      architecture: arch,
      os: "linux",
      config: {},
      rootfs: {
        type: "layers",
        diff_ids: layers.map((l) => `sha256:${createHash("sha256").update(l.bytes).digest("hex")}`)
      }
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

/** An index over images of several platforms. */
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
