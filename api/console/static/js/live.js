// The Logs tab's "Live" toggle: new entries under the current filters, pushed by the API over a
// websocket speaking graphql-transport-ws (connection_init with the token, one subscribe, then
// "next" messages until "complete" or a close). Small enough to write here rather than vendor a client.

import { loadSession, SessionExpired } from "./api.js";
import { h } from "./dom.js";
import { ROW_FIELDS } from "./entry_fields.js";

const PROTOCOL = "graphql-transport-ws";
const SUBSCRIPTION = `subscription Live($input: AuditTrailEntryAddedInput!) { auditTrailEntryAdded(input: $input) { ${ROW_FIELDS} } }`;

/** One subscription on its own socket; `onEntry(entry)` per pushed entry, `onEnd(error|null)` once. */
class LiveSocket {
  constructor(input, { onEntry, onEnd }) {
    this.ended = false;
    this.onEnd = onEnd;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    this.socket = new WebSocket(`${scheme}://${location.host}/graphql`, PROTOCOL);
    this.socket.addEventListener("open", () => {
      this.send({ type: "connection_init", payload: { Authorization: `Bearer ${(loadSession() || {}).jwt || ""}` } });
    });
    this.socket.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "connection_ack") {
        this.send({ id: "live", type: "subscribe", payload: { query: SUBSCRIPTION, variables: { input } } });
      } else if (message.type === "ping") {
        this.send({ type: "pong" });
      } else if (message.type === "next" && message.payload.errors) {
        this.end(message.payload.errors[0]);
      } else if (message.type === "next") {
        onEntry(message.payload.data.auditTrailEntryAdded);
      } else if (message.type === "error") {
        this.end(message.payload[0]);
      } else if (message.type === "complete") {
        this.end(null);
      }
    });
    this.socket.addEventListener("close", (event) => {
      const refused = event.code === 4403 || event.code === 4401;
      this.end(event.code === 1000 ? null : { message: event.reason || `connection closed (${event.code})`, extensions: { code: refused ? "UNAUTHENTICATED" : "NETWORK" } });
    });
  }

  send(message) {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  end(error) {
    if (this.ended) return;
    this.ended = true;
    this.socket.close(1000);
    this.onEnd(error);
  }

  /** Stop quietly (the user turned Live off, or the filters changed). */
  stop() {
    this.ended = true;
    this.send({ id: "live", type: "complete" });
    this.socket.close(1000);
  }
}

/** The toggle button and its status; `input()` gives the current filters, `onEntry` shows a row. */
export class LiveToggle {
  constructor({ input, onEntry, fail }) {
    this.input = input;
    this.onEntry = onEntry;
    this.fail = fail;
    this.socket = null;
    this.button = h("button", {
      type: "button", class: "button live-toggle", "aria-pressed": "false", title: "Show new events as they are recorded",
      onclick: () => (this.isOn ? this.stop() : this.start()),
    }, h("span", { class: "live-dot", "aria-hidden": "true" }), "Live");
    this.status = h("span", { class: "live-status muted small", role: "status" });
    this.element = h("span", { class: "live" }, this.button, this.status);
  }

  get isOn() {
    return this.button.getAttribute("aria-pressed") === "true";
  }

  start() {
    this.socket?.stop();
    this.button.setAttribute("aria-pressed", "true");
    this.status.textContent = "";
    this.socket = new LiveSocket(this.input(), { onEntry: this.onEntry, onEnd: (error) => this.ended(error) });
  }

  /** The filters changed: follow them, if Live is on. */
  restart() {
    if (this.isOn) this.start();
  }

  stop() {
    this.socket?.stop();
    this.socket = null;
    this.button.setAttribute("aria-pressed", "false");
  }

  ended(error) {
    this.socket = null;
    this.button.setAttribute("aria-pressed", "false");
    if (!error) return;
    if (error.extensions?.code === "UNAUTHENTICATED" && this.fail(new SessionExpired(error.message, "UNAUTHENTICATED"))) return;
    this.status.textContent = `Live stopped: ${error.message}`;
  }
}
