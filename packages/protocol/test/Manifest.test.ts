import * as Manifest from "@dockside/protocol/Manifest"
import * as MediaType from "@dockside/protocol/MediaType"
import * as Platform from "@dockside/protocol/Platform"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

const sha = {
  config: "sha256:b79606fb3afea5bd1609ed40b622142f1c98125abcfe89a76a661b0e8e343910",
  layer1: "sha256:77ea7eee3d80b1a38f83906dd3048e2689457eb90e18a7d12f839c5ae37106a2",
  layer2: "sha256:95cf1a2e1698fe3ca1fcc3f653119146b271d0b62e487ec264441e886a11bd06",
  amd64: "sha256:5861314d7fccb39c2192173240eab44fa35ca66426201ca2acd0630a6258dd51",
  arm64: "sha256:f69162950f235e3cdbbad33f1f912d1a504be90d8a37d002c735d6f3e3882265",
  armv7: "sha256:5ba6c8710dd1369ce61603ab9b7a81b25f92d4a9f74956ab72a7ea75884f07ee",
  attestation: "sha256:f745a15153c4dacf0ea4bbf57265e73283941f8335939b33c693975315cf5916",
  subject: "sha256:a9491f4c1bf7b0cffbadcba2db8f028e4b3f2867cb59e1f3a0bc1968f3c51242",
  sbom: "sha256:98f3ae1ef67113d8140d4f6cb8d2830070e21ea48f091be519659846c771a374",
  signature: "sha256:a543997d84f12798350c09bdef2cdb171bf41ed3e4a5f808af2feb0c56263009",
  empty: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
} as const

const bytes = (json: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(json, null, 3))

const dockerManifest = {
  schemaVersion: 2,
  mediaType: "application/vnd.docker.distribution.manifest.v2+json",
  config: { mediaType: "application/vnd.docker.container.image.v1+json", size: 1472, digest: sha.config },
  layers: [
    { mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", size: 3408729, digest: sha.layer1 },
    { mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", size: 152, digest: sha.layer2 }
  ]
}

const dockerList = {
  schemaVersion: 2,
  mediaType: "application/vnd.docker.distribution.manifest.list.v2+json",
  manifests: [
    {
      mediaType: "application/vnd.docker.distribution.manifest.v2+json",
      size: 528,
      digest: sha.amd64,
      platform: { architecture: "amd64", os: "linux" }
    },
    {
      mediaType: "application/vnd.docker.distribution.manifest.v2+json",
      size: 528,
      digest: sha.armv7,
      platform: { architecture: "arm", os: "linux", variant: "v7" }
    },
    {
      mediaType: "application/vnd.docker.distribution.manifest.v2+json",
      size: 528,
      digest: sha.arm64,
      platform: { architecture: "arm64", os: "linux", variant: "v8" }
    }
  ]
}

const ociManifest = {
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha.config, size: 581 },
  layers: [
    { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha.layer1, size: 29534055 },
    { mediaType: "application/vnd.oci.image.layer.v1.tar+zstd", digest: sha.layer2, size: 1200 }
  ],
  annotations: { "org.opencontainers.image.created": "2024-05-01T00:00:00Z" }
}

const ociArtifact = {
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  artifactType: "application/spdx+json",
  config: { mediaType: "application/vnd.oci.empty.v1+json", digest: sha.empty, size: 2, data: "e30=" },
  layers: [{ mediaType: "application/spdx+json", digest: sha.sbom, size: 4096 }],
  subject: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: sha.subject, size: 1024 },
  annotations: { "org.opencontainers.image.created": "2024-05-01T00:00:00Z" }
}

const ociIndex = {
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.index.v1+json",
  manifests: [
    {
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: sha.amd64,
      size: 1234,
      platform: { architecture: "amd64", os: "linux" }
    },
    {
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: sha.arm64,
      size: 1234,
      platform: { architecture: "arm64", os: "linux", variant: "v8" }
    },
    {
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: sha.attestation,
      size: 839,
      annotations: {
        "vnd.docker.reference.digest": sha.amd64,
        "vnd.docker.reference.type": "attestation-manifest"
      },
      platform: { architecture: "unknown", os: "unknown" }
    }
  ]
}

