// How long the account's events are kept: said in Logs (and in its empty state when the range reaches
// past it), changed by an ADMIN in Configuration (auditTrailSetRetention, audited).

import { gql } from "./api.js";
import { h, localTime, notice, replace } from "./dom.js";

const SET_RETENTION = `mutation SetRetention($days: Int!) { auditTrailSetRetention(days: $days) { retentionDays } }`;
const MIN_DAYS = 1;
const MAX_DAYS = 3650;

export function retentionSentence(days) {
  return `Events are kept ${days} ${days === 1 ? "day" : "days"}.`;
}

/**
 * Why an empty range may be empty: it starts (or, with no start, reaches) before the retention cutoff.
 * Null when the whole range is within what is kept.
 */
export function retentionNote(days, start, nowSeconds) {
  const cutoff = nowSeconds - days * 86400;
  if (start !== null && start >= cutoff) return null;
  return `Events are kept ${days} ${days === 1 ? "day" : "days"}: nothing recorded before ${localTime(cutoff)} is left.`;
}

/** The Configuration tab's retention card: the period, and for an ADMIN a form to change it. */
export class RetentionSettings {
  constructor(app) {
    this.app = app;
    this.sentence = h("p", { class: "retention-sentence" });
    this.status = h("div", { class: "form-status" });
    this.form = null;
    if (app.viewer.role === "ADMIN") {
      this.input = h("input", { id: "retention-days", type: "number", min: String(MIN_DAYS), max: String(MAX_DAYS), step: "1", required: true });
      // novalidate: the API's own message says what is allowed (one place decides the range).
      this.form = h("form", { class: "retention-form", novalidate: true, onsubmit: (event) => { event.preventDefault(); this.save(); } },
        h("div", { class: "field" }, h("label", { for: "retention-days", text: "Keep events for (days)" }), this.input),
        h("button", { type: "submit", class: "button primary", text: "Save retention" }));
    }
    this.element = h("section", { class: "card retention", "aria-labelledby": "retention-title" },
      h("h2", { id: "retention-title", text: "Retention" }),
      this.sentence,
      h("p", { class: "muted small", text: "Older events, and their deliveries, are deleted every hour." }),
      this.form, this.status);
    this.render();
  }

  render() {
    const days = this.app.viewer.account.retentionDays;
    this.sentence.textContent = retentionSentence(days);
    if (this.input) this.input.value = String(days);
  }

  async save() {
    const days = Number(this.input.value);
    if (this.input.value.trim() === "" || !Number.isSafeInteger(days)) {
      replace(this.status, notice("error", "Enter a whole number of days."));
      return;
    }
    try {
      const { auditTrailSetRetention: account } = await gql(SET_RETENTION, { days });
      this.app.viewer.account.retentionDays = account.retentionDays;
      this.render();
      replace(this.status, notice("success", `Saved: ${retentionSentence(account.retentionDays)}`));
    } catch (error) {
      if (!this.app.fail(error)) replace(this.status, notice("error", error.message));
    }
  }
}
