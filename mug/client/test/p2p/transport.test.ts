// PeerTransport's routing on the relay path, in Node: with DataChannels blocked by the test hook no
// RTCPeerConnection is made, so everything but the WebRTC glue runs here (the glue runs in
// tests/e2e/test_p2p_transport.py). The connection is a recorder of what would go to Socket.IO.
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { PeerTransport, type TransportDetail, type TransportKind } from "../../src/p2p";
import { fromBase64, toBase64, type RelayOut } from "../../src/p2p/wire";

type Listener = (payload: unknown) => void;

class RecordingConnection {
  sent: { event: string; payload: unknown }[] = [];
  listeners = new Map<string, Set<Listener>>();
  readonly socket = {
    on: (event: string, l: Listener) => this.listeners.set(event, (this.listeners.get(event) ?? new Set()).add(l)),
    off: (event: string, l: Listener) => this.listeners.get(event)?.delete(l),
  };
  send(event: "p2p_signal" | "p2p_relay", payload: unknown): void {
    this.sent.push({ event, payload });
  }
  emit(event: string, payload: unknown): void {
    for (const l of this.listeners.get(event) ?? []) l(payload);
  }
  relays(): RelayOut[] {
    return this.sent.filter((s) => s.event === "p2p_relay").map((s) => s.payload as RelayOut);
  }
}

const g = globalThis as { mugTest?: { p2p?: unknown } };
let open: PeerTransport[] = [];
afterEach(() => {
  for (const t of open) t.close();
  open = [];
  delete g.mugTest;
});

function make(overrides: { p2p?: unknown; peers?: number[]; timeoutS?: number } = {}) {
  g.mugTest = { p2p: overrides.p2p ?? { blockDataChannels: true } };
  const conn = new RecordingConnection();
  const clock = { t: 0 };
  const packets: [number, number[]][] = [];
  const changes: [number, TransportKind, TransportDetail][] = [];
  const transport = new PeerTransport({
    conn,
    gameId: "g1",
    me: 1,
    peers: overrides.peers ?? [0, 1, 2],
    iceServers: [],
    forceRelay: false,
    connectTimeoutS: overrides.timeoutS ?? 2,
    testHooks: true,
    onPacket: (from, bytes) => packets.push([from, [...bytes]]),
    onTransport: (peer, kind, detail) => changes.push([peer, kind, detail]),
    now: () => clock.t,
  });
  open.push(transport);
  return { transport, conn, clock, packets, changes };
}

describe("PeerTransport on the server relay", () => {
  it("sends one p2p_relay event per flush with every peer's packets of the tick", () => {
    const { transport, conn } = make();
    transport.send(0, Uint8Array.of(1, 2));
    transport.send(2, Uint8Array.of(3));
    transport.send(0, Uint8Array.of(4));
    assert.equal(conn.relays().length, 0, "nothing leaves before the tick's flush");
    transport.flush();
    transport.flush(); // an empty tick sends nothing
    const [event, ...rest] = conn.relays();
    assert.equal(rest.length, 0);
    assert.equal(event!.game_id, "g1");
    assert.deepEqual(event!.packets.map((p) => [p.to, [...fromBase64(p.data)]]), [[0, [1, 2]], [2, [3]], [0, [4]]]);
    assert.deepEqual(transport.counters, { ...transport.counters, relaySent: 3, relayEvents: 1, channelSent: 0 });
    assert.ok(!conn.sent.some((s) => s.event === "p2p_signal"), "blocked DataChannels: no negotiation at all");
  });

  it("hands relayed packets of its game from known peers to onPacket, and ignores the rest", () => {
    const { transport, conn, packets } = make();
    conn.emit("p2p_relay", { game_id: "g1", from: 2, data: [toBase64(Uint8Array.of(9, 8)), toBase64(Uint8Array.of(7))] });
    conn.emit("p2p_relay", { game_id: "other", from: 2, data: [toBase64(Uint8Array.of(1))] });
    conn.emit("p2p_relay", { game_id: "g1", from: 5, data: [toBase64(Uint8Array.of(1))] });
    conn.emit("p2p_relay", { game_id: "g1", from: 0, data: ["not base64!", toBase64(Uint8Array.of(6))] });
    assert.deepEqual(packets, [[2, [9, 8]], [2, [7]], [0, [6]]]);
    assert.equal(transport.counters.relayReceived, 3);
    assert.equal(transport.counters.malformed, 2);
  });

  it("reports each pair connecting, then relayed once the connect timeout passes", async () => {
    const { transport, clock, changes } = make({ timeoutS: 2 });
    await Promise.resolve(); // the first report comes right after the constructor
    assert.deepEqual(changes.map(([p, k]) => [p, k]), [[0, "connecting"], [2, "connecting"]]);
    clock.t = 1999;
    transport.flush();
    assert.equal(changes.length, 2);
    clock.t = 2000;
    transport.flush();
    assert.deepEqual(changes.slice(2).map(([p, k, d]) => [p, k, d.reason]), [
      [0, "server", "no DataChannel opened within 2 s"],
      [2, "server", "no DataChannel opened within 2 s"],
    ]);
    assert.deepEqual(transport.transports, { 0: "server", 2: "server" });
    const stats = await transport.stats();
    assert.deepEqual(stats[0], { peer: 0, transport: "server", candidateType: null, remoteCandidateType: null, rttMs: null });
  });

  it("applies the injected loss to relayed packets too, and rereads the conditions every tick", () => {
    const { transport, conn } = make({ p2p: { blockDataChannels: true, loss: 0.5, seed: 2 } });
    for (let i = 0; i < 400; i++) transport.send(0, Uint8Array.of(i & 0xff));
    transport.flush();
    const relayed = conn.relays().reduce((n, e) => n + e.packets.length, 0);
    assert.equal(relayed + transport.counters.conditionedDrops, 400);
    assert.ok(relayed > 160 && relayed < 240, `${relayed} of 400 relayed at 50 % loss`);
    g.mugTest = { p2p: { blockDataChannels: true } }; // conditions lifted mid-game
    transport.flush();
    for (let i = 0; i < 10; i++) transport.send(0, Uint8Array.of(i));
    transport.flush();
    assert.equal(conn.relays().at(-1)!.packets.length, 10);
  });

  it("refuses a packet for a peer that is not in the game, and stops listening when closed", () => {
    const { transport, conn, packets } = make();
    assert.throws(() => transport.send(1, Uint8Array.of(1)), /1 is not another peer of game g1/);
    assert.throws(() => transport.send(7, Uint8Array.of(1)), /7 is not another peer/);
    transport.close();
    assert.equal(conn.listeners.get("p2p_relay")!.size, 0);
    assert.equal(conn.listeners.get("p2p_signal")!.size, 0);
    conn.emit("p2p_relay", { game_id: "g1", from: 0, data: [toBase64(Uint8Array.of(1))] });
    transport.send(0, Uint8Array.of(1)); // ignored after close
    transport.flush();
    assert.deepEqual(packets, []);
    assert.equal(conn.relays().length, 0);
  });

  it("names a wrong test setting or option", () => {
    assert.throws(() => make({ p2p: { blockDataChannels: true, loss: 2 } }), /window\.mugTest\.p2p\.loss must be a number in \[0, 1\]/);
    assert.throws(() => make({ peers: [1] }), /no other peer in \[1\]/);
    assert.throws(() => make({ timeoutS: 0 }), /connectTimeoutS must be > 0/);
  });
});
