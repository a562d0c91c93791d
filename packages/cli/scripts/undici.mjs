/**
 * The part of undici that the `dockside` command uses, for its bundle (`bundle.mjs` puts this
 * module in place of `undici`). undici's own entry loads every feature it has (fetch,
 * cookies, WebSocket, mocks, caches, interceptors) and with them a dozen Node modules:
 * ~25 ms of every start, for none of which the command has a use. `bundle.mjs` checks that
 * the bundled code names no other export.
 */
import api from "undici/lib/api/index.js"
import Agent from "undici/lib/dispatcher/agent.js"
import Dispatcher from "undici/lib/dispatcher/dispatcher.js"
import EnvHttpProxyAgent from "undici/lib/dispatcher/env-http-proxy-agent.js"
import globalDispatcher from "undici/lib/global.js"

// As undici's entry does: `request`, `stream`, `pipeline`… on every dispatcher.
Object.assign(Dispatcher.prototype, api)

export const { getGlobalDispatcher, setGlobalDispatcher } = globalDispatcher
export { Agent, Dispatcher, EnvHttpProxyAgent }
// @effect/platform-node re-exports undici's default export.
export default { Agent, Dispatcher, EnvHttpProxyAgent, getGlobalDispatcher, setGlobalDispatcher }
