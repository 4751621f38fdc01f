// Links into the Configuration tab from the Logs (an event's own resources): `?tab=config&webhook=<id>`
// brings the webhook card into view, `&delivery=<id>` opens that delivery's drawer, `&key=<id>` the
// API key's drawer.

import { DeliveryDrawer } from "./delivery_drawer.js";
import { KeyDrawer } from "./key_drawer.js";

export class ConfigLinks {
  /**
   * `view` is the ConfigView (its element and app). The drawers are this module's own, outside the
   * delivery log, which is hidden while no webhook is set up: a delivery of a deleted webhook still opens.
   */
  constructor(view) {
    this.view = view;
    this.followed = null;
    const options = { fail: (error) => view.app.fail(error), navigate: (params) => view.app.navigate(params) };
    this.deliveryDrawer = new DeliveryDrawer({ ...options, id: "linked-delivery-title" });
    this.keyDrawer = new KeyDrawer(options);
    view.element.append(this.deliveryDrawer.element, this.keyDrawer.element);
  }

  /** Follow the link in `params` once (a refresh or a re-render with the same URL does not reopen it). */
  follow(params, loaded) {
    const link = ["webhook", "delivery", "key"].map((name) => [name, params.get(name)]).find(([, id]) => id);
    const linkKey = link ? link.join("=") : null;
    if (linkKey === this.followed) return;
    this.followed = linkKey;
    if (!link) return;
    const [name, id] = link;
    if (name === "delivery") this.deliveryDrawer.open(id, null);
    else if (name === "key") this.keyDrawer.open(id, null);
    else loaded.then(() => this.showWebhook());
  }

  showWebhook() {
    const card = this.view.element.querySelector("section.webhook, .empty-webhook");
    if (!card) return;
    card.setAttribute("tabindex", "-1");
    card.scrollIntoView({ block: "start" });
    card.focus();
  }
}