const schema1 = {
  schemaVersion: 1,
  name: "library/hello-world",
  tag: "latest",
  architecture: "amd64",
  fsLayers: [{ blobSum: sha.layer2 }, { blobSum: sha.layer1 }],
  history: [
    { v1Compatibility: "{\"id\":\"b\",\"parent\":\"a\",\"created\":\"2016-01-01T00:00:00Z\"}" },
    { v1Compatibility: "{\"id\":\"a\",\"created\":\"2016-01-01T00:00:00Z\"}" }
  ],
  signatures: [
    {
      header: { jwk: { crv: "P-256", kid: "ABCD:EFGH", kty: "EC", x: "x", y: "y" }, alg: "ES256" },
      signature: "c2lnbmF0dXJl",
      protected: "eyJmb3JtYXRMZW5ndGgiOjEyMzR9"
    }
  ]
}

const failure = (input: Uint8Array, contentType?: string) =>
  Effect.map(Effect.flip(Manifest.decode(input, contentType)), (error) => [error._tag, error.what, error.reason])

describe("Manifest.decode", () => {
  it.effect("decodes a Docker schema 2 manifest", () =>
    Effect.gen(function*() {
      const decoded = yield* Manifest.decode(bytes(dockerManifest), MediaType.DockerManifest)
      if (decoded._tag !== "DockerManifest") return expect.unreachable()
      expect(decoded.mediaType).toBe(MediaType.DockerManifest)
      expect(decoded.document.config).toEqual({ mediaType: MediaType.DockerConfig, size: 1472, digest: sha.config })
      expect(decoded.document.layers.map((l) => [l.digest, l.size])).toEqual([[sha.layer1, 3408729], [sha.layer2, 152]])
    }))

  it.effect("decodes a Docker manifest list and selects a platform from it", () =>
    Effect.gen(function*() {
      const decoded = yield* Manifest.decode(bytes(dockerList))
      if (decoded._tag !== "DockerManifestList") return expect.unreachable()
      expect(decoded.mediaType).toBe(MediaType.DockerManifestList)
      expect(decoded.document.manifests).toHaveLength(3)
      const chosen = Platform.select({ os: "linux", architecture: "aarch64" }, decoded.document.manifests)
      expect(Option.map(chosen, (d) => d.digest)).toEqual(Option.some(sha.arm64))
    }))

  it.effect("decodes an OCI image manifest", () =>
    Effect.gen(function*() {
      const decoded = yield* Manifest.decode(bytes(ociManifest), "application/vnd.oci.image.manifest.v1+json")
      expect([decoded._tag, decoded.mediaType, decoded.document]).toEqual([
        "OciManifest",
        MediaType.OciManifest,
        ociManifest
      ])
    }))

  it.effect("decodes an OCI artifact manifest with subject and artifactType", () =>
    Effect.gen(function*() {
      const decoded = yield* Manifest.decode(bytes(ociArtifact))
      if (decoded._tag !== "OciManifest") return expect.unreachable()
      expect(decoded.document.artifactType).toBe("application/spdx+json")
      expect(decoded.document.subject).toEqual({ mediaType: MediaType.OciManifest, digest: sha.subject, size: 1024 })
      expect(decoded.document.config).toEqual({ mediaType: MediaType.OciEmpty, digest: sha.empty, size: 2 })
    }))

  it.effect("decodes an OCI image index", () =>
    Effect.gen(function*() {
      const decoded = yield* Manifest.decode(bytes(ociIndex))
      expect(Manifest.Manifest.$is("OciIndex")(decoded)).toBe(true)
      if (decoded._tag !== "OciIndex") return expect.unreachable()
      expect(decoded.document.manifests[2]?.annotations).toEqual({
        "vnd.docker.reference.digest": sha.amd64,
        "vnd.docker.reference.type": "attestation-manifest"
      })
      const chosen = Platform.select({ os: "linux", architecture: "amd64" }, decoded.document.manifests)
      expect(Option.map(chosen, (d) => d.digest)).toEqual(Option.some(sha.amd64))
    }))

  it.effect("tells the kind of an OCI document without mediaType from Content-Type, then from structure", () =>
    Effect.gen(function*() {
      const { mediaType: _m, ...bareManifest } = ociManifest
      const { mediaType: _i, ...bareIndex } = ociIndex
      const kinds = [
        yield* Manifest.decode(bytes(bareManifest), "application/vnd.oci.image.manifest.v1+json"),
        yield* Manifest.decode(bytes(bareManifest)),
        yield* Manifest.decode(bytes(bareManifest), "application/json"),
        yield* Manifest.decode(bytes(bareIndex), "Application/VND.OCI.Image.Index.v1+JSON; charset=utf-8"),
        yield* Manifest.decode(bytes(bareIndex), "application/octet-stream"),
        yield* Manifest.decode(bytes(bareIndex))
      ].map((m) => [m._tag, m.mediaType, "mediaType" in m.document])
      expect(kinds).toEqual([
        ["OciManifest", MediaType.OciManifest, false],
        ["OciManifest", MediaType.OciManifest, false],
        ["OciManifest", MediaType.OciManifest, false],
        ["OciIndex", MediaType.OciIndex, false],
        ["OciIndex", MediaType.OciIndex, false],
        ["OciIndex", MediaType.OciIndex, false]
      ])
    }))

  it.effect("lets the mediaType field win over a wrong Content-Type", () =>
    Effect.gen(function*() {
      const decoded = yield* Manifest.decode(bytes(dockerManifest), "application/vnd.oci.image.index.v1+json")
      expect(decoded._tag).toBe("DockerManifest")
    }))

  it.effect("decodes schema 1, signed or not", () =>
    Effect.gen(function*() {
      const signed = yield* Manifest.decode(bytes(schema1), "application/vnd.docker.distribution.manifest.v1+prettyjws")
      if (signed._tag !== "Schema1") return expect.unreachable()
      expect(signed.mediaType).toBe(MediaType.DockerSchema1SignedManifest)
      expect(signed.document.fsLayers.map((l) => l.blobSum)).toEqual([sha.layer2, sha.layer1])
      expect(signed.document.history[1]?.v1Compatibility).toBe("{\"id\":\"a\",\"created\":\"2016-01-01T00:00:00Z\"}")
      expect(signed.document.signatures?.[0]?.header["alg"]).toBe("ES256")
      const guessed = yield* Manifest.decode(bytes(schema1), "application/json")
      expect([guessed._tag, guessed.mediaType]).toEqual(["Schema1", MediaType.DockerSchema1SignedManifest])
      const { signatures: _s, ...unsigned } = schema1
      const plain = yield* Manifest.decode(bytes(unsigned))
      expect([plain._tag, plain.mediaType, plain.document]).toEqual([
        "Schema1",
        MediaType.DockerSchema1Manifest,
        unsigned
      ])
    }))

  it.effect("ignores unknown fields everywhere", () =>
    Effect.gen(function*() {
      const future = {
        ...ociIndex,
        futureTopLevel: { nested: true },
        manifests: [
          {
            ...ociIndex.manifests[0],
            data: "e30=",
            futureDescriptorField: 1,
            platform: { architecture: "amd64", os: "linux", features: ["sse4"], futurePlatformField: "x" }
          }
        ]
      }
      const decoded = yield* Manifest.decode(bytes(future))
      if (decoded._tag !== "OciIndex") return expect.unreachable()
      expect(decoded.document).toEqual({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [ociIndex.manifests[0]]
      })
    }))

  it.effect("fails with InvalidDocument on a bad digest inside a descriptor", () =>
    Effect.gen(function*() {
      const shortDigest = { ...ociManifest, layers: [{ ...ociManifest.layers[0], digest: "sha256:abc123" }] }
      expect(yield* failure(bytes(shortDigest))).toEqual([
        "InvalidDocument",
        "OCI image manifest",
        "layers.0.digest: a sha256 digest has 64 hex characters, not 6"
      ])
      const upper = { ...dockerManifest, config: { ...dockerManifest.config, digest: sha.config.toUpperCase() } }
      expect(yield* failure(bytes(upper))).toEqual([
        "InvalidDocument",
        "Docker schema 2 manifest",
        "config.digest: unsupported digest algorithm \"SHA256\" (expected sha256 or sha512)"
      ])
      const md5 = {
        ...dockerList,
        manifests: [{ ...dockerList.manifests[0], digest: "md5:d41d8cd98f00b204e9800998ecf8427e" }]
      }
      expect(yield* failure(bytes(md5))).toEqual([
        "InvalidDocument",
        "Docker manifest list",
        "manifests.0.digest: unsupported digest algorithm \"md5\" (expected sha256 or sha512)"
      ])
      const error = yield* Effect.flip(Manifest.decode(bytes(shortDigest)))
      expect(error.message).toBe(
        "invalid OCI image manifest: layers.0.digest: a sha256 digest has 64 hex characters, not 6"
      )
    }))

  it.effect("fails with InvalidDocument on bad sizes, versions and missing fields, listing every issue", () =>
    Effect.gen(function*() {
      const negative = { ...ociManifest, config: { ...ociManifest.config, size: -1 } }
      expect(yield* failure(bytes(negative))).toEqual([
        "InvalidDocument",
        "OCI image manifest",
        "config.size: Expected a non-negative number, actual -1"
      ])
      const version3 = { ...ociManifest, schemaVersion: 3, layers: [{ ...ociManifest.layers[0], size: 1.5 }] }
      expect(yield* failure(bytes(version3))).toEqual([
        "InvalidDocument",
        "OCI image manifest",
        "schemaVersion: Expected 2, actual 3; layers.0.size: Expected an integer, actual 1.5"
      ])
      const { mediaType: _m, ...noMediaType } = dockerManifest
      expect(yield* failure(bytes(noMediaType), MediaType.DockerManifest)).toEqual([
        "InvalidDocument",
        "Docker schema 2 manifest",
        "mediaType: is missing"
      ])
      const { mediaType: _i, ...bareIndex } = ociIndex
      expect(yield* failure(bytes({ ...bareIndex, manifests: undefined, layers: [] }), MediaType.OciIndex)).toEqual([
        "InvalidDocument",
        "OCI image index",
        "manifests: is missing"
      ])
    }))

  it.effect("fails with InvalidDocument when the bytes are not a manifest", () =>
    Effect.gen(function*() {
      expect(yield* failure(new Uint8Array([0x7b, 0xff, 0x7d]))).toEqual([
        "InvalidDocument",
        "manifest",
        "the body is not valid UTF-8"
      ])
      const [tag, what, reason] = yield* failure(new TextEncoder().encode("<html>502 Bad Gateway</html>"))
      expect([tag, what]).toEqual(["InvalidDocument", "manifest"])
      expect(reason).toBe("the body is not JSON")
      expect(yield* failure(bytes([dockerManifest]))).toEqual([
        "InvalidDocument",
        "manifest",
        "the body is not a JSON object"
      ])
      expect(yield* failure(bytes(null))).toEqual(["InvalidDocument", "manifest", "the body is not a JSON object"])
      expect(yield* failure(bytes({ ...dockerManifest, mediaType: "application/vnd.oci.artifact.manifest.v1+json" })))
        .toEqual([
          "InvalidDocument",
          "manifest",
          "unsupported manifest media type \"application/vnd.oci.artifact.manifest.v1+json\""
        ])
      expect(yield* failure(bytes({ ...dockerManifest, mediaType: 2 }))).toEqual([
        "InvalidDocument",
        "manifest",
        "mediaType must be a string"
      ])
      expect(yield* failure(bytes({ schemaVersion: 2 }), "application/json")).toEqual([
        "InvalidDocument",
        "manifest",
        "cannot tell the manifest kind: no mediaType field, no manifest Content-Type (got \"application/json\"), " +
        "and none of manifests, layers or fsLayers"
      ])
      expect(yield* failure(bytes({ schemaVersion: 2 }))).toEqual([
        "InvalidDocument",
        "manifest",
        "cannot tell the manifest kind: no mediaType field, no manifest Content-Type, and none of manifests, layers or fsLayers"
      ])
    }))
})

