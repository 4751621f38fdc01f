// The Configuration section (ADMIN): the account's webhook (set up, edit, enable/disable, test, delete)
// and its delivery log.

import { gql } from "./api.js";
import { ConfigLinks } from "./config_links.js";
import { h, notice, relativeTime, replace, timeElement } from "./dom.js";
import { DeliveryLog } from "./deliveries.js";
import { LatestLoad } from "./latest.js";
import { RetentionSettings } from "./retention.js";
import { WebhookForm } from "./webhook_form.js";

const WEBHOOK_FIELDS = `enabled endpoint includeRuns retryOnFailure signed secretSHA customHeaderNames createdAt updatedAt
  lastDeliveryAt lastSuccessAt consecutiveFailures maxAttempts failingSince autoDisabledAt`;
const REFRESH_MS = 5000;
const WEBHOOK = `query Webhook { auditTrailWebhook { ${WEBHOOK_FIELDS} } auditTrailDeletedWebhook { endpoint deletedAt maxAttempts retryOnFailure } }`;
const ENABLE = `mutation Enable { auditTrailEnableWebhook { ${WEBHOOK_FIELDS} } }`;
const DISABLE = `mutation Disable { auditTrailDisableWebhook { ${WEBHOOK_FIELDS} } }`;
const DELETE = `mutation Delete { auditTrailDeleteWebhook { endpoint } }`;
const TEST = `mutation Test { auditTrailTestWebhook { status lastStatusCode lastLatencyMs lastError } }`;

function yesNo(value) {
  return value ? "Yes" : "No";
}

export class ConfigView {
  constructor(app) {
    this.app = app;
    this.status = h("div", { class: "page-status" });
    this.webhookArea = h("div", { class: "webhook-area" });
    this.deliveries = new DeliveryLog(app, { onChange: () => this.load({ keepStatus: true }) });
    // A refresh asked just before a change (Disable, Delete) may answer after the change's own reload.
    this.loads = new LatestLoad();
    this.element = h("div", { class: "config" },
      h("div", { class: "page-head" },
        h("h1", { text: "Webhook" }),
        h("p", { class: "muted", text: "Every event of this account is signed and sent to one endpoint of yours, such as your SIEM or log collector." })),
      this.status, this.webhookArea, this.deliveries.element, new RetentionSettings(app).element);
    this.deleteDialog = this.buildDeleteDialog();
    this.element.append(this.deleteDialog);
    this.links = new ConfigLinks(this);
    // Health and the log refresh together while the tab is open (relative times tick with them),
    // except while a form or the delete dialog is open, or the page is hidden.
    this.timer = setInterval(() => {
      if (document.hidden || this.editing || this.deleteDialog.open || this.loading) return;
      this.load({ keepStatus: true, quiet: true });
    }, REFRESH_MS);
  }

  update(params) {
    if (!this.loaded) this.loaded = this.load();
    this.links.follow(params, this.loaded);
  }

  destroy() {
    clearInterval(this.timer);
  }

  async load({ keepStatus = false, quiet = false } = {}) {
    if (!keepStatus) this.status.replaceChildren();
    this.loading = true;
    const isCurrent = this.loads.begin();
    try {
      const { auditTrailWebhook: webhook, auditTrailDeletedWebhook: deleted } = await gql(WEBHOOK);
      if (!isCurrent() || (quiet && this.editing)) return;  // a newer load, or a form opened while the refresh was in flight
      this.webhook = webhook;
      this.renderWebhook();
      // After a delete the deleted webhook's log stays: its final payload is delivered after the delete.
      await this.deliveries.show(webhook || deleted, { quiet, deleted: !webhook && Boolean(deleted) });
    } catch (error) {
      if (this.app.fail(error) || quiet || !isCurrent()) return;
      replace(this.webhookArea, h("div", { class: "state state-error", role: "alert" },
        h("h2", { text: "The webhook could not be loaded" }), h("p", { text: error.message }),
        h("button", { type: "button", class: "button", text: "Try again", onclick: () => this.load() })));
    } finally {
      this.loading = false;
    }
  }

  say(kind, message) {
    this.status.replaceChildren(notice(kind, message));
  }

