import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { episodeText, linksText } from "../../src/widgets/monitor_games";

describe("the monitor's words for a game", () => {
  it("shows the episode, or ? where the server does not know it (P2P games)", () => {
    assert.equal(episodeText(2, 3), "2/3");
    assert.equal(episodeText(null, 3), "?/3");
    assert.equal(episodeText(undefined, null), "?/?");
  });

  it("shows each P2P pair's transport and mean round trip", () => {
    const text = linksText([
      { pair: [0, 1], transport: { "0": "turn", "1": "turn" }, rtt_ms: { "0": 20.4, "1": 30 } },
      { pair: [0, 2], transport: { "0": "server", "1": null }, rtt_ms: { "0": null, "2": null } },
      { pair: [1, 2], transport: { "1": "direct", "2": "server" }, rtt_ms: { "1": 8, "2": null } },
    ]);
    assert.equal(text, "0↔1 turn 25 ms; 0↔2 server / not reported; 1↔2 direct / server 8 ms");
  });

  it("is empty for a game without links (server-run)", () => {
    assert.equal(linksText(undefined), "");
    assert.equal(linksText([]), "");
  });
});
