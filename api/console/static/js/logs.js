// The Logs section: filter sidebar, free-text search, time range, active-filter chips, the table with
// keyset paging, per-value menus and the details panel.

import { gql } from "./api.js";
import { eventTypeBadge, h, ingestedBadge, notice, replace, timeElement } from "./dom.js";
import { DetailsPanel } from "./details.js";
import { ROW_FIELDS } from "./entry_fields.js";
import { downloadExport } from "./export.js";
import { IntegrityIndicator } from "./integrity.js";
import { LiveToggle } from "./live.js";
import { closeMenu, showMenu } from "./menu.js";
import { TimeRangePicker } from "./timerange.js";
import { retentionNote, retentionSentence } from "./retention.js";
import { valueWithMenu } from "./value_menu.js";
import { ViewsControl } from "./views.js";
import {
  FACETS, FILTER_FIELDS, hasFilters, labelOf, predicatesOf, readFilters, timeWindow, withoutFilters, withValue, writeFilters,
} from "./filters.js";

const PAGE_SIZE = 50;
const FACET_VALUES_SHOWN = 8;
const SEARCH = `query Search($input: SearchInput!) { searchAuditTrailEntries(input: $input) {
  edges { cursor node { ${ROW_FIELDS} } }
  pageInfo { endCursor hasNextPage } } }`;
const SUGGESTIONS = `query Suggestions($input: SearchSuggestionsInput!) { searchAuditTrailEntriesSuggestions(input: $input) {
  filteredCount fields { name possibleValuesString { values counts } possibleValuesEnum { values counts } } } }`;

export class LogsView {
  constructor(app) {
    this.app = app;
    this.state = null;
    this.stateKey = null;
    this.generation = 0;
    this.expandedFacets = new Set();
    // What a value menu does, in the table and in the details drawer alike.
    this.valueActions = { app, filter: (pairs, options) => this.filterBy(pairs, options) };
    this.details = new DetailsPanel({ fail: (error) => app.fail(error), onClose: () => this.markSelected(null), valueActions: this.valueActions });
    this.integrity = new IntegrityIndicator({ fail: (error) => app.fail(error), openEntry: (entryId, opener) => this.details.open(entryId, opener) });
    this.picker = new TimeRangePicker({ onChange: (range) => this.apply({ ...this.state, ...range }) });
    this.views = new ViewsControl({ app, current: () => this.state, open: (state) => this.apply(state) });
    this.searchInput = h("input", { id: "logs-search", type: "search", name: "q", placeholder: "Search actions, actors, resources, data", autocomplete: "off" });
    this.facets = h("div", { class: "facets" });
    this.chips = h("div", { class: "chips", "aria-label": "Active filters" });
    this.summary = h("p", { class: "summary muted", role: "status", "aria-live": "polite" });
    this.results = h("div", { class: "results" });
    this.live = new LiveToggle({
      input: () => ({ predicates: predicatesOf(this.state, this.now), fullTextSearch: this.state.text || null }),
      onEntry: (entry) => this.prependEntry(entry),
      fail: (error) => app.fail(error),
    });
    this.filtersToggle = h("button", {
      type: "button", class: "button filters-toggle", "aria-expanded": "false", "aria-controls": "logs-filters", text: "Filters",
      onclick: () => {
        const expanded = this.filtersToggle.getAttribute("aria-expanded") !== "true";
        this.filtersToggle.setAttribute("aria-expanded", String(expanded));
        this.sidebar.classList.toggle("is-open", expanded);
      },
    });
    this.sidebar = h("aside", { id: "logs-filters", class: "sidebar", "aria-label": "Filters" }, h("h2", { class: "sidebar-title", text: "Filters" }), this.facets,
      h("p", { class: "muted small retention-line", text: retentionSentence(app.viewer.account.retentionDays) }));
    const searchForm = h("form", { class: "search", role: "search", onsubmit: (event) => {
      event.preventDefault();
      this.apply({ ...this.state, text: this.searchInput.value.trim() });
    } },
    h("label", { for: "logs-search", class: "visually-hidden", text: "Search events" }),
    this.searchInput,
    h("button", { type: "submit", class: "button", text: "Search" }));
    this.element = h("div", { class: "logs" },
      this.sidebar,
      h("section", { class: "logs-main", "aria-labelledby": "logs-title" },
        h("div", { class: "toolbar" },
          h("h1", { id: "logs-title", class: "visually-hidden", text: "Logs" }),
          this.filtersToggle, this.views.element, searchForm, this.picker.element, this.live.element, this.exportButton()),
        this.chips, this.integrity.element, this.summary, this.results),
      this.details.element,
    );
  }

