// Channel and supergroup methods: the model decides, these turn answers into TL.
import { Api } from 'telegram';
import { badRequest } from '../../model/errors.ts';
import type { Account, AdminRights, Channel } from '../../model/state.ts';
import { big, channelUpdates, channelView, messageView, native, userView } from '../views.ts';
import { inputChannel, inputPeerChannel, inputUser } from './inputs.ts';
import { type MethodContext, type Methods, tlBool } from './registry.ts';
import { boxPeer, historyOfBox, missingInvitees, sendToBox } from './targets.ts';

const updateChannel = (id: bigint) => new Api.UpdateChannel({ channelId: big(id) });

/** chatAdminRights with no right set removes the admin (core.telegram.org/method/channels.editAdmin). */
function adminRights(r: Api.ChatAdminRights): AdminRights | undefined {
  const rights = {
    postMessages: !!r.postMessages,
    addAdmins: !!r.addAdmins,
    inviteUsers: !!r.inviteUsers,
    banUsers: !!r.banUsers,
    editMessages: !!r.editMessages,
    deleteMessages: !!r.deleteMessages,
    pinMessages: !!r.pinMessages,
  };
  return Object.values(rights).some(Boolean) || r.changeInfo ? rights : undefined;
}

/** chatBannedRights: view_messages kicks, send_messages restricts, none lifts the ban (core.telegram.org/api/rights). */
const ban = (r: Api.ChatBannedRights) => r.viewMessages ? 'kicked' : r.sendMessages ? 'restricted' : undefined;

/** Runs an action on the request's channel as the caller; the answer is the channel's updates. */
async function onChannel(
  ctx: MethodContext,
  input: unknown,
  act: (me: Account, ch: Channel) => Promise<void>,
): Promise<Api.Updates> {
  const me = ctx.account();
  const ch = inputChannel(ctx, me, input);
  await act(me, ch);
  return channelUpdates(ctx.model, me, ch, [updateChannel(ch.id)]);
}

export function chatMethods(m: Methods): Methods {
  return m
    .on(Api.contacts.ResolveUsername, async (ctx, req) => {
      const me = ctx.account();
      const found = await ctx.model.resolveUsername(me, req.username);
      if (found.kind === 'user') {
        const peer = new Api.PeerUser({ userId: big(found.user.id) });
        return new Api.contacts.ResolvedPeer({ peer, chats: [], users: [userView(ctx.model, me, found.user)] });
      }
      const peer = new Api.PeerChannel({ channelId: big(found.channel.id) });
      return new Api.contacts.ResolvedPeer({ peer, chats: [channelView(ctx.model, me, found.channel)], users: [] });
    })
    .on(Api.channels.CreateChannel, async (ctx, req) => {
      const me = ctx.account();
      const ch = await ctx.model.createChannel(me, req.title, !req.megagroup);
      return channelUpdates(ctx.model, me, ch, [updateChannel(ch.id)]);
    })
    .on(Api.channels.UpdateUsername, async (ctx, req) => {
      const me = ctx.account();
      await ctx.model.updateChannelUsername(me, inputChannel(ctx, me, req.channel), req.username);
      return tlBool(true);
    })
    .on(
      Api.channels.EditAdmin,
      (ctx, req) =>
        onChannel(
          ctx,
          req.channel,
          (me, ch) => ctx.model.editAdmin(me, ch, inputUser(ctx, me, req.userId), adminRights(req.adminRights)),
        ),
    )
    .on(Api.channels.InviteToChannel, async (ctx, req) => {
      let missing: Account[] = [];
      const invite = async (me: Account, ch: Channel) => {
        missing = await ctx.model.invite(me, ch, req.users.map((u) => inputUser(ctx, me, u)));
      };
      const updates = await onChannel(ctx, req.channel, invite);
      return new Api.messages.InvitedUsers({ updates, missingInvitees: missingInvitees(missing) });
    })
    .on(Api.channels.JoinChannel, (ctx, req) => onChannel(ctx, req.channel, (me, ch) => ctx.model.join(me, ch)))
    .on(Api.channels.LeaveChannel, (ctx, req) => onChannel(ctx, req.channel, (me, ch) => ctx.model.leave(me, ch)))
    .on(
      Api.channels.EditBanned,
      (ctx, req) =>
        onChannel(
          ctx,
          req.channel,
          (me, ch) => ctx.model.editBanned(me, ch, inputUser(ctx, me, req.participant), ban(req.bannedRights)),
        ),
    )
    .on(
      Api.channels.ToggleSlowMode,
      (ctx, req) => onChannel(ctx, req.channel, (me, ch) => ctx.model.toggleSlowMode(me, ch, req.seconds)),
    )
    .on(Api.messages.SendMessage, async (ctx, req) => {
      const me = ctx.account();
      const box = boxPeer(ctx, me, req.peer);
      if (box) return sendToBox(ctx, me, box, req);
      const ch = inputPeerChannel(ctx, me, req.peer);
      const randomId = req.randomId ?? badRequest('RANDOM_ID_INVALID');
      const { message } = await ctx.model.sendMessage(me, ch, req.message, native(randomId));
      // The answer pairs the random_id with the message id, then the new message (core.telegram.org/api/updates).
      return channelUpdates(ctx.model, me, ch, [
        new Api.UpdateMessageID({ id: message.id, randomId }),
        new Api.UpdateNewChannelMessage({ message: messageView(me, ch, message), pts: ch.pts, ptsCount: 1 }),
      ]);
    })
    .on(Api.messages.GetHistory, async (ctx, req) => {
      const me = ctx.account();
      const box = boxPeer(ctx, me, req.peer);
      if (box) return historyOfBox(ctx, me, box, req);
      const ch = inputPeerChannel(ctx, me, req.peer);
      const messages = await ctx.model.history(me, ch, req.offsetId, req.limit);
      return new Api.messages.ChannelMessages({
        pts: ch.pts,
        count: ch.messages.length,
        messages: messages.map((msg) => messageView(me, ch, msg)),
        chats: [channelView(ctx.model, me, ch)],
        users: [],
        topics: [],
      });
    });
}
