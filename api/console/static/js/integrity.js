// The Logs tab's integrity indicator: auditTrailVerify over the selected time range (events recorded in
// it, checked against their own hashes and the account's signed digests), with a Verify button.

import { gql } from "./api.js";
import { h, localTime, replace } from "./dom.js";
import { LatestLoad } from "./latest.js";

const VERIFY = `query Verify($input: AuditTrailVerifyInput!) { auditTrailVerify(input: $input) {
  clean digestsChecked eventsChecked expiredEvents pendingEvents verifiedUntil problems { kind id detail } } }`;
const RANGE_COUNT = `query RangeCount($input: SearchSuggestionsInput!) { searchAuditTrailEntriesSuggestions(input: $input) { filteredCount } }`;
const PROBLEMS_SHOWN = 20;
/**
 * Ranges up to this many recorded events are verified as soon as they are shown. Verification reads
 * every body (about 3,600 events/s in the README's benchmark): a larger range waits for Verify rather
 * than loading the database each time someone opens the Logs.
 */
export const AUTO_VERIFY_LIMIT = 20_000;
/** Problem kinds whose id is an event that still exists, so its details can be opened. */
const OPENABLE_KINDS = new Set(["MODIFIED", "UNEXPECTED"]);

function plural(count, noun) {
  return `${count.toLocaleString()} ${noun}${count === 1 ? "" : "s"}`;
}

/** The sentence under the badge of a clean verification. */
function cleanSummary(result) {
  const digested = result.eventsChecked - result.pendingEvents;
  const parts = [];
  if (result.digestsChecked) {
    parts.push(`${plural(digested, "event")} recorded in this range match ${plural(result.digestsChecked, "signed digest")}, up to ${localTime(result.verifiedUntil)}`);
  }
  if (result.pendingEvents) {
    const awaited = result.digestsChecked ? "recorded since then match their own hashes and wait for the next digest" : "recorded in this range match their own hashes and wait for their first digest";
    parts.push(`${plural(result.pendingEvents, "event")} ${awaited}`);
  }
  if (result.expiredEvents) parts.push(`${plural(result.expiredEvents, "event")} removed by retention`);
  return parts.length ? `${parts.join("; ")}.` : "Nothing was recorded in this range.";
}

export class IntegrityIndicator {
  /** `openEntry(id)` shows an event's details; `fail(error)` handles an expired session. */
  constructor({ fail, openEntry }) {
    this.fail = fail;
    this.openEntry = openEntry;
    this.loads = new LatestLoad();
    this.state = h("div", { class: "integrity-state", role: "status", "aria-live": "polite" });
    this.verifyButton = h("button", { type: "button", class: "button small", text: "Verify", onclick: () => this.verify() });
    this.element = h("section", { class: "integrity", "aria-label": "Integrity of this time range" },
      h("div", { class: "integrity-line" }, this.state, this.verifyButton));
  }

  /**
   * Verify the recording-time `window` ({start, end} unix seconds) when `rangeKey` differs from the
   * range shown: filters alone do not change what is verified, so they do not re-run it.
   */
  show(window, rangeKey) {
    this.window = window;
    if (rangeKey === this.rangeKey) return;
    this.rangeKey = rangeKey;
    this.verifyIfSmall();
  }

  /** Verify now when the range is small enough; otherwise say how large it is and wait for Verify. */
  async verifyIfSmall() {
    const isCurrent = this.begin("Counting…");
    const recorded = { field: "recordedAt", constraint: { timeInRange: { start: this.window.start, end: this.window.end } } };
    try {
      const { searchAuditTrailEntriesSuggestions: range } = await gql(RANGE_COUNT, { input: { field: "recordedAt", predicates: [recorded] } });
      if (!isCurrent()) return;
      if (range.filteredCount <= AUTO_VERIFY_LIMIT) {
        this.verify();
        return;
      }
      replace(this.state, h("span", { class: "badge", text: "Not verified yet" }), " ",
        h("span", { class: "integrity-text", text: `${plural(range.filteredCount, "event")} were recorded in this range: Verify checks each against its hash and the signed digests (a range this large takes a while).` }));
    } catch (error) {
      this.showError(error, isCurrent);
    } finally {
      if (isCurrent()) this.verifyButton.disabled = false;
    }
  }

  async verify() {
    const isCurrent = this.begin("Verifying…");
    try {
      const { auditTrailVerify: result } = await gql(VERIFY, { input: { from: this.window.start, to: this.window.end } });
      if (isCurrent()) this.render(result);
    } catch (error) {
      this.showError(error, isCurrent);
    } finally {
      if (isCurrent()) this.verifyButton.disabled = false;
    }
  }

  /** Show `activity` in place of the last result; the returned check turns false once a newer run starts. */
  begin(activity) {
    const isCurrent = this.loads.begin();
    this.verifyButton.disabled = true;
    replace(this.state, h("span", { class: "badge", text: activity }));
    this.problemList?.remove();
    return isCurrent;
  }

  showError(error, isCurrent) {
    if (this.fail(error) || !isCurrent()) return;
    replace(this.state, h("span", { class: "badge badge-warn", text: "Not verified" }), ` ${error.message}`);
  }

  render(result) {
    const checkedAt = h("span", { class: "muted", text: ` Checked ${localTime(Date.now() / 1000)}.` });
    if (result.clean) {
      const badge = result.digestsChecked
        ? h("span", { class: "badge badge-ok", text: "Verified" })
        : h("span", { class: "badge", text: "Not digested yet" });
      replace(this.state, badge, " ", h("span", { class: "integrity-text", text: cleanSummary(result) }), checkedAt);
      return;
    }
    replace(this.state,
      h("span", { class: "badge badge-warn", text: `${plural(result.problems.length, "integrity problem")}` }), " ",
      h("span", { class: "integrity-text", text: "Stored events or digests of this range differ from what was signed:" }), checkedAt);
    const shown = result.problems.slice(0, PROBLEMS_SHOWN);
    this.problemList = h("ul", { class: "integrity-problems", "aria-label": "Integrity problems" },
      shown.map((problem) => h("li", { dataset: { kind: problem.kind } },
        h("code", { class: "problem-kind", text: problem.kind }), " ", h("code", { text: problem.id }), ` ${problem.detail}`,
        OPENABLE_KINDS.has(problem.kind)
          ? h("button", { type: "button", class: "link-button", text: "Details", "aria-label": `Details of event ${problem.id}`, onclick: (event) => this.openEntry(problem.id, event.currentTarget) })
          : null)),
      result.problems.length > shown.length
        ? h("li", { class: "muted", text: `and ${result.problems.length - shown.length} more: audittrail verify lists them all` })
        : null);
    this.element.append(this.problemList);
  }
}
