// vitest globalSetup: `npm test` starts the cluster itself and passes TEST_PG_ADMIN_URL;
// a bare `npx vitest` gets one started here instead.
import { startTestCluster } from './cluster.ts';

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env.TEST_PG_ADMIN_URL) return undefined;
  const cluster = await startTestCluster();
  // Forked workers inherit this process's environment.
  Object.assign(process.env, cluster.env);
  return async () => {
    await cluster.stop();
  };
}
