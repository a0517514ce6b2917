// Fault injection at the model: errors for a method and/or a target, and slow answers. Socket-level
// faults (dropped connections, a DC that is down, half-open connections) live in the MTProto server.
import { RpcFailure } from './errors.ts';

export interface FaultRule {
  /** A TL method name such as 'messages.sendMessage'; every method when absent. */
  method?: string;
  /** A target: a channel's username or id as text; every target when absent. */
  target?: string;
  /** The RPC error to answer, e.g. { code: 420, type: 'FLOOD_WAIT_30' } or { code: -503, type: 'Timeout' }. */
  error?: { code: number; type: string };
  /** Answer only after this long (a slow Telegram). */
  delayMs?: number;
  /** Answer only once this settles: a slow answer a test releases when it chooses. */
  until?: Promise<unknown>;
  /** Called when the rule matches a call, before any delay: tells a test the call has arrived. */
  onMatch?: () => void;
  /** How many calls the rule applies to; forever when absent. */
  times?: number;
}

export class Faults {
  private rules: FaultRule[] = [];

  /** Adds a rule; the returned function removes it. */
  add(rule: FaultRule): () => void {
    const own = { ...rule };
    this.rules.push(own);
    return () => {
      this.rules = this.rules.filter((r) => r !== own);
    };
  }

  clear(): void {
    this.rules = [];
  }

  /** Applies the first matching rule: waits its delay, then throws its error. */
  async apply(method: string, target?: string): Promise<void> {
    const rule = this.rules.find((r) =>
      (r.method === undefined || r.method === method) && (r.target === undefined || r.target === target)
    );
    if (!rule) return;
    if (rule.times !== undefined && --rule.times <= 0) this.rules = this.rules.filter((r) => r !== rule);
    rule.onMatch?.();
    if (rule.delayMs) await new Promise((resolve) => setTimeout(resolve, rule.delayMs));
    await rule.until;
    if (rule.error) throw new RpcFailure(rule.error.code, rule.error.type);
  }
}
