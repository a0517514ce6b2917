// Telegram's RPC errors: a numeric code (the kind, like an HTTP status) and a type in capitals,
// where a trailing _X carries a number (core.telegram.org/api/errors).

export class RpcFailure extends Error {
  readonly code: number;
  readonly type: string;
  constructor(code: number, type: string) {
    super(`${code} ${type}`);
    this.code = code;
    this.type = type;
  }
}

export const fail = (code: number, type: string): never => {
  throw new RpcFailure(code, type);
};

/** 420 FLOOD_WAIT_X: "a wait of X seconds is required" (core.telegram.org/api/errors#420-flood). */
export const floodWait = (seconds: number): never => fail(420, `FLOOD_WAIT_${Math.max(1, Math.ceil(seconds))}`);

/** 400 BAD_REQUEST family: the arguments name something that does not exist or is not allowed. */
export const badRequest = (type: string): never => fail(400, type);

/** 403 FORBIDDEN family: a privacy or rights violation (core.telegram.org/api/errors#403-forbidden). */
export const forbidden = (type: string): never => fail(403, type);
