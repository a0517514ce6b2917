// The one sleep, for Node and Deno alike (scripts, tests, the worker, functions).
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Seconds as an ISO 8601 duration of days, hours, minutes and seconds (90000 → "P1DT1H"). */
export function isoDuration(seconds: number): string {
  const part = (n: number, unit: string) => (n ? `${n}${unit}` : '');
  const time = part(Math.floor((seconds % 86_400) / 3600), 'H') + part(Math.floor((seconds % 3600) / 60), 'M') +
    part(seconds % 60, 'S');
  return `P${part(Math.floor(seconds / 86_400), 'D')}${time ? `T${time}` : ''}`.replace(/^P$/, 'PT0S');
}