  /** "Export": what the current filters show, newest first, as CSV or NDJSON. */
  exportButton() {
    const button = h("button", { type: "button", class: "button", "aria-haspopup": "menu", "aria-expanded": "false", text: "Export" });
    const save = (format) => {
      const input = { predicates: predicatesOf(this.state, this.now), fullTextSearch: this.state.text || null };
      downloadExport(input, format).catch((error) => this.app.fail(error));
    };
    button.addEventListener("click", () => showMenu(button, [
      { label: "CSV (spreadsheets)", onSelect: () => save("csv") },
      { label: "NDJSON (webhook bodies)", onSelect: () => save("ndjson") },
    ], "Export"));
    return button;
  }

  destroy() {
    this.live.stop();
    closeMenu();
    this.observer?.disconnect();
    this.picker.close();
    this.views.close();
  }

  /** Show the filters of the URL `params`; reloads only when they changed. */
  update(params) {
    const entryId = params.get("entry");  // a link to one event (the delivery drawer's "Open in Logs")
    if (entryId && entryId !== this.linkedEntry) this.details.open(entryId, null);
    this.linkedEntry = entryId;
    const state = readFilters(params);
    const key = writeFilters(state).toString();
    if (key === this.stateKey) return;
    this.state = state;
    this.stateKey = key;
    this.searchInput.value = state.text;
    this.picker.show(state);
    this.renderChips();
    this.reload();
  }

  /** Show `state` through the URL; applying the state already shown refreshes the results. */
  apply(state) {
    const params = writeFilters(state);
    if (params.toString() === this.stateKey) this.reload();
    else this.app.navigate(params);
  }

  reload() {
    this.generation += 1;
    this.now = Math.floor(Date.now() / 1000);
    this.entries = [];
    this.cursor = null;
    this.hasNextPage = false;
    this.loading = false;
    this.summary.textContent = "";
    replace(this.results, h("p", { class: "muted loading", text: "Loading events…" }));
    // The filter values shown are the last state's until this state's arrive: say so.
    this.facets.setAttribute("aria-busy", "true");
    this.integrity.show(timeWindow(this.state, this.now), [this.state.range, this.state.from, this.state.to].join(","));
    this.loadSuggestions(this.generation);
    this.loadPage(this.generation);
    this.live.restart();
  }

  /** A live entry goes on top (the table is newest first). */
  prependEntry(entry) {
    if (this.loading || this.entries.some((shown) => shown.id === entry.id)) return;
    this.entries.unshift(entry);
    if (this.tbody?.isConnected) this.tbody.prepend(this.row(entry));
    else this.renderTable();
    this.renderSummary();
  }

  async loadSuggestions(generation) {
    const input = {
      fields: FACETS.map((facet) => facet.field),
      predicates: predicatesOf(this.state, this.now),
      fullTextSearch: this.state.text || null,
    };
    try {
      const { searchAuditTrailEntriesSuggestions: suggestions } = await gql(SUGGESTIONS, { input });
      if (generation !== this.generation) return;
      this.filteredCount = suggestions.filteredCount;
      this.facets.removeAttribute("aria-busy");
      this.renderFacets(suggestions.fields);
      this.renderSummary();
    } catch (error) {
      if (this.app.fail(error) || generation !== this.generation) return;
      this.facets.removeAttribute("aria-busy");
      // The results area reports the same error as an alert; one announcement is enough.
      replace(this.facets, h("p", { class: "muted small", text: `Filter values are unavailable: ${error.message}` }));
    }
  }

  async loadPage(generation) {
    if (this.loading) return;
    this.loading = true;
    this.renderMore();
    const input = {
      first: PAGE_SIZE,
      after: this.cursor,
      fullTextSearch: this.state.text || null,
      predicates: predicatesOf(this.state, this.now),
    };
    try {
      const { searchAuditTrailEntries: page } = await gql(SEARCH, { input });
      if (generation !== this.generation) return;
      const isFirstPage = this.cursor === null;
      this.entries.push(...page.edges.map((edge) => edge.node));
      this.cursor = page.pageInfo.endCursor;
      this.hasNextPage = page.pageInfo.hasNextPage;
      this.loading = false;
      if (isFirstPage) this.renderTable();
      else this.appendRows(page.edges.map((edge) => edge.node));
      this.renderSummary();
    } catch (error) {
      if (this.app.fail(error) || generation !== this.generation) return;
      this.loading = false;
      this.renderError(error);
    }
  }

