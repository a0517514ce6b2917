// Methods a client calls around its session: configuration, sign-in, state, self.
import { Api } from 'telegram';
import { homeDcOf } from '../../model/accounts.ts';
import { badRequest } from '../../model/errors.ts';
import { big, native, userView } from '../views.ts';
import { inputUser } from './inputs.ts';
import { type MethodContext, type Methods, tlVector } from './registry.ts';

/** help.getConfig: dc_options list every DC of the stand-in (core.telegram.org/method/help.getConfig). */
function config(ctx: MethodContext): Api.Config {
  const now = Math.floor(ctx.model.now() / 1000);
  return new Api.Config({
    date: now,
    expires: now + 3600,
    testMode: true,
    thisDc: ctx.dcId,
    dcOptions: ctx.dcs.map((dc) => new Api.DcOption({ id: dc.id, ipAddress: dc.host, port: dc.port, static: true })),
    dcTxtDomainName: '',
    chatSizeMax: 200,
    megagroupSizeMax: 200_000,
    forwardedCountMax: 100,
    onlineUpdatePeriodMs: 210_000,
    offlineBlurTimeoutMs: 5_000,
    offlineIdleTimeoutMs: 30_000,
    onlineCloudTimeoutMs: 300_000,
    notifyCloudDelayMs: 30_000,
    notifyDefaultDelayMs: 1_500,
    pushChatPeriodMs: 60_000,
    pushChatLimit: 2,
    editTimeLimit: 172_800,
    revokeTimeLimit: 2_147_483_647,
    revokePmTimeLimit: 2_147_483_647,
    ratingEDecay: 2_419_200,
    stickersRecentLimit: 200,
    channelsReadMediaPeriod: 604_800,
    callReceiveTimeoutMs: 20_000,
    callRingTimeoutMs: 90_000,
    callConnectTimeoutMs: 30_000,
    callPacketTimeoutMs: 10_000,
    meUrlPrefix: 'https://t.me/',
    captionLengthMax: 1024,
    messageLengthMax: 4096,
    webfileDcId: ctx.dcId,
  });
}

/** auth.sendCode checks the app's api_id/api_hash first (400 API_ID_INVALID, core.telegram.org/method/auth.sendCode). */
function checkApp(ctx: MethodContext, apiId: number, apiHash: string): void {
  if (apiId !== ctx.apiId || apiHash !== ctx.apiHash) badRequest('API_ID_INVALID');
}

export function sessionMethods(m: Methods): Methods {
  return m
    .on(Api.help.GetConfig, async (ctx) => config(ctx))
    .on(Api.help.GetNearestDc, async (ctx) => new Api.NearestDc({ country: 'XX', thisDc: ctx.dcId, nearestDc: ctx.dcId }))
    .on(Api.auth.SendCode, async (ctx, req) => {
      checkApp(ctx, req.apiId, req.apiHash);
      await ctx.model.faults.apply('auth.sendCode');
      // Counted on the number's own DC: a PHONE_MIGRATE_X answer sends no code.
      if (homeDcOf(req.phoneNumber) === ctx.dcId) ctx.model.signIn.beforeSendCode(req.phoneNumber);
      const { phoneCodeHash } = ctx.model.accounts.sendCode(req.phoneNumber, ctx.dcId);
      ctx.model.signIn.issued(phoneCodeHash);
      return new Api.auth.SentCode({ type: new Api.auth.SentCodeTypeApp({ length: 5 }), phoneCodeHash });
    })
    .on(Api.auth.SignIn, async (ctx, req) => {
      await ctx.model.faults.apply('auth.signIn');
      ctx.model.signIn.assertFresh(req.phoneCodeHash);
      const signed = ctx.model.accounts.signIn(ctx.keyId, req.phoneNumber, req.phoneCodeHash, req.phoneCode ?? '');
      if (signed === 'sign-up') return new Api.auth.AuthorizationSignUpRequired({});
      return new Api.auth.Authorization({ user: userView(ctx.model, signed, signed) });
    })
    .on(Api.auth.SignUp, async (ctx, req) => {
      ctx.model.signIn.assertFresh(req.phoneCodeHash);
      const account = ctx.model.accounts.signUp(ctx.keyId, req.phoneNumber, req.phoneCodeHash, req.firstName, req.lastName);
      return new Api.auth.Authorization({ user: userView(ctx.model, account, account) });
    })
    .on(Api.auth.ExportAuthorization, async (ctx, req) => {
      const exported = ctx.model.transfers.export(ctx.account(), ctx.dcId, req.dcId, ctx.dcs.map((d) => d.id));
      return new Api.auth.ExportedAuthorization({ id: big(exported.id), bytes: exported.bytes });
    })
    .on(Api.auth.ImportAuthorization, async (ctx, req) => {
      const accountId = ctx.model.transfers.import(ctx.dcId, native(req.id), req.bytes);
      const account = ctx.model.accounts.byUserId(accountId) ?? badRequest('AUTH_BYTES_INVALID');
      ctx.model.accounts.authorize(ctx.keyId, account);
      return new Api.auth.Authorization({ user: userView(ctx.model, account, account) });
    })
    .on(Api.auth.LogOut, async (ctx) => {
      ctx.account();
      ctx.model.accounts.logOut(ctx.keyId);
      return new Api.auth.LoggedOut({});
    })
    .on(Api.updates.GetState, async (ctx) => {
      ctx.account();
      return new Api.updates.State({ pts: 1, qts: 0, date: Math.floor(ctx.model.now() / 1000), seq: 0, unreadCount: 0 });
    })
    .on(Api.users.GetUsers, async (ctx, req) => {
      const me = ctx.account();
      return tlVector(req.id.map((input) => userView(ctx.model, me, inputUser(ctx, me, input))));
    })
    .on(Api.account.UpdateUsername, async (ctx, req) => {
      const me = ctx.account();
      await ctx.model.updateUsername(me, req.username);
      return userView(ctx.model, me, me);
    });
}
