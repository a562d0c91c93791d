/**
 * @since 0.1.0
 */
export * as V1Registry from "./V1Registry.js"
/**
 * @since 0.1.0
 */
export * as FaultServer from "./FaultServer.js"
/**
 * @since 0.1.0
 */
export * as RealRegistry from "./RealRegistry.js"
/**
 * @since 0.1.0
 */
export * as V2Registry from "./V2Registry.js"

/**
 * @since 0.1.0
 */
export * as LegacyImages from "./LegacyImages.js"

/**
 * @since 0.1.0
 */
export * as OciImages from "./OciImages.js"