  renderError(error) {
    const retry = h("button", { type: "button", class: "button", text: "Try again", onclick: () => this.reload() });
    if (this.entries.length) {
      replace(this.more, notice("error", `Could not load more events: ${error.message}`), retry);
      return;
    }
    this.summary.textContent = "";
    replace(this.results, h("div", { class: "state state-error", role: "alert" },
      h("h2", { text: "The events could not be loaded" }),
      h("p", { text: error.message }),
      retry));
  }

  renderSummary() {
    if (this.loading && !this.entries.length) return;
    const shown = this.entries.length;
    const total = this.filteredCount;
    if (!shown) this.summary.textContent = "No events";
    else if (total !== undefined && total >= shown) this.summary.textContent = `Showing ${shown} of ${total} events, newest first`;
    else this.summary.textContent = `Showing ${shown} events, newest first`;
  }

  renderFacets(fields) {
    const byName = Object.fromEntries(fields.map((field) => [field.name, field.possibleValuesString || field.possibleValuesEnum || { values: [], counts: [] }]));
    replace(this.facets, FACETS.map(({ field, label }) => {
      const possible = byName[field] || { values: [], counts: [] };
      const selected = this.state.include[field] || [];
      const counts = new Map(possible.values.map((value, index) => [value, possible.counts[index]]));
      for (const value of selected) if (!counts.has(value)) counts.set(value, 0);
      const values = [...counts.keys()];
      const expanded = this.expandedFacets.has(field);
      const shown = expanded ? values : values.filter((value, index) => index < FACET_VALUES_SHOWN || selected.includes(value));
      const list = h("ul", { class: "facet-values" }, shown.map((value) => {
        const checkbox = h("input", {
          type: "checkbox", checked: selected.includes(value),
          onchange: (event) => this.apply(withValue(this.state, field, value, { present: event.target.checked })),
        });
        return h("li", {}, h("label", { class: "facet-value" }, checkbox,
          h("span", { class: "facet-name", title: value, text: value }),
          h("span", { class: "count", text: counts.get(value).toLocaleString() })));
      }));
      const hidden = values.length - shown.length;
      const toggle = hidden > 0 || expanded ? h("button", {
        type: "button", class: "link-button", text: expanded ? "Show fewer" : `Show ${hidden} more`,
        onclick: () => { if (expanded) this.expandedFacets.delete(field); else this.expandedFacets.add(field); this.renderFacets(fields); },
      }) : null;
      return h("fieldset", { class: "facet", dataset: { field } },
        h("legend", { text: label }),
        values.length ? list : h("p", { class: "muted small", text: "No values in this range" }),
        toggle);
    }));
  }

  renderChips() {
    const chips = [];
    const remove = (label, nextState) => h("button", {
      type: "button", class: "chip", "aria-label": `Remove filter: ${label}`, onclick: () => this.apply(nextState),
    }, h("span", { text: label }), h("span", { class: "chip-x", "aria-hidden": "true", text: "×" }));
    for (const { field } of FILTER_FIELDS) {
      for (const value of this.state.include[field] || []) {
        chips.push(remove(`${labelOf(field)} is ${value}`, withValue(this.state, field, value, { present: false })));
      }
      for (const value of this.state.exclude[field] || []) {
        chips.push(remove(`${labelOf(field)} is not ${value}`, withValue(this.state, field, value, { exclude: true, present: false })));
      }
    }
    if (this.state.text) chips.push(remove(`Text contains “${this.state.text}”`, { ...this.state, text: "" }));
    if (chips.length > 1) {
      chips.push(h("button", { type: "button", class: "link-button", text: "Clear all", onclick: () => this.apply(withoutFilters(this.state)) }));
    }
    replace(this.chips, chips);
    this.chips.hidden = chips.length === 0;
  }

  /** For an empty range reaching past retention: "events are kept N days". */
  retentionNote() {
    const note = retentionNote(this.app.viewer.account.retentionDays, timeWindow(this.state, this.now).start, this.now);
    return note ? h("p", { class: "retention-note", text: note }) : null;
  }

