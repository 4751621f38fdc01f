// The set-up / edit form of the webhook; saving calls auditTrailSetWebhook, which verifies the endpoint.

import { gql } from "./api.js";
import { h, notice, uid } from "./dom.js";

const SET = `mutation SetWebhook($input: AuditTrailWebhookInput!) { auditTrailSetWebhook(input: $input) {
  enabled endpoint includeRuns retryOnFailure signed secretSHA customHeaderNames createdAt updatedAt lastDeliveryAt lastSuccessAt consecutiveFailures } }`;

function checkbox(id, label, checked, hint) {
  const input = h("input", { id, type: "checkbox", checked });
  return { input, element: h("div", { class: "check" }, input, h("label", { for: id }, label, hint ? h("span", { class: "hint", text: hint }) : null)) };
}

export class WebhookForm {
  constructor({ webhook, onSaved, onCancel, fail }) {
    this.isEdit = Boolean(webhook);
    this.onSaved = onSaved;
    this.fail = fail;
    // On edit, header values are unknown to us (never returned); the stored ones are kept unless replaced.
    this.replaceHeaders = !this.isEdit || webhook.customHeaderNames.length === 0;
    this.endpoint = h("input", { id: "webhook-endpoint", type: "url", required: true, placeholder: "https://siem.example.com/audit", value: webhook?.endpoint || "", spellcheck: "false", autocomplete: "off" });
    this.secret = h("input", { id: "webhook-secret", type: "password", autocomplete: "new-password", "aria-describedby": "webhook-secret-hint" });
    this.includeRuns = checkbox("webhook-include-runs", "Include runs", webhook?.includeRuns ?? false, "Also send run state change events");
    this.retry = checkbox("webhook-retry", "Retry on failure", webhook?.retryOnFailure ?? false, "Retry 5xx, timeouts and refused connections with backoff for up to a day");
    this.enabled = checkbox("webhook-enabled", "Enabled", webhook?.enabled ?? true, "Saving sends a signed verification payload that must be accepted");
    this.headerRows = h("div", { class: "header-rows" });
    this.headersArea = h("div", { class: "headers-area" });
    this.error = h("div", { class: "form-status", "aria-live": "assertive" });
    this.save = h("button", { type: "submit", class: "button primary", text: this.isEdit ? "Save changes" : "Save and verify" });
    this.element = h("form", { class: "card webhook-form", "aria-labelledby": "webhook-form-title", novalidate: false, onsubmit: (event) => this.submit(event) },
      h("h2", { id: "webhook-form-title", text: this.isEdit ? "Edit webhook" : "Set up webhook" }),
      this.error,
      h("div", { class: "field" }, h("label", { for: "webhook-endpoint", text: "Endpoint URL" }), this.endpoint),
      h("div", { class: "field" },
        h("label", { for: "webhook-secret", text: "Signing secret" }),
        this.secret,
        h("p", { id: "webhook-secret-hint", class: "hint", text: this.isEdit
          ? "Leave empty to keep the current secret."
          : "Optional: signs every payload (X-Signature-256). Stored encrypted, never shown again. Without one, deliveries are unsigned." })),
      h("fieldset", { class: "headers" }, h("legend", { text: "Custom headers" }), this.headersArea),
      h("fieldset", { class: "options" }, h("legend", { text: "Options" }), this.includeRuns.element, this.retry.element, this.enabled.element),
      h("div", { class: "actions" },
        this.save,
        h("button", { type: "button", class: "button quiet", text: "Cancel", onclick: onCancel })));
    this.renderHeaders(webhook);
  }

  focus() {
    this.endpoint.focus();
  }

  renderHeaders(webhook) {
    if (!this.replaceHeaders) {
      this.headersArea.replaceChildren(
        h("p", { class: "hint" }, `Kept as they are: ${webhook.customHeaderNames.join(", ")} (values are never shown).`),
        h("button", { type: "button", class: "button", text: "Replace headers", onclick: () => {
          this.replaceHeaders = true;
          this.renderHeaders(webhook);
          this.addHeaderRow();
        } }));
      return;
    }
    const add = h("button", { type: "button", class: "button", text: "Add header", onclick: () => this.addHeaderRow() });
    this.headersArea.replaceChildren(
      h("p", { class: "hint", text: "Sent with every delivery, e.g. an Authorization header for your collector." }),
      this.headerRows, add);
  }

  addHeaderRow() {
    const nameId = uid("header-name");
    const valueId = uid("header-value");
    const name = h("input", { id: nameId, class: "header-name", autocomplete: "off", spellcheck: "false", placeholder: "X-Collector-Token" });
    const value = h("input", { id: valueId, class: "header-value", type: "password", autocomplete: "off" });
    const row = h("div", { class: "header-row" },
      h("div", { class: "field" }, h("label", { for: nameId, text: "Header name" }), name),
      h("div", { class: "field" }, h("label", { for: valueId, text: "Value" }), value),
      h("button", { type: "button", class: "button quiet", text: "Remove", "aria-label": "Remove this header", onclick: () => {
        row.remove();
        this.headerRows.querySelector("input")?.focus();
      } }));
    this.headerRows.append(row);
    name.focus();
  }

  input() {
    const input = {
      enabled: this.enabled.input.checked,
      endpoint: this.endpoint.value.trim(),
      includeRuns: this.includeRuns.input.checked,
      retryOnFailure: this.retry.input.checked,
    };
    if (this.secret.value) input.secret = this.secret.value;
    if (this.replaceHeaders) {
      const entries = [...this.headerRows.querySelectorAll(".header-row")]
        .map((row) => ({ key: row.querySelector(".header-name").value.trim(), value: row.querySelector(".header-value").value }))
        .filter((entry) => entry.key || entry.value);
      input.customHeaders = { entries };
    }
    return input;
  }

  async submit(event) {
    event.preventDefault();
    this.error.replaceChildren();
    this.save.disabled = true;
    this.save.textContent = this.enabled.input.checked ? "Verifying…" : "Saving…";
    try {
      const { auditTrailSetWebhook: saved } = await gql(SET, { input: this.input() });
      this.secret.value = "";
      this.onSaved(saved);
    } catch (error) {
      if (this.fail(error)) return;
      // The server's message says what the endpoint answered and that nothing changed.
      this.error.replaceChildren(notice("error", error.message));
      this.error.scrollIntoView({ block: "nearest" });
    } finally {
      this.save.disabled = false;
      this.save.textContent = this.isEdit ? "Save changes" : "Save and verify";
    }
  }
}
