import { defineProject } from "vitest/config"

export default defineProject({
  test: { name: "@dockside/testing", include: ["test/**/*.test.ts"] }
})
