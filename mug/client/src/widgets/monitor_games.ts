// How the monitor puts a running game into words: its episode, and for a P2P game how each pair of
// peers is connected (transport and round trip, as each side last reported it every ~2 s).

/** A P2P game's pair of peers as the server's snapshot gives it (mug/server/sessions/p2p.py). */
export interface Link {
  pair: [number, number];
  /** Each side's view ("0", "1", ... → "connecting" | "direct" | "turn" | "server" | null until reported). */
  transport: Record<string, string | null>;
  rtt_ms: Record<string, number | null>;
}

/** "2/3" for a server-run game; "?" parts when the monitor does not know them (a P2P game's episode lives in the pages). */
export function episodeText(episode: number | null | undefined, numEpisodes: number | null | undefined): string {
  const known = (n: number | null | undefined) => (n === null || n === undefined ? "?" : String(n));
  return `${known(episode)}/${known(numEpisodes)}`;
}

/** One line per pair: "0↔1 turn 24 ms"; the sides' views joined when they differ ("turn / server"). */
export function linksText(links: Link[] | null | undefined): string {
  return (links ?? [])
    .map((link) => {
      const [a, b] = link.pair;
      const sides = [String(a), String(b)];
      const kinds = [...new Set(sides.map((s) => link.transport[s] ?? "not reported"))];
      const rtts = sides.map((s) => link.rtt_ms[s]).filter((r): r is number => typeof r === "number" && Number.isFinite(r));
      const rtt = rtts.length ? ` ${Math.round(rtts.reduce((x, y) => x + y, 0) / rtts.length)} ms` : "";
      return `${a}↔${b} ${kinds.join(" / ")}${rtt}`;
    })
    .join("; ");
}
