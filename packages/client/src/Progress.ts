/**
 * What dockside is doing, as events a program can subscribe to: images and blobs starting
 * and finishing, bytes moving, and what the policies did (a retry, a redirect, a resumed
 * download). The library never prints: the CLI renders them.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/** One thing that happened. URLs never carry user-info. */
export type Event = Data.TaggedEnum<{
  /** Work on an image or blob begins; `size` when known. */
  Started: { readonly id: string; readonly action: "push" | "pull"; readonly size?: number | undefined }
  /** Bytes of an image or blob moved (cumulative for that id). */
  Bytes: { readonly id: string; readonly done: number; readonly size?: number | undefined }
  /** An image or blob is finished; `skipped` when the other side had it already. */
  Done: { readonly id: string; readonly action: "pushed" | "pulled" | "skipped" | "mounted" }
  /** A request is sent again after `delay`; `status` 0 means a network error. */
  Retrying: {
    readonly method: string
    readonly url: string
    readonly attempt: number
    readonly status: number
    readonly reason: string
    readonly delay: Duration.Duration
  }
  /** A redirect was followed. */
  Redirected: { readonly method: string; readonly from: string; readonly to: string; readonly status: number }
  /** A download resumes at `offset` after a dropped connection. */
  Resumed: { readonly url: string; readonly offset: number; readonly attempt: number }
}>

/** Constructors for {@link Event}. */
export const Event: Data.TaggedEnum.Constructor<Event> = Data.taggedEnum<Event>()

/** Where events go. Without it in the context, events are dropped. */
export class Progress extends Context.Tag("@dockside/client/Progress")<
  Progress,
  { readonly publish: (event: Event) => Effect.Effect<void> }
>() {}

/** Publish an event to the {@link Progress} in the context, if there is one. */
export const publish = (event: Event): Effect.Effect<void> =>
  Effect.flatMap(
    Effect.serviceOption(Progress),
    Option.match({ onNone: () => Effect.void, onSome: (progress) => progress.publish(event) })
  )
