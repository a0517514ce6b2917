// Two-step verification methods (core.telegram.org/api/srp); the model checks the proofs.
import { Api } from 'telegram';
import { badRequest } from '../../model/errors.ts';
import type { SrpProof } from '../../model/two-factor.ts';
import { DH_G, DH_PRIME } from '../../prime.ts';
import { big, native, userView } from '../views.ts';
import { type Methods, tlBool } from './registry.ts';

const algo = (salt1: Buffer, salt2: Buffer) =>
  new Api.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow({ salt1, salt2, g: DH_G, p: DH_PRIME });

const proofOf = (check: Api.TypeInputCheckPasswordSRP): SrpProof | undefined =>
  check instanceof Api.InputCheckPasswordSRP ? { srpId: native(check.srpId), A: check.A, M1: check.M1 } : undefined;

export function passwordMethods(m: Methods): Methods {
  return m
    .on(Api.account.GetPassword, async (ctx) => {
      const state = ctx.model.twoFactor.state(ctx.model.accounts.passwordSubject(ctx.keyId));
      const current = state.current;
      return new Api.account.Password({
        hasPassword: !!current || undefined,
        currentAlgo: current && algo(current.record.salt1, current.record.salt2),
        srp_B: current?.B,
        srpId: current && big(current.srpId),
        hint: current?.record.hint,
        newAlgo: algo(state.newSalt1, state.newSalt2),
        newSecureAlgo: new Api.SecurePasswordKdfAlgoUnknown(),
        secureRandom: Buffer.alloc(32),
      });
    })
    .on(Api.auth.CheckPassword, async (ctx, req) => {
      await ctx.model.faults.apply('auth.checkPassword');
      const account = ctx.model.accounts.passwordSubject(ctx.keyId);
      if (!account.password) badRequest('PASSWORD_HASH_INVALID');
      ctx.model.twoFactor.check(account, proofOf(req.password) ?? badRequest('PASSWORD_HASH_INVALID'));
      ctx.model.accounts.authorize(ctx.keyId, account);
      return new Api.auth.Authorization({ user: userView(ctx.model, account, account) });
    })
    .on(Api.account.UpdatePasswordSettings, async (ctx, req) => {
      const me = ctx.account();
      const { newAlgo, newPasswordHash, hint } = req.newSettings;
      const kdf = newAlgo instanceof Api.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow ? newAlgo : undefined;
      const next = newPasswordHash?.length && kdf
        ? { salt1: kdf.salt1, salt2: kdf.salt2, v: newPasswordHash, hint: hint ?? '' }
        : undefined;
      ctx.model.twoFactor.update(me, proofOf(req.password), next);
      return tlBool(true);
    });
}
