// The one sleep, for Node and Deno alike (scripts, tests, the worker, functions).
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
