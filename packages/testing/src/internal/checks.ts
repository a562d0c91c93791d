/**
 * Checks of the test servers' options and knobs, failing with `InvalidArgument`.
 *
 * @internal
 */
import * as Errors from "@dockside/protocol/Errors"

/** An option or knob value that is not allowed, and why. */
export const invalid = (name: string, value: unknown, reason: string): Errors.InvalidArgument =>
  new Errors.InvalidArgument({ name, value: String(value), reason })

/** A non-negative integer. */
export const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 0
