/**
 * What the policies did (a retry, a redirect, a resumed download), as events a program
 * can subscribe to. The library never prints: the CLI shows them at `--verbose`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/** One thing a policy did. URLs never carry user-info. */
export type PolicyEvent = Data.TaggedEnum<{
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

/** Constructors for {@link PolicyEvent}. */
export const PolicyEvent: Data.TaggedEnum.Constructor<PolicyEvent> = Data.taggedEnum<PolicyEvent>()

/** Where events go. Without it in the context, events are dropped. */
export class PolicyEvents extends Context.Tag("@dockside/client/PolicyEvents")<
  PolicyEvents,
  { readonly publish: (event: PolicyEvent) => Effect.Effect<void> }
>() {}

/** Publish an event to the {@link PolicyEvents} in the context, if there is one. */
export const publish = (event: PolicyEvent): Effect.Effect<void> =>
  Effect.flatMap(
    Effect.serviceOption(PolicyEvents),
    Option.match({ onNone: () => Effect.void, onSome: (events) => events.publish(event) })
  )
