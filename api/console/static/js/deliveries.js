// The delivery log of the webhook: one row per event owed to the endpoint, with a Redeliver button
// (and "Redeliver all failed"); a row opens the delivery's drawer with every attempt.  After a delete,
// the deleted webhook's log stays, read-only: its final payload shows "Queued" until delivered.

import { gql } from "./api.js";
import { DeliveryDrawer } from "./delivery_drawer.js";
import { h, notice, relativeTime, replace, timeElement } from "./dom.js";
import { LatestLoad } from "./latest.js";
import { RedeliverFailed } from "./redeliver_failed.js";

const DELIVERY_FIELDS = `id eventId action status attempts lastStatusCode lastError lastAttemptSummary lastLatencyMs responseSnippet nextAttemptAt createdAt deliveredAt`;
// The live webhook's log, or (root auditTrailDeletedWebhook) the log of the one just deleted.
const deliveriesQuery = (root) => `query Deliveries($first: Int, $after: String, $status: AuditTrailDeliveryStatus) { webhook: ${root} {
  deliveries(first: $first, after: $after, status: $status) { edges { node { ${DELIVERY_FIELDS} } } pageInfo { endCursor hasNextPage } } } }`;
const REDELIVER = `mutation Redeliver($id: ID!) { auditTrailRedeliver(id: $id) { ${DELIVERY_FIELDS} } }`;
const PAGE_SIZE = 25;
const STATUS_LABELS = { PENDING: "Pending", DELIVERED: "Delivered", FAILED: "Failed" };
const RETRIED_CLIENT_ERRORS = new Set([408, 429]);

function nextAttemptText(seconds) {
  return seconds * 1000 <= Date.now() ? "due now" : relativeTime(seconds);
}

export class DeliveryLog {
  constructor(app, { onChange }) {
    this.app = app;
    this.onChange = onChange;
    // A refresh (the webhook's own, every few seconds) may be on its way when the filter changes.
    this.loads = new LatestLoad();
    this.statusFilter = h("select", { id: "delivery-status", onchange: () => this.load() },
      h("option", { value: "", text: "All statuses" }),
      Object.entries(STATUS_LABELS).map(([value, label]) => h("option", { value, text: label })));
    this.status = h("div", { class: "page-status" });
    this.body = h("div", { class: "delivery-body" });
    this.drawer = new DeliveryDrawer({ fail: (error) => this.app.fail(error), navigate: (params) => this.app.navigate(params) });
    this.redeliverFailed = new RedeliverFailed({
      fail: (error) => this.app.fail(error),
      say: (kind, message) => this.status.replaceChildren(notice(kind, message)),
      onQueued: async () => { await this.load({ keepStatus: true }); this.onChange?.(); },
    });
    this.title = h("h2", { id: "deliveries-title", text: "Delivery log" });
    this.deletedNote = h("p", { class: "muted deleted-note", hidden: true });
    this.element = h("section", { class: "deliveries", "aria-labelledby": "deliveries-title", hidden: true },
      h("div", { class: "section-head" },
        this.title,
        h("div", { class: "actions" },
          h("label", { for: "delivery-status", text: "Status" }), this.statusFilter,
          this.redeliverFailed.button,
          h("button", { type: "button", class: "button quiet", text: "Refresh", onclick: () => this.load() }))),
      this.deletedNote, this.status, this.body, this.drawer.element, this.redeliverFailed.dialog);
  }

  /** Show the log of `webhook` (none: hidden); a `quiet` refresh leaves a log paged further alone.
   *  A `deleted` webhook's log is read-only: nothing can be sent to it any more. */
  async show(webhook, { quiet = false, deleted = false } = {}) {
    if (deleted !== this.deleted) this.pagedFurther = false;
    this.webhook = webhook;
    this.deleted = deleted;
    this.element.hidden = !webhook;
    if (!webhook) return;
    this.title.textContent = deleted ? "Delivery log of the deleted webhook" : "Delivery log";
    this.deletedNote.hidden = !deleted;
    this.deletedNote.textContent = deleted ? `${webhook.endpoint} was deleted ${relativeTime(webhook.deletedAt)}. Its final delete payload is listed here until a webhook is set up again.` : "";
    this.redeliverFailed.button.hidden = deleted;
    if (quiet && this.pagedFurther) return;
    await this.load({ keepStatus: true });
  }

  async load({ keepStatus = false, after = null } = {}) {
    if (!keepStatus) this.status.replaceChildren();
    this.pagedFurther = Boolean(after);
    const status = this.statusFilter.value || null;
    const isCurrent = this.loads.begin();
    try {
      const { webhook } = await gql(deliveriesQuery(this.deleted ? "auditTrailDeletedWebhook" : "auditTrailWebhook"), { first: PAGE_SIZE, after, status });
      if (!webhook || !isCurrent()) return;
      const page = webhook.deliveries;
      this.render(page.edges.map((edge) => edge.node), page.pageInfo, { isNextPage: Boolean(after), status });
    } catch (error) {
      if (this.app.fail(error) || !isCurrent()) return;
      replace(this.body, notice("error", `The delivery log could not be loaded: ${error.message}`));
    }
  }

