// The details panel of one entry: every field (values with the same menu as the table's cells), and
// the exact JSON body (pretty-printed, copyable).

import { gql } from "./api.js";
import { Drawer, fieldRow } from "./drawer.js";
import { eventTypeBadge, h, ingestedBadge, notice, timeElement, utcTime } from "./dom.js";
import { valueWithMenu } from "./value_menu.js";

const ENTRY = `query Entry($id: ID!) { auditTrailEntry(id: $id) {
  id action eventType runStateChange recordedBy recordedAt externalId actor { username source identity run { id stackId } }
  affectedResource { resourceType resourceId } relatedResource { resourceType resourceId }
  body remoteIP createdAt updatedAt timestamp } }`;

/**
 * Indent JSON text without parsing it, so every number and string keeps its exact spelling (a parse
 * and re-serialize would round big integers and rewrite escapes).
 */
export function indentJson(text, indent = "  ") {
  let out = "";
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i];
    if (inString) {
      out += char;
      if (char === "\\") { out += text[i + 1]; i += 1; } else if (char === '"') inString = false;
      continue;
    }
    if (char === " " || char === "\n" || char === "\r" || char === "\t") continue;
    if (char === '"') { inString = true; out += char; continue; }
    if (char === "{" || char === "[") {
      const close = char === "{" ? "}" : "]";
      let next = i + 1;
      while (" \n\r\t".includes(text[next])) next += 1;
      if (text[next] === close) { out += char + close; i = next; continue; }
      depth += 1;
      out += `${char}\n${indent.repeat(depth)}`;
    } else if (char === "}" || char === "]") {
      depth -= 1;
      out += `\n${indent.repeat(depth)}${char}`;
    } else if (char === ",") {
      out += `,\n${indent.repeat(depth)}`;
    } else if (char === ":") {
      out += ": ";
    } else {
      out += char;
    }
  }
  return out;
}

/** A moment in full: local time with milliseconds and zone, then UTC, then the epoch milliseconds. */
function fullTime(milliseconds) {
  const seconds = milliseconds / 1000;
  return h("span", {}, timeElement(seconds, { precision: "ms" }),
    h("span", { class: "muted block", text: utcTime(seconds) }),
    h("span", { class: "muted block mono", text: `${milliseconds} ms since the epoch` }));
}

export class DetailsPanel extends Drawer {
  /** `valueActions` are the Logs tab's value menu actions (filter, exclude, go to the resource). */
  constructor({ onClose, fail, valueActions }) {
    super({ id: "details-title", title: "Event details", closeLabel: "Close details", onClose });
    this.fail = fail;
    this.valueActions = valueActions;
  }

  async open(entryId, returnFocus) {
    const isCurrent = this.begin(returnFocus);
    try {
      const { auditTrailEntry: entry } = await gql(ENTRY, { id: entryId });
      if (!isCurrent()) return;
      if (!entry) {
        this.body.replaceChildren(notice("error", "This event no longer exists (it may have passed the retention period)."));
        return;
      }
      this.render(entry);
    } catch (error) {
      if (this.fail(error)) return;
      if (isCurrent()) this.body.replaceChildren(notice("error", `Could not load the event: ${error.message}`));
    }
  }

  render(entry) {
    const withMenu = (kind, value) => (value ? valueWithMenu(kind, value, this.valueActions) : null);
    const run = entry.actor.run;
    const pretty = indentJson(entry.body);
    const copyStatus = h("span", { class: "copy-status", role: "status" });
    const copy = h("button", {
      type: "button", class: "button", text: "Copy JSON",
      async onclick() {
        try {
          await navigator.clipboard.writeText(entry.body);
          copyStatus.textContent = "Copied";
        } catch {
          copyStatus.textContent = "Copy failed: select the text instead";
        }
      },
    });
    this.body.replaceChildren(
      h("dl", { class: "fields" },
        fieldRow("Time", fullTime(entry.timestamp)),
        fieldRow("Action", withMenu("action", entry.action)),
        fieldRow("Event type", eventTypeBadge(entry.eventType, entry.runStateChange)),
        fieldRow("Actor", withMenu("actor", entry.actor.username)),
        fieldRow("Recorded by", entry.recordedBy ? ingestedBadge(entry.recordedBy) : "the audit trail service itself"),
        // An ingested event's time is what its sender claims; when the service's own clock differs, show both.
        entry.recordedBy && entry.recordedAt !== entry.timestamp ? fieldRow("Recorded at", fullTime(entry.recordedAt)) : null,
        entry.externalId ? fieldRow("External id", h("code", { text: entry.externalId })) : null,
        run ? fieldRow("Run", `${run.id} (stack ${run.stackId})`) : null,
        fieldRow("Affected resource", withMenu("affectedResource", entry.affectedResource)),
        fieldRow("Related resource", withMenu("relatedResource", entry.relatedResource)),
        fieldRow("Remote IP", entry.remoteIP),
        fieldRow("Event id", h("code", { text: entry.id })),
      ),
      h("div", { class: "json-head" }, h("h3", { text: "Webhook body" }), h("div", { class: "json-actions" }, copyStatus, copy)),
      h("pre", { class: "json", tabindex: "0", "aria-label": "Exact JSON body" }, h("code", { text: pretty })),
    );
  }
}
