// Every DC half-open (bytes taken, nothing answered), then healed, with the worker's own gateway
// and reachability probe on the stand-in over MTProto. A connection GramJS opens while Telegram is
// unreachable stays silent after it is back (the stand-in keeps it so, as a route that lost its
// state would). GramJS opens one when its ping loop gives up during a long outage (30 s or more
// into it), or, as here, when the connection is reset during the outage. The worker's probe must
// not keep waiting on it: after a probe left unanswered, the next reconnects the session first.
// Times from the heal are printed.
import { describe, expect, it } from 'vitest';
import { Api, type TelegramClient } from 'telegram';
import { sleep } from '../../contracts/time.ts';
import { createTelegramClient, GramJsGateway } from '../../worker/src/gateway/gramjs-gateway.ts';
import type { OutgoingMessage } from '../../worker/src/gateway/types.ts';
import { Reachability } from '../../worker/src/reachability.ts';
import { createChannel, inputPeer, signedIn, testPhone, useStandIn } from './testing.ts';

const { standIn, track } = useStandIn();

const PROBE_TIMEOUT_MS = 1_000;
const OUTAGE_MS = 6_000;
/**
 * Far beyond the worker's probe timeout plus its longest pause between probes (5 s), and beyond
 * GramJS's own replacement of a silent connection (a 9 s pause, then three pings of 10 s each).
 */
const COME_BACK_WITHIN_MS = 60_000;

const halfOpen = (on: boolean) => standIn().dcs.forEach((dc) => standIn().setHalfOpen(dc.id, on));

/**
 * The account's gateway on its saved session. Without `pingLoop`, GramJS's ping loop (which
 * replaces a silent connection after its pings time out) never starts: only the worker recovers.
 */
async function gatewayOf(login: TelegramClient, pingLoop: boolean): Promise<GramJsGateway> {
  const s = standIn();
  const session = login.session.save() as unknown as string;
  await login.destroy();
  const client = track(
    createTelegramClient({ session, apiId: s.apiId, apiHash: s.apiHash, server: { dcs: s.dcs, publicKeyPem: s.publicKeyPem } }),
  );
  if (!pingLoop) (client as unknown as { _loopStarted: boolean })._loopStarted = true;
  const gateway = new GramJsGateway(client);
  await gateway.start();
  return gateway;
}

/**
 * Half-open while a send is in flight, connections reset once meanwhile (GramJS connects again, to
 * a DC that answers nothing), for OUTAGE_MS, then healed. Answers the milliseconds from the heal to
 * reachability's `back` and to the repeated send's answer, and what became of the send in flight.
 */
async function outageThenHeal(gateway: GramJsGateway, message: OutgoingMessage) {
  let back = () => {};
  const cameBack = new Promise<'back'>((resolve) => (back = () => resolve('back')));
  const reach = new Reachability(gateway, { probeTimeoutMs: PROBE_TIMEOUT_MS }, { lost: () => {}, back: () => back() });
  try {
    halfOpen(true);
    const inFlight = gateway.send(message).then(() => 'answered', (e: Error) => `failed: ${e.message}`);
    expect(await reach.check('send timed out')).toBe(false);
    standIn().dropConnections();
    await sleep(OUTAGE_MS);
    halfOpen(false);
    const healed = performance.now();
    expect(await Promise.race([cameBack, sleep(COME_BACK_WITHIN_MS).then(() => 'still unreachable')])).toBe('back');
    const backMs = performance.now() - healed;
    await gateway.send(message); // the worker's repeat, with the same random_id
    return {
      backMs,
      sentMs: performance.now() - healed,
      inFlight: await Promise.race([inFlight, sleep(0).then(() => 'pending')]),
    };
  } finally {
    reach.stop();
  }
}

async function postsIn(gateway: GramJsGateway, ch: Api.Channel): Promise<string[]> {
  const res = await gateway.client.invoke(new Api.messages.GetHistory({ peer: inputPeer(ch), limit: 100 }));
  return (res as Api.messages.ChannelMessages).messages.flatMap((m) => (m instanceof Api.Message ? [m.message] : []));
}

describe('reachability after a half-open outage', () => {
  for (const pingLoop of [false, true]) {
    it(`comes back through a fresh connection and posts once (GramJS ping loop ${pingLoop ? 'on' : 'off'})`, async () => {
      const login = await signedIn(standIn(), testPhone(2));
      const ch = await createChannel(login, { username: `half_open_${pingLoop ? 'ping' : 'quiet'}` });
      const gateway = await gatewayOf(login, pingLoop);
      const peer = { telegramId: `-100${ch.id}`, accessHash: ch.accessHash!.toString() };
      const message = {
        peer,
        text: 'after the outage',
        parseMode: 'plain',
        silent: false,
        linkPreview: true,
        randomId: '4242',
      } as const;
      const t = await outageThenHeal(gateway, message);
      console.log(
        `half-open ${OUTAGE_MS} ms, ping loop ${pingLoop ? 'on' : 'off'}: reachable ${t.backMs.toFixed(0)} ms after the heal, ` +
          `first send answered after ${t.sentMs.toFixed(0)} ms; the send in flight during the outage: ${t.inFlight}`,
      );
      // Failed when the connection was replaced: GramJS will not send it again behind the worker's back.
      expect(t.inFlight).toMatch(/^failed: the connection was replaced/);
      expect(await postsIn(gateway, ch)).toEqual(['after the outage']);
    }, 120_000);
  }
});
