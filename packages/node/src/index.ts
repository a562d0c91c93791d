/**
 * @since 0.1.0
 */
export * as DockerConfig from "./DockerConfig.js"

/**
 * @since 0.1.0
 */
export * as DocksideNode from "./DocksideNode.js"

/**
 * @since 0.1.0
 */
export * as NodeFileBodies from "./NodeFileBodies.js"
