/**
 * The seed data of spec `v1-protocol.md` §10.3: two images (`77dbf7…` and its child
 * `42d718…`), the repository `foo42/bar` tagged `latest` and `test`, and the `fakeimage`
 * search entry.
 *
 * The layers are our own tiny gzipped tars (holding `.` and `test.txt`) built to the exact
 * sizes of the table, 152 and 154 bytes. The checksum strings are the table's opaque
 * constants: they do not match these bytes (the spec could not reproduce the upstream ones
 * either) and nothing verifies them on pull.
 *
 * @internal
 */
import * as Identifiers from "@dockside/protocol/Identifiers"

/** One seeded image. */
export interface SeedImage {
  readonly id: Identifiers.ImageId
  readonly parent: Identifiers.ImageId | undefined
  readonly json: string
  readonly layer: Uint8Array
  readonly checksumPayload: string
  readonly checksum: string
}

const baseId = Identifiers.ImageId.make("77dbf71da1d00e3fbddc480176eac8994025630c6590d11cfc8fe1209c2a1d20")
const childId = Identifiers.ImageId.make("42d718c941f5c532ac049bf0b0ab53f0062f09a03afd4aa4a02c098e46032b9d")

const config = (id: string, parent: string | undefined): string =>
  JSON.stringify({
    id,
    ...(parent === undefined ? {} : { parent }),
    comment: "test base image",
    created: "2013-03-23T12:53:11.10432-07:00",
    container_config: {
      Hostname: "",
      User: "",
      Memory: 0,
      MemorySwap: 0,
      CpuShares: 0,
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Env: null,
      Cmd: null,
      Image: ""
    },
    Size: 424242
  })

/** The seeded images, parents first. */
export const images: ReadonlyArray<SeedImage> = [
  {
    id: baseId,
    parent: undefined,
    json: config(baseId, undefined),
    layer: Buffer.from(
      "H4sIAAAAAAACA+3RQQrCMBBG4Vl7ipygNtOkOU+wwUXFQhNBPb2h4KbgMiL4vs0fZpPF647SXF8F77et9ru9rVodrDrVUO+jHbwYL19wyyWu9Uv5TyXl0pV7ad1/dO5zf6e7/sFbJ6anf/v+8Wym5TSn9T1lmdPV5JQmc4nPx0EAAAAAAAAAAAAAAAAA/KgXZ7py4wAoAAA=",
      "base64"
    ),
    checksumPayload: "sha256:1ac330d56e05eef6d438586545ceff7550d3bdcb6b19961f12c5ba714ee1bb37",
    checksum: "tarsum+sha256:4409a0685741ca86d38df878ed6f8cbba4c99de5dc73cd71aef04be3bb70be7c"
  },
  {
    id: childId,
    parent: baseId,
    json: config(childId, baseId),
    layer: Buffer.from(
      "H4sIAAAAAAACA+3SOQ7CMBBAUdecYk4QYsfLeQKKUEBhiW2R42PSgURphMR/zYzcuPjTbFV1bRGcW2fxPtddG206bawxobx73TklTn1Bjqmfy5fqP6UhpiYtqXZ/b+3n/iX2a//gtFfS0r+6Wx73Jznm6RplnPrDIM+LkN18uZ83CgAAAAAAAAAAAAAAAMAvewBz4JQoACgAAA==",
      "base64"
    ),
    checksumPayload: "sha256:bea7bf2e4bacd479344b737328db47b18880d09096e6674165533aa994f5e9f2",
    checksum: "tarsum+sha256:68fdb56fb364f074eec2c9b3f85ca175329c4dcabc4a6a452b7272aa613a07a2"
  }
]

/** The seeded repository. */
export const repository: string = "foo42/bar"

/** Its tags. */
export const tags: Readonly<Record<string, Identifiers.ImageId>> = { latest: childId, test: childId }

/**
 * The search-only catalogue entry of the Go mock's answer. Its description holds
 * `fakequery` so that the real substring search finds it for that query.
 */
export const searchEntry: {
  readonly name: string
  readonly description: string
  readonly starCount: number
  readonly isOfficial: boolean
  readonly isAutomated: boolean
} = { name: "fakeimage", description: "fakequery", starCount: 42, isOfficial: false, isAutomated: false }
