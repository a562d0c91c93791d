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
export * as FileBodies from "./FileBodies.js"

/**
 * @since 0.1.0
 */
export * as Files from "./Files.js"

/**
 * @since 0.1.0
 */
export * as LegacyLayout from "./LegacyLayout.js"

/**
 * @since 0.1.0
 */
export * as V1Flows from "./V1Flows.js"

/**
 * @since 0.1.0
 */
export * as HttpErrors from "./HttpErrors.js"

/**
 * @since 0.1.0
 */
export * as InsecureRegistries from "./InsecureRegistries.js"

/**
 * @since 0.1.0
 */
export * as Progress from "./Progress.js"

/**
 * @since 0.1.0
 */
export * as Redirects from "./Redirects.js"

/**
 * @since 0.1.0
 */
export * as RegistryPolicy from "./RegistryPolicy.js"

/**
 * @since 0.1.0
 */
export * as Retry from "./Retry.js"

/**
 * @since 0.1.0
 */
export * as SingleFlight from "./SingleFlight.js"

/**
 * @since 0.1.0
 */
export * as Timeouts from "./Timeouts.js"

/**
 * @since 0.1.0
 */
export * as Distribution from "./Distribution.js"

/**
 * @since 0.1.0
 */
export * as OciLayout from "./OciLayout.js"

/**
 * @since 0.1.0
 */
export * as V2Auth from "./V2Auth.js"

/**
 * @since 0.1.0
 */
export * as V2Flows from "./V2Flows.js"

/**
 * @since 0.1.0
 */
export * as DockerArchive from "./DockerArchive.js"

/**
 * @since 0.1.0
 */
export * as Bodies from "./Bodies.js"
