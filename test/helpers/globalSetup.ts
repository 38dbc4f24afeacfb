import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type EmbeddedServer } from '../../demo/embeddedPostgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
  }
}

let server: EmbeddedServer | undefined;

/** One server for the whole run: TEST_DATABASE_URL when given, else an embedded one. */
export async function setup(project: TestProject): Promise<void> {
  const external = process.env.TEST_DATABASE_URL;
  if (external) {
    project.provide('adminUrl', external);
    console.log(`tests use TEST_DATABASE_URL (${new URL(external).host})`);
    return;
  }
  server = await startEmbeddedPostgres();
  project.provide('adminUrl', server.url);
  console.log(`tests use an embedded PostgreSQL at ${new URL(server.url).host}`);
}

export async function teardown(): Promise<void> {
  await server?.stop();
}