  /** Show a page of the log filtered by `status` (the filter as it was when the page was asked for). */
  render(deliveries, pageInfo, { isNextPage, status }) {
    if (!isNextPage) {
      if (!deliveries.length) {
        replace(this.body, h("p", { class: "state state-empty", role: "status", text: status
          ? `No ${STATUS_LABELS[status].toLowerCase()} deliveries.`
          : "No deliveries yet. Each new event will be listed here." }));
        return;
      }
      this.tbody = h("tbody");
      this.more = h("div", { class: "more" });
      replace(this.body, h("div", { class: "table-wrap" }, h("table", { class: "delivery-table" },
        h("caption", { class: "visually-hidden", text: "Deliveries, newest first" }),
        h("thead", {}, h("tr", {}, ["Status", "Event", "Attempts", "Last status", "Latency", "Next attempt", "Response", ""]
          .map((title) => h("th", { scope: "col", text: title })))),
        this.tbody)), this.more);
    }
    for (const delivery of deliveries) this.tbody.append(this.row(delivery));
    replace(this.more, pageInfo.hasNextPage
      ? h("button", { type: "button", class: "button", text: "Load more", onclick: () => this.load({ keepStatus: true, after: pageInfo.endCursor }) })
      : null);
  }

  /** What a status means for this delivery, in words: queued, retrying (n of max), why it failed. */
  statusDetail(delivery) {
    const max = this.webhook?.maxAttempts;
    if (delivery.status === "PENDING") {
      if (delivery.attempts === 0) return "Queued";
      if (max && delivery.attempts >= max) return "Queued for redelivery";
      const next = delivery.nextAttemptAt ? `, next ${nextAttemptText(delivery.nextAttemptAt)}` : "";
      return `Retrying - attempt ${delivery.attempts + 1}${max ? ` of ${max}` : ""}${next}`;
    }
    if (delivery.status === "FAILED") {
      if (delivery.attempts === 0 && delivery.lastError) return delivery.lastError;  // settled unsent: deleted webhook, cancelled replay
      const code = delivery.lastStatusCode;
      if (code && code >= 400 && code < 500 && !RETRIED_CLIENT_ERRORS.has(code)) {
        return `HTTP ${code} is not retried: the endpoint refused this payload`;
      }
      if (this.webhook && !this.webhook.retryOnFailure) return "Not retried: retry on failure is off";
      return `Gave up after ${delivery.attempts} attempt${delivery.attempts === 1 ? "" : "s"}`;
    }
    return delivery.attempts > 1 ? `after ${delivery.attempts} attempts` : "";
  }

  row(delivery) {
    const redeliver = h("button", { type: "button", class: "button small", text: "Redeliver", "aria-label": `Redeliver ${delivery.action} (${delivery.id})` });
    const opener = h("button", { type: "button", class: "link-button", "aria-label": `Attempts of ${delivery.action} (${delivery.id})` },
      h("code", { class: "action", text: delivery.action }));
    const row = h("tr", { class: "clickable", dataset: { deliveryId: delivery.id } },
      h("td", { "data-label": "Status" }, h("span", { class: `badge status-${delivery.status.toLowerCase()}`, text: STATUS_LABELS[delivery.status] }),
        h("span", { class: "muted block status-detail", text: this.statusDetail(delivery) })),
      h("td", { "data-label": "Event" }, h("div", {}, opener, h("span", { class: "muted block" }, timeElement(delivery.createdAt)))),
      h("td", { "data-label": "Attempts", class: "num", text: String(delivery.attempts) }),
      h("td", { "data-label": "Last status", class: "num" }, delivery.lastStatusCode ?? h("span", { class: "muted", title: delivery.lastError || "", text: delivery.lastError ? "error" : "—" })),
      h("td", { "data-label": "Latency", class: "num", text: delivery.lastLatencyMs === null ? "—" : `${delivery.lastLatencyMs} ms` }),
      h("td", { "data-label": "Next attempt" }, delivery.nextAttemptAt && delivery.attempts > 0 ? h("span", { title: new Date(delivery.nextAttemptAt * 1000).toISOString(), text: nextAttemptText(delivery.nextAttemptAt) }) : h("span", { class: "muted", text: "—" })),
      h("td", { "data-label": "Response", class: "snippet" }, delivery.responseSnippet || delivery.lastError
        ? h("code", { title: delivery.responseSnippet || delivery.lastError, text: delivery.responseSnippet || delivery.lastAttemptSummary || delivery.lastError })
        : h("span", { class: "muted", text: "—" })),
      h("td", { class: "row-actions" }, this.deleted ? null : redeliver));
    row.addEventListener("click", (event) => {
      if (event.target.closest("button") && !opener.contains(event.target)) return;  // Redeliver
      this.drawer.open(delivery.id, opener);
    });
    redeliver.addEventListener("click", async () => {
      redeliver.disabled = true;
      try {
        const { auditTrailRedeliver: updated } = await gql(REDELIVER, { id: delivery.id });
        const outcome = updated.status === "DELIVERED" ? `delivered (HTTP ${updated.lastStatusCode})` : `not accepted (${updated.lastStatusCode ? `HTTP ${updated.lastStatusCode}` : updated.lastError || "no answer"})`;
        this.status.replaceChildren(notice(updated.status === "DELIVERED" ? "success" : "error", `Redelivered ${updated.action}: ${outcome}.`));
        row.replaceWith(this.row(updated));
        this.onChange?.();
      } catch (error) {
        if (this.app.fail(error)) return;
        this.status.replaceChildren(notice("error", `Redelivery failed: ${error.message}`));
        redeliver.disabled = false;
      }
    });
    return row;
  }
}
