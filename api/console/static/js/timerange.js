// The time range picker (top right of Logs): presets and a custom range, in the viewer's local time.

import { h, localTime, notice } from "./dom.js";
import { RANGES } from "./filters.js";

/** `YYYY-MM-DDTHH:MM` in local time, the value format of `<input type="datetime-local">`. */
function toLocalInput(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const date = new Date(seconds * 1000);
  const pad = (number) => String(number).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** A custom range's end, as precise as the inputs that set it (minutes), with the zone. */
function minute(seconds) {
  return localTime(seconds, { precision: "minute" });
}

function fromLocalInput(value) {
  if (!value) return null;
  const milliseconds = new Date(value).getTime();
  return Number.isFinite(milliseconds) ? Math.floor(milliseconds / 1000) : null;
}

export class TimeRangePicker {
  constructor({ onChange }) {
    this.onChange = onChange;
    this.button = h("button", {
      type: "button", class: "button range-button", "aria-haspopup": "dialog", "aria-expanded": "false", "aria-controls": "range-panel",
      onclick: () => (this.panel.hidden ? this.open() : this.close()),
    });
    this.presets = RANGES.map((range) => h("button", {
      type: "button", class: "preset", dataset: { range: range.id }, text: range.label,
      onclick: () => { this.close(); this.onChange({ range: range.id, from: null, to: null }); },
    }));
    this.fromInput = h("input", { id: "range-from", type: "datetime-local" });
    this.toInput = h("input", { id: "range-to", type: "datetime-local" });
    this.error = h("div", { class: "form-status" });
    const custom = h("form", { class: "custom-range", onsubmit: (event) => this.applyCustom(event) },
      h("fieldset", {},
        h("legend", { text: "Custom range (local time)" }),
        h("div", { class: "field" }, h("label", { for: "range-from", text: "From" }), this.fromInput),
        h("div", { class: "field" }, h("label", { for: "range-to", text: "To" }), this.toInput),
        this.error,
        h("button", { type: "submit", class: "button primary", text: "Apply range" })));
    this.panel = h("div", { id: "range-panel", class: "popover", role: "dialog", "aria-label": "Time range", hidden: true },
      h("div", { class: "presets", role: "group", "aria-label": "Presets" }, this.presets), custom);
    this.panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") { event.preventDefault(); this.close(); this.button.focus(); }
    });
    this.onDocumentClick = (event) => {
      if (!this.element.contains(event.target)) this.close();
    };
    this.element = h("div", { class: "range" }, this.button, this.panel);
  }

  /** Reflect `state` (from the URL) in the button and the form. */
  show(state) {
    this.button.textContent = this.label(state);
    for (const preset of this.presets) preset.setAttribute("aria-pressed", String(preset.dataset.range === state.range));
    this.fromInput.value = toLocalInput(state.range === "custom" ? state.from : null);
    this.toInput.value = toLocalInput(state.range === "custom" ? state.to : null);
  }

  label(state) {
    if (state.range !== "custom") return RANGES.find((range) => range.id === state.range).label;
    const from = state.from !== null ? minute(state.from) : "the beginning";
    const to = state.to !== null ? minute(state.to) : "now";
    return `${from} – ${to}`;
  }

  /** The range in words, for sentences such as "Nothing was recorded in the last hour". */
  describe(state) {
    if (state.range !== "custom") return `in the ${this.label(state).toLowerCase()}`;
    return `between ${state.from !== null ? minute(state.from) : "the beginning"} and ${state.to !== null ? minute(state.to) : "now"}`;
  }

  applyCustom(event) {
    event.preventDefault();
    const from = fromLocalInput(this.fromInput.value);
    const to = fromLocalInput(this.toInput.value);
    if (from === null && to === null) {
      this.error.replaceChildren(notice("error", "Enter a start, an end, or both."));
      return;
    }
    if (from !== null && to !== null && from > to) {
      this.error.replaceChildren(notice("error", "The start must be before the end."));
      return;
    }
    this.error.replaceChildren();
    this.close();
    this.onChange({ range: "custom", from, to: to === null ? null : to + 59 });
  }

  open() {
    this.panel.hidden = false;
    this.button.setAttribute("aria-expanded", "true");
    document.addEventListener("click", this.onDocumentClick, true);
    (this.presets.find((preset) => preset.getAttribute("aria-pressed") === "true") || this.presets[0]).focus();
  }

  close() {
    if (this.panel.hidden) return;
    this.panel.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
    document.removeEventListener("click", this.onDocumentClick, true);
  }
}
