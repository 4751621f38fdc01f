// A side drawer (a non-modal dialog): title, Close and Escape, and loads a newer one supersedes.
// The event details and the delivery drawer are both one.

import { h } from "./dom.js";
import { LatestLoad } from "./latest.js";

/** A `<dt>`/`<dd>` pair of a drawer's field list; an empty value shows a dash. */
export function fieldRow(label, value) {
  const shown = value === null || value === undefined || value === "" ? h("span", { class: "muted", text: "—" }) : value;
  return [h("dt", { text: label }), h("dd", {}, shown)];
}

export class Drawer {
  constructor({ id, title, closeLabel, className = "", onClose = null }) {
    this.onClose = onClose;
    this.title = h("h2", { id, tabindex: "-1", text: title });
    this.body = h("div", { class: "drawer-body" });
    this.element = h("aside", { class: `drawer ${className}`.trim(), role: "dialog", "aria-modal": "false", "aria-labelledby": id, hidden: true },
      h("div", { class: "drawer-head" }, this.title,
        h("button", { type: "button", class: "button quiet", "aria-label": closeLabel, text: "Close", onclick: () => this.close() })),
      this.body,
    );
    this.element.addEventListener("keydown", (event) => {
      if (event.key === "Escape") { event.preventDefault(); this.close(); }
    });
    this.loads = new LatestLoad();
  }

  /** Show the drawer loading; the returned check turns false once another load or a close supersedes this one. */
  begin(returnFocus) {
    this.returnFocus = returnFocus;
    const isCurrent = this.loads.begin();
    this.element.hidden = false;
    this.body.replaceChildren(h("p", { class: "muted", text: "Loading…" }));
    this.title.focus();
    return isCurrent;
  }

  close() {
    if (this.element.hidden) return;
    this.loads.supersede();
    this.element.hidden = true;
    this.onClose?.();
    this.returnFocus?.focus();
  }
}