describe("Manifest API bodies", () => {
  it.effect("decodes and formats distribution error bodies", () =>
    Effect.gen(function*() {
      const unauthorized = yield* Manifest.decodeErrorBody(
        "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\",\"detail\":" +
          "[{\"Type\":\"repository\",\"Class\":\"\",\"Name\":\"library/nosuch\",\"Action\":\"pull\"}]}]}\n"
      )
      expect(Manifest.formatErrorBody(unauthorized)).toBe(
        "UNAUTHORIZED: authentication required ([{\"Type\":\"repository\",\"Class\":\"\",\"Name\":\"library/nosuch\",\"Action\":\"pull\"}])"
      )
      const several = yield* Manifest.decodeErrorBody(
        bytes({
          errors: [
            { code: "MANIFEST_UNKNOWN", message: "manifest unknown", detail: { Tag: "nosuch" } },
            { code: "NAME_UNKNOWN", message: "repository name not known\n  to registry", detail: null },
            { code: "DENIED" },
            { code: "TOOMANYREQUESTS", message: "", detail: "You have reached your pull rate limit." }
          ]
        })
      )
      expect(Manifest.formatErrorBody(several)).toBe(
        "MANIFEST_UNKNOWN: manifest unknown ({\"Tag\":\"nosuch\"}); NAME_UNKNOWN: repository name not known to registry; " +
          "DENIED; TOOMANYREQUESTS (You have reached your pull rate limit.)"
      )
      expect(Manifest.formatErrorBody(yield* Manifest.decodeErrorBody("{\"errors\":[]}"))).toBe("no error details")
      const error = yield* Effect.flip(Manifest.decodeErrorBody("{\"errors\":\"boom\"}"))
      expect([error._tag, error.what, error.reason]).toEqual([
        "InvalidDocument",
        "error body",
        "errors: Expected ReadonlyArray<ErrorDetail>, actual \"boom\""
      ])
    }))

  it.effect("decodes tag lists, reading null tags as none", () =>
    Effect.gen(function*() {
      expect(yield* Manifest.decodeTagList("{\"name\":\"library/ubuntu\",\"tags\":[\"22.04\",\"latest\"]}")).toEqual({
        name: "library/ubuntu",
        tags: ["22.04", "latest"]
      })
      expect(yield* Manifest.decodeTagList(bytes({ name: "empty/repo", tags: null }))).toEqual({
        name: "empty/repo",
        tags: []
      })
      expect(yield* Manifest.decodeTagList(bytes({ name: "gcr/style", manifest: {}, child: [] }))).toEqual({
        name: "gcr/style",
        tags: []
      })
      const error = yield* Effect.flip(Manifest.decodeTagList("{\"tags\":[1]}"))
      expect([error.what, error.reason]).toEqual([
        "tag list",
        "name: is missing; tags.0: Expected string, actual 1; tags: Expected null, actual [1]"
      ])
    }))

  it.effect("decodes catalog bodies", () =>
    Effect.gen(function*() {
      expect(yield* Manifest.decodeCatalog("{\"repositories\":[\"library/alpine\",\"team/app\"]}")).toEqual({
        repositories: ["library/alpine", "team/app"]
      })
      expect(yield* Manifest.decodeCatalog("{\"repositories\":null}")).toEqual({ repositories: [] })
      const error = yield* Effect.flip(Manifest.decodeCatalog("[]"))
      expect([error.what, error.reason]).toEqual(["catalog", "the body is not a JSON object"])
    }))

  it.effect("decodes referrers responses", () =>
    Effect.gen(function*() {
      const referrers = yield* Manifest.decodeReferrers(
        bytes({
          schemaVersion: 2,
          mediaType: "application/vnd.oci.image.index.v1+json",
          manifests: [
            {
              mediaType: "application/vnd.oci.image.manifest.v1+json",
              digest: sha.sbom,
              size: 610,
              artifactType: "application/spdx+json",
              annotations: { "org.opencontainers.image.created": "2024-05-01T00:00:00Z" }
            },
            {
              mediaType: "application/vnd.oci.image.manifest.v1+json",
              digest: sha.signature,
              size: 720,
              artifactType: "application/vnd.dev.cosign.artifact.sig.v1+json"
            }
          ]
        })
      )
      expect(referrers.manifests.map((d) => [d.artifactType, d.digest])).toEqual([
        ["application/spdx+json", sha.sbom],
        ["application/vnd.dev.cosign.artifact.sig.v1+json", sha.signature]
      ])
      expect(yield* Manifest.decodeReferrers("{\"schemaVersion\":2,\"manifests\":[]}")).toEqual({
        schemaVersion: 2,
        manifests: []
      })
      const error = yield* Effect.flip(Manifest.decodeReferrers("{\"schemaVersion\":2}"))
      expect([error.what, error.reason]).toEqual(["referrers response", "manifests: is missing"])
    }))

  it.effect("partitions tag lists and catalogs into valid and invalid names", () =>
    Effect.gen(function*() {
      const list = yield* Manifest.decodeTagList(
        "{\"name\":\"team/app\",\"tags\":[\"latest\",\"../../x\",\"v1.0\",\"\"]}"
      )
      expect(Manifest.validTags(list)).toEqual({ valid: ["latest", "v1.0"], invalid: ["../../x", ""] })
      const catalog = yield* Manifest.decodeCatalog(
        "{\"repositories\":[\"library/alpine\",\"Bad/Name\",\"../etc\",\"team/app\"]}"
      )
      expect(Manifest.validRepositories(catalog)).toEqual({
        valid: ["library/alpine", "team/app"],
        invalid: ["Bad/Name", "../etc"]
      })
    }))
})

