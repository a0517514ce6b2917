// Methods on sent messages: messages.editMessage, channels.deleteMessages, messages.deleteMessages,
// messages.updatePinnedMessage, messages.getMessagesViews, messages.getMessagesReactions. The model decides (model/after-send.ts).
import { Api } from 'telegram';
import { badRequest } from '../../model/errors.ts';
import { big, channelUpdates, channelView, messageView } from '../views.ts';
import { inputChannel, inputPeerChannel } from './inputs.ts';
import { mediaInput } from './media.ts';
import type { MethodContext, Methods } from './registry.ts';
import { boxMessageView, boxPeer, boxUpdates } from './targets.ts';

async function editMessage(ctx: MethodContext, req: Api.messages.EditMessage) {
  const me = ctx.account();
  // The text and the media are modelled: an edit without a text changes nothing.
  const text = req.message ?? badRequest('MESSAGE_NOT_MODIFIED');
  const media = req.media && { input: mediaInput(req.media), dcId: ctx.dcId };
  const box = boxPeer(ctx, me, req.peer);
  if (box) {
    const entry = await ctx.model.afterSend.editInBox(me, box, req.id, text, media);
    const pts = ctx.model.targets.boxes.box(me.id).pts;
    return boxUpdates(ctx, me, box, [new Api.UpdateEditMessage({ message: boxMessageView(me, entry), pts, ptsCount: 1 })]);
  }
  const ch = inputPeerChannel(ctx, me, req.peer);
  const m = await ctx.model.afterSend.editChannel(me, ch, req.id, text, media);
  const update = new Api.UpdateEditChannelMessage({ message: messageView(me, ch, m), pts: ch.pts, ptsCount: 1 });
  return channelUpdates(ctx.model, me, ch, [update]);
}

async function updatePinned(ctx: MethodContext, req: Api.messages.UpdatePinnedMessage) {
  const me = ctx.account();
  const unpin = !!req.unpin;
  const box = boxPeer(ctx, me, req.peer);
  if (box) {
    const entry = await ctx.model.afterSend.pinInBox(me, box, req.id, unpin);
    const pts = ctx.model.targets.boxes.box(me.id).pts;
    const peer = box.kind === 'user' ? new Api.PeerUser({ userId: big(box.id) }) : new Api.PeerChat({ chatId: big(box.id) });
    const update = new Api.UpdatePinnedMessages({ pinned: !unpin || undefined, peer, messages: [entry.id], pts, ptsCount: 1 });
    return boxUpdates(ctx, me, box, [update]);
  }
  const ch = inputPeerChannel(ctx, me, req.peer);
  const m = await ctx.model.afterSend.pinInChannel(me, ch, req.id, unpin);
  const update = new Api.UpdatePinnedChannelMessages({
    pinned: !unpin || undefined,
    channelId: big(ch.id),
    messages: [m.id],
    pts: ch.pts,
    ptsCount: 1,
  });
  // `silent` only spares members the notification; nothing is modelled of notifications.
  return channelUpdates(ctx.model, me, ch, [update]);
}

async function getViews(ctx: MethodContext, req: Api.messages.GetMessagesViews) {
  const me = ctx.account();
  const ch = inputPeerChannel(ctx, me, req.peer);
  const found = await ctx.model.afterSend.views(me, ch, req.id, !!req.increment);
  const views = found.map((m) =>
    new Api.MessageViews(ch.broadcast && m ? { views: m.views ?? 0, forwards: m.forwards ?? 0 } : {})
  );
  return new Api.messages.MessageViews({ views, chats: [channelView(ctx.model, me, ch)], users: [] });
}

/**
 * messages.getMessagesReactions answers Updates: an updateMessageReactions per message found, its
 * results one reactionCount per emoticon (core.telegram.org/method/messages.getMessagesReactions,
 * /constructor/updateMessageReactions, /constructor/messageReactions).
 */
async function getReactions(ctx: MethodContext, req: Api.messages.GetMessagesReactions) {
  const me = ctx.account();
  const ch = inputPeerChannel(ctx, me, req.peer);
  const found = await ctx.model.afterSend.reactions(me, ch, req.id);
  const updates = found.filter((m) => m !== undefined).map((m) =>
    new Api.UpdateMessageReactions({
      peer: new Api.PeerChannel({ channelId: big(ch.id) }),
      msgId: m.id,
      reactions: new Api.MessageReactions({
        results: [...(m.reactions ?? [])].map(([emoticon, count]) =>
          new Api.ReactionCount({ reaction: new Api.ReactionEmoji({ emoticon }), count })
        ),
      }),
    })
  );
  return channelUpdates(ctx.model, me, ch, updates);
}

export function afterSendMethods(m: Methods): Methods {
  return m
    .on(Api.messages.EditMessage, editMessage)
    .on(Api.messages.UpdatePinnedMessage, updatePinned)
    .on(Api.messages.GetMessagesViews, getViews)
    .on(Api.messages.GetMessagesReactions, getReactions)
    .on(Api.channels.DeleteMessages, async (ctx, req) => {
      const me = ctx.account();
      const affected = await ctx.model.afterSend.deleteInChannel(me, inputChannel(ctx, me, req.channel), req.id);
      return new Api.messages.AffectedMessages(affected);
    })
    .on(Api.messages.DeleteMessages, async (ctx, req) => {
      const affected = await ctx.model.afterSend.deleteInBox(ctx.account(), req.id, !!req.revoke);
      return new Api.messages.AffectedMessages(affected);
    });
}
