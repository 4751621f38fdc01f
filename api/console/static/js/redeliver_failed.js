// "Redeliver all failed" in the delivery log: a confirmation, then auditTrailRedeliverFailed queues the
// webhook's failed deliveries (oldest first, a bounded batch per click) for one more attempt each.

import { gql } from "./api.js";
import { h } from "./dom.js";

const REDELIVER_FAILED = `mutation RedeliverFailed { auditTrailRedeliverFailed(input: {}) { queued remaining } }`;

function deliveries(count) {
  return `${count} failed deliver${count === 1 ? "y" : "ies"}`;
}

export class RedeliverFailed {
  /** `say(kind, message)` reports the outcome; `onQueued()` refreshes the log. */
  constructor({ fail, say, onQueued }) {
    this.button = h("button", { type: "button", class: "button quiet", text: "Redeliver all failed", onclick: () => this.dialog.showModal() });
    this.confirm = h("button", { type: "button", class: "button primary", text: "Redeliver", onclick: () => this.run(fail, say, onQueued) });
    this.dialog = h("dialog", { class: "dialog", "aria-labelledby": "redeliver-failed-title", "aria-describedby": "redeliver-failed-text" },
      h("h2", { id: "redeliver-failed-title", text: "Redeliver all failed deliveries?" }),
      h("p", { id: "redeliver-failed-text", text: "Every failed delivery of this webhook is queued for one more attempt, oldest first, with its original body and event id. Receivers deduplicate on X-Audit-Event-Id." }),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "button", text: "Cancel", autofocus: true, onclick: () => this.dialog.close() }),
        this.confirm));
  }

  async run(fail, say, onQueued) {
    this.confirm.disabled = true;
    try {
      const { auditTrailRedeliverFailed: result } = await gql(REDELIVER_FAILED);
      this.dialog.close();
      if (!result.queued) say("success", "There are no failed deliveries to redeliver.");
      else say("success", `Queued ${deliveries(result.queued)} for redelivery.${result.remaining ? ` ${deliveries(result.remaining)} remain: redeliver again once these are sent.` : ""}`);
      await onQueued();
    } catch (error) {
      this.dialog.close();
      if (!fail(error)) say("error", `Redelivery failed: ${error.message}`);
    } finally {
      this.confirm.disabled = false;
    }
  }
}
