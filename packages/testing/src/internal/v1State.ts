/**
 * The in-memory store behind {@link V1Registry}: images, repositories, issued tokens,
 * users, the request log and the fault knobs, with the rules shared by the HTTP handlers
 * and the service's own operations.
 *
 * Every change happens inside one synchronous step (an `Effect.sync` or a handler's
 * synchronous part), so on Node's single thread no request sees a half-made change.
 *
 * @internal
 */
import * as Identifiers from "@dockside/protocol/Identifiers"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { createHash, randomInt } from "node:crypto"
import type { LoggedRequest } from "../V1Registry.js"
import * as Seed from "./v1Seed.js"

/** What a token lets its bearer do: `read` = GET, `write` = PUT/POST, `delete` = DELETE. */
export type Access = "read" | "write" | "delete"

/** A token handed out in `X-Docker-Token`. */
export interface Token {
  readonly value: string
  readonly signature: string
  readonly repository: string
  readonly access: Access
}

/** A stored image; the layer is kept as the chunks it arrived in. */
export interface ImageRecord {
  readonly id: Identifiers.ImageId
  readonly parent: Identifiers.ImageId | undefined
  readonly json: Uint8Array
  readonly ancestry: ReadonlyArray<Identifiers.ImageId>
  layer: ReadonlyArray<Uint8Array> | undefined
  layerSize: number | undefined
  checksumPayload: string | undefined
  checksum: string | undefined
  uploading: boolean
}

/** A repository: registry tags and the index's image list (id → checksum). */
export interface RepositoryRecord {
  readonly tags: Map<string, Identifiers.ImageId>
  readonly images: Map<Identifiers.ImageId, string | undefined>
}

/** A search catalogue entry. */
export interface SearchEntry {
  readonly name: string
  readonly description: string
  readonly starCount: number
  readonly isOfficial: boolean
  readonly isAutomated: boolean
}

/** The whole mutable state of one server. */
export interface State {
  readonly images: Map<string, ImageRecord>
  readonly repositories: Map<string, RepositoryRecord>
  readonly tokens: Map<string, Token>
  readonly users: Map<string, { password: string; email: string }>
  readonly catalogue: Array<SearchEntry>
  readonly log: Array<LoggedRequest>
  /** Requests still to answer with `failStatus`. */
  failCount: number
  failStatus: number
  /** Layer downloads still to cut after `cutBytes` body bytes. */
  cutCount: number
  cutBytes: number
}

const isImageId = Schema.is(Identifiers.ImageId)

/** An empty store. */
export const empty = (): State => ({
  images: new Map(),
  repositories: new Map(),
  tokens: new Map(),
  users: new Map(),
  catalogue: [],
  log: [],
  failCount: 0,
  failStatus: 500,
  cutCount: 0,
  cutBytes: 0
})

/** Fill a store with the §10.3 seed data. */
export const seed = (state: State): void => {
  for (const image of Seed.images) {
    state.images.set(image.id, {
      id: image.id,
      parent: image.parent,
      json: Buffer.from(image.json, "utf8"),
      ancestry: [image.id, ...(image.parent === undefined ? [] : state.images.get(image.parent)?.ancestry ?? [])],
      layer: [image.layer],
      layerSize: image.layer.length,
      checksumPayload: image.checksumPayload,
      checksum: image.checksum,
      uploading: false
    })
  }
  state.repositories.set(Seed.repository, {
    tags: new Map(Object.entries(Seed.tags)),
    images: new Map(Seed.images.map((image) => [image.id, image.checksum]))
  })
  state.catalogue.push(Seed.searchEntry)
}

/**
 * The repository name a path or argument stands for: Docker's name rules, and a name
 * without `/` lives under `library/` (as the Python registry reads it). `undefined` when
 * the name breaks the rules.
 */
export const normalizeRepository = (name: string): string | undefined => {
  const trimmed = name.endsWith("/") ? name.slice(0, -1) : name
  if (trimmed.length > Identifiers.maxNameLength || Identifiers.checkRepositoryPath(trimmed) !== undefined) {
    return undefined
  }
  return trimmed.includes("/") ? trimmed : `library/${trimmed}`
}

/** The repository record, created when missing. */
export const repositoryOf = (state: State, name: string): RepositoryRecord => {
  const existing = state.repositories.get(name)
  if (existing !== undefined) return existing
  const created: RepositoryRecord = { tags: new Map(), images: new Map() }
  state.repositories.set(name, created)
  return created
}

/** The `id` and `parent` of an image JSON document that passes the Python registry's rules. */
export interface ImageJson {
  readonly id: Identifiers.ImageId
  readonly parent: ImageRecord | undefined
}

/**
 * Check an image JSON document: an object whose `id` is `expectedId` (or any valid id when
 * none is expected) and whose `parent`, if set, is a stored image. The error is the
 * Python registry's message.
 */
