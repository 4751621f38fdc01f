// The details panel of one entry: every field, and the exact JSON body (pretty-printed, copyable).

import { gql } from "./api.js";
import { eventTypeBadge, h, ingestedBadge, notice, timeElement, utcTime } from "./dom.js";

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

function resourceText(resource) {
  if (!resource) return null;
  return resource.resourceId ? `${resource.resourceType} / ${resource.resourceId}` : resource.resourceType;
}

function timeWithUtc(seconds) {
  return h("span", {}, timeElement(seconds), h("span", { class: "muted block", text: utcTime(seconds) }));
}

function row(label, value) {
  const shown = value === null || value === undefined || value === "" ? h("span", { class: "muted", text: "—" }) : value;
  return [h("dt", { text: label }), h("dd", {}, shown)];
}

export class DetailsPanel {
  constructor({ onClose, fail }) {
    this.onClose = onClose;
    this.fail = fail;
    this.title = h("h2", { id: "details-title", tabindex: "-1", text: "Event details" });
    this.body = h("div", { class: "drawer-body" });
    this.element = h("aside", { class: "drawer", role: "dialog", "aria-modal": "false", "aria-labelledby": "details-title", hidden: true },
      h("div", { class: "drawer-head" }, this.title,
        h("button", { type: "button", class: "button quiet", "aria-label": "Close details", text: "Close", onclick: () => this.close() })),
      this.body,
    );
    this.element.addEventListener("keydown", (event) => {
      if (event.key === "Escape") { event.preventDefault(); this.close(); }
    });
    this.generation = 0;
  }

  async open(entryId, returnFocus) {
    this.returnFocus = returnFocus;
    this.generation += 1;
    const generation = this.generation;
    this.element.hidden = false;
    this.body.replaceChildren(h("p", { class: "muted", text: "Loading…" }));
    this.title.focus();
    try {
      const { auditTrailEntry: entry } = await gql(ENTRY, { id: entryId });
      if (generation !== this.generation) return;
      if (!entry) {
        this.body.replaceChildren(notice("error", "This event no longer exists (it may have passed the retention period)."));
        return;
      }
      this.render(entry);
    } catch (error) {
      if (this.fail(error)) return;
      if (generation === this.generation) this.body.replaceChildren(notice("error", `Could not load the event: ${error.message}`));
    }
  }

  render(entry) {
    const seconds = entry.timestamp / 1000;
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
        row("Time", timeWithUtc(seconds)),
        row("Action", h("code", { text: entry.action })),
        row("Event type", eventTypeBadge(entry.eventType, entry.runStateChange)),
        row("Actor", h("code", { text: entry.actor.username })),
        row("Recorded by", entry.recordedBy ? ingestedBadge(entry.recordedBy) : "the audit trail service itself"),
        // An ingested event's time is what its sender claims; when the service's own clock differs, show both.
        entry.recordedBy && entry.recordedAt !== entry.timestamp ? row("Recorded at", timeWithUtc(entry.recordedAt / 1000)) : null,
        entry.externalId ? row("External id", h("code", { text: entry.externalId })) : null,
        run ? row("Run", `${run.id} (stack ${run.stackId})`) : null,
        row("Affected resource", resourceText(entry.affectedResource)),
        row("Related resource", resourceText(entry.relatedResource)),
        row("Remote IP", entry.remoteIP),
        row("Event id", h("code", { text: entry.id })),
      ),
      h("div", { class: "json-head" }, h("h3", { text: "Webhook body" }), h("div", { class: "json-actions" }, copyStatus, copy)),
      h("pre", { class: "json", tabindex: "0", "aria-label": "Exact JSON body" }, h("code", { text: pretty })),
    );
  }

  close() {
    if (this.element.hidden) return;
    this.generation += 1;
    this.element.hidden = true;
    this.onClose?.();
    this.returnFocus?.focus();
  }
}