  renderTable() {
    this.observer?.disconnect();
    if (!this.entries.length) {
      const clear = hasFilters(this.state)
        ? h("button", { type: "button", class: "button", text: "Clear filters", onclick: () => this.apply(withoutFilters(this.state)) })
        : null;
      replace(this.results, h("div", { class: "state state-empty", role: "status" },
        h("h2", { text: "No events match" }),
        h("p", { text: hasFilters(this.state)
          ? `Nothing was recorded ${this.picker.describe(this.state)} that matches these filters.`
          : `Nothing was recorded ${this.picker.describe(this.state)}. Try a longer time range.` }),
        this.retentionNote(),
        clear));
      return;
    }
    this.tbody = h("tbody");
    this.more = h("div", { class: "more" });
    replace(this.results,
      h("div", { class: "table-wrap" },
        h("table", { class: "events" },
          h("caption", { class: "visually-hidden", text: "Audit trail events, newest first" }),
          h("thead", {}, h("tr", {},
            ["Time", "Type", "Action", "Actor", "Affected resource", "Remote IP"].map((title) => h("th", { scope: "col", text: title })))),
          this.tbody)),
      this.more);
    this.appendRows(this.entries);
    // Infinite scroll: reaching the "load more" button loads the next page; the button stays for keyboards.
    this.observer = new IntersectionObserver((seen) => {
      if (seen.some((item) => item.isIntersecting) && this.hasNextPage && !this.loading) this.loadPage(this.generation);
    }, { rootMargin: "200px" });
    this.observer.observe(this.more);
  }

  renderMore() {
    if (!this.more || !this.more.isConnected) return;
    if (this.loading) replace(this.more, h("p", { class: "muted", role: "status", text: "Loading more events…" }));
    else if (this.hasNextPage) replace(this.more, h("button", { type: "button", class: "button", text: "Load more", onclick: () => this.loadPage(this.generation) }));
    else replace(this.more, h("p", { class: "muted small", text: "End of the results" }));
  }

  appendRows(entries) {
    for (const entry of entries) this.tbody.append(this.row(entry));
    this.renderMore();
  }

  row(entry) {
    const seconds = entry.timestamp / 1000;
    // The row is the tab stop (Enter opens it); the time button names the row for screen readers.
    const opener = h("button", { type: "button", class: "link-button time-button", tabindex: "-1", "aria-label": `Details of ${entry.action} at ${new Date(seconds * 1000).toISOString()}` }, timeElement(seconds));
    const row = h("tr", { tabindex: "0", dataset: { entryId: entry.id } },
      h("td", { "data-label": "Time" }, opener),
      h("td", { "data-label": "Type" }, eventTypeBadge(entry.eventType, entry.runStateChange)),
      h("td", { "data-label": "Action" }, valueWithMenu("action", entry.action, this.valueActions)),
      h("td", { "data-label": "Actor" }, valueWithMenu("actor", entry.actor.username, this.valueActions), ingestedBadge(entry.recordedBy)),
      h("td", { "data-label": "Affected resource" }, entry.affectedResource
        ? valueWithMenu("affectedResource", entry.affectedResource, this.valueActions)
        : h("span", { class: "muted", text: "—" })),
      h("td", { "data-label": "Remote IP", class: "mono" }, entry.remoteIP || h("span", { class: "muted", text: "—" })),
    );
    const open = () => {
      this.markSelected(entry.id);
      this.details.open(entry.id, row);
    };
    // Anywhere on the row but a value's menu button opens the details; selecting text does not.
    row.addEventListener("click", (event) => {
      const control = event.target.closest("button, a");
      if (control && control !== opener) return;
      if (!control && String(window.getSelection())) return;
      open();
    });
    row.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && event.target === row) { event.preventDefault(); open(); }
    });
    return row;
  }

  markSelected(entryId) {
    for (const row of this.tbody?.rows || []) row.classList.toggle("is-selected", row.dataset.entryId === entryId);
  }

  /** Apply the value menu's choice: every [field, value] pair included (or excluded). */
  filterBy(pairs, { exclude = false } = {}) {
    this.apply(pairs.reduce((state, [field, value]) => withValue(state, field, value, { exclude }), this.state));
  }
}