export const checkImageJson = (
  state: State,
  json: Uint8Array,
  expectedId: string | undefined
): Either.Either<ImageJson, string> =>
  Either.gen(function*() {
    const data = yield* Either.try({
      try: (): unknown => JSON.parse(Buffer.from(json).toString("utf8")),
      catch: () => "Invalid JSON"
    })
    if (typeof data !== "object" || data === null || Array.isArray(data) || Object.keys(data).length === 0) {
      return yield* Either.left("Invalid JSON")
    }
    const fields = data as Record<string, unknown>
    if (!("id" in fields)) return yield* Either.left("Missing key `id' in JSON")
    const id = fields.id
    if (expectedId !== undefined && id !== expectedId) return yield* Either.left("JSON data contains invalid id")
    if (!isImageId(id)) return yield* Either.left("Invalid image ID")
    const parentId = fields.parent
    if (parentId === undefined || parentId === null || parentId === "") return { id, parent: undefined }
    const parent = typeof parentId === "string" ? state.images.get(parentId) : undefined
    if (parent === undefined) return yield* Either.left("Image depends on a non existing parent")
    return { id, parent }
  })

/** Store an image's JSON as a new record (replacing any unfinished one), marked as uploading. */
export const storeJson = (state: State, image: ImageJson, json: Uint8Array): ImageRecord => {
  const record: ImageRecord = {
    id: image.id,
    parent: image.parent?.id,
    json,
    ancestry: [image.id, ...(image.parent?.ancestry ?? [])],
    layer: undefined,
    layerSize: undefined,
    checksumPayload: undefined,
    checksum: undefined,
    uploading: true
  }
  state.images.set(image.id, record)
  return record
}

/**
 * The running payload checksum of §4.10: SHA-256 over the image JSON, one `\n` byte and
 * then every layer byte as received.
 */
export const payloadHasher = (json: Uint8Array): {
  readonly update: (chunk: Uint8Array) => void
  readonly digest: () => string
} => {
  const hash = createHash("sha256").update(json).update("\n")
  return { update: (chunk) => hash.update(chunk), digest: () => `sha256:${hash.digest("hex")}` }
}

/** Store a layer on a record: its chunks, size and payload checksum. */
export const storeLayer = (
  record: ImageRecord,
  chunks: ReadonlyArray<Uint8Array>,
  size: number,
  checksumPayload: string
): void => {
  record.layer = chunks
  record.layerSize = size
  record.checksumPayload = checksumPayload
}

/** The bytes `[start, end)` of a chunked layer, as views (no copy). */
export function* slice(chunks: ReadonlyArray<Uint8Array>, start: number, end: number): Generator<Uint8Array> {
  let offset = 0
  for (const chunk of chunks) {
    const from = Math.max(start - offset, 0)
    const to = Math.min(end - offset, chunk.length)
    if (from < to) yield chunk.subarray(from, to)
    offset += chunk.length
    if (offset >= end) return
  }
}

const signatureAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

/**
 * Issue a token the Hub's way: `signature=<16 A-Z0-9>,repository="<ns>/<repo>",access=<access>`
 * (without the `Token ` prefix the Python standalone index adds).
 */
export const issueToken = (state: State, repository: string, access: Access): Token => {
  const signature = Array.from({ length: 16 }, () => signatureAlphabet[randomInt(signatureAlphabet.length)]).join("")
  const token: Token = {
    value: `signature=${signature},repository="${repository}",access=${access}`,
    signature,
    repository,
    access
  }
  state.tokens.set(signature, token)
  return token
}

/**
 * The issued token an `Authorization: Token …` header carries: the last `signature=` value
 * this server issued (the header may hold several comma-joined tokens, or a doubled
 * `Token Token` prefix). The token's repository and access are the server's record, not
 * what the header claims.
 */
export const tokenOf = (state: State, authorization: string): Token | undefined => {
  if (!/^token\s/i.test(authorization)) return undefined
  const signatures = Array.from(authorization.matchAll(/signature=([A-Za-z0-9]+)/g), (match) => match[1]!)
  return signatures.reverse().map((signature) => state.tokens.get(signature)).find((token) => token !== undefined)
}

/** Whether a token allows a method on a repository (`undefined`: an image route, no repository). */
export const tokenAllows = (token: Token, method: string, repository: string | undefined): boolean => {
  if (repository !== undefined && token.repository !== repository) return false
  switch (token.access) {
    case "read":
      return method === "GET" || method === "HEAD"
    case "write":
      return method === "PUT" || method === "POST"
    case "delete":
      return method === "DELETE"
  }
}

/** Credentials in an `Authorization: Basic …` header, if it is one. */
const basicCredentials = (
  authorization: string | undefined
): { readonly username: string; readonly password: string } | undefined => {
  const match = /^basic\s+(\S+)\s*$/i.exec(authorization ?? "")
  if (match === null) return undefined
  const decoded = Buffer.from(match[1]!, "base64").toString("utf8")
  const colon = decoded.indexOf(":")
  return colon === -1 ? undefined : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
}

/**
 * Check Basic credentials: a known user needs the right password; an unknown user is
 * accepted only by an open server (one without `basicAuth`).
 */
export const basicStatus = (
  state: State,
  open: boolean,
  authorization: string | undefined
): "none" | "valid" | "invalid" => {
  if (!/^basic\s/i.test(authorization ?? "")) return "none"
  const credentials = basicCredentials(authorization)
  if (credentials === undefined) return "invalid"
  const user = state.users.get(credentials.username)
  if (user === undefined) return open ? "valid" : "invalid"
  return user.password === credentials.password ? "valid" : "invalid"
}