  renderWebhook() {
    this.editing = false;
    const webhook = this.webhook;
    if (!webhook) {
      replace(this.webhookArea, h("section", { class: "card empty-webhook", "aria-labelledby": "no-webhook-title" },
        h("h2", { id: "no-webhook-title", text: "No webhook is set up" }),
        h("p", { class: "muted", text: "Events are kept here for the account's retention period. Set up a webhook to stream each one to your own storage or SIEM." }),
        h("button", { type: "button", class: "button primary", text: "Set up webhook", onclick: () => this.showForm(null) })));
      return;
    }
    const failing = webhook.consecutiveFailures > 0;
    const health = failing
      ? h("span", { class: "badge badge-warn", text: `${webhook.consecutiveFailures} failed attempt${webhook.consecutiveFailures === 1 ? "" : "s"} in a row` })
      : h("span", { class: "badge badge-ok", text: webhook.lastSuccessAt ? "Healthy" : "No deliveries yet" });
    const toggle = webhook.enabled
      ? h("button", { type: "button", class: "button", text: "Disable", onclick: (event) => this.run(event.target, DISABLE, "The webhook is disabled. It received a final payload and gets nothing more.") })
      : h("button", { type: "button", class: "button", text: "Enable", onclick: (event) => this.run(event.target, ENABLE, "The webhook is enabled; the endpoint accepted the verification payload.") });
    const autoDisabled = !webhook.enabled && webhook.autoDisabledAt
      ? notice("error", `Disabled automatically ${new Date(webhook.autoDisabledAt * 1000).toISOString().replace(".000", "")}: every attempt had failed for days. Fix the endpoint, then Enable (it is verified first); Redeliver sends what it missed.`)
      : null;
    replace(this.webhookArea, autoDisabled, h("section", { class: "card webhook", "aria-labelledby": "webhook-title" },
      h("div", { class: "card-head" },
        h("h2", { id: "webhook-title" }, "Endpoint ", h("span", { class: `badge ${webhook.enabled ? "badge-ok" : "badge-off"}`, text: webhook.enabled ? "Enabled" : "Disabled" })),
        h("div", { class: "actions" },
          h("button", { type: "button", class: "button", text: "Edit", onclick: () => this.showForm(webhook) }),
          toggle,
          h("button", { type: "button", class: "button", text: "Send test", title: webhook.enabled ? null : "Sends a test even while disabled: try the endpoint before enabling", onclick: (event) => this.sendTest(event.target) }),
          h("button", { type: "button", class: "button danger", text: "Delete", onclick: () => this.deleteDialog.showModal() }))),
      h("p", { class: "endpoint mono", text: webhook.endpoint }),
      h("dl", { class: "fields two-columns" },
        h("dt", { text: "Include runs" }), h("dd", { text: yesNo(webhook.includeRuns) }),
        h("dt", { text: "Retry on failure" }), h("dd", { text: yesNo(webhook.retryOnFailure) }),
        h("dt", { text: "Secret SHA-256" }), h("dd", {}, webhook.signed
          ? h("code", { class: "sha", text: webhook.secretSHA })
          : h("span", { class: "badge badge-warn unsigned", text: "Unsigned: deliveries carry no signature" })),
        h("dt", { text: "Custom headers" }), h("dd", {}, webhook.customHeaderNames.length
          ? h("ul", { class: "header-names" }, webhook.customHeaderNames.map((name) => h("li", {}, h("code", { text: name }))))
          : h("span", { class: "muted", text: "None" })),
        h("dt", { text: "Health" }), h("dd", {}, health),
        h("dt", { text: "Last success" }), h("dd", {}, webhook.lastSuccessAt
          ? h("span", {}, timeElement(webhook.lastSuccessAt), h("span", { class: "muted", text: ` (${relativeTime(webhook.lastSuccessAt)})` }))
          : h("span", { class: "muted", text: "Never" })),
        h("dt", { text: "Last attempt" }), h("dd", {}, timeElement(webhook.lastDeliveryAt)),
        h("dt", { text: "Updated" }), h("dd", {}, timeElement(webhook.updatedAt)))));
  }

  showForm(webhook) {
    const form = new WebhookForm({
      webhook,
      fail: (error) => this.app.fail(error),
      onSaved: (saved) => {
        this.webhook = saved;
        this.say("success", webhook ? "The webhook is saved." : "The webhook is set up.");
        this.load({ keepStatus: true });
      },
      onCancel: () => this.renderWebhook(),
    });
    this.status.replaceChildren();
    this.editing = true;
    replace(this.webhookArea, form.element);
    form.focus();
  }

  async run(button, mutation, success) {
    button.disabled = true;
    try {
      await gql(mutation);
      this.say("success", success);
      await this.load({ keepStatus: true });
    } catch (error) {
      if (this.app.fail(error)) return;
      this.say("error", error.message);
      button.disabled = false;
    }
  }

  async sendTest(button) {
    button.disabled = true;
    try {
      const { auditTrailTestWebhook: delivery } = await gql(TEST);
      if (delivery.status === "DELIVERED") {
        this.say("success", `Test payload delivered: HTTP ${delivery.lastStatusCode} in ${delivery.lastLatencyMs} ms.`);
      } else {
        const reason = delivery.lastStatusCode ? `HTTP ${delivery.lastStatusCode}` : delivery.lastError || "no answer";
        this.say("error", `Test payload not accepted: ${reason}.`);
      }
      await this.load({ keepStatus: true });
    } catch (error) {
      if (this.app.fail(error)) return;
      this.say("error", error.message);
      button.disabled = false;
    }
  }

  buildDeleteDialog() {
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": "delete-title", "aria-describedby": "delete-text" });
    const confirm = h("button", { type: "button", class: "button danger", text: "Delete webhook", async onclick() {
      confirm.disabled = true;
      try {
        await gql(DELETE);
        dialog.close();
        view.say("success", "The webhook is deleted. Its endpoint is sent a final delete payload: the log below shows how it went.");
        await view.load({ keepStatus: true });
      } catch (error) {
        dialog.close();
        if (!view.app.fail(error)) view.say("error", error.message);
      } finally {
        confirm.disabled = false;
      }
    } });
    const view = this;
    dialog.append(
      h("h2", { id: "delete-title", text: "Delete the webhook?" }),
      h("p", { id: "delete-text", text: "The endpoint is sent a final audit_trail_webhook.delete payload, then no further events. Pending deliveries stop. This cannot be undone; you can set up a webhook again later." }),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "button", text: "Cancel", autofocus: true, onclick: () => dialog.close() }),
        confirm));
    return dialog;
  }
}
