/**
 * One run of an effect per key at a time: callers that ask for a key while its effect runs
 * wait for that run and share its result (a token fetch, a credential helper process, a
 * probe of a registry's scheme), instead of each starting their own.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"

/** Run `effect` for `key`, or wait for the run of it already under way. */
export type SingleFlight<K, A, E> = (key: K, effect: Effect.Effect<A, E>) => Effect.Effect<A, E>

/**
 * A fresh set of flights. A run's success or failure goes to all its callers; when the
 * caller running it is interrupted, the waiting callers start the run again themselves.
 * Nothing is kept once a run ends: caching results is the caller's business.
 */
export const make = <K, A, E>(): SingleFlight<K, A, E> => {
  const pending = new Map<K, Deferred.Deferred<A, E>>()
  const flight: SingleFlight<K, A, E> = (key, effect) =>
    Effect.suspend(() => {
      const inFlight = pending.get(key)
      if (inFlight !== undefined) {
        return Deferred.await(inFlight).pipe(
          Effect.catchAllCause((cause) =>
            Cause.isInterruptedOnly(cause) ? flight(key, effect) : Effect.failCause(cause)
          )
        )
      }
      const deferred = Deferred.unsafeMake<A, E>(FiberId.none)
      pending.set(key, deferred)
      const release = Effect.sync(() => {
        if (pending.get(key) === deferred) pending.delete(key)
      })
      return effect.pipe(
        Effect.exit,
        Effect.tap((exit) => Deferred.done(deferred, exit)),
        // Interrupted, `Effect.exit` never sees it: wake the waiting callers, which then run it.
        Effect.onInterrupt(() => Effect.zipRight(release, Deferred.interrupt(deferred))),
        Effect.ensuring(release),
        Effect.flatten
      )
    })
  return flight
}
