import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const bin = fileURLToPath(new URL("../dist/bin.js", import.meta.url))
const vectors = fileURLToPath(new URL("../../../../shared/spec/tarsum-vectors", import.meta.url))
const haveVectors = existsSync(vectors)
if (!haveVectors) console.warn(`SKIPPED: vector-based CLI cases, ${vectors} is absent`)
const layer46 = join(vectors, "46af0962ab5afeb5ce6740d4d91652e69206fc991fd5328c1a94d364ad00e457", "layer.tar")
const json46 = join(vectors, "46af0962ab5afeb5ce6740d4d91652e69206fc991fd5328c1a94d364ad00e457", "json")

const dockside = (args: ReadonlyArray<string>, input?: Uint8Array) => {
  const result = spawnSync(process.execPath, [bin, ...args], { input, encoding: "utf8", timeout: 30_000 })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

describe("dockside tarsum", () => {
  it("requires the built binary", () => {
    expect(existsSync(bin), `${bin} is missing: run npm run build`).toBe(true)
  })

  it.skipIf(!haveVectors)("prints exactly one line, the TarSum (default Version0, sha256, no extra)", () => {
    const result = dockside(["tarsum", layer46])
    expect(result).toEqual({
      code: 0,
      stdout: "tarsum+sha256:5e2c2a5b29c91f5ae3323f6cd74d1274c99de342669cb2e0c2b99f5e69c15598\n",
      stderr: ""
    })
  })

  it.skipIf(!haveVectors)("takes --tarsum-version, --hash, --extra, and - for standard input", () => {
    const layer = readFileSync(layer46)
    expect(dockside(["tarsum", "--extra", json46, layer46]).stdout).toBe(
      "tarsum+sha256:4095cc12fa5fdb1ab2760377e1cd0c4ecdd3e61b4f9b82319d96fcea6c9a41c6\n"
    )
    expect(dockside(["tarsum", "--tarsum-version", "dev", "--extra", json46, "-"], layer).stdout).toBe(
      "tarsum.dev+sha256:db56e35eec6ce65ba1588c20ba6b1ea23743b59e81fb6b7f358ccbde5580345c\n"
    )
    expect(dockside(["tarsum", "--tarsum-version", "1", "-"], layer).stdout).toBe(
      "tarsum.v1+sha256:41cd5c911333ee394776e432fc5a27cc82dfea313e5feff965e31c0fddd9213d\n"
    )
    expect(dockside(["tarsum", "--hash", "sha512", layer46]).stdout).toMatch(/^tarsum\+sha512:[0-9a-f]{128}\n$/)
  })

  it("an empty archive on standard input gives the empty digest", () => {
    expect(dockside(["tarsum", "-"], new Uint8Array(1024)).stdout).toBe(
      "tarsum+sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
    )
  })

  it("bad arguments exit 2 with a usage message", () => {
    for (
      const args of [["tarsum"], ["tarsum", "--tarsum-version", "7", "x"], ["tarsum", "--hash", "nope", "x"], [
        "tarsum",
        "--bogus",
        "x"
      ]]
    ) {
      const result = dockside(args)
      expect(result.code, args.join(" ")).toBe(2)
      expect(result.stdout).toBe("")
      expect(result.stderr).toContain("Usage:\n  dockside tarsum ")
      expect(result.stderr).toContain("[--tarsum-version 0 | 1 | dev]")
    }
    expect(dockside(["tarsum", "--hash", "nope", "x"]).stderr).toContain(`Unknown hash "nope"`)
  })

  it("an unreadable or corrupt archive exits 1 with the typed error's message", () => {
    const dir = mkdtempSync(join(tmpdir(), "dockside-cli-"))
    try {
      const missing = dockside(["tarsum", join(dir, "missing.tar")])
      expect(missing.code).toBe(1)
      expect(missing.stderr).toMatch(/^dockside: .*ENOENT/)
      const corrupt = join(dir, "corrupt.tar")
      writeFileSync(corrupt, Buffer.alloc(700, 0x41))
      const result = dockside(["tarsum", corrupt])
      expect(result).toEqual({
        code: 1,
        stdout: "",
        stderr: "dockside: corrupt tar archive at byte 0: header checksum mismatch\n"
      })
      const truncated = dockside(["tarsum", "-"], Buffer.alloc(100))
      expect(truncated).toEqual({
        code: 1,
        stdout: "",
        stderr: "dockside: corrupt tar archive at byte 100: unexpected end of archive\n"
      })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
