// Input peers as the model understands them. Every id comes with the access hash the calling
// account received (core.telegram.org/api/peers); only channels, supergroups and users are modelled.
import { Api } from 'telegram';
import { badRequest } from '../../model/errors.ts';
import type { Account, Channel } from '../../model/state.ts';
import { native } from '../views.ts';
import type { MethodContext } from './registry.ts';

export function inputChannel(ctx: MethodContext, viewer: Account, input: unknown): Channel {
  if (input instanceof Api.InputChannel || input instanceof Api.InputPeerChannel) {
    return ctx.model.channel(viewer, native(input.channelId), native(input.accessHash));
  }
  return badRequest('CHANNEL_INVALID');
}

export function inputUser(ctx: MethodContext, viewer: Account, input: unknown): Account {
  if (input instanceof Api.InputUserSelf || input instanceof Api.InputPeerSelf) return viewer;
  if (input instanceof Api.InputUser || input instanceof Api.InputPeerUser) {
    return ctx.model.user(viewer, native(input.userId), native(input.accessHash));
  }
  return badRequest('USER_ID_INVALID');
}

/** A peer for messages.* methods: channels and supergroups only, for now. */
export function inputPeerChannel(ctx: MethodContext, viewer: Account, peer: unknown): Channel {
  if (peer instanceof Api.InputPeerChannel) return inputChannel(ctx, viewer, peer);
  return badRequest('PEER_ID_INVALID');
}
