/**
 * @since 0.1.0
 */
export * as V1Session from "./V1Session.js"

/**
 * @since 0.1.0
 */
export * as V1Transport from "./V1Transport.js"

/**
 * @since 0.1.0
 */
export * as LegacyLayout from "./LegacyLayout.js"

/**
 * @since 0.1.0
 */
export * as V1Flows from "./V1Flows.js"
