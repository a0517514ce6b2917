// Dispatches a decrypted call: unwraps the invoke* wrappers clients put around the first calls
// (invokeWithLayer, initConnection, invokeWithoutUpdates, invokeAfterMsg) and runs the method.
import { Api } from 'telegram';
import { assertMayCall, methodName } from '../../model/account-states.ts';
import { badRequest } from '../../model/errors.ts';
import type { TelegramModel } from '../../model/model.ts';
import type { Call } from '../connection.ts';
import { chatMethods } from './chats.ts';
import { mediaMethods } from './media.ts';
import { type DcAddress, type MethodContext, Methods, type TlObject } from './registry.ts';
import { passwordMethods } from './password.ts';
import { sessionMethods } from './session.ts';
import { targetMethods } from './targets.ts';
import { afterSendMethods } from './after-send.ts';

export type { DcAddress, TlObject };

type TlRequest = { className?: string };

export interface DispatchOptions {
  model: TelegramModel;
  dcs: () => DcAddress[];
  apiId: number;
  apiHash: string;
}

function unwrap(request: unknown): unknown {
  let req = request;
  while (
    req instanceof Api.InvokeWithLayer || req instanceof Api.InitConnection || req instanceof Api.InvokeWithoutUpdates ||
    req instanceof Api.InvokeAfterMsg || req instanceof Api.InvokeAfterMsgs
  ) req = req.query;
  return req;
}

export function dispatcher(opts: DispatchOptions): (call: Call) => Promise<TlObject> {
  const methods = mediaMethods(afterSendMethods(targetMethods(passwordMethods(chatMethods(sessionMethods(new Methods()))))));
  return async (call) => {
    const req = unwrap(call.request);
    const handler = methods.handler(req);
    // A method outside the stand-in's schema: "the method invoked is invalid in the current schema".
    if (!handler) return badRequest('INPUT_METHOD_INVALID');
    const ctx: MethodContext = {
      model: opts.model,
      dcId: call.dcId,
      keyId: call.keyId,
      dcs: opts.dcs(),
      apiId: opts.apiId,
      apiHash: opts.apiHash,
      account: () => assertMayCall(opts.model.accounts.forKey(call.keyId), methodName(String((req as TlRequest).className))),
    };
    return await handler(ctx, req);
  };
}
