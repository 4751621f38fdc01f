// The drawer of one API key (where an event's API_KEY or USER resource leads): its name, role and
// dates, and the Logs of what it did and what was done to it. The secret is never readable.

import { gql } from "./api.js";
import { Drawer, fieldRow } from "./drawer.js";
import { h, notice, timeElement } from "./dom.js";

const API_KEYS = `query ApiKeys { apiKeys { id name role createdAt lastUsedAt revokedAt } }`;
const KEY_ACTOR_SOURCE = "api";  // an API key acting itself is the actor `api::<key id>` (api/audit/actors.py)

export class KeyDrawer extends Drawer {
  constructor({ fail, navigate }) {
    super({ id: "key-title", title: "API key", closeLabel: "Close API key", className: "key-drawer" });
    this.fail = fail;
    this.navigate = navigate;
  }

  async open(keyId, returnFocus) {
    const isCurrent = this.begin(returnFocus);
    try {
      const { apiKeys: keys } = await gql(API_KEYS);
      if (!isCurrent()) return;
      const key = keys.find((candidate) => candidate.id === keyId);
      if (key) this.render(key);
      else this.body.replaceChildren(notice("error", `No API key ${keyId} in this account.`));
    } catch (error) {
      if (this.fail(error)) return;
      if (isCurrent()) this.body.replaceChildren(notice("error", `Could not load the API key: ${error.message}`));
    }
  }

  /** A link to the Logs filtered by `params`, followed inside the console. */
  logsLink(text, params) {
    return h("a", { href: `/?${params}`, text, onclick: (event) => {
      if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      this.close();
      this.navigate(params);
    } });
  }

  render(key) {
    this.title.textContent = `API key ${key.name}`;
    this.body.replaceChildren(
      h("dl", { class: "fields" },
        fieldRow("Name", key.name),
        fieldRow("Key id", h("code", { text: key.id })),
        fieldRow("Role", h("span", { class: "badge", text: key.role })),
        fieldRow("Status", key.revokedAt
          ? h("span", {}, h("span", { class: "badge badge-warn", text: "Revoked" }), " ", timeElement(key.revokedAt))
          : h("span", { class: "badge badge-ok", text: "Active" })),
        fieldRow("Created", timeElement(key.createdAt)),
        fieldRow("Last used", key.lastUsedAt ? timeElement(key.lastUsedAt) : "Never")),
      h("ul", { class: "plain-list" },
        h("li", {}, this.logsLink("Events by this key", new URLSearchParams({ actor: `${KEY_ACTOR_SOURCE}::${key.id}`, range: "30d" }))),
        h("li", {}, this.logsLink("Events about this key", new URLSearchParams({ affectedResourceId: key.id, range: "30d" })))),
    );
  }
}
