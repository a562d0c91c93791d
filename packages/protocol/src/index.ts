/**
 * @since 0.1.0
 */
export * as Errors from "./Errors.js"

/**
 * @since 0.1.0
 */
export * as Identifiers from "./Identifiers.js"

/**
 * @since 0.1.0
 */
export * as Compression from "./Compression.js"

/**
 * @since 0.1.0
 */
export * as Tar from "./Tar.js"

/**
 * @since 0.1.0
 */
export * as TarSum from "./TarSum.js"

/**
 * @since 0.1.0
 */
export * as MediaType from "./MediaType.js"

/**
 * @since 0.1.0
 */
export * as Platform from "./Platform.js"

/**
 * @since 0.1.0
 */
export * as Manifest from "./Manifest.js"

/**
 * @since 0.1.0
 */
export * as Challenge from "./Challenge.js"

/**
 * @since 0.1.0
 */
export * as Reference from "./Reference.js"

/**
 * @since 0.1.0
 */
export * as V1Endpoint from "./V1Endpoint.js"

/**
 * @since 0.1.0
 */
export * as V1Wire from "./V1Wire.js"
