// Minimal typings for cli-progress 3.12 (the slice the demo uses). Delete this file if
// @types/cli-progress is added to devDependencies.
declare module 'cli-progress' {
  interface Options {
    format?: string;
    stream?: NodeJS.WritableStream;
    hideCursor?: boolean;
    clearOnComplete?: boolean;
    stopOnComplete?: boolean;
    barsize?: number;
    fps?: number;
    noTTYOutput?: boolean;
    notTTYSchedule?: number;
    etaBuffer?: number;
    autopadding?: boolean;
  }
  class SingleBar {
    update(value: number, payload?: Record<string, unknown>): void;
    setTotal(total: number): void;
    stop(): void;
  }
  class MultiBar {
    constructor(options: Options, preset?: unknown);
    create(total: number, start: number, payload?: Record<string, unknown>): SingleBar;
    log(text: string): void;
    stop(): void;
  }
  const Presets: { shades_classic: unknown; shades_grey: unknown; rect: unknown; legacy: unknown };
  const _default: { MultiBar: typeof MultiBar; SingleBar: typeof SingleBar; Presets: typeof Presets };
  export default _default;
}