describe("Manifest hardening", () => {
  it.effect("accepts only http and https descriptor URLs", () =>
    Effect.gen(function*() {
      const withUrls = (urls: ReadonlyArray<string>) => ({
        ...ociManifest,
        layers: [{ ...ociManifest.layers[0], urls }]
      })
      const ok = yield* Manifest.decode(bytes(withUrls(["https://cdn.example/layer", "http://mirror/x"])))
      if (ok._tag !== "OciManifest") return expect.unreachable()
      expect(ok.document.layers[0]?.urls).toEqual(["https://cdn.example/layer", "http://mirror/x"])
      for (const url of ["file:///etc/passwd", "ftp://host/x", "javascript:alert(1)", "/relative", "not a url"]) {
        expect([url, yield* failure(bytes(withUrls(["https://ok/", url])))]).toEqual([url, [
          "InvalidDocument",
          "OCI image manifest",
          "layers.0.urls.1: a descriptor URL must be an absolute http: or https: URL"
        ]])
      }
    }))

  it.effect("refuses a __proto__ key, e.g. in a schema 1 signature header", () =>
    Effect.gen(function*() {
      const signed = JSON.stringify({ ...schema1, signatures: [] }).replace(
        "\"signatures\":[]",
        "\"signatures\":[{\"header\":{\"__proto__\":{\"polluted\":1}},\"signature\":\"s\",\"protected\":\"p\"}]"
      )
      expect(yield* failure(new TextEncoder().encode(signed))).toEqual([
        "InvalidDocument",
        "manifest",
        "the body has a key \"__proto__\""
      ])
      expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined()
      expect((yield* Effect.flip(Manifest.decodeTagList("{\"name\":\"x\",\"__proto__\":[]}"))).reason).toBe(
        "the body has a key \"__proto__\""
      )
    }))

  it.effect("reads a byte order mark as an error, like every JSON body", () =>
    Effect.gen(function*() {
      expect(yield* failure(new Uint8Array([0xef, 0xbb, 0xbf, ...bytes(ociManifest)]))).toEqual([
        "InvalidDocument",
        "manifest",
        "the body starts with a byte order mark"
      ])
    }))
})
