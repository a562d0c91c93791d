/**
 * Media types of the Docker Registry v2 / OCI Distribution world, the `Accept` list a
 * client sends for manifests, and helpers that classify a `Content-Type` or `mediaType`.
 *
 * The classification helpers take either a bare media type or a full `Content-Type`
 * header value: parameters (`; charset=utf-8`), surrounding blanks and letter case are
 * ignored.
 *
 * @since 0.1.0
 */

// ---------------------------------------------------------------------------------------
// Docker
// ---------------------------------------------------------------------------------------

/** Docker image manifest, schema 2. */
export const DockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
/** Docker manifest list (the multi-platform "fat" manifest), schema 2. */
export const DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
/** Docker image manifest, schema 1, unsigned. Read-only: registries stopped accepting it. */
export const DockerSchema1Manifest = "application/vnd.docker.distribution.manifest.v1+json"
/** Docker image manifest, schema 1, with JWS signatures. Read-only. */
export const DockerSchema1SignedManifest = "application/vnd.docker.distribution.manifest.v1+prettyjws"
/** Docker image configuration (the `config` blob of a schema 2 manifest). */
export const DockerConfig = "application/vnd.docker.container.image.v1+json"
/** Docker layer: a gzip-compressed tar. */
export const DockerLayer = "application/vnd.docker.image.rootfs.diff.tar.gzip"
/** Docker foreign layer (e.g. Windows base layers): fetched from its `urls`, never pushed. */
export const DockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

// ---------------------------------------------------------------------------------------
// OCI
// ---------------------------------------------------------------------------------------

/** OCI image manifest. */
export const OciManifest = "application/vnd.oci.image.manifest.v1+json"
/** OCI image index. Also the body of a referrers response. */
export const OciIndex = "application/vnd.oci.image.index.v1+json"
/** OCI image configuration. */
export const OciConfig = "application/vnd.oci.image.config.v1+json"
/** OCI layer: an uncompressed tar. */
export const OciLayer = "application/vnd.oci.image.layer.v1.tar"
/** OCI layer: a gzip-compressed tar. */
export const OciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
/** OCI layer: a zstd-compressed tar. */
export const OciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
/** OCI non-distributable layer (deprecated by OCI 1.1): an uncompressed tar. */
export const OciNondistributableLayer = "application/vnd.oci.image.layer.nondistributable.v1.tar"
/** OCI non-distributable layer (deprecated by OCI 1.1): a gzip-compressed tar. */
export const OciNondistributableLayerGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
/** OCI non-distributable layer (deprecated by OCI 1.1): a zstd-compressed tar. */
export const OciNondistributableLayerZstd = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
/** OCI empty descriptor content: the two bytes `{}`, used as the config of artifacts. */
export const OciEmpty = "application/vnd.oci.empty.v1+json"

// ---------------------------------------------------------------------------------------
// Accept and classification
// ---------------------------------------------------------------------------------------

/**
 * The media types a manifest `GET` or `HEAD` accepts by default, most wanted first:
 * every index and image manifest kind dockside decodes, schema 1 last so that a registry
 * only converts to schema 1 when it holds nothing newer.
 */
export const manifestAccept: ReadonlyArray<string> = [
  OciIndex,
  OciManifest,
  DockerManifestList,
  DockerManifest,
  DockerSchema1SignedManifest,
  DockerSchema1Manifest
]

/** {@link manifestAccept} as one `Accept` header value. */
export const manifestAcceptHeader: string = manifestAccept.join(", ")

/**
 * The essence of a media type or `Content-Type` value: `type/subtype` in lower case,
 * without parameters or blanks.
 */
export const essence = (contentType: string): string => {
  const semicolon = contentType.indexOf(";")
  return (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase()
}

/** Whether the media type is a multi-platform index: an OCI index or a Docker manifest list. */
export const isIndex = (mediaType: string): boolean => {
  const type = essence(mediaType)
  return type === OciIndex || type === DockerManifestList
}

/** Whether the media type is a single-image manifest: OCI or Docker schema 2 (not schema 1). */
export const isManifest = (mediaType: string): boolean => {
  const type = essence(mediaType)
  return type === OciManifest || type === DockerManifest
}

/** Whether the media type is a Docker schema 1 manifest, signed or not. */
export const isSchema1 = (mediaType: string): boolean => {
  const type = essence(mediaType)
  return type === DockerSchema1Manifest || type === DockerSchema1SignedManifest
}
