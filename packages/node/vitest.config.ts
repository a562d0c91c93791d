import { defineProject } from "vitest/config"

export default defineProject({
  test: { name: "@dockside/node", include: ["test/**/*.test.ts"] }
})
