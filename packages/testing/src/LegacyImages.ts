/**
 * Small legacy (`docker save` v1) images for tests, demos and benchmarks, built with the
 * protocol's tar writer.
 *
 * @since 0.1.0
 */
import * as Tar from "@dockside/protocol/Tar"
import { createHash } from "node:crypto"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"

export interface TestImage {
  readonly id: string
  readonly json: Buffer
  readonly layer: Buffer
}

/** An uncompressed layer tar holding the given files. */
export const layerTar = (files: Readonly<Record<string, string | Uint8Array>>): Buffer => {
  const parts: Array<Uint8Array> = []
  for (const [name, content] of Object.entries(files)) {
    const data = typeof content === "string" ? Buffer.from(content) : content
    const header = Tar.encodeHeader({ name, size: data.length, mtime: 1_500_000_000 })
    if (typeof header === "string") throw new Error(header)
    parts.push(header, data, Tar.padding(data.length))
  }
  parts.push(new Uint8Array(1024))
  return Buffer.concat(parts)
}

/** An image whose id is derived from `seed`, with an optional parent. */
export const image = (
  seed: string,
  files: Readonly<Record<string, string | Uint8Array>>,
  parent?: string
): TestImage => {
  const id = createHash("sha256").update(seed).digest("hex")
  // The JSON ends in a CR and has odd spacing on purpose: its exact bytes must survive.
  const json = Buffer.from(`{"id":"${id}"${parent ? `, "parent":"${parent}"` : ""},"created":"2017-03-01T00:00:00Z"}\r`)
  return { id, json, layer: layerTar(files) }
}

/** Write images and a `repositories` file as a legacy layout folder. */
export const writeLayout = (
  dir: string,
  images: ReadonlyArray<TestImage>,
  repositories: Readonly<Record<string, Readonly<Record<string, string>>>>
): void => {
  mkdirSync(dir, { recursive: true })
  for (const img of images) {
    mkdirSync(join(dir, img.id), { recursive: true })
    writeFileSync(join(dir, img.id, "VERSION"), "1.0")
    writeFileSync(join(dir, img.id, "json"), img.json)
    writeFileSync(join(dir, img.id, "layer.tar"), img.layer)
  }
  writeFileSync(join(dir, "repositories"), JSON.stringify(repositories))
}

/** A two-layer image: a root and a top whose parent it is. */
export const twoLayers = (): { readonly root: TestImage; readonly top: TestImage } => {
  const root = image("root", { "etc/hostname": "dockside\n", "bin/tool": Buffer.alloc(70_000, 1) })
  const top = image("top", { "app/hello.txt": "hello from the top layer\n" }, root.id)
  return { root, top }
}
