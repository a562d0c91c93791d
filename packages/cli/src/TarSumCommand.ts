/**
 * `dockside tarsum`: print the TarSum of a tar archive.
 *
 * @since 0.1.0
 */
import * as TarSum from "@dockside/protocol/TarSum"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeStream from "@effect/platform-node/NodeStream"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as crypto from "node:crypto"
import * as GlobalOptions from "./GlobalOptions.js"

const versions = { "0": "Version0", "1": "Version1", dev: "VersionDev" } as const satisfies Record<
  string,
  TarSum.Version
>

const version = Options.choice("tarsum-version", ["0", "1", "dev"]).pipe(
  Options.withDefault("0" as const),
  Options.withDescription("TarSum version: 0 (tarsum), 1 (tarsum.v1) or dev (tarsum.dev)")
)

const hash = Options.text("hash").pipe(
  Options.withDefault("sha256"),
  Options.withDescription("hash for entries and the final sum (md5, sha1, sha224, sha256, sha384, sha512, …)"),
  Options.mapEffect((name) =>
    crypto.getHashes().includes(name)
      ? Effect.succeed(name)
      : Effect.fail(ValidationError.invalidValue(HelpDoc.p(`Unknown hash "${name}"`)))
  )
)

const extra = Options.file("extra", { exists: "yes" }).pipe(
  Options.optional,
  Options.withDescription("a file whose bytes are hashed before the entry sums (the image JSON in the v1 protocol)")
)

const file = Args.text({ name: "FILE" }).pipe(Args.withDescription("the tar archive, or - for standard input"))

/** `dockside tarsum [--tarsum-version 0|1|dev] [--hash NAME] [--extra FILE] FILE` */
export const command = Command.make(
  "tarsum",
  { global: GlobalOptions.options, version, hash, extra, file },
  Effect.fn("TarSumCommand.run")(function*(options) {
    const fs = yield* FileSystem.FileSystem
    const extraBytes = yield* Option.match(options.extra, {
      onNone: () => Effect.succeed(undefined),
      onSome: (path) => fs.readFile(path)
    })
    const archive = options.file === "-" ? NodeStream.stdin : fs.stream(options.file, { chunkSize: 64 * 1024 })
    const sum = yield* TarSum.checksum(archive, {
      version: versions[options.version],
      hash: options.hash,
      ...(extraBytes === undefined ? {} : { extra: extraBytes })
    })
    yield* Console.log(sum)
  })
).pipe(Command.withDescription("Print the TarSum of a tar archive (the Docker v1 layer checksum)."))
