import * as MediaType from "@dockside/protocol/MediaType"
import { describe, expect, it } from "@effect/vitest"

describe("MediaType", () => {
  it("spells every media type exactly", () => {
    expect([
      MediaType.DockerManifest,
      MediaType.DockerManifestList,
      MediaType.DockerSchema1Manifest,
      MediaType.DockerSchema1SignedManifest,
      MediaType.DockerConfig,
      MediaType.DockerLayer,
      MediaType.DockerForeignLayer,
      MediaType.OciManifest,
      MediaType.OciIndex,
      MediaType.OciConfig,
      MediaType.OciLayer,
      MediaType.OciLayerGzip,
      MediaType.OciLayerZstd,
      MediaType.OciNondistributableLayer,
      MediaType.OciNondistributableLayerGzip,
      MediaType.OciNondistributableLayerZstd,
      MediaType.OciEmpty
    ]).toEqual([
      "application/vnd.docker.distribution.manifest.v2+json",
      "application/vnd.docker.distribution.manifest.list.v2+json",
      "application/vnd.docker.distribution.manifest.v1+json",
      "application/vnd.docker.distribution.manifest.v1+prettyjws",
      "application/vnd.docker.container.image.v1+json",
      "application/vnd.docker.image.rootfs.diff.tar.gzip",
      "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
      "application/vnd.oci.image.manifest.v1+json",
      "application/vnd.oci.image.index.v1+json",
      "application/vnd.oci.image.config.v1+json",
      "application/vnd.oci.image.layer.v1.tar",
      "application/vnd.oci.image.layer.v1.tar+gzip",
      "application/vnd.oci.image.layer.v1.tar+zstd",
      "application/vnd.oci.image.layer.nondistributable.v1.tar",
      "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
      "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
      "application/vnd.oci.empty.v1+json"
    ])
  })

  it("accepts every manifest kind, schema 1 last", () => {
    expect(MediaType.manifestAcceptHeader).toBe(
      "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, " +
        "application/vnd.docker.distribution.manifest.list.v2+json, " +
        "application/vnd.docker.distribution.manifest.v2+json, " +
        "application/vnd.docker.distribution.manifest.v1+prettyjws, " +
        "application/vnd.docker.distribution.manifest.v1+json"
    )
  })

  it("reduces a Content-Type to its essence", () => {
    expect(MediaType.essence(" Application/VND.OCI.Image.Index.v1+JSON ; charset=utf-8")).toBe(
      "application/vnd.oci.image.index.v1+json"
    )
    expect(MediaType.essence("application/json")).toBe("application/json")
  })

  it("classifies indexes, manifests and schema 1", () => {
    const rows = [
      MediaType.OciIndex,
      MediaType.DockerManifestList,
      MediaType.OciManifest,
      `${MediaType.DockerManifest}; charset=utf-8`,
      MediaType.DockerSchema1Manifest,
      MediaType.DockerSchema1SignedManifest.toUpperCase(),
      MediaType.OciLayerGzip,
      "application/json"
    ].map((type) => [MediaType.isIndex(type), MediaType.isManifest(type), MediaType.isSchema1(type)])
    expect(rows).toEqual([
      [true, false, false],
      [true, false, false],
      [false, true, false],
      [false, true, false],
      [false, false, true],
      [false, false, true],
      [false, false, false],
      [false, false, false]
    ])
  })
})
