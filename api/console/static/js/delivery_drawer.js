// The drawer of one delivery: every attempt with what was sent and what the endpoint answered
// (GitHub's Recent Deliveries and Svix's attempt view are the bar), and the body that was sent.

import { gql } from "./api.js";
import { indentJson } from "./details.js";
import { Drawer, fieldRow } from "./drawer.js";
import { h, notice, replace, timeElement, utcTime } from "./dom.js";

const DELIVERY = `query Delivery($id: ID!) { auditTrailDelivery(id: $id) {
  id eventId action status attempts createdAt deliveredAt nextAttemptAt
  attemptHistory { attempt recordedAt statusCode error latencyMs requestHeaders { name value }
                   responseHeaders { name value } responseSnippet } } }`;
const EVENT_BODY = `query EventBody($id: ID!) { auditTrailEntry(id: $id) { body } }`;

function headerTable(caption, headers) {
  if (!headers) return h("p", { class: "muted", text: `${caption}: none (no answer)` });
  return h("table", { class: "header-table" },
    h("caption", { text: caption }),
    h("tbody", {}, headers.map((header) => h("tr", {},
      h("th", { scope: "row" }, h("code", { text: header.name })),
      h("td", {}, h("code", { text: header.value }))))));
}

function outcomeText(attempt) {
  if (attempt.statusCode !== null) return `HTTP ${attempt.statusCode}`;
  return attempt.error || "no answer";
}

function attemptSection(attempt) {
  const ok = attempt.statusCode !== null && attempt.statusCode >= 200 && attempt.statusCode < 300;
  return h("section", { class: "attempt", "aria-label": `Attempt ${attempt.attempt}` },
    h("h4", {},
      h("span", { class: `badge ${ok ? "status-delivered" : "status-failed"}`, text: outcomeText(attempt) }),
      ` Attempt ${attempt.attempt} · `, timeElement(attempt.recordedAt), ` · ${attempt.latencyMs} ms`),
    attempt.statusCode !== null && attempt.error ? h("p", { class: "muted", text: attempt.error }) : null,
    attempt.statusCode === null && attempt.error ? h("p", { class: "attempt-error", text: attempt.error }) : null,
    headerTable("Request headers", attempt.requestHeaders),
    headerTable("Response headers", attempt.responseHeaders),
    attempt.responseSnippet !== null
      ? h("div", {}, h("h5", { text: "Response (first KiB)" }), h("pre", { class: "json snippet-full" }, h("code", { text: attempt.responseSnippet })))
      : null);
}

export class DeliveryDrawer extends Drawer {
  /** `id` names the title element: one per drawer on the page. */
  constructor({ fail, navigate, id = "delivery-title" }) {
    super({ id, title: "Delivery", closeLabel: "Close delivery", className: "delivery-drawer" });
    this.fail = fail;
    this.navigate = navigate;
  }

  async open(deliveryId, returnFocus) {
    const isCurrent = this.begin(returnFocus);
    try {
      const { auditTrailDelivery: delivery } = await gql(DELIVERY, { id: deliveryId });
      if (!delivery) {  // another account's id, or a mistyped link: the API answers null
        if (isCurrent()) this.body.replaceChildren(notice("error", `No delivery ${deliveryId} in this account.`));
        return;
      }
      const { auditTrailEntry: entry } = await gql(EVENT_BODY, { id: delivery.eventId });
      if (!isCurrent()) return;
      this.render(delivery, entry);
    } catch (error) {
      if (this.fail(error)) return;
      if (isCurrent()) this.body.replaceChildren(notice("error", `Could not load the delivery: ${error.message}`));
    }
  }

  render(delivery, entry) {
    this.title.textContent = `Delivery of ${delivery.action}`;
    const attempts = [...delivery.attemptHistory].reverse();
    replace(this.body,
      h("dl", { class: "fields" },
        ...fieldRow("Status", `${delivery.status.charAt(0)}${delivery.status.slice(1).toLowerCase()} after ${delivery.attempts} attempt${delivery.attempts === 1 ? "" : "s"}`),
        ...fieldRow("Delivery id", h("code", { text: delivery.id })),
        ...fieldRow("Event", h("span", {}, h("code", { text: delivery.eventId }), " ",
          h("a", { href: `/?entry=${encodeURIComponent(delivery.eventId)}`, text: "Open in Logs", onclick: (event) => {
            if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
            event.preventDefault();
            this.close();
            this.navigate(new URLSearchParams({ entry: delivery.eventId }));
          } }))),
        ...fieldRow("Created", h("span", {}, timeElement(delivery.createdAt), h("span", { class: "muted block", text: utcTime(delivery.createdAt) }))),
        ...fieldRow("Last delivered", delivery.deliveredAt ? timeElement(delivery.deliveredAt) : null)),
      h("h3", { text: `Attempts (${attempts.length}), newest first` }),
      attempts.length ? attempts.map(attemptSection) : h("p", { class: "muted", text: "No attempt yet: it is queued." }),
      h("h3", { text: "Request body" }),
      entry
        ? h("pre", { class: "json", tabindex: "0", "aria-label": "Request body" }, h("code", { text: indentJson(entry.body) }))
        : h("p", { class: "muted", text: "The event no longer exists (retention)." }));
  }
}
