/**
 * The registries that are insecure, as Docker's `--insecure-registry` means it: spoken to
 * over plain http when they do not speak https, their certificates not checked, and
 * credentials allowed to them over http. One setting in the context, read by the runtime's
 * transport (its TLS) and by the protocol clients (scheme, credentials, token realms) alike,
 * so that they never disagree: `DocksideNode.layer` provides it from its options and
 * `DOCKSIDE_INSECURE_REGISTRIES`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"

/** The insecure registries. */
export interface Settings {
  /**
   * `host[:port]` as a URL writes its host: `r.example` covers `https://r.example` but not
   * `https://r.example:5000`, which needs `r.example:5000`.
   */
  readonly hosts: ReadonlyArray<string>
  /** Loopback hosts (`localhost`, `127.x.y.z`, `::1`) are insecure too, as in Docker. */
  readonly loopback: boolean
}

/** The settings in effect: loopback hosts only, unless a program provides others. */
export class InsecureRegistries extends Context.Reference<InsecureRegistries>()(
  "@dockside/client/InsecureRegistries",
  { defaultValue: (): Settings => ({ hosts: [], loopback: true }) }
) {}

/** Is this a loopback host (`localhost`, `127.x.y.z`, `::1`)? */
export const isLoopback = (hostname: string): boolean =>
  hostname === "localhost" || hostname === "[::1]" || hostname === "::1" || /^127\.\d+\.\d+\.\d+$/.test(hostname)

/** Is the host of a URL (or of `{ hostname, host }` shaped alike) insecure under the settings? */
export const isInsecure = (
  settings: Settings,
  url: { readonly hostname: string; readonly host: string }
): boolean => (settings.loopback && isLoopback(url.hostname)) || settings.hosts.includes(url.host)

/** The same test for a `host[:port]` as a URL writes it. */
export const isInsecureHost = (settings: Settings, host: string): boolean =>
  isInsecure(settings, { hostname: new URL(`http://${host}`).hostname, host })
