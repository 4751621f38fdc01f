// A value of an event with its menu: filter by it, exclude it, go to its resource. The table's cells and
// the details drawer's fields share it. Only the explicit menu button opens it, so a click anywhere
// else on a row opens the row's details.

import { h } from "./dom.js";
import { labelOf } from "./filters.js";
import { showMenu } from "./menu.js";
import { resourceLinkItem, resourceText } from "./resources.js";

/** The filter fields of each resource kind: its type and its id. */
const RESOURCE_FIELDS = {
  affectedResource: { label: "Resource", typeField: "affectedResourceType", idField: "affectedResourceId", linkLabel: "Go to affected resource" },
  relatedResource: { label: "Related resource", typeField: "relatedResourceType", idField: "relatedResourceId", linkLabel: "Go to related resource" },
};

/**
 * The menu items of `value` (a string, or a resource for the resource kinds). `actions.filter(pairs,
 * {exclude})` applies [field, value] pairs; `actions.app` gives the resource links.
 */
function menuItems(kind, value, actions) {
  const resource = RESOURCE_FIELDS[kind];
  if (!resource) {
    return [
      { label: "Filter by this", onSelect: () => actions.filter([[kind, value]]) },
      { label: "Exclude this", onSelect: () => actions.filter([[kind, value]], { exclude: true }) },
    ];
  }
  const matching = [[resource.typeField, value.resourceType]];
  if (value.resourceId) matching.push([resource.idField, value.resourceId]);
  // Excluding one resource leaves the others of its type; a resource without an id excludes its type.
  const excluded = value.resourceId ? [[resource.idField, value.resourceId]] : [[resource.typeField, value.resourceType]];
  return [
    { label: "Filter by this", onSelect: () => actions.filter(matching) },
    { label: "Exclude this", onSelect: () => actions.filter(excluded, { exclude: true }) },
    resourceLinkItem(value, actions.app, resource.linkLabel),
  ].filter(Boolean);
}

/** `value` as text beside its menu button ("Options for <value>"). */
export function valueWithMenu(kind, value, actions) {
  const text = RESOURCE_FIELDS[kind] ? resourceText(value) : value;
  const label = RESOURCE_FIELDS[kind]?.label ?? labelOf(kind);
  const button = h("button", {
    type: "button", class: "value-menu", "aria-haspopup": "menu", "aria-expanded": "false",
    "aria-label": `Options for ${text}`, title: "Filter by this, exclude it, or go to it",
  });
  button.addEventListener("click", () => showMenu(button, menuItems(kind, value, actions), `${label} ${text}`));
  return h("span", { class: "value-cell" }, h("span", { class: "value", title: text, text }), button);
}
