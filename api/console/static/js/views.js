// "Views" beside the Logs filters: the current filters and time range saved under a name on the server
// (savedFilter* mutations, audited), listed, opened, renamed and deleted. A private view is seen only by
// the key that saved it; a shared one by every key of the account.

import { gql } from "./api.js";
import { h, notice, replace } from "./dom.js";
import { DEFAULT_RANGE, readFilters, writeFilters } from "./filters.js";
import { LatestLoad } from "./latest.js";

export const VIEW_TYPE = "auditTrailEntries";
const FIELDS = "id name data isPublic createdBy";
const LIST = `query Views($type: String) { savedFilters(type: $type) { ${FIELDS} } }`;
const CREATE = `mutation SaveView($input: SavedFilterInput!) { savedFilterCreate(input: $input) { ${FIELDS} } }`;
const RENAME = `mutation RenameView($id: ID!, $name: String!) { savedFilterUpdate(id: $id, name: $name) { ${FIELDS} } }`;
const DELETE = `mutation DeleteView($id: ID!) { savedFilterDelete(id: $id) { id } }`;

/** What a view stores: the Logs filter state, in the console's own words (see docs/design.md). */
export function viewData(state) {
  const { text, range, from, to, include, exclude } = state;
  return JSON.stringify({ version: 1, text, range, from, to, include, exclude });
}

/** The filter state a view's `data` holds, cleaned up the way the URL's is; null if it holds none. */
export function stateOfView(data) {
  let saved;
  try {
    saved = JSON.parse(data);
  } catch {
    return null;
  }
  if (!saved || typeof saved !== "object" || Array.isArray(saved)) return null;
  const lists = (group) => (group && typeof group === "object" && !Array.isArray(group) ? group : {});
  const asArray = (values) => (Array.isArray(values) ? values.filter((value) => typeof value === "string") : []);
  const include = Object.fromEntries(Object.entries(lists(saved.include)).map(([field, values]) => [field, asArray(values)]));
  const exclude = Object.fromEntries(Object.entries(lists(saved.exclude)).map(([field, values]) => [field, asArray(values)]));
  const number = (value) => (Number.isInteger(value) ? value : null);
  const candidate = {
    text: typeof saved.text === "string" ? saved.text : "",
    range: typeof saved.range === "string" ? saved.range : DEFAULT_RANGE,
    from: number(saved.from), to: number(saved.to), include, exclude,
  };
  // Through the URL form and back: unknown fields and ranges fall away exactly as in a pasted link.
  return readFilters(writeFilters(candidate));
}

