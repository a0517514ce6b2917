// The table of TL methods the stand-in answers, and what a method handler is given.
import type { TelegramModel } from '../../model/model.ts';
import type { Account } from '../../model/state.ts';

export interface DcAddress {
  id: number;
  host: string;
  port: number;
}

export interface MethodContext {
  model: TelegramModel;
  dcId: number;
  keyId: string;
  dcs: DcAddress[];
  apiId: number;
  apiHash: string;
  /** The account the connection's auth key is signed in as (401 AUTH_KEY_UNREGISTERED otherwise). */
  account(): Account;
}

export interface TlObject {
  getBytes(): Buffer;
}

// deno-lint-ignore no-explicit-any -- GramJS request constructors take a per-class argument object
type RequestClass<T> = { CONSTRUCTOR_ID: number; new (...args: any[]): T };
type Handler = (ctx: MethodContext, req: unknown) => Promise<TlObject>;

export class Methods {
  private readonly byId = new Map<number, Handler>();

  on<T>(cls: RequestClass<T>, fn: (ctx: MethodContext, req: T) => Promise<TlObject>): this {
    this.byId.set(cls.CONSTRUCTOR_ID, fn as Handler);
    return this;
  }

  handler(req: unknown): Handler | undefined {
    const id = (req as { CONSTRUCTOR_ID?: number })?.CONSTRUCTOR_ID;
    return id === undefined ? undefined : this.byId.get(id);
  }
}

const BOOL_TRUE = 0x997275b5;
const BOOL_FALSE = 0xbc799737;
const VECTOR = 0x1cb5c415;

export const tlBool = (value: boolean): TlObject => ({
  getBytes: () => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value ? BOOL_TRUE : BOOL_FALSE, 0);
    return b;
  },
});

export const tlVector = (items: TlObject[]): TlObject => ({
  getBytes: () => {
    const head = Buffer.alloc(8);
    head.writeUInt32LE(VECTOR, 0);
    head.writeInt32LE(items.length, 4);
    return Buffer.concat([head, ...items.map((i) => i.getBytes())]);
  },
});
