import { defineProject } from "vitest/config"

export default defineProject({
  test: { name: "@dockside/client", include: ["test/**/*.test.ts"] }
})