export class ViewsControl {
  /** `current()` is the Logs state now; `open(state)` shows a view's state (and reloads). */
  constructor({ app, current, open }) {
    this.app = app;
    this.loads = new LatestLoad();
    this.current = current;
    this.openState = open;
    this.views = [];
    this.button = h("button", {
      type: "button", class: "button views-button", "aria-haspopup": "dialog", "aria-expanded": "false", "aria-controls": "views-panel",
      text: "Views", onclick: () => (this.panel.hidden ? this.show() : this.close()),
    });
    this.nameInput = h("input", { id: "view-name", name: "name", maxlength: "100", autocomplete: "off", required: true });
    this.sharedInput = h("input", { id: "view-shared", type: "checkbox" });
    this.status = h("div", { class: "form-status" });
    this.list = h("ul", { class: "view-list", "aria-label": "Saved views" });
    const saveForm = h("form", { class: "view-save", onsubmit: (event) => { event.preventDefault(); this.save(); } },
      h("div", { class: "field" }, h("label", { for: "view-name", text: "Save the current filters and time range as" }), this.nameInput),
      h("label", { class: "checkbox" }, this.sharedInput, " Shared with every key of this account"),
      h("button", { type: "submit", class: "button primary", text: "Save view" }));
    this.panel = h("div", { id: "views-panel", class: "popover views-panel", role: "dialog", "aria-label": "Saved views", hidden: true },
      saveForm, this.status, h("h2", { class: "views-title", text: "Saved views" }), this.list);
    this.panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") { event.preventDefault(); this.close(); this.button.focus(); }
    });
    this.onDocumentClick = (event) => {
      if (!this.element.contains(event.target)) this.close();
    };
    this.element = h("div", { class: "views" }, this.button, this.panel);
  }

  say(kind, message) {
    replace(this.status, message ? notice(kind, message) : null);
  }

  async show() {
    this.panel.hidden = false;
    this.button.setAttribute("aria-expanded", "true");
    document.addEventListener("click", this.onDocumentClick, true);
    this.say();
    this.nameInput.focus();
    await this.load();
  }

  close() {
    if (this.panel.hidden) return;
    this.panel.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
    document.removeEventListener("click", this.onDocumentClick, true);
  }

  /** List the views; the list asked for on opening may answer after the one asked for after a save. */
  async load() {
    replace(this.list, h("li", { class: "muted small", text: "Loading views…" }));
    const isCurrent = this.loads.begin();
    try {
      const views = (await gql(LIST, { type: VIEW_TYPE })).savedFilters;
      if (!isCurrent()) return;
      this.views = views;
      this.renderList();
    } catch (error) {
      if (this.app.fail(error) || !isCurrent()) return;
      replace(this.list, h("li", {}, notice("error", `The views could not be loaded: ${error.message}`)));
    }
  }

  async save() {
    const name = this.nameInput.value.trim();
    if (!name) {
      this.say("error", "Give the view a name.");
      return;
    }
    const input = { name, data: viewData(this.current()), type: VIEW_TYPE, isPublic: this.sharedInput.checked };
    try {
      const { savedFilterCreate: saved } = await gql(CREATE, { input });
      this.nameInput.value = "";
      this.say("success", `Saved “${saved.name}”.`);
      await this.load();
    } catch (error) {
      if (!this.app.fail(error)) this.say("error", error.message);
    }
  }

  /** May this key rename or delete `view`? Its own, or a shared one for an ADMIN (as the API decides). */
  canChange(view) {
    return view.createdBy === this.app.viewer.id || (view.isPublic && this.app.viewer.role === "ADMIN");
  }

  renderList() {
    if (!this.views.length) {
      replace(this.list, h("li", { class: "muted small", text: "No saved views yet." }));
      return;
    }
    replace(this.list, this.views.map((view) => this.item(view)));
  }

  item(view) {
    const open = h("button", { type: "button", class: "link-button view-open", title: view.name, text: view.name, onclick: () => this.open(view) });
    const badge = view.isPublic ? h("span", { class: "badge", text: "Shared" }) : null;
    const actions = this.canChange(view)
      ? h("span", { class: "view-actions" },
        h("button", { type: "button", class: "link-button", "aria-label": `Rename ${view.name}`, text: "Rename", onclick: () => this.renaming(view, row) }),
        h("button", { type: "button", class: "link-button danger-link", "aria-label": `Delete ${view.name}`, text: "Delete", onclick: () => this.confirmDelete(view, row) }))
      : null;
    const row = h("li", { class: "view-item", dataset: { viewId: view.id } }, open, badge, actions);
    return row;
  }

  open(view) {
    const state = stateOfView(view.data);
    if (!state) {
      this.say("error", `“${view.name}” holds no filters this console understands.`);
      return;
    }
    this.close();
    this.openState(state);
  }

  renaming(view, row) {
    const input = h("input", { value: view.name, maxlength: "100", "aria-label": `New name for ${view.name}`, required: true });
    const form = h("form", { class: "view-rename", onsubmit: async (event) => {
      event.preventDefault();
      try {
        await gql(RENAME, { id: view.id, name: input.value.trim() });
        this.say("success", `Renamed to “${input.value.trim()}”.`);
        await this.load();
      } catch (error) {
        if (!this.app.fail(error)) this.say("error", error.message);
      }
    } },
    input,
    h("button", { type: "submit", class: "button primary", text: "Save" }),
    h("button", { type: "button", class: "button", text: "Cancel", onclick: () => this.renderList() }));
    replace(row, form);
    input.focus();
    input.select();
  }

  confirmDelete(view, row) {
    const yes = h("button", { type: "button", class: "button danger", text: "Delete", onclick: async () => {
      try {
        await gql(DELETE, { id: view.id });
        this.say("success", `Deleted “${view.name}”.`);
        await this.load();
      } catch (error) {
        if (!this.app.fail(error)) this.say("error", error.message);
      }
    } });
    replace(row, h("span", { class: "view-confirm", text: `Delete “${view.name}”?` }), yes,
      h("button", { type: "button", class: "button", text: "Cancel", onclick: () => this.renderList() }));
    yes.focus();
  }
}
