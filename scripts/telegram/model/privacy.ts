// The privacy settings that decide whether a user can be reached (core.telegram.org/api/privacy):
// who may invite the user to chats (inputPrivacyKeyChatInvite), and whether messages from
// non-contacts need Premium (globalPrivacySettings.new_noncontact_peers_require_premium). Contacts
// are the users an account imported (contacts.importContacts). No account here has Premium.
import { forbidden } from './errors.ts';
import type { Account } from './state.ts';

/** Who may invite a user to chats: the first rule that names them decides (core.telegram.org/api/privacy). */
export type InviteRule = 'everybody' | 'contacts' | 'nobody';

export class Privacy {
  private readonly contacts = new Map<bigint, Set<bigint>>();
  private readonly invites = new Map<bigint, InviteRule>();
  private readonly premiumFromStrangers = new Set<bigint>();

  addContacts(owner: Account, users: Account[]): void {
    const set = this.contacts.get(owner.id) ?? new Set<bigint>();
    for (const u of users) set.add(u.id);
    this.contacts.set(owner.id, set);
  }

  setInviteRule(user: Account, rule: InviteRule): void {
    this.invites.set(user.id, rule);
  }

  setPremiumFromStrangers(user: Account, on: boolean): void {
    if (on) this.premiumFromStrangers.add(user.id);
    else this.premiumFromStrangers.delete(user.id);
  }

  /** Whether `inviter` may add `user` to a chat; the others are answered as missing_invitees (/constructor/missingInvitee). */
  mayInvite(inviter: Account, user: Account): boolean {
    const rule = this.invites.get(user.id) ?? 'everybody';
    return rule === 'everybody' || (rule === 'contacts' && this.isContact(user, inviter));
  }

  /**
   * A user who asks Premium of non-contacts: a message from a sender not in the user's contacts is
   * 403 PRIVACY_PREMIUM_REQUIRED (messages.sendMessage's errors; /method/account.setGlobalPrivacySettings).
   */
  assertMayMessage(sender: Account, user: Account): void {
    if (this.premiumFromStrangers.has(user.id) && !this.isContact(user, sender)) forbidden('PRIVACY_PREMIUM_REQUIRED');
  }

  private isContact(owner: Account, other: Account): boolean {
    return this.contacts.get(owner.id)?.has(other.id) ?? false;
  }
}
